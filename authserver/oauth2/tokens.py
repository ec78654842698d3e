"""RFC 9068 JWT access tokens signed with our current key, and opaque refresh tokens."""

from __future__ import annotations

from authlib.oauth2.rfc9068 import JWTBearerTokenGenerator
from flask import Flask
from joserfc.jwk import KeySet

from authserver import live
from authserver.security.digests import new_secret
from authserver.state import state


class AccessTokenGenerator(JWTBearerTokenGenerator):
    """Authlib's RFC 9068 generator with our key set, audience and identity claims.

    The key set handed to Authlib holds only the current signing key, so the header's
    ``kid`` names it; ``username`` and ``roles`` (RFC 9068 §2.2.3.1) let resource routes
    answer from the token alone.
    """

    def __init__(self, app: Flask) -> None:
        self.app = app
        super().__init__(
            issuer=app.config["ISSUER"],
            refresh_token_generator=lambda **_: new_secret(32),
            expires_generator=lambda client, grant_type: app.config["ACCESS_TOKEN_TTL"],
        )

    @property
    def alg(self) -> str:
        """The signing key's algorithm, after noticing a rotation made by another process.

        Authlib writes the header's ``alg`` before it calls get_jwks(), so the reload must
        happen here or the first token after an RS256 -> ES256 rotation would mismatch.
        """
        keys = state(self.app).keys
        keys.reload_if_changed()
        return keys.alg

    @alg.setter
    def alg(self, _value: str) -> None:
        """The algorithm follows the signing key; the base class's assignment is ignored."""

    def get_jwks(self) -> KeySet:
        """The active key alone. No reload here: ``alg`` has just reloaded, and a key that
        began to sign in between would not match the header's ``alg``."""
        return state(self.app).keys.signing_key_set()

    def access_token_generator(self, client, grant_type, user, scope) -> str:
        """Authlib's, after a cut-off of this second has passed: ``iat`` is whole seconds,
        and a token issued in the second of a cut-off would be refused with the old ones."""
        sub = str(user.get_user_id()) if user else client.get_client_id()
        live.wait_past_cutoffs(sub, client.get_client_id())
        return super().access_token_generator(client, grant_type, user, scope)

    def get_audiences(self, client, user, scope) -> str:
        return self.app.config["AUDIENCE"]

    def get_extra_claims(self, client, grant_type, user, scope) -> dict:
        if user is None:  # client_credentials: the client is the subject (SPEC §16)
            return {"roles": client.roles}
        return {"username": user.username, "roles": user.roles}
