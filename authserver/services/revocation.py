"""The revocation list of access-token ``jti``s, each kept until the token's ``exp``.

Read on every protected request, so it is one Core query on the primary key: no ORM
objects, no session state.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from authserver.extensions import db
from authserver.models import RevokedToken


def is_revoked(jti: str) -> bool:
    statement = select(RevokedToken.jti).where(RevokedToken.jti == jti)
    return db.session.execute(statement).first() is not None


def revoke(jti: str, exp: int) -> None:
    """Put ``jti`` on the list until ``exp`` (a Unix time); revoking twice is harmless."""
    db.session.add(RevokedToken(jti=jti, expires_at=datetime.fromtimestamp(exp, UTC)))
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
