"""Change feeds: they tell a process "re-read the log", and confirm it has missed nothing.

A feed never carries the change itself (the log in the database is the truth). Each one
calls back into its owner (:class:`authserver.live.sync.LiveSync`):

- ``resync()``: read the log now (a notification arrived, or the feed (re)connected);
- ``confirm(sent)``: a heartbeat sent at monotonic time ``sent`` came back, and every
  notification delivered before it has been re-read: every change committed before
  ``sent`` is applied;
- ``lost(reason)``: the feed is down; the request path falls back to the database
  until a heartbeat confirms again;
- ``check_log()`` (Redis only): read the log's newest seq, re-read the log if it moved.

- :class:`LocalFeed` (SQLite): ``PRAGMA data_version`` on a connection of its own, read on
  the request path at most every ``sync.LOCAL_CHECK_EVERY`` (local, a few microseconds).
  No thread.
- :class:`PostgresFeed`: LISTEN on a dedicated autocommit connection (``FEED_URL`` may
  point it past a transaction-mode pooler); heartbeat ``SELECT 1`` on that connection: a
  notification committed before it is delivered before its reply.
- :class:`RedisFeed`: SUBSCRIBE; heartbeat PING on the pub/sub connection (its reply comes
  after every message published before it), and with every heartbeat a look at the log's
  newest seq in the database. A PUBLISH is not part of the writer's transaction: a writer
  that dies between its commit and its PUBLISH announces nothing, and the look at the log
  is what still brings that change within the bound (a heartbeat period, ~0.2 s). It is a
  query of the feed thread, never of the request path.

Both threads are daemons, started in the worker process on first use (never in the gunicorn
master, which forks), reconnect with backoff and re-read the log on every (re)connect.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
import urllib.parse
import weakref
from typing import Any, Protocol

logger = logging.getLogger("authserver.live")

#: Reconnect delays: 0.1 s doubling up to 2 s.
BACKOFF_FIRST, BACKOFF_MAX = 0.1, 2.0


class FeedOwner(Protocol):
    def resync(self) -> None: ...
    def confirm(self, sent: float) -> None: ...
    def lost(self, reason: str) -> None: ...
    def check_log(self) -> None: ...


class FeedLost(Exception):
    """A heartbeat came back late or not at all."""


class OwnerGone(Exception):
    """The LiveSync this feed served was garbage-collected: the thread ends."""


class LocalFeed:
    """SQLite: has another connection committed since we last looked? (data_version)."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._connection: sqlite3.Connection | None = None
        self._version: int | None = None
        self._lock = threading.Lock()

    def changed(self) -> bool:
        """True when the file changed since the last call (or on the first call)."""
        with self._lock:
            if self._connection is None:
                uri = f"file:{urllib.parse.quote(self.path)}?mode=ro"
                self._connection = sqlite3.connect(
                    uri, uri=True, timeout=30, check_same_thread=False
                )
            version = self._connection.execute("PRAGMA data_version").fetchone()[0]
            changed, self._version = version != self._version, version
            return changed

    def close(self) -> None:
        with self._lock:
            if self._connection is not None:
                self._connection.close()
            self._connection, self._version = None, None


class ThreadFeed:
    """A daemon thread that keeps a connection, with heartbeats, reconnecting on errors."""

    name = "feed"

    def __init__(self, owner: FeedOwner, interval: float, timeout: float) -> None:
        # Weak: an app dropped without close() ends its thread instead of leaking it.
        self._owner = weakref.ref(owner)
        self.interval, self.timeout = interval, timeout
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def owner(self) -> FeedOwner:
        owner = self._owner()
        if owner is None:
            self._stop.set()
            raise OwnerGone
        return owner

    def start(self) -> None:
        self._thread = threading.Thread(
            target=self._run, name=f"authserver-live-{self.name}", daemon=True
        )
        self._thread.start()

    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def stop(self, wait: float = 2.0) -> None:
        self._stop.set()
        self._disconnect()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(wait)

    def _run(self) -> None:
        delay = BACKOFF_FIRST
        while not self._stop.is_set():
            try:
                self._connect()
                delay = BACKOFF_FIRST
                self.owner.resync()  # whatever happened while we were away
                while not self._stop.is_set():
                    self._beat()
            except Exception as exc:  # noqa: BLE001 - any failure means: lost, reconnect
                self._report_loss(exc)
            finally:
                self._disconnect()
            self._stop.wait(delay)
            delay = min(delay * 2, BACKOFF_MAX)

    def _report_loss(self, exc: Exception) -> None:
        owner = None if self._stop.is_set() else self._owner()
        if owner is not None:
            owner.lost(type(exc).__name__)
            logger.warning("live %s feed lost (%s); reconnecting", self.name, exc)

    def _connect(self) -> None:
        raise NotImplementedError

    def _beat(self) -> None:
        raise NotImplementedError

    def _disconnect(self) -> None:
        raise NotImplementedError


