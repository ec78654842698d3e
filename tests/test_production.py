"""AUTHSERVER_ENV=production refuses development secrets: one line naming what to fix, a
non-zero exit, no traceback; and starts when everything is right.

Run the real way: ``gunicorn -c config/gunicorn.conf.py wsgi:app`` (the master checks once
and stops with status 4) and the ``authserver`` console script (status 2).
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from authserver.security.keys import SigningKeys
from tests.support.deploy import (
    BIN,
    PROJECT,
    Gunicorns,
    free_port,
    gunicorn_instances,
    kill_groups,
    run_cli,
    server_env,
)

ISSUER = "https://id.example.com"


@pytest.fixture
def gunicorns(tmp_path) -> Iterator[Gunicorns]:
    with gunicorn_instances(tmp_path) as servers:
        yield servers


@pytest.fixture
def keys(tmp_path) -> Path:
    path = tmp_path / "keys" / "signing-keys.json"
    SigningKeys.load_or_create(path)
    return path


@pytest.fixture
def production(tmp_path, keys) -> dict[str, str]:
    """A correct production environment (settings are checked before the database is);
    temporary files go to a folder of the test's."""
    env = server_env(
        ENV="production",
        DATABASE_URL=f"sqlite:///{tmp_path / 'authserver.db'}",
        SIGNING_KEYS=str(keys),
        ISSUER=ISSUER,
    )
    (tmp_path / "temp").mkdir()
    return {**env, "TMPDIR": str(tmp_path / "temp")}


@pytest.fixture
def migrated(production) -> dict[str, str]:
    """The same, its database migrated with `authserver db upgrade` (in production)."""
    run_cli(production, "db", "upgrade")
    return production


def gunicorn_refuses(env: dict[str, str], *fragments: str) -> str:
    """Start gunicorn with the config file; it must stop by itself with one line of ours,
    leaving no temporary metrics folder behind."""
    temp = Path(env["TMPDIR"])
    env = {**env, "AUTHSERVER_BIND": f"127.0.0.1:{free_port()}"}
    process = subprocess.Popen(
        [str(BIN / "gunicorn"), "-c", str(PROJECT / "config" / "gunicorn.conf.py"), "wsgi:app"],
        env=env,
        cwd=PROJECT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        stdout, stderr = process.communicate(timeout=60)
    finally:
        kill_groups([process])
    assert process.returncode == 4, stderr
    assert list(temp.iterdir()) == []
    assert "Traceback" not in stdout + stderr
    assert "Booting worker" not in stderr  # refused before any worker started
    ours = [line for line in stderr.splitlines() if line.startswith("authserver:")]
    assert len(ours) == 1, stderr
    for fragment in fragments:
        assert fragment in ours[0], ours[0]
    return ours[0]


def console_refuses(env: dict[str, str], *fragments: str) -> str:
    result = run_cli(env, "users", "list", check=False)
    assert result.returncode != 0
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]


def refuses(env: dict[str, str], *fragments: str) -> None:
    gunicorn_refuses(env, *fragments)
    console_refuses(env, *fragments)


def test_production_refuses_to_start_without_signing_keys_setting(production) -> None:
    env = {k: v for k, v in production.items() if k != "AUTHSERVER_SIGNING_KEYS"}

    refuses(env, "AUTHSERVER_SIGNING_KEYS")


@pytest.mark.parametrize("issuer", ["http://id.example.com", "http://127.0.0.1:5000"])
def test_production_refuses_an_http_issuer(production, issuer) -> None:
    refuses({**production, "AUTHSERVER_ISSUER": issuer}, "AUTHSERVER_ISSUER", "https://")


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o644, 0o660])
def test_production_refuses_a_key_file_others_can_read(production, keys, mode) -> None:
    os.chmod(keys, mode)

    refuses(production, "AUTHSERVER_SIGNING_KEYS", str(keys), "chmod 600")


def test_production_refuses_while_demo_clients_exist(migrated) -> None:
    development = {**migrated, "AUTHSERVER_ENV": "development"}
    run_cli(development, "demo", "setup")

    refuses(migrated, "demo-client", "demo-public")


def test_production_refuses_demo_setup(migrated) -> None:
    result = run_cli(migrated, "demo", "setup", check=False)

    assert result.returncode != 0
    assert "AUTHSERVER_ENV=production" in result.stderr
    assert "Traceback" not in result.stderr


def test_production_starts_when_everything_is_right(
    migrated,
    keys,
    gunicorns: Gunicorns,
) -> None:
    assert keys.stat().st_mode & 0o777 == 0o600
    server = gunicorns.start(migrated, "production")

    metadata = requests.get(server.url("/.well-known/oauth-authorization-server"), timeout=10)

    assert metadata.status_code == 200
    assert metadata.json()["issuer"] == ISSUER
    assert metadata.json()["token_endpoint"] == f"{ISSUER}/oauth/token"
    assert requests.get(server.url("/readyz"), timeout=10).status_code == 200
    assert run_cli(migrated, "users", "list").returncode == 0


def test_production_creates_a_missing_key_file_with_mode_600(
    migrated,
    tmp_path,
    gunicorns: Gunicorns,
) -> None:
    path = tmp_path / "new-keys" / "signing-keys.json"
    server = gunicorns.start({**migrated, "AUTHSERVER_SIGNING_KEYS": str(path)}, "fresh")

    assert requests.get(server.url("/.well-known/jwks.json"), timeout=10).status_code == 200
    assert path.stat().st_mode & 0o777 == 0o600
