"""Shared fixtures: an app per test on a fresh database (SQLite, and PostgreSQL when configured).

The schema always comes from the migrations: a SQLite template is migrated (and its policy
seeded) once per session and copied per test; PostgreSQL is migrated once and truncated per
test. Tests that start processes (gunicorn, console scripts, a throwaway PostgreSQL) carry
``@pytest.mark.processes``: ``pytest -m "not processes"`` is the quick in-process run, and a
test that starts one without the mark fails, so the mark stays true.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from flask import Flask
from werkzeug.serving import make_server

from authserver import live
from authserver.app import create_app
from authserver.extensions import db
from authserver.security.keys import SigningKeys
from authserver.services import clients, users
from tests.support import PASSWORD, PROJECT
from tests.support.gunicorn import Gunicorns, gunicorn_instances
from tests.support.http import basic_auth, free_port

PG_URL = os.environ.get("AUTHSERVER_TEST_DATABASE_URL")
REDIS_URL = os.environ.get("AUTHSERVER_TEST_REDIS_URL")
# Test modules import these from here too.
__all__ = ["PASSWORD", "PROJECT", "basic_auth", "free_port"]


def _migrate(url: str, keys: Path) -> None:
    import flask_migrate

    app = create_app("testing", {"DATABASE_URL": url, "SIGNING_KEYS": str(keys)})
    with app.app_context():
        flask_migrate.upgrade()
        close_app(app)


def _seed(url: str, keys: Path) -> None:
    """Start an app once on the migrated database: it seeds policy version 1, as every test
    app would at its start (copies of the template then skip that write)."""
    app = create_app("testing", {"DATABASE_URL": url, "SIGNING_KEYS": str(keys)})
    with app.app_context():
        close_app(app)


@pytest.fixture(scope="session")
def signing_keys_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("keys") / "signing-keys.json"
    SigningKeys.load_or_create(path)
    return path


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory, signing_keys_file) -> Path:
    path = tmp_path_factory.mktemp("template") / "template.db"
    _migrate(f"sqlite:///{path}", signing_keys_file)
    _seed(f"sqlite:///{path}", signing_keys_file)
    return path


def reset_postgres(url: str) -> None:
    """Drop everything in the test database and migrate it from scratch."""
    from sqlalchemy import create_engine, text

    from authserver.database import database_uri

    engine = create_engine(database_uri(url, "."))
    with engine.begin() as connection:
        connection.execute(text("DROP SCHEMA public CASCADE"))
        connection.execute(text("CREATE SCHEMA public"))
    engine.dispose()


@pytest.fixture(scope="session")
def postgres_migrated(signing_keys_file) -> str:
    if not PG_URL:
        pytest.skip("AUTHSERVER_TEST_DATABASE_URL is not set")
    reset_postgres(PG_URL)
    _migrate(PG_URL, signing_keys_file)
    return PG_URL


def truncate_postgres(url: str) -> None:
    """Empty every table (the schema stays), so the next app seeds a fresh policy."""
    from sqlalchemy import create_engine, text

    from authserver.database import database_uri

    tables = ", ".join(t.name for t in db.metadata.sorted_tables)
    engine = create_engine(database_uri(url, "."))
    with engine.begin() as connection:
        connection.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request, tmp_path, sqlite_template) -> str:
    if request.param == "sqlite":
        path = tmp_path / "authserver.db"
        shutil.copy(sqlite_template, path)
        return f"sqlite:///{path}"
    url = request.getfixturevalue("postgres_migrated")
    truncate_postgres(url)
    return url


@pytest.fixture
def settings(database_url, signing_keys_file) -> dict:
    """Overrides for create_app; tests may change them before asking for ``app``."""
    return {"DATABASE_URL": database_url, "SIGNING_KEYS": str(signing_keys_file)}


@pytest.fixture
def app(settings) -> Iterator:
    app = create_app("testing", settings)
    with app.app_context():
        yield app
        close_app(app)


def close_app(app: Flask) -> None:
    """Release the app's database connections (the pool, and the live feed's own)."""
    live.close(app)
    db.session.remove()
    db.engine.dispose()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


@pytest.fixture
def make_user(app) -> Callable:
    def make(username: str = "alice", roles=("viewer",), password: str = PASSWORD):
        return users.create(username, password, roles)

    return make


@pytest.fixture
def oauth_client(app):
    """A confidential client allowed the password and refresh_token grants."""
    client, secret = clients.create("test client", ["password", "refresh_token"])
    client.secret = secret
    return client


@pytest.fixture
def token_request(client, oauth_client) -> Callable:
    """POST /oauth/token as ``oauth_client`` (Basic auth) with form ``params``."""

    def request(**params):
        return client.post(
            "/oauth/token",
            data=params,
            headers=basic_auth(oauth_client.client_id, oauth_client.secret),
        )

    return request


@pytest.fixture
def make_token(make_user, token_request) -> Callable:
    """Log a user in with the password grant; returns the token response JSON."""

    def make(username: str = "alice", roles=("viewer",), scope: str | None = None) -> dict:
        if users.find(username) is None:
            make_user(username, roles)
        params = {"grant_type": "password", "username": username, "password": PASSWORD}
        if scope is not None:
            params["scope"] = scope
        response = token_request(**params)
        assert response.status_code == 200, response.get_json()
        return response.get_json()

    return make


@dataclass
class LiveServer:
    url: str
    app: Flask


@pytest.fixture
def live_server(settings) -> Iterator[LiveServer]:
    """The app under a real WSGI server in a thread; its base URL is also the issuer."""
    yield from serve_app(settings)


def serve_app(settings: dict, **overrides) -> Iterator[LiveServer]:
    """An app made with ``settings`` and ``overrides`` under a real WSGI server in a thread
    (its base URL is also the issuer), closed afterwards: for fixtures to yield from."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    app = create_app("testing", {**settings, "ISSUER": base, **overrides})
    server = make_server("127.0.0.1", port, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield LiveServer(base, app)
    finally:
        server.shutdown()
        thread.join(timeout=5)
        with app.app_context():
            close_app(app)


@pytest.fixture
def gunicorns(tmp_path) -> Iterator[Gunicorns]:
    """Starts gunicorn instances (logs in ``tmp_path``); all are stopped after the test."""
    with gunicorn_instances(tmp_path) as servers:
        yield servers


# -- the processes marker and a readable summary --------------------------------------------


class _NoProcesses:
    """Stands for subprocess.Popen in a test without the mark: starting a process fails."""

    def __init__(self, args, *_, **__) -> None:
        raise AssertionError(
            f"this test starts a process ({args!r}): mark it @pytest.mark.processes"
        )


@pytest.fixture(autouse=True)
def _processes_are_marked(request, monkeypatch) -> None:
    if request.node.get_closest_marker("processes") is None:
        monkeypatch.setattr(subprocess, "Popen", _NoProcesses)


def pytest_terminal_summary(terminalreporter) -> None:
    """One line per reason tests were skipped, with a count (instead of one per test)."""
    reasons: Counter[str] = Counter()
    for report in terminalreporter.stats.get("skipped", []):
        longrepr = report.longrepr
        reason = longrepr[2] if isinstance(longrepr, tuple) else str(longrepr)
        reasons[reason.removeprefix("Skipped: ")] += 1
    if reasons:
        terminalreporter.write_sep("-", "skipped, by reason")
        for reason, count in reasons.most_common():
            terminalreporter.write_line(f"{count:5d}  {reason}")


# -- the admin console's browser tests ---------------------------------------------------------


@pytest.fixture(scope="module")
def browser() -> Iterator:
    """Headless Chromium (Debian's ``chromium``) driven by Playwright, one per test module
    (Playwright's event loop and driver process end with the module that used them); the
    test skips, saying why, when Playwright or the binary is missing."""
    from tests.support.browser import launch_browser

    yield from launch_browser()
