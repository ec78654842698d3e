"""The Flask-Principal bridge: a token's identity provides ``UserNeed(sub)``,
``RoleNeed(role)`` and a ``ScopeNeed(scope)`` per scope, so ``Permission(...)`` works in
views (SPEC §9)."""

from __future__ import annotations

import functools

from flask import Flask
from flask_principal import Identity, Need, RoleNeed, UserNeed, identity_loaded

from authserver.extensions import principal
from authserver.security import access_tokens

#: Like Flask-Principal's ``RoleNeed``: ``ScopeNeed("documents:read")``.
ScopeNeed = functools.partial(Need, "scope")


def set_identity(token: access_tokens.AccessToken) -> None:
    """Make ``token`` the request's Flask-Principal identity."""
    identity = Identity(token["sub"], auth_type="bearer")
    identity.token = token
    principal.set_identity(identity)


def _on_identity_loaded(sender: Flask, identity: Identity) -> None:
    token = getattr(identity, "token", None)
    if token is None:
        return
    identity.provides.add(UserNeed(token["sub"]))
    for role in token.get("roles") or ():
        identity.provides.add(RoleNeed(role))
    for scope in token.scopes:
        identity.provides.add(ScopeNeed(scope))


def init_app(app: Flask) -> None:
    identity_loaded.connect(_on_identity_loaded, app)
