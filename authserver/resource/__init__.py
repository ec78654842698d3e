"""The resource-server side: ``require_scopes`` and what it is built from (SPEC §9, §18).

Built on Authlib's ResourceProtector (token parsing and the scope check) and Flask-Principal
(the token's identity carries ``UserNeed``, ``RoleNeed`` and a scope need for each scope, so
``Permission(...)`` works inside views). Errors follow RFC 6750 §3.

The same decorator serves this server's own routes and another service's: only the
:class:`~authserver.resource.verifier.Verifier` differs. This server's
(``authserver.oauth2.bearer``) reads its key file and live state; in another service,
:class:`ResourceServer` (the kit) verifies against the JWKS and follows the change feed.
Nothing in this package imports the server's storage (no SQLAlchemy, Alembic, Redis or
psycopg; checked by tests/test_resource_independence.py): a service needs only Flask,
Flask-Principal, Authlib and joserfc.

- ``decorator``: ``require_scopes`` and ``current_token``;
- ``required``: ``RequiredScopes`` and the list of protected routes;
- ``challenges``: the RFC 6750 rejections (``TokenRejected``);
- ``principal``: the Flask-Principal bridge;
- ``verifier``: the interface a verifier provides, and the ResourceProtector over one;
- ``kit``: :class:`ResourceServer`, for another service.
"""

from __future__ import annotations

from flask import Flask
from flask_principal import Principal

from authserver.resource import principal
from authserver.resource.challenges import TokenRejected
from authserver.resource.decorator import current_token, require_scopes
from authserver.resource.kit import ResourceServer
from authserver.resource.principal import ScopeNeed
from authserver.resource.required import RequiredScopes, required_scope_names, route_scopes
from authserver.resource.verifier import REALM, Verifier, build_protector, install

__all__ = [
    "REALM",
    "RequiredScopes",
    "ResourceServer",
    "ScopeNeed",
    "TokenRejected",
    "Verifier",
    "build_protector",
    "current_token",
    "init_app",
    "install",
    "require_scopes",
    "required_scope_names",
    "route_scopes",
]


def init_app(app: Flask, app_principal: Principal | None = None) -> None:
    """The identity bridge: a verified token's sub, roles and scopes as Principal needs;
    ``app_principal``'s identity savers see each token identity."""
    principal.init_app(app, app_principal)
