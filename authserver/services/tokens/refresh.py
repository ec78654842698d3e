"""Refresh-token families: issued at login, rotated on every use, revoked whole on reuse.

Tokens are stored only as SHA-256 digests. Each use claims the presented token with one
conditional UPDATE, so of two concurrent refreshes exactly one wins (RFC 9700 §4.14.2); a
token that comes back after its use, or loses that race, is reuse and ends its family.

Except a lost answer (SPEC §6, ``REFRESH_REUSE_GRACE`` seconds, 0 by default): the same
client presenting a used token again within the grace of its first use, while the newest
token of the family is the unused one that use produced, gets a new pair; that unused
child is revoked (claimed, so it is reuse if it ever comes back) and the family lives on.
A worker killed after its commit, or an answer lost on the network, then no longer logs the
client out with a false reuse alarm.
"""

from __future__ import annotations

import secrets
from datetime import timedelta
from typing import Any, cast

from flask import current_app
from sqlalchemy import CursorResult, Table, bindparam, insert, select, update

from authserver import telemetry
from authserver.extensions import db
from authserver.models import RefreshFamily, RefreshToken, User
from authserver.models.base import utcnow
from authserver.security.digests import digest
from authserver.services import audit
from authserver.services.tokens.revocation import revoke_family

#: The longest value worth hashing: ours are 43 characters, a presented one is untrusted.
MAX_VALUE_LENGTH = 512


# Statements built once (the token endpoint runs them on every grant; building one cost
# about what running it does); the writes are Core statements: the ORM's unit of work cost
# more than the inserts themselves.
_FAMILIES = cast(Table, RefreshFamily.__table__)  # declared as a FromClause
_TOKENS = cast(Table, RefreshToken.__table__)
_INSERT_FAMILY = insert(_FAMILIES)
_INSERT_TOKEN = insert(_TOKENS)
#: The columns a login's new family is inserted with (the row :func:`_new_family` builds).
_FAMILY_COLUMNS = ("id", "user_id", "client_id", "scope", "created_at", "expires_at", "dpop_jkt")
#: PostgreSQL: a login's family and its first token in one statement, one round trip (the
#: family's id is made here, so the token's insert needs nothing back from the family's;
#: the foreign key is checked at the statement's end, when both rows exist). Parameters
#: are the family's columns prefixed ``b_`` (bound names must differ from column names).
_INSERT_FAMILY_AND_TOKEN = (
    insert(_TOKENS)
    .values(
        token_digest=bindparam("b_token_digest"),
        family_id=bindparam("b_id"),
        scope=bindparam("b_scope"),
        created_at=bindparam("b_created_at"),
        parent_id=None,
    )
    .add_cte(
        insert(_FAMILIES)
        .values({name: bindparam(f"b_{name}") for name in _FAMILY_COLUMNS})
        .cte("new_family")
    )
)
_FIND = select(RefreshToken).where(RefreshToken.token_digest == bindparam("digest"))
_CLAIM = (
    update(_TOKENS)
    .where(
        _TOKENS.c.id == bindparam("claimed_id"),
        _TOKENS.c.used_at.is_(None),
        _TOKENS.c.family_id.in_(
            select(_FAMILIES.c.id).where(
                _FAMILIES.c.id == bindparam("live_family"), _FAMILIES.c.revoked_at.is_(None)
            )
        ),
    )
    .values(used_at=bindparam("claimed_at"))
)


def find(value: str) -> RefreshToken | None:
    """The stored token for a presented value, whatever its state."""
    if len(value) > MAX_VALUE_LENGTH:
        return None
    return db.session.execute(_FIND, {"digest": digest(value)}).scalar_one_or_none()


def is_usable(token: RefreshToken) -> bool:
    """Its family is neither revoked nor expired (the token itself may have been used)."""
    family = token.family
    return family.revoked_at is None and family.expires_at > utcnow()


def is_active(token: RefreshToken) -> bool:
    """Usable and not yet used: what introspection calls active (RFC 7662 §2.2)."""
    return token.used_at is None and is_usable(token)


def start_family(
    user_id: int, client_id: str, scope: str, value: str, ttl: int, dpop_jkt: str | None = None
) -> RefreshFamily:
    """A new family for a login (committed by the caller); its scope is the ceiling of
    every later refresh; ``dpop_jkt``: the DPoP key every refresh must prove (RFC 9449 §5)."""
    family = db.session.get(
        RefreshFamily, _new_family(user_id, client_id, scope, value, ttl, dpop_jkt)
    )
    assert family is not None  # inserted just now, in this transaction
    return family


def _new_family(
    user_id: int, client_id: str, scope: str, value: str, ttl: int, dpop_jkt: str | None
) -> str:
    """Insert a family and its first token; returns the family's id."""
    family_id = secrets.token_hex(16)
    now = utcnow()
    family = {  # the _FAMILY_COLUMNS
        "id": family_id,
        "user_id": user_id,
        "client_id": client_id,
        "scope": scope,
        "created_at": now,
        "expires_at": now + timedelta(seconds=ttl),
        "dpop_jkt": dpop_jkt,
    }
    if db.session.get_bind().dialect.name == "postgresql":  # one round trip for both
        values = {f"b_{name}": item for name, item in family.items()}
        db.session.execute(_INSERT_FAMILY_AND_TOKEN, {**values, "b_token_digest": digest(value)})
        return family_id
    db.session.execute(_INSERT_FAMILY, family)
    _add_token(family_id, value, scope, None)
    return family_id


