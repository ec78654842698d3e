"""Revocation, every kind: an access token by ``jti``, a refresh family, all of a user's or a
client's families. The one door for ending tokens early (live authorization builds on it).

Set-based: each revocation is one ``INSERT ... ON CONFLICT DO NOTHING`` or one ``UPDATE ...
WHERE revoked_at IS NULL``, whose ``RETURNING`` says whether this call revoked anything, so
two revocations racing each other are audited once. The family functions join the caller's
transaction (a disable ends the families in the same commit as the flag); ``revoke_access``
and ``revoke_refresh`` are whole use cases and commit.

The access-token list is written with Core, not the ORM: an ORM ``add`` of a ``jti`` the
session already holds (the revocation endpoint looked it up, or revoked it before) is an
identity conflict, not a duplicate key, and would escape the ``IntegrityError`` guard.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import ColumnElement, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError

from authserver.extensions import db
from authserver.models import RefreshFamily, RefreshToken, RevokedToken, User
from authserver.models.base import utcnow
from authserver.services import audit

#: Dialects with ``INSERT ... ON CONFLICT DO NOTHING``: revoking twice, or two instances
#: revoking at once, is a no-op there instead of an error to recover from.
_UPSERT_INSERTS = {"postgresql": postgresql.insert, "sqlite": sqlite.insert}


def revoke_access(
    jti: str,
    exp: int,
    actor: str = "system",
    client_id: str | None = None,
    username: str | None = None,
) -> bool:
    """Put the access token ``jti`` on the revocation list until ``exp`` (a Unix time), audit
    it (``token.revoked``) and commit. True when this call revoked it; revoking a revoked
    token again changes nothing and records nothing."""
    if not _insert_revoked(jti, datetime.fromtimestamp(exp, UTC)):
        db.session.rollback()
        return False
    details = {"token_type": "access_token", "user": username}
    audit.record("token.revoked", actor, f"jti:{jti}", details, commit=False, client_id=client_id)
    db.session.commit()
    return True


def _insert_revoked(jti: str, expires_at: datetime) -> bool:
    """Insert the list entry; False when it was there already."""
    values = {"jti": jti, "expires_at": expires_at}
    dialect = db.session.get_bind().dialect.name
    if dialect in _UPSERT_INSERTS:
        statement = (
            _UPSERT_INSERTS[dialect](RevokedToken)
            .values(**values)
            .on_conflict_do_nothing(index_elements=["jti"])
            .returning(RevokedToken.jti)  # a row only when inserted (rowcount lies on INSERT)
        )
        return db.session.execute(statement).first() is not None
    try:
        with db.session.begin_nested():
            db.session.execute(insert(RevokedToken).values(**values))
    except IntegrityError:
        return False
    return True


def revoke_refresh(token: RefreshToken, actor: str, client_id: str | None = None) -> bool:
    """Revoke a presented refresh token: its whole family ends (RFC 7009 §2.1), audited
    (``token.revoked``) and committed. True when this call revoked the family."""
    family = token.family
    if not revoke_family(family.id, reason="revoked"):
        db.session.rollback()
        return False
    user = db.session.get(User, family.user_id)
    details = {"token_type": "refresh_token", "user": user.username if user else None}
    subject = f"family:{family.id}"
    audit.record("token.revoked", actor, subject, details, commit=False, client_id=client_id)
    db.session.commit()
    return True


def revoke_family(family_id: str, reason: str) -> bool:
    """End one family now (reuse, revocation); committed by the caller. True when this
    call ended it, False when it was revoked already (the first reason and time stay)."""
    return bool(_end_families(reason, RefreshFamily.id == family_id))


def revoke_user_families(user_id: int, reason: str) -> list[str]:
    """End every unexpired family of a user (a disable, ``revoke-tokens``); committed by
    the caller. Returns the ids of the families this call ended."""
    return _end_families(
        reason, RefreshFamily.user_id == user_id, RefreshFamily.expires_at > utcnow()
    )


def revoke_client_families(client_id: str, reason: str) -> list[str]:
    """End every unexpired family of a client (a deleted client); committed by the caller.
    Returns the ids of the families this call ended."""
    return _end_families(
        reason, RefreshFamily.client_id == client_id, RefreshFamily.expires_at > utcnow()
    )


def _end_families(reason: str, *where: ColumnElement[bool]) -> list[str]:
    """One ``UPDATE ... WHERE revoked_at IS NULL AND <where>``; the ids it revoked."""
    live = (RefreshFamily.revoked_at.is_(None), *where)
    statement = (
        update(RefreshFamily)
        .where(*live)
        .values(revoked_at=utcnow(), revoked_reason=reason)
        .execution_options(synchronize_session=False)
    )
    if db.session.get_bind().dialect.update_returning:
        return list(db.session.execute(statement.returning(RefreshFamily.id)).scalars())
    ids = list(db.session.execute(select(RefreshFamily.id).where(*live)).scalars())
    if ids:
        db.session.execute(statement.where(RefreshFamily.id.in_(ids)))
    return ids
