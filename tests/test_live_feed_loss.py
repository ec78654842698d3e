"""Issue 9, item 3 (SPEC §12): when a process's change feed is lost it still keeps the 1 s
bound (it asks the database: the fallback), says so in /readyz and in the metric
``authserver_live_feed_up``, and returns to the feed by itself once it is back.

- PostgreSQL without Redis: the feed listens through AUTHSERVER_LIVE_FEED_URL as a role of
  its own; its connections are ended with ``pg_terminate_backend`` while the role may not log
  in, so the feed stays down until the role may again.
- Redis (a throwaway redis-server on its own port, never the shared one): stopped with
  SIGSTOP (it hangs: heartbeats time out) and then continued; killed with SIGKILL and started
  again on the same port.
- The Redis crash gap: a change committed and never published (its writer died between the
  commit and the PUBLISH) is still seen by every worker within the bound.

Two gunicorn instances of 2 workers each on a PostgreSQL database of this module's own.
"""

from __future__ import annotations

import os
import re
import secrets
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest
import requests

from authserver.app import create_app
from authserver.extensions import db
from authserver.services import clients, users
from tests.conftest import close_app
from tests.support import PASSWORD
from tests.support.deploy import PG_URL, own_postgres_database, run_cli, server_env
from tests.support.gunicorn import Server, gunicorn_instances
from tests.support.live import (
    BOUND_SECONDS,
    Cluster,
    Delays,
    Poller,
    delay_of,
    delays_collector,
    me,
    start_all,
)
from tests.support.throwaway import ThrowawayRedis

pytestmark = [
    pytest.mark.processes,  # gunicorn, redis-server
    pytest.mark.skipif(not PG_URL, reason="AUTHSERVER_TEST_DATABASE_URL is not set"),
]
DISABLES = 3  # a disable made during an outage, a few times over
USERS = 10
RECOVERY_SECONDS = 10.0  # reconnect backoff is at most 2 s


@pytest.fixture(scope="session")
def delays(pytestconfig) -> Delays:
    return delays_collector(pytestconfig, "live feed lost: delay until every worker decides anew")


def seed(env: dict[str, str]) -> tuple[tuple[str, str], list[str]]:
    app = create_app(
        "testing",
        {
            "DATABASE_URL": env["AUTHSERVER_DATABASE_URL"],
            "SIGNING_KEYS": env["AUTHSERVER_SIGNING_KEYS"],
        },
    )
    with app.app_context():
        try:
            users.create("root", PASSWORD, ["admin"])
            names = [f"user{i}" for i in range(USERS)]
            for name in names:
                users.create(name, PASSWORD, ["editor"])
            client, secret = clients.create("app", ["password", "refresh_token"])
            assert secret is not None  # a confidential client
            return (client.client_id, secret), names
        finally:
            db.session.remove()
            db.engine.dispose()


def start_cluster(folder: Path, servers, backend: str, **settings: str) -> Cluster:
    env = server_env(SIGNING_KEYS=str(folder / "signing-keys.json"), **settings)
    run_cli(env, "db", "upgrade")
    client, names = seed(env)
    started = start_all(servers, env, ["a", "b"])
    cluster = Cluster(backend, started, env, Poller(started), client, users={"spare": names})
    cluster.admin_token = cluster.token("root")["access_token"]
    return cluster


# -- what the instances say --------------------------------------------------------------------
def says(word: str):
    """A probe: 1 when the worker's /readyz says ``checks.live_feed`` is ``word``, else 0."""

    def probe(server: Server, headers: dict[str, str]) -> int:
        answer = requests.get(server.url("/readyz"), headers=headers, timeout=5)
        return int(answer.json()["checks"]["live_feed"] == word)

    return probe


def every_worker_says(cluster: Cluster, word: str) -> float:
    """Until every worker of every instance says ``word`` (and none says otherwise after)."""
    return cluster.poller.until(says(word), lambda said: said == 1, time.monotonic())


def metric(server: Server, name: str) -> float:
    text = requests.get(server.url("/metrics"), timeout=5).text
    found = re.search(rf"^{name}(?:{{[^}}]*}})? (\S+)$", text, re.MULTILINE)
    assert found, f"no {name} in /metrics"
    return float(found.group(1))