def add_to_family(
    family: RefreshFamily, value: str, scope: str, parent: RefreshToken | None = None
) -> None:
    """The next token of a family, produced by a use of ``parent`` (committed by the caller)."""
    _add_token(family.id, value, scope, parent.id if parent is not None else None)


def _add_token(family_id: str, value: str, scope: str, parent_id: int | None) -> None:
    db.session.execute(
        _INSERT_TOKEN,
        {
            "token_digest": digest(value),
            "family_id": family_id,
            "scope": scope,
            "created_at": utcnow(),
            "parent_id": parent_id,
        },
    )


def issue(
    user_id: int, client_id: str, scope: str, value: str, ttl: int, dpop_jkt: str | None = None
) -> str:
    """Save the refresh token of a login as a new family, and commit (with what the login
    recorded: one transaction per grant). Returns the family's id."""
    family_id = _new_family(user_id, client_id, scope, value, ttl, dpop_jkt)
    db.session.commit()
    return family_id


def find_for_refresh(value: str, client_id: str) -> RefreshToken | None:
    """The token a refresh request presents, if it may be used.

    None for an unknown token, or one whose family is revoked or expired. A token that
    was already used is reuse: its family is revoked (and audited) before None comes back.
    """
    token = find(value)
    return usable_for_refresh(token, client_id) if token is not None else None


def usable_for_refresh(token: RefreshToken, client_id: str) -> RefreshToken | None:
    """``token`` (found by :func:`find`) if a refresh may use it: unused, or a repeat within
    the grace (see the module docstring; :func:`rotate` tells the two apart). None when its
    family has ended; a used token outside the grace is reuse: its family is revoked (and
    audited) before None comes back."""
    if not is_usable(token):
        return None
    if token.used_at is not None and unused_child(token, client_id) is None:
        reuse_detected(token, "reused", client_id)
        return None
    return token


def unused_child(token: RefreshToken, client_id: str) -> RefreshToken | None:
    """For a used ``token`` presented again by ``client_id``: the unused token its use
    produced, if that is the family's newest and the grace since the first use has not
    passed; else None (reuse)."""
    grace = current_app.config["REFRESH_REUSE_GRACE"]
    used_at = token.used_at
    if not grace or used_at is None or token.family.client_id != client_id:
        return None
    if utcnow() > used_at + timedelta(seconds=grace):
        return None
    newest = db.session.execute(
        select(RefreshToken)
        .where(RefreshToken.family_id == token.family_id)
        .order_by(RefreshToken.id.desc())
        .limit(1)
    ).scalar_one()
    return newest if newest.parent_id == token.id and newest.used_at is None else None


def claim(token: RefreshToken) -> bool:
    """Mark ``token`` used if nobody has and its family is still live; else False.

    The family is re-checked in the same statement: a family revoked (a disabled user, a
    revocation) after the request was validated must not yield new tokens. Committed by
    the caller.
    """
    result = db.session.execute(
        _CLAIM, {"claimed_id": token.id, "live_family": token.family_id, "claimed_at": utcnow()}
    )
    return cast(CursorResult[Any], result).rowcount == 1  # an UPDATE's result


def rotate(old: RefreshToken, value: str, scope: str, client_id: str, username: str) -> bool:
    """Replace ``old`` by ``value`` in its family: the claim, the new token and the
    ``token.refresh`` event commit together, or not at all.

    ``old`` unused: it is claimed. ``old`` used (a repeat within the grace, as
    :func:`usable_for_refresh` allowed): the unused child of its first use is claimed
    instead, which revokes it, and the new token is ``old``'s child in its place.

    False when the claim is lost (a concurrent use, or the family revoked meanwhile): that
    is reuse, and the family is revoked.
    """
    repeat = old.used_at is not None
    target = unused_child(old, client_id) if repeat else old
    if target is None or not claim(target):
        db.session.rollback()
        reuse_detected(old, "concurrent_use", client_id)
        return False
    add_to_family(old.family, value, scope, parent=old)
    subject = f"family:{old.family_id}"
    details: dict[str, str | bool] = {"scope": scope}
    if repeat:
        details["repeat"] = True  # a lost answer: the unused child was revoked
    audit.append("token.refresh", username, subject, details, client_id=client_id)
    db.session.commit()
    if repeat:
        current_app.logger.info(
            "refresh repeated within the grace: family %s lives on", old.family_id
        )
    return True


def reuse_detected(token: RefreshToken, how: str, client_id: str) -> None:
    """RFC 9700 §4.14.2: a used refresh token came back, so the whole family is revoked.

    Counted, audited (``token.reuse_detected``, by ``system``) and committed here, since the
    request that revealed it fails.
    """
    telemetry.REUSE_DETECTIONS.inc()
    revoke_family(token.family_id, reason="reuse")
    user = db.session.get(User, token.family.user_id)
    details = {"how": how, "user": user.username if user else None}
    subject = f"family:{token.family_id}"
    audit.record(
        "token.reuse_detected", "system", subject, details, commit=False, client_id=client_id
    )
    db.session.commit()
    current_app.logger.warning(
        "refresh token reuse (%s): family %s of user %s revoked",
        how,
        token.family_id,
        token.family.user_id,
    )
