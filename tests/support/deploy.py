"""Helpers for the tests that run the real thing (no tests here): the environment of a
server or console-script process, own databases, seeded users and clients, HTTP calls.

Nothing here mocks our code: the schema comes from ``authserver db upgrade``; servers are
started by tests/support/gunicorn.py, throwaway PostgreSQL and Redis by throwaway.py.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import subprocess
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import requests

from authserver.app import create_app
from authserver.extensions import db
from authserver.services import clients, users
from tests.support import PASSWORD, PROJECT
from tests.support.gunicorn import BIN, Server

PG_URL = os.environ.get("AUTHSERVER_TEST_DATABASE_URL")
REDIS_URL = os.environ.get("AUTHSERVER_TEST_REDIS_URL")
INHERITED = ("AUTHSERVER_", "PROMETHEUS_", "GUNICORN_")  # only what a test sets reaches a server


def server_env(**settings: str) -> dict[str, str]:
    """The environment of a server or CLI process: the caller's, minus every AUTHSERVER_*,
    PROMETHEUS_* and GUNICORN_* variable, plus the testing env and ``settings`` (names
    without the AUTHSERVER_ prefix)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(INHERITED)}
    env["AUTHSERVER_ENV"] = "testing"
    env.update({f"AUTHSERVER_{name}": str(value) for name, value in settings.items()})
    return env


def run_cli(
    env: dict[str, str], *args: str, stdin: str | None = None, check: bool = True
) -> subprocess.CompletedProcess:
    """``.venv/bin/authserver ARGS`` in the project folder, bounded to 60 s."""
    result = subprocess.run(
        [str(BIN / "authserver"), *args],
        input=stdin,
        env=env,
        cwd=PROJECT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if check:
        assert result.returncode == 0, result.stderr
    return result


# -- databases ---------------------------------------------------------------------------------


def _pg_url(name: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(PG_URL).set(database=name).render_as_string(hide_password=False)


@contextlib.contextmanager
def own_postgres_database(prefix: str) -> Iterator[str]:
    """A new database on the server of AUTHSERVER_TEST_DATABASE_URL, dropped afterwards
    (others use the ``test`` database at the same time)."""
    import psycopg

    name = f"{prefix}_{os.getpid()}_{secrets.token_hex(3)}"
    admin = _pg_url("postgres")
    with psycopg.connect(admin, autocommit=True, connect_timeout=10) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    try:
        yield _pg_url(name)
    finally:
        with psycopg.connect(admin, autocommit=True, connect_timeout=10) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def redis_url(db_number: int) -> str:
    """AUTHSERVER_TEST_REDIS_URL with another database number (others use db 0)."""
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(REDIS_URL)
    return urlunsplit(parts._replace(path=f"/{db_number}"))


def unique(name: str) -> str:
    """A name no other test run uses (lockout counters in a shared Redis are per name)."""
    return f"{name}-{secrets.token_hex(4)}"


@dataclass
class Seeded:
    """What ``seed`` created: users (all with PASSWORD) and clients' credentials."""

    usernames: dict[str, str] = field(default_factory=dict)  # role -> username
    client: tuple[str, str] = ("", "")  # (client_id, secret): password + refresh_token
    resource_server: tuple[str, str] = ("", "")  # may introspect any token


def seed(database_url: str, keys: Path, roles=("viewer", "admin")) -> Seeded:
    """One user per role and two clients, through the services on that database."""
    app = create_app("testing", {"DATABASE_URL": database_url, "SIGNING_KEYS": str(keys)})
    seeded = Seeded()
    with app.app_context():
        try:
            for role in roles:
                seeded.usernames[role] = unique(role)
                users.create(seeded.usernames[role], PASSWORD, [role])
            client, secret = clients.create(unique("app"), ["password", "refresh_token"])
            seeded.client = (client.client_id, secret)
            rs, rs_secret = clients.create(unique("rs"), [], introspect=True)
            seeded.resource_server = (rs.client_id, rs_secret)
        finally:
            db.session.remove()
            db.engine.dispose()
    return seeded


def migrate_and_seed(env: dict[str, str], roles=("viewer", "admin")) -> Seeded:
    """``authserver db upgrade`` on the database of ``env`` (a server's environment), then
    ``seed`` it with the key file of ``env``."""
    run_cli(env, "db", "upgrade")
    keys = Path(env["AUTHSERVER_SIGNING_KEYS"])
    return seed(env["AUTHSERVER_DATABASE_URL"], keys, roles)


# -- HTTP --------------------------------------------------------------------------------------


def fan_out(call: Callable[[int], object], count: int, threads: int = 4) -> list:
    """``call(i)`` for ``count`` values of i, ``threads`` at a time; every sync-worker
    request is a new connection, so the kernel spreads them over the workers."""
    with ThreadPoolExecutor(max_workers=threads) as pool:
        return list(pool.map(call, range(count)))


def until_every_worker(
    server: Server,
    path: str,
    call: Callable[[int], object],
    status: int | None = None,
    workers: int = 2,
) -> list:
    """Results of ``call`` (20 at a time, at most 200) until every worker of ``server``
    answered ``path`` (with ``status``) during this call."""
    since = server.mark()
    results: list = []
    while len(results) < 200:
        results += fan_out(call, 20)
        if len(server.answering_pids(path, status, since)) >= workers:
            return results
    pytest.fail(f"not every worker of {server.name} answered {path}: {results[-5:]}")


def password_grant(base: str, client: tuple[str, str], username: str, password=PASSWORD, **extra):
    return requests.post(
        f"{base}/oauth/token",
        data={"grant_type": "password", "username": username, "password": password, **extra},
        auth=client,
        timeout=10,
    )


def refresh_grant(base: str, client: tuple[str, str], refresh_token: str):
    return requests.post(
        f"{base}/oauth/token",
        data={"grant_type": "refresh_token", "refresh_token": refresh_token},
        auth=client,
        timeout=10,
    )


def assert_json_503(response: requests.Response) -> None:
    """A 503 a client can act on: JSON, Retry-After, never HTML or a traceback."""
    assert response.status_code == 503, (response.status_code, response.text)
    assert response.headers["Content-Type"].startswith("application/"), response.headers
    assert response.headers["Content-Type"].endswith("json"), response.headers
    assert int(response.headers["Retry-After"]) > 0
    body = response.json()
    assert isinstance(body, dict) and body, body
    assert "Traceback" not in response.text and "<html" not in response.text.lower()


def json_lines(text: str) -> list[dict]:
    """Every line of ``text`` that is a JSON object."""
    found = []
    for line in text.splitlines():
        with contextlib.suppress(ValueError):
            value = json.loads(line)
            if isinstance(value, dict):
                found.append(value)
    return found
