"""OAuth clients: registration (the secret is shown once, stored as a digest), listing, their
roles (SPEC §16), and the changes that end a client's tokens (delete, disable,
rotate-secret, a role taken away: SPEC §4, §12)."""

from __future__ import annotations

import re
import secrets
import unicodedata
from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.orm import selectinload

from authserver import live
from authserver.extensions import db
from authserver.models import Client
from authserver.models.client import CONFIDENTIAL_GRANT_TYPES, GRANT_TYPES, ClientRole
from authserver.policy import InvalidScope, parse_scope
from authserver.security.digests import digest, new_secret
from authserver.services import audit, policy_store, tokens, users
from authserver.services.errors import Conflict, Invalid, NotFound

#: RFC 6749 Appendix A.1: client_id = *VSCHAR (printable ASCII); at most the column's 64.
CLIENT_ID = re.compile(r"[\x20-\x7e]{1,64}")


def find(client_id: str) -> Client | None:
    """The enabled client with this id, as the OAuth endpoints see clients: a disabled
    client is not found, so it cannot authenticate and gets no tokens."""
    client = find_any(client_id)
    return client if client is not None and not client.disabled else None


def find_any(client_id: str) -> Client | None:
    """The client with this id, disabled or not; None, without a query, for an id no client
    can have. A presented client_id is untrusted input (PostgreSQL errors on a NUL byte)."""
    if not isinstance(client_id, str) or not CLIENT_ID.fullmatch(client_id):
        return None
    return db.session.execute(
        select(Client).where(Client.client_id == client_id)
    ).scalar_one_or_none()


def get(client_id: str) -> Client:
    """The client with this id, disabled or not; NotFound names the id."""
    client = find_any(client_id)
    if client is None:
        raise NotFound(f"no client with id {client_id!r}")
    return client


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
    actor: str = "cli",
    roles: Iterable[str] = (),
    dpop: bool = False,
) -> tuple[Client, str | None]:
    """Register a client; returns it with its plaintext secret (None for a public client).

    ``roles``: policy roles for its client_credentials tokens (SPEC §16), each defined by
    the live policy. ``dpop``: it must prove a DPoP key at the token endpoint (SPEC §17).
    """
    name = name.strip()
    if not name or len(name) > 200:
        raise Invalid("a client name is 1-200 characters")
    if client_id is not None and not CLIENT_ID.fullmatch(client_id):
        raise Invalid("a client_id is 1-64 printable ASCII characters")
    taken = _same_name(name)
    if taken is not None:
        raise Conflict(f"a client named {taken!r} exists; give this one another name")
    grant_types = list(dict.fromkeys(grant_types))
    unknown = [g for g in grant_types if g not in GRANT_TYPES]
    if unknown:
        raise Invalid(f"unsupported grant type(s): {', '.join(unknown)}")
    needs_secret = [g for g in grant_types if g in CONFIDENTIAL_GRANT_TYPES]
    if public and needs_secret:
        raise Invalid(
            f"a public client cannot use {', '.join(needs_secret)}: it has no credentials "
            "to authenticate with (RFC 6749 section 4.4)"
        )
    roles = users.check_roles(roles)
    secret = None if public else new_secret(32)
    client = Client(
        client_id=client_id or new_client_id(),
        name=name,
        secret_digest=digest(secret) if secret else None,
        grant_types=" ".join(grant_types),
        scope=_check_scope(scope),
        can_introspect=introspect,
        dpop_bound=dpop,
    )
    client.role_rows = [ClientRole(role=role) for role in roles]
    db.session.add(client)
    audit.record(
        "client.created", actor, f"client:{client.client_id}", _audit_details(client), commit=False
    )
    db.session.commit()
    return client, secret


def new_client_id() -> str:
    """128 random bits, URL-safe, never starting with "-": a command line would take such an
    id for an option (``authserver clients disable -x...`` failed one time in 64)."""
    while True:
        candidate = secrets.token_urlsafe(16)
        if not candidate.startswith("-"):
            return candidate


