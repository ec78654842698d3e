"""Verify RFC 9068 access tokens locally: signature, pinned algorithms, typ, claims.

Shared by resource routes and (later) introspection. Never trusts the token's own ``alg``:
only the algorithms of our keys are accepted, so ``alg: none`` and HS256-with-the-public-key
forgeries fail before any claim is read.
"""

from __future__ import annotations

import time

from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwt import JWTClaimsRegistry

from authserver.keys import SigningKeys

MAX_TOKEN_LENGTH = 4096
ACCESS_TOKEN_TYPES = frozenset({"at+jwt", "application/at+jwt"})
REQUIRED_CLAIMS = ("iss", "sub", "aud", "exp", "iat", "jti", "client_id")


class AccessToken(dict):
    """Verified claims, with the accessors Authlib's BearerTokenValidator calls."""

    revoked: bool = False

    def get_scope(self) -> str:
        return self.get("scope") or ""

    @property
    def scopes(self) -> frozenset[str]:
        return frozenset(self.get_scope().split())

    def is_expired(self) -> bool:
        return self["exp"] <= time.time()

    def is_revoked(self) -> bool:
        return self.revoked


def _registry(issuer: str, audience: str) -> JWTClaimsRegistry:
    options = {name: {"essential": True} for name in REQUIRED_CLAIMS}
    options["iss"] = {"essential": True, "value": issuer}
    options["aud"] = {"essential": True, "value": audience}
    return JWTClaimsRegistry(leeway=0, **options)


def decode(value: str, keys: SigningKeys, issuer: str, audience: str) -> AccessToken | None:
    """The verified claims of a well-formed, well-signed, unexpired access token, or None."""
    if not value or len(value) > MAX_TOKEN_LENGTH:
        return None
    token = _decode_signed(value, keys)
    if token is None or token.header.get("typ") not in ACCESS_TOKEN_TYPES:
        return None
    try:
        _registry(issuer, audience).validate(token.claims)
    except JoseError:
        return None
    if not isinstance(token.claims.get("scope", ""), str):
        return None
    return AccessToken(token.claims)


def _decode_signed(value: str, keys: SigningKeys):
    for attempt in range(2):
        try:
            return jwt.decode(value, keys.verification_keys(), algorithms=keys.algorithms)
        except (JoseError, ValueError, TypeError, KeyError):
            # An unknown kid may mean another process rotated the keys: re-read once.
            if attempt or not keys.reload_if_changed():
                return None
    return None
