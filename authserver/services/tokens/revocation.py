"""Revocation, every kind: an access token by ``jti``, a refresh family, all of a user's or a
client's families. The one door for ending tokens early (live authorization builds on it).

Set-based: a family revocation is one ``UPDATE ... WHERE revoked_at IS NULL``, whose
``RETURNING`` says whether this call revoked anything, so two revocations racing each other
are audited once; an access token's revocation is a "jti" row of the live-authorization log
(:mod:`authserver.live`), added under the log's lock after looking for an earlier one. The
family functions join the caller's transaction (a disable ends the families in the same
commit as the flag); ``revoke_access`` and ``revoke_refresh`` are whole use cases and commit.
"""

from __future__ import annotations

from sqlalchemy import ColumnElement, select, update

from authserver import live
from authserver.extensions import db
from authserver.live import log as live_log
from authserver.models import RefreshFamily, RefreshToken, User
from authserver.models.base import utcnow
from authserver.services import audit


def revoke_access(
    jti: str,
    exp: int,
    actor: str = "system",
    client_id: str | None = None,
    username: str | None = None,
) -> bool:
    """Refuse the access token ``jti`` until ``exp`` (a Unix time) everywhere (a "jti" row of
    the live log), audit it (``token.revoked``) and commit. True when this call revoked it;
    revoking a revoked token again changes nothing and records nothing (the log's lock is
    taken before looking, so two racing revocations record one)."""
    live_log.lock(db.session)
    if live_log.has_row(db.session, live.JTI, jti):
        db.session.rollback()
        return False
    live.jti_revoked(jti, exp)
    details = {"token_type": "access_token", "user": username}
    audit.record("token.revoked", actor, f"jti:{jti}", details, commit=False, client_id=client_id)
    db.session.commit()
    return True


def is_revoked(jti: str) -> bool:
    """Whether the access token ``jti`` is revoked, from this process's live state (no
    database round trip in the steady state; see :mod:`authserver.live`)."""
    return jti in live.current().revoked


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
