"""OAuth clients: registration (the secret is shown once, stored as a digest) and listing."""

from __future__ import annotations

import secrets
from collections.abc import Iterable

from sqlalchemy import select

from authserver.digests import digest, new_secret
from authserver.extensions import db
from authserver.models import Client
from authserver.policy import InvalidScope, parse_scope
from authserver.services import policy_store
from authserver.services.errors import Invalid

GRANT_TYPES = ("password", "refresh_token")


def find(client_id: str) -> Client | None:
    return db.session.execute(
        select(Client).where(Client.client_id == client_id)
    ).scalar_one_or_none()


def _check_scope(scope: str | None) -> str | None:
    if scope is None:
        return None
    try:
        scopes = parse_scope(scope) or []
    except InvalidScope as exc:
        raise Invalid(exc.description) from None
    _, policy = policy_store.live_policy()
    undeclared = [name for name in scopes if name not in policy.scopes]
    if undeclared:
        raise Invalid(f"scope(s) not declared by the policy: {', '.join(undeclared)}")
    return " ".join(scopes)


def create(
    name: str,
    grant_types: Iterable[str] = (),
    scope: str | None = None,
    public: bool = False,
    introspect: bool = False,
    client_id: str | None = None,
) -> tuple[Client, str | None]:
    """Register a client; returns it with its plaintext secret (None for a public client)."""
    name = name.strip()
    if not name or len(name) > 200:
        raise Invalid("a client name is 1-200 characters")
    grant_types = list(dict.fromkeys(grant_types))
    unknown = [g for g in grant_types if g not in GRANT_TYPES]
    if unknown:
        raise Invalid(f"unsupported grant type(s): {', '.join(unknown)}")
    secret = None if public else new_secret(32)
    client = Client(
        client_id=client_id or secrets.token_urlsafe(16),
        name=name,
        secret_digest=digest(secret) if secret else None,
        grant_types=" ".join(grant_types),
        scope=_check_scope(scope),
        can_introspect=introspect,
    )
    db.session.add(client)
    db.session.commit()
    return client, secret


def delete(client_id: str) -> bool:
    """Remove a client (its refresh-token families stop working with it)."""
    client = find(client_id)
    if client is None:
        return False
    db.session.delete(client)
    db.session.commit()
    return True


def list_all() -> list[Client]:
    return list(db.session.execute(select(Client).order_by(Client.created_at)).scalars())
