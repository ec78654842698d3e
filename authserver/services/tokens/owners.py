"""The resource owner a grant issues tokens for: what a token says of its user, read with
one Core statement built once.

A grant needs a user's id, username and roles (``sub``, ``username``, ``roles``; the
granting rule) and nothing else: loading the ORM ``User`` and its role rows cost more than
the statement that reads them (the token endpoint runs it on every grant).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import cast

from sqlalchemy import Table, bindparam, select

from authserver.extensions import db
from authserver.models import User, UserRole

_USERS = cast(Table, User.__table__)  # declared as a FromClause
_ROLES = cast(Table, UserRole.__table__)
_OWNER = (
    select(_USERS.c.username, _USERS.c.disabled, _ROLES.c.role)
    .outerjoin(_ROLES, _ROLES.c.user_id == _USERS.c.id)
    .where(_USERS.c.id == bindparam("user_id"))
    .order_by(_ROLES.c.role)
)


@dataclass(frozen=True)
class Owner:
    """A user as a grant sees it (Authlib's user: ``get_user_id`` is the token's ``sub``);
    ``roles`` in name order, as ``User.roles``."""

    id: int
    username: str
    roles: list[str]

    def get_user_id(self) -> int:
        return self.id


def enabled(user_id: int) -> Owner | None:
    """The user ``user_id`` if it still exists and is enabled, else None: a refresh
    re-checks the present (SPEC §6), and so does a login once its password matched."""
    rows = db.session.execute(_OWNER, {"user_id": user_id}).all()
    if not rows or rows[0].disabled:
        return None
    return Owner(user_id, rows[0].username, [row.role for row in rows if row.role is not None])
