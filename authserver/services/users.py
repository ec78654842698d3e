"""Users: creation, roles, enabling and disabling, and password authentication."""

from __future__ import annotations

import re
import time
import unicodedata
from collections.abc import Iterable
from datetime import UTC, datetime

from flask import current_app
from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import joinedload

from authserver import live
from authserver.extensions import db
from authserver.models import User, UserRole
from authserver.security.digests import digest
from authserver.services import audit, policy_store, tokens
from authserver.services.errors import Conflict, Invalid, NotFound
from authserver.state import state

USERNAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@+-]{0,149}")  # always used with fullmatch
USERNAME_RULE = (
    "a username is 1-150 ASCII letters, digits or ._@+- and starts with a letter or digit "
    "(no other script, look-alike, control or bidi character)"
)
MAX_PASSWORD_LENGTH = 1024
DEFAULT_MIN_PASSWORD_LENGTH = 8


def canonical(username: str) -> str:
    """The form two usernames are compared in (SPEC §10): NFKC, then case folding, so
    ``Alice``, ``ALICE`` and fullwidth ``ａlice`` are one name and cannot coexist."""
    return unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", username).casefold())


def find(username: str) -> User | None:
    """The user named ``username``; None, without a query, for a name no user can have.

    A presented name is untrusted input: PostgreSQL refuses text with a NUL byte outright
    (an error, not "no match"), so only names of the USERNAME shape reach the database.
    """
    if not USERNAME.fullmatch(username):
        return None
    return db.session.execute(select(User).where(User.username == username)).scalar_one_or_none()


def find_by_id(user_id: int) -> User | None:
    """The user with this id, its roles read in the same statement (a join), not a second."""
    return db.session.get(User, user_id, options=[joinedload(User.role_rows)])


def get(username: str) -> User:
    user = find(username)
    if user is None:
        raise NotFound(f"no user named {username!r}")
    return user


class UnknownRoles(Invalid):
    """Roles the live policy does not define; ``roles`` lists them."""

    title = "Unknown roles"

    def __init__(self, roles: list[str]) -> None:
        super().__init__(f"unknown role(s): {', '.join(roles)}", unknown_roles=roles)
        self.roles = roles


def check_roles(roles: Iterable[str]) -> list[str]:
    """The roles, deduplicated, after checking each exists in the live policy."""
    _, policy = policy_store.live_policy()
    roles = list(dict.fromkeys(roles))
    unknown = [role for role in roles if role not in policy.roles]
    if unknown:
        raise UnknownRoles(unknown)
    return roles


def check_password(password: str) -> None:
    """Refuse a password shorter than AUTHSERVER_MIN_PASSWORD_LENGTH or absurdly long."""
    shortest = current_app.config.get("MIN_PASSWORD_LENGTH", DEFAULT_MIN_PASSWORD_LENGTH)
    if not password:
        raise Invalid("the password is empty")
    if len(password) < shortest:
        raise Invalid(f"the password is shorter than {shortest} characters")
    if len(password) > MAX_PASSWORD_LENGTH:
        raise Invalid(f"the password is longer than {MAX_PASSWORD_LENGTH} characters")


def create(username: str, password: str, roles: Iterable[str] = (), actor: str = "cli") -> User:
    """A new user; refused when its name is not of the USERNAME shape after NFKC, or is the
    same as an existing name once both are normalised and case-folded (SPEC §10)."""
    username = unicodedata.normalize("NFKC", username)
    if not USERNAME.fullmatch(username):
        raise Invalid(USERNAME_RULE)
    check_password(password)
    roles = check_roles(roles)
    same = select(User.username).where(func.lower(User.username) == canonical(username))
    existing = db.session.execute(same.limit(1)).scalar()
    if existing is not None:
        raise Conflict(
            f"user {existing!r} exists" + ("" if existing == username else " (same name)")
        )
    user = User(username=username, password_hash=state().passwords.hash(password))
    user.role_rows = [UserRole(role=role) for role in roles]
    db.session.add(user)
    audit.record("user.created", actor, f"user:{username}", {"roles": roles}, commit=False)
    db.session.commit()
    return user


def set_roles(username: str, roles: Iterable[str], actor: str = "cli") -> User:
    """Replace the user's roles; a change is audited with the old and new roles."""
    user = get(username)
    roles = check_roles(roles)
    old = user.roles
    user.role_rows = [UserRole(role=role) for role in roles]
    if set(old) - set(roles):
        live.user_cut_off(user.id)  # a role taken away: tokens carrying it end now
    if sorted(old) != sorted(roles):
        details = {"old": sorted(old), "new": sorted(roles)}
        audit.record("user.roles_changed", actor, f"user:{username}", details, commit=False)
    db.session.commit()
    return user