def _same_name(name: str) -> str | None:
    """An existing client's name equal to ``name`` after NFKC and case folding (SPEC §10:
    names people compare cannot impersonate each other), or None. Clients are few."""
    key = unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", name).casefold())
    for other in db.session.execute(select(Client.name)).scalars():
        if unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", other).casefold()) == key:
            return other
    return None


def _audit_details(client: Client) -> dict:
    """What was registered; never the secret."""
    return {
        "name": client.name,
        "grant_types": client.grant_type_list,
        "scope": client.scope,
        "public": client.is_public,
        "introspect": client.can_introspect,
        "roles": client.roles,
        "dpop_bound": client.dpop_bound,
    }


def set_roles(client_id: str, roles: Iterable[str], actor: str = "cli") -> Client:
    """Replace the client's roles (each defined by the live policy); a change is audited
    with the old and new roles. A role taken away cuts off the client's access tokens
    (SPEC §12, as for a user): its client_credentials tokens carry the old roles. The
    cut-off is the client's, so tokens its users got through it end too (they refresh)."""
    client = get(client_id)
    roles = users.check_roles(roles)
    old = client.roles
    client.role_rows = [ClientRole(role=role) for role in roles]
    if set(old) - set(roles):
        live.client_cut_off(client.client_id)
    if sorted(old) != sorted(roles):
        details = {"old": sorted(old), "new": sorted(roles)}
        audit.record("client.roles_changed", actor, f"client:{client_id}", details, commit=False)
    db.session.commit()
    return client


def delete(client_id: str, actor: str = "cli") -> bool:
    """Remove a client and end its tokens: its refresh-token families (SPEC §4: a client
    registered later under the same id must not inherit them) and, through a live cut-off,
    its access tokens already issued (SPEC §12). False for an unknown id."""
    client = find_any(client_id)
    if client is None:
        return False
    db.session.delete(client)
    _end_tokens(client_id, "client_deleted", "client.deleted", actor)
    return True


def set_disabled(client_id: str, disabled: bool, actor: str = "cli") -> Client:
    """Disable a client (it can no longer authenticate, and its tokens end) or enable it
    again (its old tokens stay ended). No change, no event. NotFound for an unknown id."""
    client = get(client_id)
    if client.disabled == disabled:
        return client
    client.disabled = disabled
    if disabled:
        _end_tokens(client_id, "client_disabled", "client.disabled", actor)
    else:
        audit.record("client.enabled", actor, f"client:{client_id}", commit=False)
        db.session.commit()
    return client


def rotate_secret(client_id: str, actor: str = "cli") -> str:
    """A new secret for a confidential client (returned once, stored as a digest); the old
    one stops working and the client's tokens end. Conflict for a public client."""
    client = get(client_id)
    if client.is_public:
        raise Conflict(f"client {client_id!r} is public: it has no secret to rotate")
    secret = new_secret(32)
    client.secret_digest = digest(secret)
    _end_tokens(client_id, "client_secret_rotated", "client.secret_rotated", actor)
    return secret


def _end_tokens(client_id: str, reason: str, event: str, actor: str) -> None:
    """End the client's refresh families and cut off its access tokens (SPEC §4, §12) in
    the caller's transaction, audit ``event`` and commit."""
    ended = tokens.revoke_client_families(client_id, reason)
    live.client_cut_off(client_id)
    details = {"families_ended": len(ended)}
    audit.record(event, actor, f"client:{client_id}", details, commit=False)
    db.session.commit()


def list_all() -> list[Client]:
    query = select(Client).order_by(Client.created_at).options(selectinload(Client.role_rows))
    return list(db.session.execute(query).scalars())


def list_page(limit: int, after: str | None = None) -> list[Client]:
    """Up to ``limit`` clients by client_id, those after ``after`` only: keyset pagination,
    stable while clients are added (the admin API's one style, SPEC §8)."""
    query = select(Client).order_by(Client.client_id).limit(limit)
    if after is not None:
        query = query.where(Client.client_id > after)
    return list(db.session.execute(query.options(selectinload(Client.role_rows))).scalars())
