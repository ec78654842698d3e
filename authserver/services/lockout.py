"""Per-account brute-force protection: failures in a row lock the account for a growing while.

The lock grows as ``base * 2**(failures - threshold)`` up to ``max`` seconds (defaults: 10
failures, 1 minute, 15 minutes; Keycloak's are 30 failures, 1 minute increment, 15 minutes
and it ships the feature switched off). A success resets the count; failures older than the
reset window are forgotten. Counters live in Redis when it is configured (shared by every
instance), else in the database.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import cast

import redis
from sqlalchemy import Table, bindparam, case, delete, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from authserver.extensions import db
from authserver.models import LoginFailure
from authserver.models.base import utcnow
from authserver.services.errors import Unavailable

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Lockout:
    """An account's counter as a login reads it, in one look: whether it holds failures
    (a success must then reset it) and the Unix time it is locked until (0: not locked)."""

    counted: bool
    until: float


NOT_COUNTED = Lockout(False, 0.0)


@dataclass(frozen=True)
class LockoutRules:
    threshold: int = 10
    base_seconds: int = 60
    max_seconds: int = 900
    reset_seconds: int = 43_200

    def lock_seconds(self, failures: int) -> int:
        if failures < self.threshold:
            return 0
        return min(self.base_seconds * 2 ** min(failures - self.threshold, 30), self.max_seconds)


_FAILURES = cast(Table, LoginFailure.__table__)  # declared as a FromClause
_LOOKUP = select(_FAILURES.c.locked_until).where(_FAILURES.c.account_digest == bindparam("key"))


class DatabaseCounters:
    """Counters in the ``login_failures`` table: one atomic upsert per failure."""

    def __init__(self, rules: LockoutRules) -> None:
        self.rules = rules

    def locked_until(self, key: str) -> float:
        return self.lookup(key).until

    def lookup(self, key: str) -> Lockout:
        """One indexed read: a login needs both answers, and most accounts have no row."""
        row = db.session.execute(_LOOKUP, {"key": key}).first()
        if row is None:
            return NOT_COUNTED
        return Lockout(True, row[0].timestamp() if row[0] is not None else 0.0)

    def record_failure(self, key: str) -> float:
        """Count one failure; returns the Unix time the account is locked until (0: not)."""
        now = utcnow()
        stale = now - timedelta(seconds=self.rules.reset_seconds)
        insert = pg_insert if db.session.get_bind().dialect.name == "postgresql" else sqlite_insert
        table = cast(Table, LoginFailure.__table__)  # declared as a FromClause
        statement = insert(table).values(account_digest=key, failures=1, updated_at=now)
        upsert = statement.on_conflict_do_update(
            index_elements=[table.c.account_digest],
            set_={
                "failures": case((table.c.updated_at < stale, 1), else_=table.c.failures + 1),
                "updated_at": now,
            },
        ).returning(table.c.failures)
        failures = db.session.execute(upsert).scalar_one()
        seconds = self.rules.lock_seconds(failures)
        until = now + timedelta(seconds=seconds) if seconds else None
        if until is not None:
            db.session.execute(
                table.update().where(table.c.account_digest == key).values(locked_until=until)
            )
        db.session.commit()
        return until.timestamp() if until else 0.0

    def touch(self, key: str) -> None:
        """An attempt on a locked account: not counted (that would stretch the lock at
        every try), but the reset window restarts, as it does at a failure. It costs the
        one write a failure costs, so a locked account answers in the time of a failure."""
        table = cast(Table, LoginFailure.__table__)  # declared as a FromClause
        db.session.execute(
            table.update().where(table.c.account_digest == key).values(updated_at=utcnow())
        )
        db.session.commit()

    def reset(self, key: str) -> None:
        """Forget the account's failures (a login calls it only when :meth:`lookup` found
        some: most logins have none, and are spared a write transaction)."""
        db.session.execute(delete(LoginFailure).where(LoginFailure.account_digest == key))
        db.session.commit()


class RedisCounters:
    """Counters in Redis, shared by every instance: a hash per account with a TTL."""

    PREFIX = "authserver:lockout:"

    #: Restart the reset window without cutting a longer lock short (any Redis version).
    _TOUCH = "redis.call('EXPIRE', KEYS[1], math.max(redis.call('TTL', KEYS[1]), ARGV[1]))"

    def __init__(self, rules: LockoutRules, client: redis.Redis) -> None:
        self.rules, self.client = rules, client
        self._touch = client.register_script(self._TOUCH)

    def locked_until(self, key: str) -> float:
        return self.lookup(key).until

    def lookup(self, key: str) -> Lockout:
        """One round trip for both answers: the count (a success must reset it) and the lock."""
        # A sync client: redis-py's types give sync and async answers as one union.
        failures, until = cast(
            "list[bytes | None]",
            self.client.hmget(self.PREFIX + key, ["failures", "locked_until"]),
        )
        if failures is None and until is None:
            return NOT_COUNTED
        return Lockout(True, float(until) if until else 0.0)

    def record_failure(self, key: str) -> float:
        name = self.PREFIX + key
        pipe = self.client.pipeline()
        pipe.hincrby(name, "failures", 1)
        pipe.expire(name, self.rules.reset_seconds)
        failures = pipe.execute()[0]
        seconds = self.rules.lock_seconds(failures)
        if not seconds:
            return 0.0
        until = time.time() + seconds
        pipe = self.client.pipeline()
        pipe.hset(name, "locked_until", str(until))  # what redis-py stores for a float
        # The key's TTL is the reset window; a longer lock must not vanish with the key.
        pipe.expire(name, max(self.rules.reset_seconds, seconds + 1))
        pipe.execute()
        return until

    def touch(self, key: str) -> None:
        """See DatabaseCounters.touch."""
        self._touch(keys=[self.PREFIX + key], args=[self.rules.reset_seconds])

    def reset(self, key: str) -> None:
        self.client.delete(self.PREFIX + key)


class FailoverCounters:
    """Redis counters that survive a Redis outage as the operator chose.

    ``fallback`` (default): count in the database until Redis answers again, so brute-force
    protection never switches off. ``closed``: refuse password logins (503) while Redis is
    down, for deployments that would rather stop than split their counters.

    After a Redis error, Redis is left alone for ``retry_seconds``: a Redis that hangs
    rather than refuses would otherwise cost every login a socket timeout per call (three
    calls, 1.5 s, where argon2 takes 20 ms) and tie up every worker.
    """

    def __init__(
        self,
        primary: RedisCounters,
        fallback: DatabaseCounters,
        mode: str,
        retry_seconds: float = 5.0,
    ) -> None:
        self.primary, self.fallback, self.mode = primary, fallback, mode
        self.retry_seconds = retry_seconds
        self._skip_until = 0.0  # monotonic time; per process, like the connection pool

    def _call(self, method: str, key: str):
        if time.monotonic() >= self._skip_until:
            try:
                return getattr(self.primary, method)(key)
            except redis.RedisError as exc:
                self._skip_until = time.monotonic() + self.retry_seconds
                log.warning(
                    "redis unavailable for lockout counters (%s); %s for %.0f s",
                    type(exc).__name__,
                    "refusing logins" if self.mode == "closed" else "counting in the database",
                    self.retry_seconds,
                )
        if self.mode == "closed":
            raise Unavailable("lockout counters are unavailable")
        return getattr(self.fallback, method)(key)

    def locked_until(self, key: str) -> float:
        return self._call("locked_until", key)

    def lookup(self, key: str) -> Lockout:
        return self._call("lookup", key)

    def record_failure(self, key: str) -> float:
        return self._call("record_failure", key)

    def touch(self, key: str) -> None:
        self._call("touch", key)

    def reset(self, key: str) -> None:
        self._call("reset", key)
