"""The bearer-token validator Authlib's ResourceProtector calls: local JWT verification,
then the live decision (SPEC §12)."""

from __future__ import annotations

from authlib.oauth2.rfc6750 import BearerTokenValidator
from flask import Flask

from authserver import live
from authserver.security.access_tokens import AccessToken
from authserver.state import state

REALM = "authserver"


class JWTValidator(BearerTokenValidator):
    """Authenticates a bearer token: a verified signature and claims, then the live state.

    A refused token (revoked ``jti``, user or client cut off) is "revoked" to Authlib: 401
    ``invalid_token``. Otherwise the token is narrowed to the scopes the live policy and
    its client allow now, so Authlib's scope check, the views (``current_token()``) and
    Flask-Principal all see the narrowed scope (403 ``insufficient_scope`` beyond it).
    """

    def __init__(self, app: Flask) -> None:
        super().__init__(realm=REALM)
        self.app = app

    def authenticate_token(self, token_string: str) -> AccessToken | None:
        token = state(self.app).token_verifier.verify(token_string)
        if token is not None:
            live.apply_decision(token)
        return token
