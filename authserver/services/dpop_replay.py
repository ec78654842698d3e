"""Where DPoP proof ``jti``s are remembered: shared by every instance (SPEC §17).

Redis when AUTHSERVER_REDIS_URL is set (``SET NX`` with the proof's expiry), else the
``dpop_proofs`` table (an ``INSERT`` that conflicts on a proof seen before), like the other
shared counters (SPEC §11). Either way a proof replayed at another instance or worker is
refused. Expired rows are purged as new ones arrive; Redis expires its keys by itself.

On SQLite the table lives in a companion file beside the database (``<database>-dpop``,
owner-only, WAL): every commit to the main file changes its ``PRAGMA data_version``, which
makes every worker re-read the live log (SPEC §12), so one write per DPoP request there
would cost every protected request a sync. Every process on the machine shares the
companion file as it shares the database.

A Redis outage follows AUTHSERVER_REDIS_FAILURE as the lockout counters do: ``fallback``
remembers proofs in the database meanwhile, ``closed`` refuses DPoP requests (503).
"""

from __future__ import annotations

import logging
import math
import sqlite3
import threading
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, cast

import redis
from sqlalchemy import Engine, Table, bindparam, create_engine, delete
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.sql.dml import ReturningInsert

from authserver import forks
from authserver.database import (
    engine_options,
    restrict_sqlite_files,
    sqlite_files,
    tune_sqlite,
)
from authserver.extensions import db
from authserver.models import DPoPProof
from authserver.services.errors import Unavailable

log = logging.getLogger(__name__)
#: Seconds between purges of expired rows (per process).
PURGE_SECONDS = 60


def _engine(main: Engine) -> Engine:
    """PostgreSQL: the app's engine. A SQLite file: its companion (see the module doc)."""
    database = main.url.database
    if main.dialect.name != "sqlite" or not sqlite_files(database):
        return main
    companion = f"{database}-dpop"
    engine = create_engine(f"sqlite:///{companion}", **engine_options("sqlite"))
    tune_sqlite(engine)
    cast(Table, DPoPProof.__table__).create(engine, checkfirst=True)
    engine.dispose()  # rows go through sqlite3 itself (_Companion): no pooled connection
    return engine


#: The companion's statements, and the text form SQLAlchemy's SQLite DateTime gives a time
#: (so rows written here and read through SQLAlchemy agree, and compare as text).
SQLITE_INSERT = (
    "INSERT INTO dpop_proofs (proof_digest, expires_at) VALUES (?, ?) "
    "ON CONFLICT DO NOTHING RETURNING proof_digest"
)
SQLITE_PURGE = "DELETE FROM dpop_proofs WHERE expires_at < ?"
SQLITE_TIME = "%Y-%m-%d %H:%M:%S.%f"