def set_password(username: str, password: str, actor: str = "cli") -> User:
    """A new password: the user's refresh-token families end and, through a live cut-off,
    the access tokens already issued (SPEC §4), so an old session cannot outlive it."""
    check_password(password)
    user = get(username)
    user.password_hash = state().passwords.hash(password)
    families = tokens.revoke_user_families(user.id, "password_changed")
    live.user_cut_off(user.id)
    details = _families_details(families)
    audit.record("user.password_changed", actor, f"user:{username}", details, commit=False)
    db.session.commit()
    return user


def locked_until(user: User) -> datetime | None:
    """When the account's login lockout ends, or None when it is not locked."""
    until = state().lockout.locked_until(digest(user.username))
    return datetime.fromtimestamp(until, UTC) if until > time.time() else None


def unlock(username: str, actor: str = "cli") -> User:
    """Clear the account's failed-login count and lockout; audited when it was locked."""
    user = get(username)
    was_locked = locked_until(user) is not None
    state().lockout.reset(digest(user.username))
    if was_locked:
        audit.record("user.unlocked", actor, f"user:{username}")
    return user


def set_disabled(username: str, disabled: bool, actor: str = "cli") -> User:
    """Disable or enable; disabling also ends every token of the user: its refresh-token
    families and, through a live cut-off, the access tokens already issued."""
    user = get(username)
    changed = user.disabled != disabled
    user.disabled = disabled
    families = tokens.revoke_user_families(user.id, "user_disabled") if disabled else []
    if disabled:
        live.user_cut_off(user.id)
    if changed:
        kind = "user.disabled" if disabled else "user.enabled"
        details = _families_details(families) if disabled else {}
        audit.record(kind, actor, f"user:{username}", details, commit=False)
    db.session.commit()
    return user


def revoke_tokens(username: str, actor: str = "cli") -> list[str]:
    """End every token of the user: the refresh-token families (their ids are returned)
    and, through a live cut-off, every access token issued up to now (SPEC §12)."""
    user = get(username)
    families = tokens.revoke_user_families(user.id, "admin_revoked")
    live.user_cut_off(user.id)
    details = _families_details(families)
    audit.record("user.tokens_revoked", actor, f"user:{username}", details, commit=False)
    db.session.commit()
    return families


def _families_details(families: list[str], shown: int = 100) -> dict:
    return {"families_revoked": len(families), "family_ids": families[:shown]}


def list_all() -> list[User]:
    return list(db.session.execute(select(User).order_by(User.username)).scalars())


def list_page(
    limit: int, after: str | None = None, role: str | None = None, prefix: str | None = None
) -> list[User]:
    """Up to ``limit`` users by username, those after ``after`` only, holding ``role`` if
    given, whose name starts with ``prefix`` (any case) if given: keyset pagination,
    stable while users are added."""
    query = select(User).order_by(User.username).limit(limit)
    if after is not None:
        query = query.where(User.username > after)
    if role is not None:
        query = query.where(User.role_rows.any(UserRole.role == role))
    if prefix:
        query = query.where(_starts_with(canonical(prefix)))
    return list(db.session.execute(query).scalars())


def _starts_with(prefix: str) -> ColumnElement[bool]:
    """``lower(username)`` starts with ``prefix`` (already case-folded), ``%`` and ``_``
    taken literally. Byte order (COLLATE "C") on PostgreSQL, whatever the database's
    collation: a prefix is a byte range there, the form an index on
    ``lower(username) COLLATE "C"`` serves (SQLite's LIKE compares ASCII without case)."""
    pattern = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    lowered: ColumnElement[str] = func.lower(User.username)
    if db.session.get_bind().dialect.name == "postgresql":
        lowered = lowered.collate("C")
    return lowered.like(pattern, escape="\\")


def authenticate(username: str, password: str) -> User | None:
    """The enabled user with this password, or None; every path costs one argon2 verify.

    An unknown username runs a dummy verify, so response time does not reveal which
    accounts exist. A hash made with old parameters is replaced at a successful login.
    """
    passwords = state().passwords
    user = find(username)
    if len(password) > MAX_PASSWORD_LENGTH:
        passwords.dummy_verify(password[:MAX_PASSWORD_LENGTH])
        return None
    if not passwords.verify(user.password_hash if user else None, password) or user is None:
        return None
    if user.disabled:
        return None
    if passwords.needs_rehash(user.password_hash):
        user.password_hash = passwords.hash(password)
        db.session.commit()
    return user
