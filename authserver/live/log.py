"""The change log in the database (table ``live_changes``): writing and reading it.

Writing: a writer calls :func:`record` anywhere in its transaction; the rows are inserted
when the session commits (``before_commit``), as late as possible, after the advisory lock
that makes seq order equal commit order on PostgreSQL, and with a ``pg_notify`` that
PostgreSQL delivers at commit (never before, never lost). After the commit, the rows go to
the ``after_commit`` callback the app registered (apply them in this process before the
response; publish to Redis). A rollback drops them.

Reading: SQLAlchemy Core on any Connection; ``seq > last`` in seq order.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, String, func, insert, select, text, type_coerce
from sqlalchemy.orm import Session, scoped_session

from authserver.live.state import CLIENT, CLIENTS, JTI, KINDS, POLICY, USER, Change
from authserver.models import Client, LiveChange, PolicyVersion

#: The PostgreSQL NOTIFY channel and the Redis pub/sub channel.
CHANNEL = "authserver_live"
REDIS_CHANNEL = "authserver:live"
#: pg_advisory_xact_lock key of the log's writers: "live" in ASCII.
ADVISORY_LOCK = 0x6C697665
_PENDING = "live_pending"

_COLUMNS = (LiveChange.seq, LiveChange.kind, LiveChange.key, LiveChange.at, LiveChange.until)


def record(session: Session, kind: str, key: str, at: datetime, until: datetime | None) -> None:
    """Add a change to ``session``'s transaction; written at its commit, dropped at rollback.

    "jti": until = the token's exp. "user"/"client": tokens with ``iat`` <= ``at`` are
    refused; until = at + ACCESS_TOKEN_TTL + skew (see :func:`cutoff_until`). "policy":
    key = the new version. "clients": key = a client_id whose allowed scopes changed.
    """
    if kind not in KINDS:
        raise ValueError(f"unknown live change kind {kind!r}")
    session.connection()  # begin the transaction now, so a rollback drops the rows
    session.info.setdefault(_PENDING, []).append(
        {"kind": kind, "key": str(key)[:64], "at": at, "until": until}
    )


def cutoff_until(at: datetime, ttl_seconds: int, skew_seconds: int) -> datetime:
    """When a cut-off made at ``at`` stops mattering: every token issued before it expired."""
    return at + timedelta(seconds=ttl_seconds + skew_seconds)


def lock(session: Session | scoped_session[Any]) -> None:
    """Take the writers' lock now (PostgreSQL; held to the end of the transaction), for a
    writer that must look at the log before it adds to it. SQLite serialises writers."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": ADVISORY_LOCK})


def has_row(session: Session | scoped_session[Any], kind: str, key: str) -> bool:
    """Whether the log holds a row of ``kind`` for ``key`` (e.g. a jti revoked already)."""
    query = select(LiveChange.seq).where(LiveChange.kind == kind, LiveChange.key == key)
    return session.execute(query.limit(1)).first() is not None


def _write_pending(session: Session) -> None:
    """before_commit: insert the pending rows (locked, numbered, notified)."""
    pending = session.info.pop(_PENDING, None)
    if not pending:
        return
    session.flush()  # row locks first, then the log's lock: no lock-order deadlock
    dialect = session.get_bind().dialect.name
    lock(session)  # a second time in a transaction is free
    written = []
    for row in pending:
        seq = session.execute(insert(LiveChange).values(**row).returning(LiveChange.seq))
        written.append(_change(seq.scalar_one(), row["kind"], row["key"], row["at"], row["until"]))
    if dialect == "postgresql":
        session.execute(
            text("SELECT pg_notify(:channel, :seq)"),
            {"channel": CHANNEL, "seq": str(written[-1].seq)},
        )
    session.info["live_written"] = written


def install(session_class: type[Session] | Session, after_commit: Callable) -> None:
    """Write pending rows at every commit of ``session_class``; hand the committed rows to
    ``after_commit(session, changes)``. Idempotent per session class."""
    from sqlalchemy import event

    if event.contains(session_class, "before_commit", _write_pending):
        return
    event.listen(session_class, "before_commit", _write_pending)

    def _committed(session: Session) -> None:
        written = session.info.pop("live_written", None)
        if written:
            after_commit(session, written)

    def _rolled_back(session: Session) -> None:
        session.info.pop(_PENDING, None)
        session.info.pop("live_written", None)

    event.listen(session_class, "after_commit", _committed)
    event.listen(session_class, "after_soft_rollback", lambda s, _t: _rolled_back(s))


