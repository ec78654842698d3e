"""A key file that breaks under a running gunicorn (issue 10 item 1, SPEC §13): the
workers keep serving with the last good keys, /readyz says so, and a worker started after
the break boots with those keys instead of exiting with code 4 and taking the master down
(config/gunicorn.conf.py re-reads the file in the master before each fork)."""

from __future__ import annotations

import os
import signal
import time

import pytest
import requests

from tests.support.deploy import password_grant, seed, server_env, until_every_worker
from tests.support.gunicorn import Gunicorns, Server
from tests.support.http import bearer
from tests.support.tokens import token_header

pytestmark = pytest.mark.processes

BROKEN = {
    "corrupt": ("key file invalid", lambda path: path.write_text('{"keys": [{"kty"')),
    "deleted": ("key file missing", lambda path: path.unlink()),
}


def replace_a_worker(server: Server) -> int:
    """SIGKILL one worker; the master forks another. Its pid, once it answers."""
    before = server.worker_pids()
    os.kill(min(before), signal.SIGKILL)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert server.running(), server.log_text()
        new = server.worker_pids() - before
        if new and len(server.worker_pids()) == len(before):
            return new.pop()
        time.sleep(0.1)
    pytest.fail(f"no new worker:\n{server.log_text()}")


@pytest.mark.parametrize("how", BROKEN, ids=list(BROKEN))
def test_key_file_broken_at_run_time_workers_keep_serving_and_a_new_worker_keeps_the_master_up(
    database_url, gunicorns: Gunicorns, tmp_path, how
) -> None:
    detail, breaks = BROKEN[how]
    keys = tmp_path / "signing-keys.json"
    seeded = seed(database_url, keys, roles=("viewer",))
    env = server_env(DATABASE_URL=database_url, SIGNING_KEYS=str(keys))
    server = gunicorns.start(env, "a")
    viewer = seeded.usernames["viewer"]
    token = password_grant(server.base, seeded.client, viewer).json()["access_token"]
    kid = token_header(token)["kid"]

    breaks(keys)
    new_pid = replace_a_worker(server)

    def me(_: int) -> int:
        headers = {**bearer(token), "Connection": "close"}
        return requests.get(server.url("/api/me"), headers=headers, timeout=10).status_code

    assert set(until_every_worker(server, "/api/me", me)) == {200}
    assert f"<{new_pid}>" in server.answering_pids("/api/me", 200)

    def signed_with(_: int) -> str:
        response = password_grant(server.base, seeded.client, viewer)
        return token_header(response.json()["access_token"])["kid"]

    assert set(until_every_worker(server, "/oauth/token", signed_with)) == {kid}

    def readiness(_: int) -> tuple[int, str]:
        response = requests.get(server.url("/readyz"), headers={"Connection": "close"}, timeout=10)
        return response.status_code, response.json()["checks"]["signing_keys"]

    answers = until_every_worker(server, "/readyz", readiness)
    assert set(answers) == {(200, f"last good keys in use ({detail})")}
    assert server.running()
    log = server.log_text()
    assert "keeping the keys loaded before" in log and str(keys) in log
    assert "Worker failed to boot" not in log and "Traceback" not in log
    assert not keys.exists() if how == "deleted" else True  # never silently replaced
