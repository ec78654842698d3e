"""Verify RFC 9068 access tokens locally: signature, pinned algorithms, typ, claims.

Shared by resource routes and (later) introspection. Never trusts the token's own ``alg``:
only the algorithms of our keys are accepted, so ``alg: none`` and HS256-with-the-public-key
forgeries fail before any claim is read.
"""

from __future__ import annotations

import time

from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwt import ClaimsOption, JWTClaimsRegistry

from authserver.security import keys as key_module
from authserver.security.keys import SigningKeys

#: Our own tokens grow with the user's roles and scopes. 8 KB is what gunicorn and nginx
#: accept in one header line by default; anything longer is refused before it is parsed.
MAX_TOKEN_LENGTH = 8192
#: RFC 9068 §4; media types compare case-insensitively (RFC 2045 §5.1).
ACCESS_TOKEN_TYPES = frozenset({"at+jwt", "application/at+jwt"})
REQUIRED_CLAIMS = ("iss", "sub", "aud", "exp", "iat", "jti", "client_id")
#: Seconds another instance's clock may run ahead of ours (``iat``/``nbf`` only; ``exp`` is
#: strict): without it a token is refused as "issued in the future" by a slower host.
CLOCK_SKEW = 30


class AccessToken(dict):
    """Verified claims, with the accessors Authlib's BearerTokenValidator calls."""

    revoked: bool = False
    issued_scope: str | None = None

    def get_scope(self) -> str:
        return self.get("scope") or ""

    @property
    def scopes(self) -> frozenset[str]:
        return frozenset(self.get_scope().split())

    def is_expired(self) -> bool:
        return self["exp"] <= time.time()

    def is_revoked(self) -> bool:
        return self.revoked

    def narrow_to(self, allowed: frozenset[str]) -> None:
        """Keep only the ``allowed`` ones of the token's scopes (SPEC §12: the live policy
        narrows a token), in the token's order: the scope check, the views and
        introspection all see the narrowed scope. The signed one stays in ``issued_scope``."""
        self.issued_scope = self.get_scope()
        self["scope"] = " ".join(s for s in self.issued_scope.split() if s in allowed)


def _registry(issuer: str, audience: str) -> JWTClaimsRegistry:
    options: dict[str, ClaimsOption] = {name: {"essential": True} for name in REQUIRED_CLAIMS}
    options["iss"] = {"essential": True, "value": issuer}
    options["aud"] = {"essential": True, "value": audience}
    # now= named too: mypy would otherwise match the options against it and leeway.
    return JWTClaimsRegistry(now=None, leeway=CLOCK_SKEW, **options)


def _typ_ok(header: dict) -> bool:
    typ = header.get("typ")
    return isinstance(typ, str) and typ.lower() in ACCESS_TOKEN_TYPES


#: Claim shapes checked before anything reaches a database (PostgreSQL refuses NUL in text
#: and overflows on huge numbers: a well-signed token with such claims was a 500).
MAX_JTI = 64
MAX_ID = 255
MAX_TIME = 10**10  # the year 2286: any later exp, iat or nbf is not one we issued


def _text_ok(value: object, longest: int) -> bool:
    return isinstance(value, str) and 0 < len(value) <= longest and value.isprintable()


def _time_ok(value: object) -> bool:
    return type(value) is int and 0 <= value < MAX_TIME


def _shapes_ok(claims: dict) -> bool:
    """jti a string of 1-64 printable characters, sub and client_id printable strings,
    exp/iat (and nbf if present) whole numbers of seconds in a sane range."""
    times = [claims["exp"], claims["iat"], *([claims["nbf"]] if "nbf" in claims else [])]
    return (
        _text_ok(claims["jti"], MAX_JTI)
        and _text_ok(claims["sub"], MAX_ID)
        and _text_ok(claims["client_id"], MAX_ID)
        and all(_time_ok(value) for value in times)
    )


