"""Housekeeping: drop what can no longer matter (``authserver tokens purge``).

Expired refresh-token families go with their tokens; revoked families are kept for a grace
period so that a late reuse of one of their tokens is still recognised and answered as reuse;
live-authorization log rows (revoked ``jti``s, cut-offs) go once their ``until`` passed: no
token they concern can still be valid.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any, cast

from sqlalchemy import CursorResult, Delete, delete, or_, select

from authserver.extensions import db
from authserver.models import LiveChange, LoginFailure, RefreshFamily, RefreshToken
from authserver.models.base import utcnow


@dataclass(frozen=True)
class Purged:
    families: int
    live_changes: int
    login_failures: int


def purge(revoked_grace_seconds: int, lockout_reset_seconds: int) -> Purged:
    """Delete expired families, old revoked ones, live-log rows past their ``until``, stale
    counters."""
    now = utcnow()
    grace = now - timedelta(seconds=revoked_grace_seconds)
    doomed = select(RefreshFamily.id).where(
        or_(RefreshFamily.expires_at <= now, RefreshFamily.revoked_at <= grace)
    )
    db.session.execute(delete(RefreshToken).where(RefreshToken.family_id.in_(doomed)))
    families = _deleted(
        delete(RefreshFamily).where(RefreshFamily.id.in_(doomed.scalar_subquery()))
    )
    revoked = _deleted(delete(LiveChange).where(LiveChange.until <= now))
    stale = now - timedelta(seconds=lockout_reset_seconds)
    failures = _deleted(
        delete(LoginFailure).where(
            LoginFailure.updated_at <= stale,
            or_(LoginFailure.locked_until.is_(None), LoginFailure.locked_until <= now),
        )
    )
    db.session.commit()
    return Purged(families, revoked, failures)


def _deleted(statement: Delete) -> int:
    """How many rows ``statement`` deleted (a DELETE's result is a CursorResult; the
    session types every result as a plain Result)."""
    return cast(CursorResult[Any], db.session.execute(statement)).rowcount
