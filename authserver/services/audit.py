"""The audit trail: record security events in the database and as JSON log lines.

An event is inserted in the caller's transaction and logged (one JSON line on the
``authserver.audit`` logger, at INFO) only once that transaction commits, so the log never
claims an event the database rolled back. Events name tokens by refresh-family id or
``jti``, never by value: no password, client secret or token may reach an event.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from flask import g, has_request_context, request
from sqlalchemy import CursorResult, Table, event, insert, select
from sqlalchemy.orm import Session

from authserver.extensions import db
from authserver.models import AuditEvent
from authserver.models.base import utcnow

log = logging.getLogger("authserver.audit")

#: Detail keys that could only ever hold a credential: refused outright, a programming error.
SECRET_KEYS = frozenset(
    {"password", "secret", "client_secret", "token", "access_token", "refresh_token"}
)
_PENDING = "authserver.audit.pending"


def record(
    kind: str,
    actor: str,
    subject: str,
    details: Mapping[str, Any] | None = None,
    commit: bool = True,
    client_id: str | None = None,
) -> AuditEvent:
    """Append an event; with ``commit=False`` it commits (and is logged) with the caller's
    transaction. ``client_id`` defaults to the client of the current request's token."""
    entry = AuditEvent(**_values(kind, actor, subject, details, client_id))
    db.session.add(entry)
    if commit:
        db.session.commit()
    return entry


_EVENTS = cast(Table, AuditEvent.__table__)  # declared as a FromClause
_INSERT = insert(_EVENTS)  # built once: grants append one each


def append(
    kind: str,
    actor: str,
    subject: str,
    details: Mapping[str, Any] | None = None,
    client_id: str | None = None,
) -> None:
    """:func:`record` with ``commit=False``, without an ORM object: one ``INSERT`` now
    (its id by ``RETURNING`` or the cursor's last row id, as the dialect gives it), in the
    caller's transaction, logged once it commits. For the token endpoint, where the unit
    of work's flush of an event cost more than its insert."""
    values = _values(kind, actor, subject, details, client_id)
    session = db.session()
    result = cast(CursorResult[Any], session.execute(_INSERT, values))  # an INSERT's result
    key = result.inserted_primary_key
    assert key is not None  # a single-row INSERT has one
    event_id = key[0]
    session.info.setdefault(_PENDING, []).append(AuditEvent(id=event_id, **values).to_dict())


def _values(
    kind: str,
    actor: str,
    subject: str,
    details: Mapping[str, Any] | None,
    client_id: str | None,
) -> dict[str, Any]:
    """An event's columns, after refusing details that could hold a credential."""
    details = dict(details or {})
    leaked = SECRET_KEYS.intersection(details)
    if leaked:
        raise ValueError(f"audit details must not carry credentials: {sorted(leaked)}")
    return {
        "occurred_at": utcnow(),
        "kind": kind,
        "actor": actor[:150],
        "subject": subject[:200],
        "client_id": client_id or _token_client_id(),
        "ip": _remote_addr(),
        "details": details,
    }


def _token_client_id() -> str | None:
    token = g.get("token") if has_request_context() else None
    return token.get("client_id") if token is not None else None


def _remote_addr() -> str | None:
    return request.remote_addr[:64] if has_request_context() and request.remote_addr else None


# --- logging once committed ------------------------------------------------------------------


@event.listens_for(Session, "after_flush")
def _collect(session: Session, _context) -> None:
    """Serialize new events while their ids are known; log them at commit."""
    events = [obj.to_dict() for obj in session.new if isinstance(obj, AuditEvent)]
    if events:
        session.info.setdefault(_PENDING, []).extend(events)


@event.listens_for(Session, "after_commit")
def _emit(session: Session) -> None:
    for entry in session.info.pop(_PENDING, ()):
        log.info(json.dumps(entry, sort_keys=True))


@event.listens_for(Session, "after_rollback")
def _discard(session: Session) -> None:
    session.info.pop(_PENDING, None)


# --- reading ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class AuditQuery:
    """Filters for :func:`search`; ``before_id`` is the pagination cursor (exclusive)."""

    since: datetime | None = None
    until: datetime | None = None
    actor: str | None = None
    kind: str | None = None
    subject: str | None = None
    before_id: int | None = None


def search(query: AuditQuery, limit: int) -> tuple[list[AuditEvent], int | None]:
    """Matching events, newest first, and the cursor of the next page (None: no more).

    Pages go by id, so events appended meanwhile never shift or repeat a later page.
    """
    statement = select(AuditEvent).order_by(AuditEvent.id.desc()).limit(limit + 1)
    if query.since is not None:
        statement = statement.where(AuditEvent.occurred_at >= query.since)
    if query.until is not None:
        statement = statement.where(AuditEvent.occurred_at < query.until)
    for column, value in (
        (AuditEvent.actor, query.actor),
        (AuditEvent.kind, query.kind),
        (AuditEvent.subject, query.subject),
    ):
        if value is not None:
            statement = statement.where(column == value)
    if query.before_id is not None:
        statement = statement.where(AuditEvent.id < query.before_id)
    events = list(db.session.execute(statement).scalars())
    more = len(events) > limit
    events = events[:limit]
    return events, (events[-1].id if more else None)
