"""``require_scopes``: protect a route with a bearer token and the scopes it needs.

Built on Authlib's ResourceProtector (token parsing and the scope check) and Flask-Principal
(the token's identity carries ``UserNeed``, ``RoleNeed`` and a scope need for each scope, so
``Permission(...)`` works inside views). Errors follow RFC 6750 §3.
"""

from __future__ import annotations

import functools
from collections import namedtuple
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from authlib.oauth2 import OAuth2Error
from authlib.oauth2.rfc6749 import ResourceProtector
from authlib.oauth2.rfc6749.errors import MissingAuthorizationError, UnsupportedTokenTypeError
from authlib.oauth2.rfc6750 import BearerTokenValidator
from authlib.oauth2.rfc6750.errors import InsufficientScopeError
from flask import Flask, Response, g, jsonify, request
from flask_principal import Identity, RoleNeed, UserNeed, identity_loaded

from authserver.extensions import principal
from authserver.security import access_tokens
from authserver.services import revocation
from authserver.state import state
from authserver.web.errors import problem_response

ScopeNeed = functools.partial(namedtuple("ScopeNeed", ["method", "value"]), "scope")
REALM = "authserver"


@dataclass(frozen=True)
class RequiredScopes:
    """What a route needs: every scope of ``all_of`` and at least one of ``any_of``."""

    all_of: tuple[str, ...] = ()
    any_of: tuple[str, ...] = ()

    def authlib_scopes(self) -> list[str]:
        """Authlib's form: a list of alternatives, each a space-separated all-of set."""
        if not self.any_of:
            return [" ".join(self.all_of)] if self.all_of else []
        return [" ".join((*self.all_of, alt)) for alt in self.any_of]

    def challenge_scope(self) -> str:
        return " ".join((*self.all_of, *self.any_of))


class JWTValidator(BearerTokenValidator):
    """Authenticates a bearer token by local JWT verification plus the revocation list."""

    def __init__(self, app: Flask) -> None:
        super().__init__(realm=REALM)
        self.app = app

    def authenticate_token(self, token_string: str):
        token = state(self.app).token_verifier.verify(token_string)
        if token is not None:
            token.revoked = revocation.is_revoked(token["jti"])
        return token


class TokenRejected(Exception):
    def __init__(self, status: int, challenge: str, error: str, description: str) -> None:
        super().__init__(description)
        self.status, self.challenge, self.error, self.description = (
            status,
            challenge,
            error,
            description,
        )


def _authenticate(required: RequiredScopes) -> access_tokens.AccessToken:
    protector: ResourceProtector = state().resource_protector
    try:
        return protector.validate_request(required.authlib_scopes(), request)
    except (MissingAuthorizationError, UnsupportedTokenTypeError):
        raise TokenRejected(401, "Bearer", "unauthorized", "A bearer token is required.") from None
    except InsufficientScopeError:
        scope = required.challenge_scope()
        challenge = f'Bearer error="insufficient_scope", scope="{scope}"'
        raise TokenRejected(
            403, challenge, "insufficient_scope", f"This route needs the scope(s): {scope}."
        ) from None
    except OAuth2Error:  # InvalidTokenError: malformed, forged, expired or revoked
        challenge = 'Bearer error="invalid_token"'
        raise TokenRejected(
            401, challenge, "invalid_token", "The access token is invalid, expired or revoked."
        ) from None


PROBLEM_TITLES = {401: "Unauthorized", 403: "Forbidden"}


def rejection_response(exc: TokenRejected) -> Response:
    """RFC 6750 §3: the challenge in WWW-Authenticate. The body is RFC 6750-style JSON at
    resource routes and an RFC 9457 problem (with an ``error`` member) under /admin."""
    if request.path.startswith("/admin"):
        response = problem_response(
            exc.status, PROBLEM_TITLES[exc.status], exc.description, error=exc.error
        )
    else:
        response = jsonify(error=exc.error, error_description=exc.description)
        response.status_code = exc.status
    response.headers["WWW-Authenticate"] = exc.challenge
    response.headers["Cache-Control"] = "no-store"
    return response


def require_scopes(*scopes: str, any_of: Iterable[str] = ()) -> Callable:
    """Protect a view: a valid bearer token with all of ``scopes`` (and one of ``any_of``).

    The requirement is recorded on the view (``view.required_scopes``) so the server can
    list which route needs which scope and check the policy against the code.
    """
    required = RequiredScopes(tuple(scopes), tuple(any_of))

    def decorator(view: Callable) -> Callable:
        @functools.wraps(view)
        def wrapper(*args, **kwargs):
            try:
                token = _authenticate(required)
            except TokenRejected as exc:
                return rejection_response(exc)
            g.token = token
            identity = Identity(token["sub"], auth_type="bearer")
            identity.token = token
            principal.set_identity(identity)
            return view(*args, **kwargs)

        wrapper.required_scopes = required
        return wrapper

    return decorator


def current_token() -> access_tokens.AccessToken:
    """The verified token of the current request (inside a ``require_scopes`` view)."""
    return g.token


def route_scopes(app: Flask) -> list[tuple[str, list[str], RequiredScopes]]:
    """Every protected route: its rule, its methods and the scopes it needs."""
    routes = []
    for rule in app.url_map.iter_rules():
        required = getattr(app.view_functions.get(rule.endpoint), "required_scopes", None)
        if required is not None:
            methods = sorted(m for m in rule.methods or () if m not in {"HEAD", "OPTIONS"})
            routes.append((rule.rule, methods, required))
    return sorted(routes, key=lambda item: item[0])


def required_scope_names(app: Flask) -> set[str]:
    """Every scope some route of ``app`` needs, to check the policy declares it."""
    names: set[str] = set()
    for _rule, _methods, required in route_scopes(app):
        names.update(required.all_of, required.any_of)
    return names


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
    protector = ResourceProtector()
    protector.register_token_validator(JWTValidator(app))
    app_state = state(app)
    app_state.resource_protector = protector
    app_state.token_verifier = access_tokens.TokenVerifier(
        app_state.keys, app.config["ISSUER"], app.config["AUDIENCE"]
    )
    identity_loaded.connect(_on_identity_loaded, app)
