"""RFC 6750 §3: a request without a usable bearer token, as an error with its challenge.

:class:`TokenRejected` is part of the one error tree; whichever format the route's
blueprint renders errors in (RFC 6750 JSON at resource routes, an RFC 9457 problem with an
``error`` member under /admin), the ``WWW-Authenticate`` challenge goes with it.
"""

from __future__ import annotations

from authlib.oauth2 import OAuth2Error
from authlib.oauth2.rfc6749 import ResourceProtector
from authlib.oauth2.rfc6749.errors import MissingAuthorizationError, UnsupportedTokenTypeError
from authlib.oauth2.rfc6750.errors import InsufficientScopeError
from flask import request

from authserver.resource import dpop
from authserver.resource.required import RequiredScopes
from authserver.resource.verifier import protector_of
from authserver.security import access_tokens
from authserver.services.errors import ServiceError

TITLES = {401: "Unauthorized", 403: "Forbidden"}


class TokenRejected(ServiceError):
    """No token, an invalid one (401) or one without the route's scopes (403)."""

    def __init__(self, status: int, challenge: str, error: str, description: str) -> None:
        super().__init__(description)
        self.status, self.title, self.error = status, TITLES[status], error
        self.challenge = challenge

    def headers(self) -> dict[str, str]:
        """The challenge, and no-store: the answer depends on the token (RFC 6750 §5.3)."""
        return {"WWW-Authenticate": self.challenge, "Cache-Control": "no-store"}


def authenticate(required: RequiredScopes) -> access_tokens.AccessToken:
    """The request's verified token if it has the ``required`` scopes; else TokenRejected."""
    protector: ResourceProtector = protector_of()
    try:
        return protector.validate_request(required.authlib_scopes(), request)
    except (MissingAuthorizationError, UnsupportedTokenTypeError):
        raise TokenRejected(401, "Bearer", "unauthorized", "A bearer token is required.") from None
    except dpop.DPoPError as exc:  # RFC 9449 §7.1: which DPoP check failed
        challenge = exc.challenge()
        raise TokenRejected(exc.status, challenge, exc.error, exc.description) from None
    except InsufficientScopeError:
        scope = required.challenge_scope()
        challenge = dpop.challenge_for(request, f'error="insufficient_scope", scope="{scope}"')
        raise TokenRejected(
            403, challenge, "insufficient_scope", f"This route needs the scope(s): {scope}."
        ) from None
    except OAuth2Error:  # InvalidTokenError: malformed, forged, expired or revoked
        challenge = dpop.challenge_for(request, 'error="invalid_token"')
        raise TokenRejected(
            401, challenge, "invalid_token", "The access token is invalid, expired or revoked."
        ) from None
