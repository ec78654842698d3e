"""Users: creation, roles, enabling and disabling, and password authentication."""

from __future__ import annotations

import re
from collections.abc import Iterable

from sqlalchemy import select

from authserver.extensions import db
from authserver.models import RefreshFamily, User, UserRole
from authserver.models.base import utcnow
from authserver.services import policy_store
from authserver.services.errors import Conflict, Invalid, NotFound
from authserver.state import state

USERNAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@+-]{0,149}$")
MAX_PASSWORD_LENGTH = 1024


def find(username: str) -> User | None:
    return db.session.execute(select(User).where(User.username == username)).scalar_one_or_none()


def find_by_id(user_id: int) -> User | None:
    return db.session.get(User, user_id)


def get(username: str) -> User:
    user = find(username)
    if user is None:
        raise NotFound(f"no user named {username!r}")
    return user


def check_roles(roles: Iterable[str]) -> list[str]:
    """The roles, deduplicated, after checking each exists in the live policy."""
    _, policy = policy_store.live_policy()
    roles = list(dict.fromkeys(roles))
    unknown = [role for role in roles if role not in policy.roles]
    if unknown:
        raise Invalid(f"unknown role(s): {', '.join(unknown)}")
    return roles


def check_password(password: str) -> None:
    if not password:
        raise Invalid("the password is empty")
    if len(password) > MAX_PASSWORD_LENGTH:
        raise Invalid(f"the password is longer than {MAX_PASSWORD_LENGTH} characters")


def create(username: str, password: str, roles: Iterable[str] = ()) -> User:
    if not USERNAME.match(username):
        raise Invalid("a username is 1-150 letters, digits or ._@+- and starts alphanumeric")
    check_password(password)
    roles = check_roles(roles)
    if find(username) is not None:
        raise Conflict(f"user {username!r} exists")
    user = User(username=username, password_hash=state().passwords.hash(password))
    user.role_rows = [UserRole(role=role) for role in roles]
    db.session.add(user)
    db.session.commit()
    return user


def set_roles(username: str, roles: Iterable[str]) -> User:
    user = get(username)
    roles = check_roles(roles)
    user.role_rows = [UserRole(role=role) for role in roles]
    db.session.commit()
    return user


def set_password(username: str, password: str) -> User:
    check_password(password)
    user = get(username)
    user.password_hash = state().passwords.hash(password)
    db.session.commit()
    return user


def set_disabled(username: str, disabled: bool) -> User:
    """Disable or enable; disabling also ends every refresh-token family of the user."""
    user = get(username)
    user.disabled = disabled
    if disabled:
        revoke_families(user.id, reason="user_disabled")
    db.session.commit()
    return user


def revoke_families(user_id: int, reason: str) -> None:
    families = db.session.execute(
        select(RefreshFamily).where(
            RefreshFamily.user_id == user_id, RefreshFamily.revoked_at.is_(None)
        )
    ).scalars()
    now = utcnow()
    for family in families:
        family.revoked_at, family.revoked_reason = now, reason


def list_all() -> list[User]:
    return list(db.session.execute(select(User).order_by(User.username)).scalars())


def authenticate(username: str, password: str) -> User | None:
    """The enabled user with this password, or None; every path costs one argon2 verify.

    An unknown username runs a dummy verify, so response time does not reveal which
    accounts exist. A hash made with old parameters is replaced at a successful login.
    """
    passwords = state().passwords
    user = find(username) if len(username) <= 150 else None
    if len(password) > MAX_PASSWORD_LENGTH:
        passwords.dummy_verify(password[:MAX_PASSWORD_LENGTH])
        return None
    if not passwords.verify(user.password_hash if user else None, password):
        return None
    if user.disabled:
        return None
    if passwords.needs_rehash(user.password_hash):
        user.password_hash = passwords.hash(password)
        db.session.commit()
    return user