def _timestamp(value: datetime) -> float:
    if value.tzinfo is None:  # SQLite hands back naive datetimes, stored as UTC
        value = value.replace(tzinfo=UTC)
    return value.timestamp()


def _change(seq, kind, key, at, until) -> Change:
    return Change(
        int(seq), kind, key, _timestamp(at), None if until is None else _timestamp(until)
    )


def _rows(connection: Connection, query) -> list[Change]:
    """The Changes of ``query`` (over ``_COLUMNS``).

    On SQLite the two times are read as the text they are stored as and parsed here
    (``fromisoformat``, in C): SQLAlchemy's DateTime result processing (a regex, then the
    UTC decorator) was most of a new worker's first read of a million rows."""
    if connection.dialect.name != "sqlite":
        return [_change(*row) for row in connection.execute(query)]
    raw = query.with_only_columns(
        LiveChange.seq,
        LiveChange.kind,
        LiveChange.key,
        type_coerce(LiveChange.at, String),
        type_coerce(LiveChange.until, String),
        maintain_column_froms=True,
    )
    return [
        Change(seq, kind, key, _seconds(at), None if until is None else _seconds(until))
        for seq, kind, key, at, until in connection.execute(raw)
    ]


_EPOCH = datetime(1970, 1, 1)


def _seconds(text: str) -> float:
    """A stored time (naive UTC text; or with an offset, as a raw write may leave it) as
    a Unix time, what ``_timestamp`` gives for it."""
    when = datetime.fromisoformat(text)
    if when.tzinfo is not None:
        return when.timestamp()
    return (when - _EPOCH).total_seconds()  # what .timestamp() does for UTC, a third faster


def read_since(connection: Connection, after: int) -> list[Change]:
    """Every row with seq > ``after``, in seq order."""
    query = select(*_COLUMNS).where(LiveChange.seq > after).order_by(LiveChange.seq)
    return _rows(connection, query)


def newest_seq(connection: Connection) -> int:
    """The log's largest seq (0 when empty): one indexed read."""
    newest = connection.execute(select(func.coalesce(func.max(LiveChange.seq), 0))).scalar()
    return int(newest or 0)


def read_all(connection: Connection, now: datetime) -> tuple[int, list[Change]]:
    """A process's first read: the newest seq, and the rows up to it that still matter.

    The newest seq is read first: a row committed between the two statements has a larger
    seq (commit order) and is read at the next ``read_since``.
    """
    newest = newest_seq(connection)
    query = (
        select(*_COLUMNS)
        .where(LiveChange.seq <= newest)
        .where((LiveChange.until.is_(None)) | (LiveChange.until > now))
        .order_by(LiveChange.seq)
    )
    return newest, _rows(connection, query)


def newest_policy(connection: Connection) -> tuple[int, str] | None:
    """The live policy version and its YAML source, or None for an empty store."""
    query = select(PolicyVersion.version, PolicyVersion.source)
    row = connection.execute(query.order_by(PolicyVersion.version.desc()).limit(1)).first()
    return None if row is None else (row[0], row[1])


def client_scopes(connection: Connection, client_ids: set[str]) -> dict[str, str | None]:
    """The allowed scopes now (None: unrestricted) of those of ``client_ids`` that exist."""
    if not client_ids:
        return {}
    query = select(Client.client_id, Client.scope).where(Client.client_id.in_(client_ids))
    return {client_id: scope for client_id, scope in connection.execute(query)}


__all__ = [
    "ADVISORY_LOCK",
    "CHANNEL",
    "CLIENT",
    "CLIENTS",
    "JTI",
    "POLICY",
    "REDIS_CHANNEL",
    "USER",
    "client_scopes",
    "cutoff_until",
    "has_row",
    "install",
    "lock",
    "newest_policy",
    "newest_seq",
    "read_all",
    "read_since",
    "record",
]