class _Companion:
    """The SQLite companion file through sqlite3 itself: one autocommit connection per
    thread and process (each statement its own transaction), opened as the engine opens
    its own (owner-only, WAL, a busy timeout). A third of SQLAlchemy's cost per proof."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._local = threading.local()

    def _connection(self) -> sqlite3.Connection:
        connection = getattr(self._local, "connection", None)
        if connection is None or self._local.pid != forks.pid():  # not one from before a fork
            restrict_sqlite_files(self.path)
            connection = sqlite3.connect(self.path, timeout=30, isolation_level=None)
            connection.execute("PRAGMA journal_mode=WAL")
            connection.execute("PRAGMA synchronous=NORMAL")
            self._local.connection, self._local.pid = connection, forks.pid()
        return connection

    def first_use(self, key: str, expires: datetime, purge: bool) -> bool:
        connection = self._connection()
        row = connection.execute(SQLITE_INSERT, (key, expires.strftime(SQLITE_TIME)))
        added = row.fetchone() is not None
        if purge:
            connection.execute(SQLITE_PURGE, (datetime.now(UTC).strftime(SQLITE_TIME),))
        return added


class DatabaseReplayCache:
    """Proofs in the ``dpop_proofs`` table, on a connection of their own (the request's
    session and its transaction are left alone)."""

    def __init__(self) -> None:
        self._next_purge = 0.0
        self._engine: Engine | None = None  # made at first use, in the worker
        self._insert: ReturningInsert[Any] | None = None
        self._companion: _Companion | None = None

    def _prepare(self) -> tuple[Engine, ReturningInsert[Any]]:
        """The engine, and the one INSERT statement (built once: SQLAlchemy then finds
        its compiled form in its cache without rebuilding the statement per request)."""
        if self._engine is None or self._insert is None:
            engine = _engine(db.engine)
            table = cast(Table, DPoPProof.__table__)  # declared as a FromClause
            insert = pg_insert if engine.dialect.name == "postgresql" else sqlite_insert
            row = insert(table).values(
                proof_digest=bindparam("key"), expires_at=bindparam("expires")
            )
            self._insert = row.on_conflict_do_nothing().returning(table.c.proof_digest)
            self._engine = engine
            if engine is not db.engine:
                self._companion = _Companion(str(engine.url.database))
        return self._engine, self._insert

    def first_use(self, key: str, until: float) -> bool:
        table = cast(Table, DPoPProof.__table__)  # declared as a FromClause
        expires = datetime.fromtimestamp(until, UTC)
        engine, statement = self._prepare()
        purge = time.monotonic() >= self._next_purge
        if purge:
            self._next_purge = time.monotonic() + PURGE_SECONDS
        if self._companion is not None:
            return self._companion.first_use(key, expires, purge)
        with engine.begin() as connection:
            row = connection.execute(statement, {"key": key, "expires": expires}).first()
            added = row is not None
            if purge:
                now = datetime.now(UTC)
                connection.execute(delete(table).where(table.c.expires_at < now))
        return added


class RedisReplayCache:
    """Proofs as Redis keys that expire when the proof would be stale anyway."""

    PREFIX = "authserver:dpop:"

    def __init__(self, client: redis.Redis) -> None:
        self.client = client

    def first_use(self, key: str, until: float) -> bool:
        expire_at = max(math.ceil(until), int(time.time()) + 1)
        return bool(self.client.set(self.PREFIX + key, b"1", nx=True, exat=expire_at))


class FailoverReplayCache:
    """Redis, and the database (``fallback``) or a 503 (``closed``) while Redis is down;
    after a Redis error Redis is left alone for ``retry_seconds`` (see lockout)."""

    def __init__(
        self,
        primary: RedisReplayCache,
        fallback: DatabaseReplayCache,
        mode: str,
        retry_seconds: float = 5.0,
    ) -> None:
        self.primary, self.fallback, self.mode = primary, fallback, mode
        self.retry_seconds = retry_seconds
        self._skip_until = 0.0

    def first_use(self, key: str, until: float) -> bool:
        if time.monotonic() >= self._skip_until:
            try:
                return self.primary.first_use(key, until)
            except redis.RedisError as exc:
                self._skip_until = time.monotonic() + self.retry_seconds
                log.warning(
                    "redis unavailable for DPoP replay state (%s); %s for %.0f s",
                    type(exc).__name__,
                    "refusing DPoP proofs" if self.mode == "closed" else "using the database",
                    self.retry_seconds,
                )
        if self.mode == "closed":
            raise Unavailable("DPoP replay state is unavailable")
        return self.fallback.first_use(key, until)


def build(config: Mapping[str, Any]) -> DatabaseReplayCache | FailoverReplayCache:
    """The replay state AUTHSERVER_REDIS_URL and AUTHSERVER_REDIS_FAILURE ask for: each is
    an :class:`authserver.resource.dpop.ReplayCache` (services import nothing above them)."""
    in_database = DatabaseReplayCache()
    if not config["REDIS_URL"]:
        return in_database
    client = redis.Redis.from_url(
        config["REDIS_URL"], socket_timeout=0.5, socket_connect_timeout=0.5
    )
    return FailoverReplayCache(RedisReplayCache(client), in_database, config["REDIS_FAILURE"])
