"""The resource-server side: ``require_scopes`` and what it is built from (SPEC §9).

Built on Authlib's ResourceProtector (token parsing and the scope check) and Flask-Principal
(the token's identity carries ``UserNeed``, ``RoleNeed`` and a scope need for each scope, so
``Permission(...)`` works inside views). Errors follow RFC 6750 §3.

- ``decorator``: ``require_scopes`` and ``current_token``;
- ``required``: ``RequiredScopes`` and the list of protected routes;
- ``challenges``: the RFC 6750 rejections (``TokenRejected``);
- ``principal``: the Flask-Principal bridge; ``validator``: Authlib's token validator.
"""

from __future__ import annotations

from authlib.oauth2.rfc6749 import ResourceProtector
from flask import Flask

from authserver.resource import principal
from authserver.resource.challenges import TokenRejected
from authserver.resource.decorator import current_token, require_scopes
from authserver.resource.principal import ScopeNeed
from authserver.resource.required import RequiredScopes, required_scope_names, route_scopes
from authserver.resource.validator import REALM, JWTValidator

__all__ = [
    "REALM",
    "JWTValidator",
    "RequiredScopes",
    "ScopeNeed",
    "TokenRejected",
    "build_protector",
    "current_token",
    "init_app",
    "require_scopes",
    "required_scope_names",
    "route_scopes",
]


def build_protector(app: Flask) -> ResourceProtector:
    """The app's ResourceProtector: Authlib's, with our JWT validator."""
    protector = ResourceProtector()
    protector.register_token_validator(JWTValidator(app))
    return protector


def init_app(app: Flask) -> None:
    """The identity bridge: a verified token's sub, roles and scopes as Principal needs."""
    principal.init_app(app)