def _extra_claims_ok(claims: dict) -> bool:
    """Types the registry does not check: what resource code reads must be what it expects."""
    if not _shapes_ok(claims):
        return False
    if not isinstance(claims.get("scope", ""), str):
        return False
    if not isinstance(claims["client_id"], str):
        return False
    if not isinstance(claims.get("username", ""), str):
        return False
    roles = claims.get("roles", [])
    return isinstance(roles, list) and all(isinstance(role, str) for role in roles)


def decode(
    value: str,
    keys: SigningKeys,
    issuer: str,
    audience: str,
    max_lifetime: int | None = None,
) -> AccessToken | None:
    """The verified claims of a well-formed, well-signed, unexpired access token, or None.

    ``max_lifetime`` (ACCESS_TOKEN_TTL + skew): a token whose ``exp - iat`` is longer is
    refused whoever signed it (SPEC §13), so a cut-off kept for that long covers it.
    """
    if not value or len(value) > MAX_TOKEN_LENGTH:
        return None
    token = _decode_signed(value, keys)
    if token is None or not _typ_ok(token.header):
        return None
    try:
        _registry(issuer, audience).validate(token.claims)
    except JoseError:
        return None
    claims = token.claims
    if not _extra_claims_ok(claims) or claims["exp"] <= time.time():
        return None  # the registry's leeway is for clock skew at issue, not for expiry
    if max_lifetime is not None and claims["exp"] - claims["iat"] > max_lifetime:
        return None
    if not keys.accepts(token.header.get("kid"), claims["iat"], CLOCK_SKEW):
        return None  # SPEC §13: a retired key verifies only what it signed before retiring
    return AccessToken(claims)


def _decode_signed(value: str, keys: SigningKeys):
    for attempt in range(2):
        try:
            return jwt.decode(value, keys.verification_keys(), algorithms=keys.algorithms)
        except (JoseError, ValueError, TypeError, KeyError):
            # An unknown kid may mean another process rotated the keys: re-read once.
            if attempt or not keys.reload_if_changed():
                return None
    return None


class TokenVerifier:
    """Verifies access tokens for one app, remembering signatures it has already checked.

    A resource server sees the same token on every call of a client until it expires; the
    RSA verification and claim checks of that exact string give the same answer each time,
    so their result is kept (bounded, per process) and only ``exp`` is re-checked. What can
    change (revocation, cut-offs, the policy) is decided by :mod:`authserver.live`, never
    cached here. When the key file changes (a rotation, or a
    key removed after a compromise) the cache is dropped.
    """

    MAX_ENTRIES = 4096
    #: Look at the key file (one ``stat``) at most this often (seconds), and at once after
    #: this process wrote it. A key removed or rotated by another process is followed
    #: within it (SPEC §12's bound is 1 s); an unknown ``kid`` re-reads the file at once.
    STAT_EVERY = 0.05

    def __init__(
        self, keys: SigningKeys, issuer: str, audience: str, max_lifetime: int | None = None
    ) -> None:
        self.keys, self.issuer, self.audience = keys, issuer, audience
        self.max_lifetime = max_lifetime
        self._verified: dict[str, dict] = {}
        self._trusted = keys.verification_keys()
        self._stat_due = float("-inf")  # monotonic time of the next look at the file
        self._writes = key_module.writes()

    def verify(self, value: str) -> AccessToken | None:
        now = time.monotonic()
        if now >= self._stat_due or key_module.writes() != self._writes:
            self._stat_due, self._writes = now + self.STAT_EVERY, key_module.writes()
            self.keys.reload_if_changed()
        # Whoever noticed the change (the JWKS route may have reloaded the shared keys
        # first), a new trusted set is a new object: a removed or expired key's tokens go.
        if self.keys.verification_keys() is not self._trusted:
            self._trusted = self.keys.verification_keys()
            self._verified.clear()
        claims = self._verified.get(value)
        if claims is not None:
            if claims["exp"] > time.time():
                return AccessToken(claims)
            self._verified.pop(value, None)
            return None
        token = decode(value, self.keys, self.issuer, self.audience, self.max_lifetime)
        if token is not None:
            if len(self._verified) >= self.MAX_ENTRIES:
                self._verified.clear()
            self._verified[value] = dict(token)
        return token
