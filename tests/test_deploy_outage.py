"""Outages: the database or Redis goes away under a running gunicorn, then comes back.

A throwaway PostgreSQL cluster (initdb in a temporary folder, its own port) and a throwaway
``redis-server`` are stopped and started again under gunicorn with two workers. While a
backing service is down every answer that needs it is a JSON 503 with Retry-After (never a
500, never HTML), nothing is half-written, and afterwards the same processes recover by
themselves. Skipped when the server binaries are missing.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import threading
import time
from collections.abc import Iterator

import pytest
import requests

from authserver.security.digests import digest
from tests.support import PASSWORD
from tests.support.deploy import (
    assert_json_503,
    fan_out,
    migrate_and_seed,
    password_grant,
    refresh_grant,
    server_env,
    until_every_worker,
)
from tests.support.gunicorn import Gunicorns, Server
from tests.support.http import bearer
from tests.support.throwaway import ThrowawayPostgres, ThrowawayRedis

pytestmark = pytest.mark.processes  # every test here runs gunicorn or console scripts

RECOVERY_SECONDS = 30


@pytest.fixture(scope="module")
def postgres() -> Iterator[ThrowawayPostgres]:
    cluster = ThrowawayPostgres()
    try:
        cluster.init()
        cluster.start()
        yield cluster
    finally:
        cluster.cleanup()


@pytest.fixture
def throwaway_redis(tmp_path) -> Iterator[ThrowawayRedis]:
    server = ThrowawayRedis(tmp_path)
    try:
        server.start()
        yield server
    finally:
        server.kill()


def eventually(check, seconds: float = RECOVERY_SECONDS):
    """``check()`` until it returns a true value (exceptions count as not yet), bounded."""
    deadline = time.monotonic() + seconds
    last: object = None
    while time.monotonic() < deadline:
        try:
            last = check()
        except (requests.RequestException, AssertionError) as exc:
            last = exc
        else:
            if last:
                return last
        time.sleep(0.2)
    pytest.fail(f"not recovered within {seconds} s: {last!r}")


# -- the database ------------------------------------------------------------------------------


def test_database_outage_answers_json_503_and_the_same_processes_recover(
    postgres,
    gunicorns: Gunicorns,
    tmp_path,
) -> None:
    keys = tmp_path / "signing-keys.json"
    env = server_env(DATABASE_URL=postgres.url, SIGNING_KEYS=str(keys))
    seeded = migrate_and_seed(env)
    server = gunicorns.start(env, "outage")
    viewer, client, rs = seeded.usernames["viewer"], seeded.client, seeded.resource_server
    tokens = password_grant(server.base, client, viewer).json()
    admin = password_grant(server.base, client, seeded.usernames["admin"]).json()
    workers = server.worker_pids()

    with Hammer(server, client, viewer, tokens["access_token"]) as hammer:
        postgres.stop()  # while requests are in flight
        try:
            _assert_outage_answers(server, client, rs, viewer, tokens, admin["access_token"])
        finally:
            postgres.start()
        eventually(lambda: _recovered(server, client, viewer))
    assert hammer.count > 20 and hammer.statuses <= {200, 503}, hammer.statuses
    assert server.running() and server.worker_pids() == workers  # no worker was replaced
    # The refresh tried during the outage did not spend the token: it works, once.
    first = refresh_grant(server.base, client, tokens["refresh_token"])
    assert first.status_code == 200, first.text
    again = refresh_grant(server.base, client, tokens["refresh_token"])
    assert again.status_code == 400 and again.json()["error"] == "invalid_grant"
    me = requests.get(server.url("/api/me"), headers=bearer(tokens["access_token"]), timeout=10)
    assert me.status_code == 200


def test_gunicorn_started_while_the_database_is_down_serves_once_it_is_up(
    postgres,
    gunicorns: Gunicorns,
    tmp_path,
) -> None:
    keys = tmp_path / "signing-keys.json"
    env = server_env(DATABASE_URL=postgres.url, SIGNING_KEYS=str(keys))
    seeded = migrate_and_seed(env, roles=("viewer",))
    postgres.stop()
    try:
        server = gunicorns.start(env, "late")  # up: /healthz answers
        assert_json_503(requests.get(server.url("/readyz"), timeout=10))
        assert_json_503(password_grant(server.base, seeded.client, seeded.usernames["viewer"]))
        workers = server.worker_pids()
    finally:
        postgres.start()

    eventually(lambda: _recovered(server, seeded.client, seeded.usernames["viewer"]))
    assert server.worker_pids() == workers


class Hammer:
    """Logins and protected requests in a loop while the database goes down and comes
    back: whatever moment a request hits, it gets its answer or a 503, never a 500."""

    def __init__(self, server: Server, client, username: str, access_token: str) -> None:
        self.calls = [
            lambda: password_grant(server.base, client, username),
            lambda: requests.get(server.url("/api/me"), headers=bearer(access_token), timeout=10),
        ]
        self.statuses: set[int | str] = set()
        self.count = 0
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=self._run, args=(c,)) for c in self.calls]

    def _run(self, call) -> None:
        while not self.stop.is_set():
            try:
                response = call()
            except requests.RequestException as exc:  # recorded, so the test fails
                self.statuses.add(type(exc).__name__)
                continue
            self.count += 1
            if response.status_code == 503:
                try:
                    assert_json_503(response)
                except AssertionError:
                    self.statuses.add("503 without JSON or Retry-After")
                    continue
            self.statuses.add(response.status_code)

    def __enter__(self) -> Hammer:
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=30)


def _assert_outage_answers(server: Server, client, rs, viewer, tokens, admin_token) -> None:
    """Every route that needs the database: a JSON 503 from every worker, many times."""
    calls = {
        "/oauth/token": lambda: password_grant(server.base, client, viewer),
        "/oauth/revoke": lambda: requests.post(
            server.url("/oauth/revoke"), data={"token": "x"}, auth=client, timeout=10
        ),
        "/oauth/introspect": lambda: requests.post(
            server.url("/oauth/introspect"),
            data={"token": tokens["access_token"]},
            auth=rs,
            timeout=10,
        ),
        "/api/me": lambda: requests.get(
            server.url("/api/me"), headers=bearer(tokens["access_token"]), timeout=10
        ),
        "/admin/policy": lambda: requests.get(
            server.url("/admin/policy"), headers=bearer(admin_token), timeout=10
        ),
        "/readyz": lambda: requests.get(server.url("/readyz"), timeout=10),
    }
    refresh = refresh_grant(server.base, client, tokens["refresh_token"])
    assert_json_503(refresh)
    assert refresh.json()["error"] == "temporarily_unavailable"
    # A protected route decides from memory while its feed is confirmed; once the feed is
    # lost (within SPEC §12's 1 s bound) it must ask the database, and so answers 503.
    time.sleep(1.0)
    for path, call in calls.items():
        for response in until_every_worker(server, path, lambda _, call=call: call(), 503):
            assert_json_503(response)
    assert requests.get(server.url("/oauth/token"), timeout=10).status_code == 405
    for path in ("/healthz", "/.well-known/jwks.json"):  # need no database
        statuses = fan_out(lambda _, path=path: requests.get(server.url(path), timeout=10), 10)
        assert {response.status_code for response in statuses} == {200}, path
    # The metadata lists the live policy's scopes: a 503 too, but never a 500.
    metadata = requests.get(server.url("/.well-known/oauth-authorization-server"), timeout=10)
    if metadata.status_code != 200:
        assert_json_503(metadata)
    assert_json_503(password_grant(server.base, client, viewer, password="wrong"))


def _recovered(server: Server, client, viewer) -> bool:
    """Both workers answer /readyz 200 and give tokens again."""
    readiness = fan_out(lambda _: requests.get(server.url("/readyz"), timeout=5), 8)
    logins = fan_out(lambda _: password_grant(server.base, client, viewer), 8)
    return {r.status_code for r in readiness + logins} == {200}


# -- Redis -------------------------------------------------------------------------------------


def _redis_server_env(tmp_path, redis_url: str, failure: str) -> dict[str, str]:
    return server_env(
        DATABASE_URL=f"sqlite:///{tmp_path / 'authserver.db'}",
        SIGNING_KEYS=str(tmp_path / "signing-keys.json"),
        REDIS_URL=redis_url,
        REDIS_FAILURE=failure,
        LOCKOUT_THRESHOLD="3",
    )


def _redis_failures(redis_url: str, username: str) -> int:
    import redis

    client = redis.Redis.from_url(redis_url, socket_timeout=2, socket_connect_timeout=2)
    try:
        return int(client.hget(f"authserver:lockout:{digest(username)}", "failures") or 0)
    finally:
        client.close()


def _database_failures(tmp_path, username: str) -> int:
    with sqlite3.connect(tmp_path / "authserver.db", timeout=10) as connection:
        row = connection.execute(
            "SELECT failures FROM login_failures WHERE account_digest = ?", (digest(username),)
        ).fetchone()
    return row[0] if row else 0


def test_redis_outage_with_fallback_keeps_logins_working_and_counting(
    throwaway_redis,
    gunicorns: Gunicorns,
    tmp_path,
) -> None:
    env = _redis_server_env(tmp_path, throwaway_redis.url, "fallback")
    seeded = migrate_and_seed(env)
    server = gunicorns.start(env, "fallback")
    viewer, admin, client = seeded.usernames["viewer"], seeded.usernames["admin"], seeded.client
    assert password_grant(server.base, client, viewer, password="wrong").status_code == 400
    assert _redis_failures(throwaway_redis.url, viewer) == 1
    workers = server.worker_pids()

    throwaway_redis.kill()

    logins = until_every_worker(
        server, "/oauth/token", lambda _: password_grant(server.base, client, admin), 200
    )
    assert {response.status_code for response in logins} == {200}
    wrong = password_grant(server.base, client, viewer, password="wrong")
    assert wrong.status_code == 400 and wrong.json()["error"] == "invalid_grant"
    assert _database_failures(tmp_path, viewer) == 1  # counted in the database meanwhile
    assert requests.get(server.url("/readyz"), timeout=10).status_code == 200

    throwaway_redis.start()  # the same port, empty

    def counting_in_redis_again() -> bool:
        password_grant(server.base, client, admin, password="wrong")
        return _redis_failures(throwaway_redis.url, admin) >= 2  # both workers, in Redis

    eventually(counting_in_redis_again)
    assert password_grant(server.base, client, viewer).status_code == 200
    assert server.running() and server.worker_pids() == workers


def test_redis_outage_with_closed_refuses_password_logins_with_503_then_recovers(
    throwaway_redis,
    gunicorns: Gunicorns,
    tmp_path,
) -> None:
    env = _redis_server_env(tmp_path, throwaway_redis.url, "closed")
    seeded = migrate_and_seed(env)
    server = gunicorns.start(env, "closed")
    viewer, client = seeded.usernames["viewer"], seeded.client
    tokens = password_grant(server.base, client, viewer).json()
    workers = server.worker_pids()

    throwaway_redis.kill()

    logins = until_every_worker(
        server, "/oauth/token", lambda _: password_grant(server.base, client, viewer), 503
    )
    for response in logins:
        assert_json_503(response)
        assert response.json()["error"] == "temporarily_unavailable"
    assert _database_failures(tmp_path, viewer) == 0  # nothing counted elsewhere
    # What needs no lockout counter still works: refresh, resource routes.
    refreshed = refresh_grant(server.base, client, tokens["refresh_token"])
    assert refreshed.status_code == 200, refreshed.text
    me = requests.get(server.url("/api/me"), headers=bearer(tokens["access_token"]), timeout=10)
    assert me.status_code == 200

    throwaway_redis.start()

    def logins_work() -> bool:
        answers = fan_out(lambda _: password_grant(server.base, client, viewer), 8)
        return {response.status_code for response in answers} == {200}

    eventually(logins_work)
    assert server.running() and server.worker_pids() == workers


def test_a_frozen_redis_costs_logins_a_bounded_delay(
    throwaway_redis,
    gunicorns: Gunicorns,
    tmp_path,
) -> None:
    """A Redis that hangs instead of refusing (SIGSTOP: connections open, no answers): its
    socket timeout, then a pause before the next try, keep every login well under 3 s."""
    env = _redis_server_env(tmp_path, throwaway_redis.url, "fallback")
    seeded = migrate_and_seed(env)
    server = gunicorns.start(env, "frozen")
    viewer, client = seeded.usernames["viewer"], seeded.client
    assert password_grant(server.base, client, viewer).status_code == 200

    os.kill(throwaway_redis.process.pid, signal.SIGSTOP)
    try:
        timings = []
        for i in range(10):
            started = time.monotonic()
            response = password_grant(
                server.base, client, viewer, password="wrong" if i % 2 else PASSWORD
            )
            timings.append(time.monotonic() - started)
            assert response.status_code == (400 if i % 2 else 200), response.text
    finally:
        os.kill(throwaway_redis.process.pid, signal.SIGCONT)
    assert max(timings) < 3, timings
