"""The revocation list of access-token ``jti``s, each kept until the token's ``exp``.

Read on every protected request, so it is one Core query on the primary key: no ORM
objects, no session state. Writes are Core too: an ORM ``add`` of a ``jti`` the session
already holds (the revocation endpoint looked it up, or revoked it before) is an identity
conflict, not a duplicate key, and would escape the ``IntegrityError`` guard.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import insert, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError

from authserver.extensions import db
from authserver.models import RevokedToken

#: Dialects with ``INSERT ... ON CONFLICT DO NOTHING``: revoking twice, or two instances
#: revoking at once, is a no-op there instead of an error to recover from.
_UPSERT_INSERTS = {"postgresql": postgresql.insert, "sqlite": sqlite.insert}


def is_revoked(jti: str) -> bool:
    statement = select(RevokedToken.jti).where(RevokedToken.jti == jti)
    return db.session.execute(statement).first() is not None


def revoke(jti: str, exp: int) -> None:
    """Put ``jti`` on the list until ``exp`` (a Unix time); revoking twice is harmless."""
    values = {"jti": jti, "expires_at": datetime.fromtimestamp(exp, UTC)}
    dialect = db.session.get_bind().dialect.name
    if dialect in _UPSERT_INSERTS:
        statement = _UPSERT_INSERTS[dialect](RevokedToken).values(**values)
        db.session.execute(statement.on_conflict_do_nothing(index_elements=["jti"]))
        db.session.commit()
        return
    try:
        db.session.execute(insert(RevokedToken).values(**values))
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
