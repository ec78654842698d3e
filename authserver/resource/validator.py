"""The bearer-token validator Authlib's ResourceProtector calls: local JWT verification
plus the revocation list."""

from __future__ import annotations

from authlib.oauth2.rfc6750 import BearerTokenValidator
from flask import Flask

from authserver.services import tokens
from authserver.state import state

REALM = "authserver"


class JWTValidator(BearerTokenValidator):
    """Authenticates a bearer token by local JWT verification plus the revocation list."""

    def __init__(self, app: Flask) -> None:
        super().__init__(realm=REALM)
        self.app = app

    def authenticate_token(self, token_string: str):
        token = state(self.app).token_verifier.verify(token_string)
        if token is not None:
            token.revoked = tokens.is_revoked(token["jti"])
        return token
