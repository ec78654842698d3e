"""Settings (SPEC §3): defaults, config/<env>.toml, AUTHSERVER_* overrides, validation.

A bad setting stops the start with one line naming it: checked on ``load_settings``, on
the real ``authserver`` console script and on gunicorn (whose arbiter must stop).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from authserver.config import SETTINGS, ConfigError, load_settings
from tests.support.cli import (
    PROJECT,
    assert_one_line_error,
    console_env,
    run_console,
)
from tests.support.gunicorn import run_until_exit

INT_SETTINGS = [s.name for s in SETTINGS if type(s.default) is int]


def settings_error(**environ: str) -> str:
    """The one-line message of the ConfigError that these variables cause."""
    with pytest.raises(ConfigError) as caught:
        load_settings("testing", environ={f"AUTHSERVER_{k}": v for k, v in environ.items()})
    message = str(caught.value)
    assert "\n" not in message
    return message


@pytest.fixture
def config_dir(tmp_path) -> Path:
    folder = tmp_path / "config"
    folder.mkdir()
    return folder


def load_with_files(config_dir: Path, env: str = "development", **environ: str) -> dict:
    variables = {"AUTHSERVER_CONFIG_DIR": str(config_dir)}
    variables.update({f"AUTHSERVER_{k}": v for k, v in environ.items()})
    return load_settings(env, environ=variables)


# --- defaults and precedence -------------------------------------------------------------


def test_defaults_without_file_or_environment(config_dir):
    settings = load_with_files(config_dir)

    assert settings["ENV"] == "development"
    assert settings["ISSUER"] == "http://127.0.0.1:5000"
    assert settings["ACCESS_TOKEN_TTL"] == 900
    assert settings["REFRESH_TOKEN_TTL"] == 2_592_000
    assert settings["SIGNING_ALG"] == "RS256"
    assert settings["POLICY_FILE"] == "policies/roles.yaml"
    assert settings["DATABASE_URL"] is None and settings["REDIS_URL"] is None
    assert 3 <= settings["LOCKOUT_THRESHOLD"] <= 30
    assert (settings["ARGON2_MEMORY_COST"], settings["ARGON2_TIME_COST"]) == (19_456, 2)
    assert settings["ARGON2_PARALLELISM"] == 1


def test_env_defaults_to_development_and_reads_its_file(config_dir):
    (config_dir / "development.toml").write_text('ISSUER = "https://dev.example"\n')

    settings = load_settings(environ={"AUTHSERVER_CONFIG_DIR": str(config_dir)})

    assert settings["ENV"] == "development"
    assert settings["ISSUER"] == "https://dev.example"


def test_environment_beats_toml_file(config_dir):
    (config_dir / "production.toml").write_text("ACCESS_TOKEN_TTL = 600\nLOG_LEVEL = 'ERROR'\n")

    settings = load_with_files(config_dir, "production", ACCESS_TOKEN_TTL="300")

    assert settings["ACCESS_TOKEN_TTL"] == 300  # the environment wins
    assert settings["LOG_LEVEL"] == "ERROR"  # the file still counts where not overridden


def test_env_variable_selects_the_file(config_dir):
    (config_dir / "production.toml").write_text("ACCESS_TOKEN_TTL = 600\n")

    settings = load_with_files(config_dir, None, ENV="production")

    assert settings["ENV"] == "production"
    assert settings["ACCESS_TOKEN_TTL"] == 600


def test_overrides_beat_environment(config_dir):
    settings = load_settings(
        "testing",
        overrides={"AUTHSERVER_ACCESS_TOKEN_TTL": 120, "TESTING": True},
        environ={"AUTHSERVER_CONFIG_DIR": str(config_dir), "AUTHSERVER_ACCESS_TOKEN_TTL": "60"},
    )

    assert settings["ACCESS_TOKEN_TTL"] == 120
    assert settings["TESTING"] is True  # Flask's own keys pass through


def test_toml_keys_are_case_insensitive(config_dir):
    (config_dir / "development.toml").write_text("access_token_ttl = 60\n")

    assert load_with_files(config_dir)["ACCESS_TOKEN_TTL"] == 60


def test_shipped_toml_files_load():
    for env in ("development", "testing", "production"):
        assert load_settings(env, environ={})["ENV"] == env
    assert load_settings("testing", environ={})["ARGON2_MEMORY_COST"] < 19_456


def test_issuer_trailing_slash_is_dropped_and_audience_defaults_to_none():
    settings = load_settings("testing", environ={"AUTHSERVER_ISSUER": "https://id.example/"})

    assert settings["ISSUER"] == "https://id.example"
    assert settings["AUDIENCE"] is None  # create_app makes it the issuer


@pytest.mark.parametrize("level", ["debug", " Warning ", "ERROR"])
def test_log_level_is_case_insensitive(level):
    settings = load_settings("testing", environ={"AUTHSERVER_LOG_LEVEL": level})

    assert settings["LOG_LEVEL"] == level.strip().upper()


@pytest.mark.parametrize(
    "url",
    [
        "sqlite://",
        "sqlite:///:memory:",
        "sqlite:///relative.db",
        "postgresql://user:pw@db.example:5432/auth",
        "postgres://user@db.example/auth",
        "postgresql+psycopg://user@db.example/auth",
    ],
)
def test_database_url_accepts_sqlite_and_postgresql(url):
    assert load_settings("testing", environ={"AUTHSERVER_DATABASE_URL": url})["DATABASE_URL"]


# --- each setting's validation -----------------------------------------------------------


@pytest.mark.parametrize("name", INT_SETTINGS)
@pytest.mark.parametrize("value", ["abc", "", "1.5", "1e3", "-1"])
def test_integer_settings_reject_non_integers(name, value):
    message = settings_error(**{name: value})

    assert message.startswith(f"AUTHSERVER_{name} (environment): ")
    assert "whole number" in message


@pytest.mark.parametrize(
    ("name", "value", "fragment"),
    [
        ("ACCESS_TOKEN_TTL", "29", "from 30 to 86400"),
        ("ACCESS_TOKEN_TTL", "86401", "from 30 to 86400"),
        ("REFRESH_TOKEN_TTL", "59", "from 60"),
        ("LOCKOUT_THRESHOLD", "2", "from 3 to 30"),
        ("LOCKOUT_THRESHOLD", "31", "from 3 to 30"),
        ("ARGON2_TIME_COST", "0", "from 1"),
        ("ARGON2_MEMORY_COST", "7", "from 8"),
        ("ARGON2_PARALLELISM", "17", "to 16"),
        ("MAX_CONTENT_LENGTH", "100", "from 1024"),
        ("ISSUER", "ftp://id.example", "http://"),
        ("ISSUER", "id.example", "http://"),
        ("ISSUER", "https://", "host"),
        ("ISSUER", "https://id.example:99999", "host"),
        ("ISSUER", "https://id.example/?tenant=1", "query"),
        ("ISSUER", "https://id.example/#top", "fragment"),
        ("SIGNING_ALG", "HS256", "RS256"),
        ("SIGNING_ALG", "none", "RS256"),
        ("SIGNING_ALG", "rs256", "RS256"),
        ("DATABASE_URL", "garbage", "not a database URL"),
        ("DATABASE_URL", "mysql://root@localhost/auth", "unsupported database"),
        ("DATABASE_URL", "postgresql+psycopg2://u@h/auth", "unsupported driver"),
        ("REDIS_URL", "http://cache.example", "redis://"),
        ("TOKEN_RATE_LIMIT", "lots", "30/minute"),
        ("REDIS_FAILURE", "maybe", "fallback"),
        ("LOG_LEVEL", "LOUD", "DEBUG"),
    ],
)
def test_bad_value_raises_config_error_naming_the_setting(name, value, fragment):
    message = settings_error(**{name: value})

    assert message.startswith(f"AUTHSERVER_{name} (environment): "), message
    assert fragment in message


def test_sqlite_file_that_cannot_be_created_is_a_config_error(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("")

    message = settings_error(DATABASE_URL=f"sqlite:///{blocker}/sub/authserver.db")

    assert message.startswith("AUTHSERVER_DATABASE_URL")
    assert "cannot create" in message


def test_sqlite_path_that_is_a_directory_is_a_config_error(tmp_path):
    message = settings_error(DATABASE_URL=f"sqlite:///{tmp_path}")

    assert message.startswith("AUTHSERVER_DATABASE_URL")
    assert "directory" in message


def test_argon2_memory_below_8_kib_per_lane_is_a_config_error():
    message = settings_error(ARGON2_MEMORY_COST="16", ARGON2_PARALLELISM="4")

    assert message.startswith("AUTHSERVER_ARGON2_MEMORY_COST")
    assert "AUTHSERVER_ARGON2_PARALLELISM" in message


def test_lockout_max_below_base_is_a_config_error():
    message = settings_error(LOCKOUT_BASE_SECONDS="600", LOCKOUT_MAX_SECONDS="60")

    assert message.startswith("AUTHSERVER_LOCKOUT_MAX_SECONDS")


@pytest.mark.parametrize("env", ["bogus", "Production", "prod"])
def test_unknown_env_is_a_config_error(env):
    with pytest.raises(ConfigError, match=r"^AUTHSERVER_ENV: expected one of"):
        load_settings(environ={"AUTHSERVER_ENV": env})
    with pytest.raises(ConfigError, match=r"^AUTHSERVER_ENV: "):
        load_settings(env, environ={})


# --- the TOML file -----------------------------------------------------------------------


def test_bad_value_in_toml_names_the_setting_and_the_file(config_dir):
    (config_dir / "development.toml").write_text('ACCESS_TOKEN_TTL = "soon"\n')

    with pytest.raises(ConfigError) as caught:
        load_with_files(config_dir)

    message = str(caught.value)
    assert message.startswith("AUTHSERVER_ACCESS_TOKEN_TTL (")
    assert str(config_dir / "development.toml") in message


@pytest.mark.parametrize(
    ("line", "name"),
    [("ACCESS_TOKEN_TTL = 900.5", "ACCESS_TOKEN_TTL"), ("ISSUER = 5000", "ISSUER")],
)
def test_wrong_toml_type_is_a_config_error(config_dir, line, name):
    (config_dir / "development.toml").write_text(line + "\n")

    with pytest.raises(ConfigError, match=f"^AUTHSERVER_{name} "):
        load_with_files(config_dir)


def test_unknown_key_in_toml_is_a_config_error_naming_it(config_dir):
    (config_dir / "development.toml").write_text('ISSUER = "http://x.example"\nISUSER = "y"\n')

    with pytest.raises(ConfigError) as caught:
        load_with_files(config_dir)

    assert str(caught.value).startswith("AUTHSERVER_ISUSER: unknown setting in ")
    assert str(config_dir / "development.toml") in str(caught.value)


def test_toml_syntax_error_is_a_one_line_config_error(config_dir):
    (config_dir / "development.toml").write_text("ISSUER = \n")

    with pytest.raises(ConfigError) as caught:
        load_with_files(config_dir)

    assert "development.toml" in str(caught.value)
    assert "\n" not in str(caught.value)


def test_config_dir_that_does_not_exist_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="^AUTHSERVER_CONFIG_DIR: "):
        load_settings(environ={"AUTHSERVER_CONFIG_DIR": str(tmp_path / "missing")})


# --- the real entry points: one line, no traceback, non-zero ------------------------------

BAD_SETTINGS = [
    ("ACCESS_TOKEN_TTL", "abc"),
    ("ENV", "bogus"),
    ("ISSUER", "ftp://id.example"),
    ("DATABASE_URL", "mysql://root@localhost/auth"),
    ("SIGNING_ALG", "HS256"),
    ("ARGON2_PARALLELISM", "8"),
]


@pytest.mark.parametrize(("name", "value"), BAD_SETTINGS)
@pytest.mark.processes
def test_console_script_with_bad_setting_prints_one_line_naming_it(tmp_path, name, value):
    env = console_env(tmp_path, **{name: value, "ARGON2_MEMORY_COST": "32"})

    result = run_console(env, "users", "list")

    assert_one_line_error(result, f"AUTHSERVER_{name}")
    assert result.returncode == 2


@pytest.mark.processes
def test_console_script_with_unknown_toml_key_prints_one_line(tmp_path, config_dir):
    (config_dir / "testing.toml").write_text("COLOUR = 'blue'\n")
    env = console_env(tmp_path, CONFIG_DIR=str(config_dir))

    result = run_console(env, "users", "list")

    assert_one_line_error(result, "AUTHSERVER_COLOUR")


@pytest.mark.processes
def test_console_script_with_unreadable_key_file_prints_one_line(tmp_path):
    keys = tmp_path / "keys.json"
    keys.write_text("{")
    keys.chmod(0o600)
    env = console_env(tmp_path, SIGNING_KEYS=str(keys))

    result = run_console(env, "users", "list")

    assert_one_line_error(result, "AUTHSERVER_SIGNING_KEYS")


@pytest.mark.processes
def test_missing_policy_file_for_an_empty_store_at_start_prints_one_line(tmp_path):
    env = console_env(tmp_path)
    assert run_console(env, "db", "upgrade").returncode == 0
    import sqlite3

    with sqlite3.connect(tmp_path / "authserver.db") as connection:
        connection.execute("DELETE FROM policy_versions")

    result = run_console({**env, "AUTHSERVER_POLICY_FILE": "/no/such.yaml"}, "users", "list")

    assert_one_line_error(result, "AUTHSERVER_POLICY_FILE", "/no/such.yaml")


def assert_gunicorn_stopped_with_one_line(result, setting: str) -> None:
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    assert "Traceback" not in output
    naming = [line for line in output.splitlines() if setting in line]
    assert len(naming) == 1, output
    assert naming[0].startswith(f"authserver: {setting}")


@pytest.mark.parametrize(("name", "value"), BAD_SETTINGS[:3])
@pytest.mark.processes
def test_gunicorn_with_config_file_and_bad_setting_stops_with_one_line(tmp_path, name, value):
    env = console_env(tmp_path, **{name: value, "WORKERS": "3"})

    result = run_until_exit(env, "-c", "config/gunicorn.conf.py", "wsgi:app")

    assert_gunicorn_stopped_with_one_line(result, f"AUTHSERVER_{name}")
    assert result.returncode == 4
    assert "Booting worker" not in result.stderr  # the master stopped before forking


@pytest.mark.processes
def test_gunicorn_without_config_file_and_bad_setting_stops(tmp_path):
    env = console_env(tmp_path, ACCESS_TOKEN_TTL="abc")

    result = run_until_exit(env, "--no-control-socket", "wsgi:app")

    assert_gunicorn_stopped_with_one_line(result, "AUTHSERVER_ACCESS_TOKEN_TTL")
    assert "App failed to load" in result.stderr


@pytest.mark.processes
def test_gunicorn_with_bad_worker_count_stops_with_one_line(tmp_path):
    env = console_env(tmp_path, WORKERS="many")

    result = run_until_exit(env, "-c", "config/gunicorn.conf.py", "wsgi:app")

    assert_gunicorn_stopped_with_one_line(result, "AUTHSERVER_WORKERS")


def test_readme_settings_table_lists_every_setting():
    readme = (PROJECT / "README.md").read_text(encoding="utf-8")
    rows = set(re.findall(r"^\| `(AUTHSERVER_[A-Z0-9_]+)` \|", readme, re.MULTILINE))
    expected = {f"AUTHSERVER_{s.name}" for s in SETTINGS}
    expected |= {f"AUTHSERVER_{name}" for name in ("ENV", "CONFIG_DIR", "BIND", "WORKERS")}

    assert rows == expected


@pytest.mark.processes
def test_a_worker_freezes_what_it_built_at_start(tmp_path):
    """config/gunicorn.conf.py's post_worker_init: after the app is built, its objects
    leave the garbage collector's generations (gc.freeze), so full collections stop
    walking them."""
    import subprocess
    import sys

    script = (
        "import gc, runpy; from authserver.app import create_app; app = create_app(); "
        "hooks = runpy.run_path('config/gunicorn.conf.py'); "
        "before = gc.get_freeze_count(); hooks['post_worker_init'](None); "
        "print(before, gc.get_freeze_count())"
    )
    env = {
        "PATH": "/usr/bin:/bin",
        "AUTHSERVER_ENV": "development",
        "AUTHSERVER_DATABASE_URL": f"sqlite:///{tmp_path / 'frozen.db'}",
        "AUTHSERVER_SIGNING_KEYS": str(tmp_path / "keys.json"),
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path),
    }
    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=Path(__file__).resolve().parents[1],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    before, after = map(int, result.stdout.split()[-2:])
    assert before == 0
    assert after > 50_000  # the app and its modules
