"""What ``require_scopes`` asks of whoever verifies tokens: the :class:`Verifier` interface.

The resource side is the same in this server and in another service (SPEC §18); only the
verifier differs. This server's (``authserver.oauth2.bearer``) checks the JWT against its
own key file and decides on the live state the database feeds; the kit's
(:class:`authserver.resource.ResourceServer`) checks it against the JWKS it fetched and
the change feed it follows. Both answer the same question: the verified token, narrowed to
what it may do now, marked ``revoked`` when it may do nothing, or None when it is not one.

Nothing here imports the server's storage (SPEC §18): Flask, Authlib and joserfc only.
"""

from __future__ import annotations

from typing import Protocol

from authlib.oauth2.rfc6749 import ResourceProtector
from authlib.oauth2.rfc6750 import BearerTokenValidator
from flask import Flask, current_app

from authserver.resource.dpop_validator import DPoPTokenValidator, refuse_bound
from authserver.security.access_tokens import AccessToken

REALM = "authserver"
#: ``app.extensions`` key of the app's ResourceProtector.
EXTENSION = "authserver.resource"


class Verifier(Protocol):
    """Turns a presented token string into a verified, live-decided token."""

    def authenticate(self, token_string: str) -> AccessToken | None:
        """The verified token (``revoked`` set if it is refused now, its scope narrowed to
        what it may do now), or None for a malformed, forged or expired one."""
        ...


class TokenValidator(BearerTokenValidator):
    """Authlib's bearer validator over a :class:`Verifier`: a token the verifier marks
    revoked is 401 ``invalid_token``; Authlib's scope check sees the narrowed scope."""

    def __init__(self, verifier: Verifier) -> None:
        super().__init__(realm=REALM)
        self.verifier = verifier

    def authenticate_token(self, token_string: str) -> AccessToken | None:
        return refuse_bound(self.verifier.authenticate(token_string))  # RFC 9449 §7.2


def build_protector(verifier: Verifier) -> ResourceProtector:
    """A ResourceProtector (Authlib's) whose bearer tokens ``verifier`` checks."""
    protector = ResourceProtector()
    protector.register_token_validator(TokenValidator(verifier))
    protector.register_token_validator(DPoPTokenValidator(verifier, REALM))  # RFC 9449 §7
    return protector


def install(app: Flask, protector: ResourceProtector) -> None:
    """Make ``protector`` the one ``require_scopes`` uses in ``app``."""
    app.extensions[EXTENSION] = protector


def protector_of(app: Flask | None = None) -> ResourceProtector:
    """The ResourceProtector ``require_scopes`` uses in ``app`` (default: the current app)."""
    return (app or current_app).extensions[EXTENSION]
