"""``make run``: the steps of its recipe, in subprocesses, give a working server in 60 s.

The recipe is read from the Makefile, so this test follows it. Data goes to a temporary
folder (database, signing keys), gunicorn binds a free port and is stopped (its whole
process group) by the ``gunicorns`` fixture.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess

import pytest
import requests

from tests.conftest import free_port
from tests.support.cli import BIN, PROJECT, credentials
from tests.support.gunicorn import Gunicorns, Server, wait_until_up

pytestmark = pytest.mark.processes  # every test here runs gunicorn or console scripts

STARTUP_SECONDS = 60


def make_run_recipe() -> list[list[str]]:
    """The command lines of the Makefile's ``run`` target, with $(BIN) resolved."""
    text = (PROJECT / "Makefile").read_text()
    recipe = re.search(r"^run:.*\n((?:\t.*\n)+)", text, re.MULTILINE)
    assert recipe, "no run target in the Makefile"
    lines = [line.strip() for line in recipe.group(1).splitlines()]
    return [shlex.split(line.replace("$(BIN)", str(BIN))) for line in lines]


@pytest.fixture
def run_env(tmp_path) -> dict[str, str]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("AUTHSERVER_")}
    env.update(
        AUTHSERVER_DATABASE_URL=f"sqlite:///{tmp_path / 'instance' / 'authserver.db'}",
        AUTHSERVER_SIGNING_KEYS=str(tmp_path / "instance" / "signing-keys.json"),
        AUTHSERVER_BIND=f"127.0.0.1:{port}",
        AUTHSERVER_ISSUER=f"http://127.0.0.1:{port}",
    )
    return env


@pytest.fixture
def server(run_env, gunicorns: Gunicorns) -> tuple[Server, str]:
    """Runs the recipe; returns the server, once up, and what `demo setup` printed.
    gunicorn's log is shown when it does not start."""
    check, *setup, serve = make_run_recipe()
    assert check[1:] == ["-m", "authserver.bind_check"]
    assert [step[1:3] for step in setup] == [["db", "upgrade"], ["demo", "setup"]]
    assert serve[0].endswith("gunicorn") and "wsgi:app" in serve
    printed = ""
    for step in [check, *setup]:
        done = subprocess.run(
            step, env=run_env, cwd=PROJECT, capture_output=True, text=True, timeout=60
        )
        assert done.returncode == 0, done.stderr
        printed += done.stdout
    server = gunicorns.spawn(serve, run_env, "make-run", run_env["AUTHSERVER_ISSUER"])
    wait_until_up(server, workers=1, timeout=STARTUP_SECONDS)
    return server, printed


def test_make_run_serves_metadata_and_demo_credentials_work(server):
    base, printed = server[0].base, server[1]

    metadata = requests.get(f"{base}/.well-known/oauth-authorization-server", timeout=10).json()

    assert metadata["issuer"] == base
    assert metadata["token_endpoint"] == f"{base}/oauth/token"
    assert set(metadata["grant_types_supported"]) == {
        "password",
        "refresh_token",
        "client_credentials",
    }
    users, client_id, secret, _ = credentials(printed)
    password, role = users["alice"]
    token = requests.post(
        metadata["token_endpoint"],
        data={"grant_type": "password", "username": "alice", "password": password},
        auth=(client_id, secret),
        timeout=10,
    )
    assert token.status_code == 200, token.text
    assert token.headers["Cache-Control"] == "no-store"
    tokens = token.json()
    me = requests.get(
        f"{base}/api/me",
        headers={"Authorization": f"Bearer {tokens['access_token']}"},
        timeout=10,
    )
    assert me.status_code == 200, me.text
    assert me.json()["username"] == "alice"
    assert me.json()["roles"] == [role]
    refreshed = requests.post(
        metadata["token_endpoint"],
        data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
        auth=(client_id, secret),
        timeout=10,
    )
    assert refreshed.status_code == 200, refreshed.text
    assert refreshed.json()["refresh_token"] != tokens["refresh_token"]


def test_second_make_run_fails_with_one_line_before_touching_any_data(server, run_env):
    """Issue 10 item 13: with the server up, the recipe stops at its first step, so the
    demo credentials the first run printed keep working."""
    base, printed = server[0].base, server[1]
    check, *_ = make_run_recipe()

    second = subprocess.run(
        check, env=run_env, cwd=PROJECT, capture_output=True, text=True, timeout=60
    )

    assert second.returncode != 0
    lines = second.stderr.strip().splitlines()
    assert len(lines) == 1 and run_env["AUTHSERVER_BIND"] in lines[0]
    assert "already in use" in lines[0] and "Traceback" not in second.stderr
    users, client_id, secret, _ = credentials(printed)
    token = requests.post(
        f"{base}/oauth/token",
        data={"grant_type": "password", "username": "alice", "password": users["alice"][0]},
        auth=(client_id, secret),
        timeout=10,
    )
    assert token.status_code == 200, token.text


def test_bind_check_passes_on_a_free_address(run_env):
    check, *_ = make_run_recipe()
    done = subprocess.run(check, env=run_env, cwd=PROJECT, capture_output=True, text=True)
    assert done.returncode == 0 and done.stderr == ""
