"""The change feeds against the real servers: PostgreSQL LISTEN/NOTIFY and Redis pub/sub
(each needs its AUTHSERVER_TEST_* URL), and SQLite's data_version.

A feed must re-read the log on every notification and every (re)connect, confirm by
heartbeats, say "lost" when the connection dies or a heartbeat is late, and come back
by itself.
"""

from __future__ import annotations

import socket
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterator

import psycopg
import pytest
import redis

from authserver.live import feeds
from tests.conftest import PG_URL, REDIS_URL

TIMING = {"interval": 0.05, "timeout": 0.5}


class Owner:
    """Records what a feed tells its owner."""

    def __init__(self) -> None:
        self.resyncs = 0
        self.confirmed = float("-inf")
        self.losses: list[str] = []
        self.log_checks = 0
        self.changed = threading.Condition()

    def resync(self) -> None:
        with self.changed:
            self.resyncs += 1
            self.changed.notify_all()

    def confirm(self, sent: float) -> None:
        with self.changed:
            self.confirmed = sent
            self.changed.notify_all()

    def lost(self, reason: str) -> None:
        with self.changed:
            self.losses.append(reason)
            self.changed.notify_all()

    def check_log(self) -> None:
        with self.changed:
            self.log_checks += 1
            self.changed.notify_all()

    def wait(self, predicate, timeout: float = 5.0) -> bool:
        with self.changed:
            return self.changed.wait_for(predicate, timeout)

    def confirmed_after(self, moment: float, timeout: float = 5.0) -> bool:
        return self.wait(lambda: self.confirmed > moment, timeout)


@pytest.fixture
def owner() -> Owner:
    return Owner()


