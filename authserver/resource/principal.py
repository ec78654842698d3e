"""The Flask-Principal bridge: a token's identity provides ``UserNeed(sub)``,
``RoleNeed(role)`` and a ``ScopeNeed(scope)`` per scope, so ``Permission(...)`` works in
views (SPEC §9)."""

from __future__ import annotations

import functools

from flask import Flask, current_app, g
from flask_principal import Identity, Need, Principal, RoleNeed, UserNeed, identity_loaded

from authserver.security import access_tokens

#: ``app.extensions`` key of the app's Flask-Principal (whose identity savers run).
_PRINCIPAL = "authserver.principal"

#: Like Flask-Principal's ``RoleNeed``: ``ScopeNeed("documents:read")``.
ScopeNeed = functools.partial(Need, "scope")


class TokenIdentity(Identity):
    """A token's identity whose needs are loaded when first read.

    Flask-Principal sends ``identity_loaded`` (whose receivers fill ``provides``) as soon as
    an identity is set; most protected views never ask for a ``Permission``, so here the
    signal goes out on the first read of ``provides`` instead: the same needs, from the
    same receivers, before any check that reads them, and no cost when nothing does.
    """

    def __init__(self, token: access_tokens.AccessToken, app: Flask) -> None:
        self.id, self.auth_type, self.token = token["sub"], "bearer", token
        self._app = app
        self._provides: set | None = None

    @property
    def provides(self) -> set:
        if self._provides is None:
            self._provides = set()
            identity_loaded.send(self._app, identity=self)
        return self._provides

    @provides.setter
    def provides(self, value: set) -> None:
        self._provides = value


def set_identity(token: access_tokens.AccessToken) -> None:
    """Make ``token`` the request's Flask-Principal identity (what ``principal.set_identity``
    does: ``g.identity``, then its identity savers; the needs load on first use)."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]  # the real app
    identity = TokenIdentity(token, app)
    g.identity = identity
    principal = app.extensions.get(_PRINCIPAL)
    if principal is not None:
        for saver in principal.identity_savers:
            saver(identity)


def _on_identity_loaded(sender: Flask, identity: Identity) -> None:
    token = getattr(identity, "token", None)
    if token is None:
        return
    identity.provides.add(UserNeed(token["sub"]))
    for role in token.get("roles") or ():
        identity.provides.add(RoleNeed(role))
    for scope in token.scopes:
        identity.provides.add(ScopeNeed(scope))


def init_app(app: Flask, principal: Principal | None = None) -> None:
    """Load a token identity's needs in ``app``; ``principal``: the app's Flask-Principal,
    whose identity savers see each token identity (None: the app has none of its own)."""
    if principal is not None:
        app.extensions[_PRINCIPAL] = principal
    identity_loaded.connect(_on_identity_loaded, app)
