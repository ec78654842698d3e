"""The console's built-in OAuth client, ``authserver-console`` (SPEC §15).

A public client (a browser page can keep no secret) given the password and refresh_token
grants and allowed only the admin scopes: the scopes some ``/admin`` route requires that the
live policy declares. So a token the console obtains can never reach ``documents:*`` or any
other resource, whatever roles its user holds. ``authserver db upgrade`` calls ``ensure``
after the migrations, so every upgraded database has the client, and an upgrade after the
policy gained admin scopes (``clients:*``) widens it to them.
"""

from __future__ import annotations

from flask import current_app

from authserver.extensions import db
from authserver.resource import route_scopes
from authserver.services import audit, clients, policy_store

CLIENT_ID = "authserver-console"
CLIENT_NAME = "Admin console (built in)"
GRANT_TYPES = ("password", "refresh_token")
ADMIN_PREFIX = "/admin/"


def admin_scopes() -> list[str]:
    """The scopes some admin route needs and the live policy declares, in policy order."""
    needed: set[str] = set()
    for rule, _methods, required in route_scopes(current_app):
        if rule.startswith(ADMIN_PREFIX):
            needed.update(required.all_of, required.any_of)
    _, policy = policy_store.live_policy()
    return [name for name in policy.scopes if name in needed]


def ensure() -> str | None:
    """Create the console client, or bring its grants and scopes up to date; a line saying
    what changed, or None when it was already right. A disabled console client stays
    disabled: an admin turned it off on purpose."""
    scope = " ".join(admin_scopes())
    existing = clients.find_any(CLIENT_ID)
    if existing is None:
        clients.create(CLIENT_NAME, GRANT_TYPES, scope=scope, public=True, client_id=CLIENT_ID)
        return f"client {CLIENT_ID} created (public; scopes: {scope})"
    if not existing.is_public:
        return (
            f"warning: client {CLIENT_ID} exists but is confidential; the console needs it public"
        )
    grants = " ".join(GRANT_TYPES)
    if existing.scope == scope and existing.grant_types == grants:
        return None
    details = {"old_scope": existing.scope, "scope": scope, "grant_types": list(GRANT_TYPES)}
    existing.scope, existing.grant_types = scope, grants
    audit.record("client.updated", "cli", f"client:{CLIENT_ID}", details, commit=False)
    db.session.commit()
    return f"client {CLIENT_ID} updated (scopes: {scope})"