@pytest.fixture
def silent_server() -> Iterator[str]:
    """host:port of a server that accepts connections and never says a word."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.1)
        while not stop.is_set():
            try:
                accepted.append(listener.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"127.0.0.1:{listener.getsockname()[1]}"
    stop.set()
    thread.join()
    for connection in accepted:
        connection.close()
    listener.close()


def channel() -> str:
    return "live_test_" + uuid.uuid4().hex[:12]


# -- SQLite ----------------------------------------------------------------------------------


def test_local_feed_sees_commits_of_other_connections(tmp_path) -> None:
    path = str(tmp_path / "feed.db")
    writer = sqlite3.connect(path)
    writer.execute("CREATE TABLE t (x)")
    writer.commit()
    feed = feeds.LocalFeed(path)
    try:
        assert feed.changed()  # the first look
        assert not feed.changed()
        writer.execute("INSERT INTO t VALUES (1)")
        writer.commit()
        assert feed.changed()
        assert not feed.changed()
    finally:
        feed.close()
        writer.close()


# -- PostgreSQL ------------------------------------------------------------------------------


@pytest.fixture
def pg_url() -> str:
    if not PG_URL:
        pytest.skip("AUTHSERVER_TEST_DATABASE_URL is not set")
    return PG_URL


@pytest.fixture
def pg_feed(pg_url, owner) -> Iterator[feeds.PostgresFeed]:
    feed = feeds.PostgresFeed(owner, pg_url, channel(), **TIMING)
    feed.start()
    yield feed
    feed.stop()


def notify(url: str, name: str) -> None:
    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute("SELECT pg_notify(%s, '1')", (name,))


def test_postgres_feed_rereads_on_connect_and_on_notify_and_confirms(pg_feed, owner, pg_url):
    assert owner.wait(lambda: owner.resyncs == 1)
    assert owner.confirmed_after(time.monotonic())  # heartbeats keep confirming
    before = time.monotonic()

    notify(pg_url, pg_feed.channel)

    assert owner.wait(lambda: owner.resyncs == 2)
    assert time.monotonic() - before < 0.5
    assert owner.losses == []


def test_postgres_feed_comes_back_after_its_backend_is_terminated(pg_feed, owner, pg_url):
    assert owner.confirmed_after(time.monotonic())
    with psycopg.connect(pg_url, autocommit=True) as admin:
        killed = admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE application_name = 'authserver-live' AND datname = current_database()"
        ).fetchall()
    assert killed

    assert owner.wait(lambda: owner.losses)
    resyncs = owner.resyncs
    assert owner.wait(lambda: owner.resyncs > resyncs)  # re-read on reconnect
    assert owner.confirmed_after(time.monotonic())
    notify(pg_url, pg_feed.channel)
    assert owner.wait(lambda: owner.resyncs > resyncs + 1)


def test_postgres_feed_to_a_server_that_never_answers_is_lost(owner, silent_server):
    host, port = silent_server.split(":")
    feed = feeds.PostgresFeed(owner, f"postgresql://x@{host}:{port}/x", channel(), **TIMING)
    feed.start()
    try:
        assert owner.wait(lambda: owner.losses, timeout=10)
        assert owner.confirmed == float("-inf")
        assert feed.alive()  # still trying
    finally:
        feed.stop()


# -- Redis -----------------------------------------------------------------------------------


@pytest.fixture
def redis_url() -> str:
    if not REDIS_URL:
        pytest.skip("AUTHSERVER_TEST_REDIS_URL is not set")
    return REDIS_URL


@pytest.fixture
def redis_feed(redis_url, owner) -> Iterator[feeds.RedisFeed]:
    feed = feeds.RedisFeed(owner, redis_url, channel(), **TIMING)
    feed.start()
    yield feed
    feed.stop()


def test_redis_feed_rereads_on_connect_and_on_publish_and_confirms(redis_feed, owner, redis_url):
    assert owner.wait(lambda: owner.resyncs == 1)
    assert owner.confirmed_after(time.monotonic())
    before = time.monotonic()

    redis.Redis.from_url(redis_url).publish(redis_feed.channel, "1")

    assert owner.wait(lambda: owner.resyncs == 2)
    assert time.monotonic() - before < 0.5
    assert owner.losses == []


def test_redis_feed_looks_at_the_log_with_every_heartbeat(redis_feed, owner) -> None:
    """A writer that dies between its commit and its PUBLISH announces nothing: the feed's
    own look at the log (the owner's check_log) finds the change within a heartbeat."""
    assert owner.confirmed_after(time.monotonic())
    checks = owner.log_checks
    assert owner.wait(lambda: owner.log_checks >= checks + 3, timeout=1.0)
    assert owner.losses == []


def test_redis_feed_comes_back_after_its_connection_is_killed(redis_feed, owner, redis_url):
    assert owner.confirmed_after(time.monotonic())
    client = redis.Redis.from_url(redis_url)
    assert client.client_kill_filter(_type="pubsub", skipme=True) >= 1

    assert owner.wait(lambda: owner.losses)
    resyncs = owner.resyncs
    assert owner.wait(lambda: owner.resyncs > resyncs)
    assert owner.confirmed_after(time.monotonic())
    client.publish(redis_feed.channel, "2")
    assert owner.wait(lambda: owner.resyncs > resyncs + 1)


def test_redis_feed_to_a_server_that_never_answers_is_lost(owner, silent_server):
    feed = feeds.RedisFeed(owner, f"redis://{silent_server}/0", channel(), **TIMING)
    feed.start()
    try:
        assert owner.wait(lambda: owner.losses, timeout=10)
        assert owner.confirmed == float("-inf")
        assert feed.alive()
    finally:
        feed.stop()


def test_a_feed_whose_owner_is_gone_ends_its_thread(pg_url) -> None:
    import gc
    import weakref

    owner = Owner()
    feed = feeds.PostgresFeed(owner, pg_url, channel(), **TIMING)
    feed.start()
    confirmed = owner.confirmed_after(time.monotonic())  # no assert: it would keep owner
    assert confirmed

    gone = weakref.ref(owner)
    del owner
    gc.collect()
    assert gone() is None, [type(r) for r in gc.get_referrers(gone())]

    deadline = time.monotonic() + 5
    while feed.alive() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not feed.alive()
