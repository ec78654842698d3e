"""AUTHSERVER_ENV=production refuses development secrets: one line naming what to fix, a
non-zero exit, no traceback; and starts when everything is right.

The checks (``authserver.production``) are tested as functions, case by case. A few cases
then run the real way, to show a refusal really stops the start with one line:
``gunicorn -c config/gunicorn.conf.py wsgi:app`` (the master checks once and stops with
status 4) and the ``authserver`` console script (status 2).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
import requests

from authserver.app import create_app
from authserver.config import ConfigError, load_settings
from authserver.production import DEMO_CLIENT_IDS, check_demo_data, check_settings
from authserver.security.keys import SigningKeys
from tests.support.cli import invoke
from tests.support.deploy import run_cli, server_env
from tests.support.gunicorn import Gunicorns, one_line_refusal, run_until_exit

ISSUER = "https://id.example.com"


@pytest.fixture
def keys(tmp_path) -> Path:
    path = tmp_path / "keys" / "signing-keys.json"
    SigningKeys.load_or_create(path)
    return path


def production_settings(keys: Path, **changes: str) -> dict:
    """Settings as create_app sees them: production, a good key file and issuer, changes."""
    overrides = {"SIGNING_KEYS": str(keys), "ISSUER": ISSUER, **changes}
    return load_settings("production", overrides, environ={})


def refusal(settings: dict) -> str:
    with pytest.raises(ConfigError) as refused:
        check_settings(settings)
    message = str(refused.value)
    assert "\n" not in message
    return message


# -- the checks, as functions --------------------------------------------------------------------


def test_right_production_settings_pass(keys) -> None:
    assert keys.stat().st_mode & 0o777 == 0o600

    check_settings(production_settings(keys))


def test_a_missing_key_file_passes_the_settings_check(tmp_path) -> None:
    """Only its mode is checked here; the key loader refuses a missing file (below)."""
    check_settings(production_settings(tmp_path / "missing.json"))


@pytest.mark.parametrize(
    ("changes", "fragments"),
    [
        ({"SIGNING_KEYS": ""}, ["AUTHSERVER_SIGNING_KEYS", "set it in production"]),
        ({"ISSUER": "http://id.example.com"}, ["AUTHSERVER_ISSUER", "https://"]),
        ({"ISSUER": "http://127.0.0.1:5000"}, ["AUTHSERVER_ISSUER", "https://"]),
    ],
    ids=["no-signing-keys-setting", "http-issuer", "http-loopback-issuer"],
)
def test_production_refuses_development_settings(keys, changes, fragments) -> None:
    message = refusal(production_settings(keys, **changes))

    for fragment in fragments:
        assert fragment in message, message


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o644, 0o660])
def test_production_refuses_a_key_file_others_can_read(keys, mode) -> None:
    os.chmod(keys, mode)

    message = refusal(production_settings(keys))

    assert message.startswith("AUTHSERVER_SIGNING_KEYS")
    assert str(keys) in message and "chmod 600" in message


@pytest.mark.parametrize("env", ["development", "testing"])
def test_other_environments_are_not_checked(keys, env) -> None:
    os.chmod(keys, 0o644)
    settings = load_settings(env, {"SIGNING_KEYS": str(keys), "ISSUER": "http://x.example"}, {})

    check_settings(settings)


def test_create_app_runs_the_settings_checks_before_the_database(keys) -> None:
    with pytest.raises(ConfigError, match="AUTHSERVER_ISSUER"):
        create_app("production", {"SIGNING_KEYS": str(keys), "ISSUER": "http://id.example.com"})


def test_production_refuses_while_demo_clients_exist(runner, settings, keys) -> None:
    assert invoke(runner, "demo", "setup").exit_code == 0  # the app of ``runner``: testing

    with pytest.raises(ConfigError) as refused:
        create_app("production", {**settings, "SIGNING_KEYS": str(keys), "ISSUER": ISSUER})

    assert "\n" not in str(refused.value)
    for client_id in DEMO_CLIENT_IDS:
        assert client_id in str(refused.value)


def test_production_without_demo_clients_passes_the_demo_check(app) -> None:
    app.config["ENV"] = "production"

    check_demo_data(app)


# -- the real way: gunicorn and the console script -----------------------------------------------


@pytest.fixture
def production(tmp_path, keys, sqlite_template) -> dict[str, str]:
    """A correct production environment on a migrated database; temporary files go to a
    folder of the test's (gunicorn's config makes its metrics folder there)."""
    database = tmp_path / "authserver.db"
    shutil.copy(sqlite_template, database)
    env = server_env(
        ENV="production",
        DATABASE_URL=f"sqlite:///{database}",
        SIGNING_KEYS=str(keys),
        ISSUER=ISSUER,
    )
    (tmp_path / "temp").mkdir()
    return {**env, "TMPDIR": str(tmp_path / "temp")}


def refuses(env: dict[str, str], *fragments: str) -> None:
    """gunicorn with the config file stops by itself with one line of ours, leaving no
    temporary metrics folder; the console script stops with one line too."""
    one_line_refusal(run_until_exit(env, "-c", "config/gunicorn.conf.py", "wsgi:app"), *fragments)
    assert list(Path(env["TMPDIR"]).iterdir()) == []
    result = run_cli(env, "users", "list", check=False)
    assert result.returncode != 0
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


@pytest.mark.processes
def test_gunicorn_and_console_refuse_an_http_issuer(production) -> None:
    env = {**production, "AUTHSERVER_ISSUER": "http://id.example.com"}

    refuses(env, "AUTHSERVER_ISSUER", "https://")


@pytest.mark.processes
def test_gunicorn_and_console_refuse_while_demo_clients_exist(production) -> None:
    run_cli({**production, "AUTHSERVER_ENV": "development"}, "demo", "setup")

    refuses(production, "demo-client", "demo-public")


@pytest.mark.processes
def test_production_starts_when_everything_is_right(production, keys, gunicorns: Gunicorns):
    assert keys.stat().st_mode & 0o777 == 0o600
    server = gunicorns.start(production, "production")

    metadata = requests.get(server.url("/.well-known/oauth-authorization-server"), timeout=10)

    assert metadata.status_code == 200
    assert metadata.json()["issuer"] == ISSUER
    assert metadata.json()["token_endpoint"] == f"{ISSUER}/oauth/token"
    assert requests.get(server.url("/readyz"), timeout=10).status_code == 200
    assert run_cli(production, "users", "list").returncode == 0


@pytest.mark.processes
def test_production_refuses_a_missing_key_file_until_keys_rotate_creates_it(
    production, tmp_path, gunicorns: Gunicorns
) -> None:
    """SPEC §13: production never creates a key file at start; `keys rotate` does (0600)."""
    path = tmp_path / "new-keys" / "signing-keys.json"
    env = {**production, "AUTHSERVER_SIGNING_KEYS": str(path)}

    refuses(env, "AUTHSERVER_SIGNING_KEYS", "keys rotate")
    assert not path.exists()

    run_cli(env, "keys", "rotate")
    server = gunicorns.start(env, "fresh")

    assert requests.get(server.url("/.well-known/jwks.json"), timeout=10).status_code == 200
    assert path.stat().st_mode & 0o777 == 0o600