def until_metric(cluster: Cluster, name: str, value: float, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not all(metric(server, name) == value for server in cluster.servers):
        assert time.monotonic() < deadline, f"{name} is not {value}"
        time.sleep(0.1)


def assert_degraded_but_deciding(cluster: Cluster, delays: Delays, outage: str) -> None:
    """Feed lost: /readyz (still 200) and the metric say so on every worker, and a disable
    made now is refused by every worker of both instances within the bound (each time)."""
    every_worker_says(cluster, "lost")
    for server in cluster.servers:
        answer = requests.get(server.url("/readyz"), timeout=5)
        assert answer.status_code == 200, answer.text  # correct, only slower
        assert metric(server, "authserver_live_feed_up") == 0
    before = {s.name: metric(s, "authserver_live_fallback_syncs_total") for s in cluster.servers}
    for _ in range(DISABLES):
        username = cluster.users["spare"].pop()
        token = cluster.token(username)["access_token"]
        delay = delay_of(cluster, me(token), disabling(cluster, username), refused)
        delays.add(cluster.backend, outage, delay)
        assert delay < BOUND_SECONDS, f"{outage}: {delay * 1000:.0f} ms"
    for server in cluster.servers:  # the decisions came from the database
        assert metric(server, "authserver_live_fallback_syncs_total") > before[server.name]


def disabling(cluster: Cluster, username: str) -> Callable[[], None]:
    def disable() -> None:
        answer = cluster.admin("POST", f"/admin/users/{username}/disable")
        assert answer.status_code == 200, answer.text

    return disable


def refused(status: int) -> bool:
    return status == 401


def assert_up(cluster: Cluster) -> None:
    """The feed is up (or returned by itself): /readyz says ok on every worker, the metric
    (the smallest of every worker's) is 1."""
    every_worker_says(cluster, "ok")
    until_metric(cluster, "authserver_live_feed_up", 1, RECOVERY_SECONDS)


# -- PostgreSQL LISTEN/NOTIFY -------------------------------------------------------------------
def admin_sql(url: str | None, statement: str, *args: object) -> list:
    assert url is not None
    with psycopg.connect(url, autocommit=True, connect_timeout=10) as connection:
        cursor = connection.execute(statement, args or None)
        return cursor.fetchall() if cursor.description else []


@pytest.fixture(scope="module")
def feed_role() -> Iterator[str]:
    """A role of its own for the feed's connections (trust authentication, as the tests'
    server has), so that the test can stop it from logging in."""
    role = f"live_feed_{os.getpid()}_{secrets.token_hex(3)}"
    admin_sql(PG_URL, f'CREATE ROLE "{role}" LOGIN')
    try:
        yield role
    finally:
        admin_sql(
            PG_URL,
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = %s",
            role,
        )
        admin_sql(PG_URL, f'DROP ROLE IF EXISTS "{role}"')


@pytest.fixture(scope="module")
def pg_cluster(feed_role, tmp_path_factory) -> Iterator[Cluster]:
    folder = tmp_path_factory.mktemp("feed-loss-pg")
    with own_postgres_database("live_feed_loss") as url, gunicorn_instances(folder) as servers:
        from sqlalchemy.engine import make_url

        feed_url = make_url(url).set(drivername="postgresql", username=feed_role)
        cluster = start_cluster(
            folder,
            servers,
            "postgresql",
            DATABASE_URL=url,
            LIVE_FEED_URL=feed_url.render_as_string(hide_password=False),
        )
        try:
            yield cluster
        finally:
            cluster.poller.close()


def test_listening_connection_terminated(pg_cluster, feed_role, delays) -> None:
    assert_up(pg_cluster)
    listening = "SELECT pid FROM pg_stat_activity WHERE usename = %s"
    assert len(admin_sql(PG_URL, listening, feed_role)) == 4  # one a worker, through FEED_URL

    admin_sql(PG_URL, f'ALTER ROLE "{feed_role}" NOLOGIN')
    try:
        killed = admin_sql(
            PG_URL,
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = %s",
            feed_role,
        )
        assert len(killed) == 4
        assert_degraded_but_deciding(pg_cluster, delays, "pg-terminated")
    finally:
        admin_sql(PG_URL, f'ALTER ROLE "{feed_role}" LOGIN')

    assert_up(pg_cluster)


# -- Redis pub/sub ------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def throwaway_redis(tmp_path_factory) -> Iterator[ThrowawayRedis]:
    server = ThrowawayRedis(tmp_path_factory.mktemp("redis"))
    server.start()
    try:
        yield server
    finally:
        if server.process is not None and server.process.poll() is None:
            os.kill(server.process.pid, signal.SIGCONT)
        server.kill()


@pytest.fixture(scope="module")
def redis_cluster(throwaway_redis, tmp_path_factory) -> Iterator[Cluster]:
    folder = tmp_path_factory.mktemp("feed-loss-redis")
    with own_postgres_database("live_feed_loss") as url, gunicorn_instances(folder) as servers:
        cluster = start_cluster(
            folder, servers, "postgresql+redis", DATABASE_URL=url, REDIS_URL=throwaway_redis.url
        )
        try:
            yield cluster
        finally:
            cluster.poller.close()


def test_a_change_committed_but_never_published_is_seen_within_the_bound(
    redis_cluster, delays
) -> None:
    """The writer's app has no Redis: it commits and announces nothing, as a writer that
    died between its commit and its PUBLISH. The feed's look at the log finds it."""
    assert_up(redis_cluster)
    username = redis_cluster.users["spare"].pop()
    token = redis_cluster.token(username)["access_token"]
    settings = {k.removeprefix("AUTHSERVER_"): v for k, v in redis_cluster.env.items()}
    app = create_app(
        "testing",
        {"DATABASE_URL": settings["DATABASE_URL"], "SIGNING_KEYS": settings["SIGNING_KEYS"]},
    )

    def revoke() -> None:  # on the poller's changing thread: an app context of its own
        with app.app_context():
            users.revoke_tokens(username, actor="test")

    try:
        delay = delay_of(redis_cluster, me(token), revoke, refused)
    finally:
        with app.app_context():
            close_app(app)
    delays.add(redis_cluster.backend, "unpublished", delay)
    assert delay < BOUND_SECONDS, f"{delay * 1000:.0f} ms"
    every_worker_says(redis_cluster, "ok")  # the feed found it: it was never lost


def outage(redis_cluster, delays, name: str, stop: Callable[[], None], resume: Callable[[], None]):
    assert_up(redis_cluster)
    stop()
    try:
        assert_degraded_but_deciding(redis_cluster, delays, name)
    finally:
        resume()
    assert_up(redis_cluster)


def test_redis_stopped_with_sigstop(redis_cluster, throwaway_redis, delays) -> None:
    pid = throwaway_redis.process.pid

    outage(
        redis_cluster,
        delays,
        "redis-sigstop",
        lambda: os.kill(pid, signal.SIGSTOP),
        lambda: os.kill(pid, signal.SIGCONT),
    )


def test_redis_killed_and_started_again(redis_cluster, throwaway_redis, delays) -> None:
    outage(redis_cluster, delays, "redis-killed", throwaway_redis.kill, throwaway_redis.start)