class PostgresFeed(ThreadFeed):
    """LISTEN/NOTIFY on a dedicated autocommit psycopg connection."""

    name = "postgresql"

    def __init__(self, owner: FeedOwner, url: str, channel: str, **timing: float) -> None:
        super().__init__(owner, **timing)
        self.url, self.channel = url, channel
        self._connection: Any = None  # psycopg.Connection while connected

    def _connect(self) -> None:
        import psycopg

        timeout_ms = int(self.timeout * 1000)
        self._connection = psycopg.connect(
            self.url,
            autocommit=True,
            connect_timeout=max(1, round(self.timeout * 2)),
            keepalives=1,
            keepalives_idle=1,
            keepalives_interval=1,
            keepalives_count=2,
            tcp_user_timeout=max(timeout_ms, 500),
            application_name="authserver-live",
        )
        self._connection.execute(f"LISTEN {self.channel}")

    def _beat(self) -> None:
        connection = self._connection
        sent = time.monotonic()
        connection.execute("SELECT 1")
        if time.monotonic() - sent > self.timeout:
            raise FeedLost("heartbeat late")
        if list(connection.notifies(timeout=0)):  # delivered before the reply
            self.owner.resync()
        self.owner.confirm(sent)
        if list(connection.notifies(timeout=self.interval, stop_after=1)):
            self.owner.resync()  # at once; the next beat confirms it

    def _disconnect(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            try:
                connection.close()
            except Exception:  # noqa: BLE001, S110 - already broken
                pass


def redis_client(url: str, timeout: float) -> Any:
    """A redis.Redis that fails at once: ``timeout`` seconds to connect or answer, and no
    retries (redis-py 6 retries a timeout 3 times with backoff by default, which would hold
    a heartbeat or a writer's answer for seconds)."""
    import redis
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    return redis.Redis.from_url(
        url, socket_timeout=timeout, socket_connect_timeout=timeout, retry=Retry(NoBackoff(), 0)
    )


class RedisFeed(ThreadFeed):
    """Redis pub/sub; writers PUBLISH after their commit."""

    name = "redis"

    def __init__(self, owner: FeedOwner, url: str, channel: str, **timing: float) -> None:
        super().__init__(owner, **timing)
        self.url, self.channel = url, channel
        self._client: Any = None  # redis.Redis while connected
        self._pubsub: Any = None

    def _connect(self) -> None:
        self._client = redis_client(self.url, self.timeout * 2)
        self._pubsub = self._client.pubsub()
        self._pubsub.subscribe(self.channel)
        self._wait_for("subscribe", time.monotonic())

    def _wait_for(self, kind: str, sent: float) -> bool:
        """Read messages until one of type ``kind``; True if a change was announced."""
        announced = False
        while True:
            remaining = sent + self.timeout - time.monotonic()
            if remaining <= 0:
                raise FeedLost(f"no {kind} within {self.timeout} s")
            message = self._pubsub.get_message(timeout=remaining)
            if message is None:
                continue
            if message["type"] == "message":
                announced = True
            elif message["type"] == kind:
                return announced

    def _beat(self) -> None:
        sent = time.monotonic()
        self._pubsub.ping()
        # Commits before ``sent`` that were never published (the writer died after its
        # commit): the log itself says so. Read after ``sent``, so confirming it is sound.
        self.owner.check_log()
        if self._wait_for("pong", sent):
            self.owner.resync()
        self.owner.confirm(sent)
        deadline = time.monotonic() + self.interval
        while (remaining := deadline - time.monotonic()) > 0:
            message = self._pubsub.get_message(timeout=remaining)
            if message is not None and message["type"] == "message":
                self.owner.resync()  # at once; the next beat confirms it
                return

    def _disconnect(self) -> None:
        pubsub, client = self._pubsub, self._client
        self._pubsub = self._client = None
        for thing in (pubsub, client):
            if thing is not None:
                try:
                    thing.close()
                except Exception:  # noqa: BLE001, S110 - already broken
                    pass
