"""The application factory and the WSGI entry point (STYLE: one server per app, no globals)."""

from __future__ import annotations

import dataclasses
import logging
import subprocess
import sys

import pytest

from authserver.app import create_app
from authserver.config import ConfigError
from authserver.extensions import db
from authserver.state import state
from tests.support.cli import BIN, PROJECT, console_env


def test_each_app_has_its_own_server_protector_and_config(settings):
    first = create_app("testing", {**settings, "ISSUER": "https://one.example"})
    second = create_app("testing", {**settings, "ISSUER": "https://two.example"})
    try:
        assert state(first).authorization_server is not state(second).authorization_server
        assert state(first).resource_protector is not state(second).resource_protector
        assert first.config["ISSUER"] == first.config["AUDIENCE"] == "https://one.example"
        assert second.config["AUDIENCE"] == "https://two.example"
        grants = state(first).authorization_server._token_grants
        assert len(grants) == 3  # password, refresh_token, client_credentials: registered once
    finally:
        for app in (first, second):
            with app.app_context():
                db.engine.dispose()


def test_app_state_is_built_complete_and_never_reassigned(app):
    app_state = state(app)
    missing = [f.name for f in dataclasses.fields(app_state) if getattr(app_state, f.name) is None]

    assert missing == []
    with pytest.raises(dataclasses.FrozenInstanceError):
        app_state.keys = state(app).keys


def test_audience_setting_overrides_issuer(settings):
    other = create_app("testing", {**settings, "AUDIENCE": "https://api.example"})
    try:
        assert other.config["AUDIENCE"] == "https://api.example"
    finally:
        with other.app_context():
            db.engine.dispose()


def test_authlib_token_logging_is_silenced_even_at_debug(settings):
    app = create_app("testing", {**settings, "LOG_LEVEL": "DEBUG"})
    try:
        assert app.logger.level == logging.DEBUG
        assert not logging.getLogger("authlib").isEnabledFor(logging.DEBUG)
    finally:
        with app.app_context():
            db.engine.dispose()


def test_bad_override_raises_config_error(settings):
    with pytest.raises(ConfigError, match="^AUTHSERVER_ACCESS_TOKEN_TTL"):
        create_app("testing", {**settings, "ACCESS_TOKEN_TTL": 5})


def test_max_content_length_is_flask_setting(app):
    assert app.config["MAX_CONTENT_LENGTH"] == 65_536


def test_app_uses_given_database_and_key_file(app, settings):
    assert app.config["SIGNING_KEYS"] == settings["SIGNING_KEYS"]
    assert db.engine.dialect.name in ("sqlite", "postgresql")


def python(env: dict[str, str], code: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", code],
        env=env,
        cwd=PROJECT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.processes
def test_wsgi_module_exposes_app(tmp_path):
    result = python(console_env(tmp_path), "import wsgi; print(wsgi.app.name)")

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "authserver"


@pytest.mark.processes
def test_wsgi_module_with_bad_setting_exits_4_with_one_line(tmp_path):
    result = python(console_env(tmp_path, ISSUER="nope"), "import wsgi")

    assert result.returncode == 4  # gunicorn's "app failed to load": the arbiter stops
    assert result.stderr.splitlines() == [
        "authserver: AUTHSERVER_ISSUER (environment): "
        "expected an http:// or https:// URL with a host, got 'nope'"
    ]


@pytest.mark.processes
def test_flask_app_wsgi_offers_the_same_commands(tmp_path):
    env = console_env(tmp_path)
    flask = [str(BIN / "flask"), "--app", "wsgi"]
    run = dict(env=env, cwd=PROJECT, capture_output=True, text=True, timeout=60, check=False)

    upgrade = subprocess.run([*flask, "db", "upgrade"], **run)
    create = subprocess.run([*flask, "users", "create", "dana"], input="long enough pw\n", **run)
    listed = subprocess.run([*flask, "users", "list"], **run)

    assert "policy version 1 seeded" in upgrade.stdout, upgrade.stderr
    assert create.returncode == 0, create.stderr
    assert listed.stdout == "dana\tenabled\t-\n"
