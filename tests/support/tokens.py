"""Access tokens made by hand for the tests (no tests here): joserfc with our real private
key, or raw base64 for the forgeries joserfc refuses to make; never by mocking our code."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.padding import PKCS1v15
from cryptography.hazmat.primitives.hashes import SHA256
from joserfc import jwt
from joserfc.jwk import Key, RSAKey, import_key

from authserver.security.keys import SigningKeys


def b64url(data: bytes | str) -> str:
    raw = data.encode() if isinstance(data, str) else data
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def b64url_json(value: object) -> str:
    return b64url(json.dumps(value, separators=(",", ":")))


def unb64url(segment: str) -> bytes:
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


def make_claims(issuer: str, audience: str | None = None, **changes: object) -> dict:
    """Claims of a valid access token; a change to None removes that claim."""
    now = int(time.time())
    claims: dict = {
        "iss": issuer,
        "sub": "1",
        "aud": audience or issuer,
        "exp": now + 300,
        "iat": now,
        "jti": uuid.uuid4().hex,
        "client_id": "test-client",
        "scope": "profile documents:read",
        "username": "alice",
        "roles": ["viewer"],
    }
    claims.update(changes)
    return {name: value for name, value in claims.items() if value is not None}


def private_key(keys_file: str | Path) -> Key:
    """Our real signing key, read from the key file as a separate tool would."""
    jwks = SigningKeys.load_or_create(keys_file).private_jwks()
    return import_key(jwks["keys"][0])


def sign(claims: dict, key: Key, **header: object) -> str:
    """A JWS made by joserfc with ``key``; header defaults: its alg, its kid, typ at+jwt."""
    values = {"alg": key.get("alg") or "RS256", "kid": key.kid, "typ": "at+jwt", **header}
    values = {name: value for name, value in values.items() if value is not None}
    return jwt.encode(values, claims, key, algorithms=[values["alg"]], default_type=None)


def sign_raw(header: dict, claims: dict, key: RSAKey) -> str:
    """RS256 by hand, for headers joserfc refuses to write (a ``typ`` that is not a string)."""
    signing_input = f"{b64url_json(header)}.{b64url_json(claims)}"
    signature = key.private_key.sign(signing_input.encode(), PKCS1v15(), SHA256())
    return f"{signing_input}.{b64url(signature)}"


def unsigned(claims: dict, **header: object) -> str:
    """``alg: none``: header and payload, an empty signature (RFC 7519 §6)."""
    return f"{b64url_json({'alg': 'none', 'typ': 'at+jwt', **header})}.{b64url_json(claims)}."


def hs256(claims: dict, secret: bytes, **header: object) -> str:
    """HMAC-SHA256 by hand: PyJWT and joserfc refuse a PEM public key as an HMAC secret."""
    head = b64url_json({"alg": "HS256", "typ": "at+jwt", **header})
    signing_input = f"{head}.{b64url_json(claims)}"
    mac = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64url(mac)}"


def public_pem(keys_file: str | Path) -> bytes:
    jwk = SigningKeys.load_or_create(keys_file).public_jwks()["keys"][0]
    return import_key(jwk).as_pem(private=False)


def with_claims(token: str, **changes: object) -> str:
    """The same header and signature around a changed payload (a tampered token)."""
    head, payload, signature = token.split(".")
    claims = {**json.loads(unb64url(payload)), **changes}
    return f"{head}.{b64url_json(claims)}.{signature}"


def token_header(token: str) -> dict:
    return json.loads(unb64url(token.split(".")[0]))


def token_claims(token: str) -> dict:
    return json.loads(unb64url(token.split(".")[1]))
