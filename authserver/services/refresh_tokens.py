"""Refresh-token families: start at login, rotate on use, revoke whole on reuse.

Tokens are stored only as SHA-256 digests. Each use claims the presented token with one
conditional UPDATE, so of two concurrent refreshes exactly one wins (RFC 9700 §4.14.2).
"""

from __future__ import annotations

import secrets
from datetime import timedelta

from sqlalchemy import select, update

from authserver.extensions import db
from authserver.models import RefreshFamily, RefreshToken
from authserver.models.base import utcnow
from authserver.security.digests import digest


def find(value: str) -> RefreshToken | None:
    """The stored token for a presented value, whatever its state."""
    return db.session.execute(
        select(RefreshToken).where(RefreshToken.token_digest == digest(value))
    ).scalar_one_or_none()


def is_usable(token: RefreshToken) -> bool:
    family = token.family
    return family.revoked_at is None and family.expires_at > utcnow()


def start_family(user_id: int, client_id: str, scope: str, value: str, ttl: int) -> RefreshFamily:
    """A new family for a login; its scope is the ceiling of every later refresh."""
    family = RefreshFamily(
        id=secrets.token_hex(16),
        user_id=user_id,
        client_id=client_id,
        scope=scope,
        expires_at=utcnow() + timedelta(seconds=ttl),
    )
    db.session.add(family)
    db.session.add(RefreshToken(token_digest=digest(value), family=family, scope=scope))
    return family


def add_to_family(family: RefreshFamily, value: str, scope: str) -> None:
    db.session.add(RefreshToken(token_digest=digest(value), family=family, scope=scope))


def claim(token: RefreshToken) -> bool:
    """Mark ``token`` used if nobody has and its family is still live; else False.

    The family is re-checked in the same statement: a family revoked (a disabled user, a
    revocation) after the request was validated must not yield new tokens.
    """
    live_family = select(RefreshFamily.id).where(
        RefreshFamily.id == token.family_id, RefreshFamily.revoked_at.is_(None)
    )
    result = db.session.execute(
        update(RefreshToken)
        .where(
            RefreshToken.id == token.id,
            RefreshToken.used_at.is_(None),
            RefreshToken.family_id.in_(live_family),
        )
        .values(used_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1


def revoke_family(family_id: str, reason: str) -> None:
    """End a family now (reuse, revocation, a disabled user); committed by the caller."""
    db.session.execute(
        update(RefreshFamily)
        .where(RefreshFamily.id == family_id, RefreshFamily.revoked_at.is_(None))
        .values(revoked_at=utcnow(), revoked_reason=reason)
        .execution_options(synchronize_session=False)
    )
