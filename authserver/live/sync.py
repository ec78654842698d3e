"""LiveSync: one per app; the request path's entry to the live state.

:meth:`LiveSync.current` returns a LiveState every change committed more than the bound
ago is applied to: confirmed by the feed in the steady state (no round trip), else synced
from the database on the spot (the fallback: slower, still correct). It also starts the
feed thread, lazily, in the process that serves requests (a gunicorn worker after its
fork, never the master).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine

from authserver import forks, telemetry
from authserver.live import feeds, log
from authserver.live.clients import ClientRecords
from authserver.live.state import Change, LiveState, ScopePolicy
from authserver.models.base import utcnow

logger = logging.getLogger("authserver.live")

#: ``feed_error`` until the feed's first heartbeat.
STARTING = "starting"
#: Prune the state at most this often (seconds).
PRUNE_EVERY = 30.0
#: After a failed PUBLISH, publish nothing for this long (seconds).
PUBLISH_PAUSE = 5.0
#: SQLite: look at ``PRAGMA data_version`` at most this often (seconds). Another process's
#: change reaches this one within it plus a sync (the bound is 1 s); this process's own
#: changes are applied at their commit, whatever the interval.
LOCAL_CHECK_EVERY = 0.05


@dataclass(frozen=True)
class LiveSettings:
    """How fresh decisions must be and how the feed runs (``AUTHSERVER_LIVE_*``)."""

    stale_after: float = 0.5  # trust the state up to this age, then ask the database
    heartbeat: float = 0.2  # feed heartbeat period
    feed_url: str | None = None  # PostgreSQL LISTEN connection (default: the database)
    redis_url: str | None = None  # Redis pub/sub feed instead of LISTEN


class LiveSync:
    """The live state of one app, kept current by its feed or by database syncs."""

    def __init__(
        self,
        engine: Engine,
        settings: LiveSettings,
        load_policy: Callable[[str], ScopePolicy | None],
    ) -> None:
        self.engine, self.settings, self.load_policy = engine, settings, load_policy
        self.state = LiveState()
        self.client_records = ClientRecords(self.state)  # introspection's client lookups
        self.backend = engine.dialect.name
        self._sync_lock = threading.Lock()
        self._pid: int | None = None
        self._local: feeds.LocalFeed | None = None
        self._feed: feeds.ThreadFeed | None = None
        self._pruned_at = time.monotonic()
        self._local_due = float("-inf")  # monotonic time of the next data_version look
        self.feed_error: str | None = None
        self._redis: Any = None  # redis.Redis publisher, made on first use
        self._publish_paused_until = float("-inf")

    # -- the request path -------------------------------------------------------------
    def current(self) -> LiveState:
        """The state, fresh within ``stale_after``: the feed's word, or a sync right now."""
        if self._pid != forks.pid():
            self._start()
        state = self.state
        if self._local is not None:
            now = time.monotonic()
            if now >= self._local_due:
                self._local_due = now + LOCAL_CHECK_EVERY
                if self._local.changed():
                    self.sync(confirm=False)
            return state
        if time.monotonic() - state.confirmed_at > self.settings.stale_after:
            telemetry.LIVE_FALLBACK_SYNCS.inc()
            telemetry.LIVE_FEED_UP.set(0)
            self.sync()
        return state

    def feed_status(self) -> str:
        """The feed in a word: "ok"; "local" (SQLite: nothing to lose); "starting" (no
        heartbeat yet) or "lost" (both: deciding by database syncs, slower, in the bound)."""
        if self.backend == "sqlite":
            return "local"
        if self.feed_error == STARTING:
            return STARTING
        age = time.monotonic() - self.state.confirmed_at
        feed = self._feed
        up = feed is not None and feed.alive() and self.feed_error is None
        return "ok" if up and age <= self.settings.stale_after else "lost"

    # -- the feed's callbacks ---------------------------------------------------------
    def resync(self) -> None:
        self.sync(confirm=False)

    def confirm(self, sent: float) -> None:
        if self.feed_error not in (None, STARTING):
            logger.warning("live feed is back")
        self.feed_error = None
        self.state.confirm(sent)
        telemetry.LIVE_FEED_UP.set(1)

    def lost(self, reason: str) -> None:
        self.feed_error = reason
        telemetry.LIVE_FEED_UP.set(0)

    def check_log(self) -> None:
        """The Redis feed's look at the log: re-read it if its newest seq moved past ours
        (a change committed but never published). One indexed query, on the feed thread."""
        with self.engine.connect() as connection:
            newest = log.newest_seq(connection)
        if newest > self.state.last_seq:
            self.sync(confirm=False)

    # -- syncing ----------------------------------------------------------------------
    def sync(self, confirm: bool = True) -> None:
        """Read the log since ``last_seq`` (everything on the first read); reload the policy
        and client scopes it announces. ``confirm``: what was committed before the read
        started is now known."""
        with self._sync_lock:
            started = time.monotonic()
            state = self.state
            with self.engine.connect() as connection:
                if state.last_seq == 0 and state.policy is None:
                    newest, changes = log.read_all(connection, utcnow())
                    state.apply(changes)
                    state.last_seq = max(state.last_seq, newest)
                    state.policy_changed = True
                else:
                    state.apply(log.read_since(connection, state.last_seq))
                if state.policy_changed:
                    self._reload_policy(connection)
                if state.clients_changed:
                    scopes = log.client_scopes(connection, set(state.clients_changed))
                    state.set_client_scopes(scopes)
            if confirm:
                state.confirm(started)
            if started - self._pruned_at > PRUNE_EVERY:
                self._pruned_at = started
                state.prune(time.time())
            telemetry.LIVE_ENTRIES.set(state.size())

    def _reload_policy(self, connection) -> None:
        newest = log.newest_policy(connection)
        if newest is None:
            self.state.policy_changed = False
            return
        version, source = newest
        current = self.state.policy
        policy = None if current and current[0] == version else self.load_policy(source)
        if policy is not None:
            self.state.set_policy(version, policy)
            telemetry.POLICY_VERSION.set(version)  # the version this process decides with
        else:  # the same version, or one that does not load (never stored so): keep ours
            self.state.policy_changed = False

    def committed(self, changes: list[Change]) -> None:
        """This process committed ``changes``: apply them before its response, announce
        them on Redis (PostgreSQL's NOTIFY went with the commit)."""
        self.state.apply(changes, advance=False)
        if any(change.kind in (log.POLICY, log.CLIENTS) for change in changes):
            self.sync(confirm=False)
        if self.settings.redis_url and self.backend != "sqlite":
            self._publish(changes[-1].seq)

    def _publish(self, seq: int) -> None:
        """PUBLISH after the commit, before the writer's answer (so other instances usually
        know before the writer's client does): one try of at most 0.5 s, and none for
        PUBLISH_PAUSE seconds after a failure, so a hung Redis costs a worker's writes 0.5 s
        once per pause, not every write. A change not announced is still found within the
        bound: each Redis feed's heartbeat looks at the log itself."""
        if time.monotonic() < self._publish_paused_until:
            return
        try:
            if self._redis is None:
                self._redis = feeds.redis_client(str(self.settings.redis_url), timeout=0.5)
            self._redis.publish(log.REDIS_CHANNEL, str(seq))
        except Exception as exc:  # noqa: BLE001 - Redis down: every feed is lost, fallback
            self._publish_paused_until = time.monotonic() + PUBLISH_PAUSE
            logger.warning("live change %s not published to Redis (%s)", seq, exc)

    # -- lifecycle --------------------------------------------------------------------
    def _start(self) -> None:
        """In a new process (first use, or a fork): own connections, own feed thread."""
        self._pid = forks.pid()
        self._local, self._feed, self._redis = None, None, None
        self._local_due = float("-inf")
        self.state.confirmed_at = float("-inf")  # nothing inherited is confirmed here
        if self.backend == "sqlite":
            path = self.engine.url.database
            if path and path != ":memory:" and not path.startswith("file:"):
                self._local = feeds.LocalFeed(path)
            return
        self.feed_error = STARTING
        timing = {"interval": self.settings.heartbeat, "timeout": self.settings.stale_after}
        if self.settings.redis_url:
            self._feed = feeds.RedisFeed(
                self, self.settings.redis_url, log.REDIS_CHANNEL, **timing
            )
        else:
            url = self.settings.feed_url or self.engine.url.set(drivername="postgresql")
            dsn = url if isinstance(url, str) else url.render_as_string(hide_password=False)
            self._feed = feeds.PostgresFeed(self, dsn, log.CHANNEL, **timing)
        self._feed.start()

    def close(self) -> None:
        """Stop the feed thread and close this process's own connections."""
        if self._pid == forks.pid():
            if self._feed is not None:
                self._feed.stop()
            if self._local is not None:
                self._local.close()
        self._pid = None
