"""DPoP proofs made for the tests (no tests here), with joserfc as a client would, or raw
base64 for the forgeries joserfc refuses to make (``alg: none``)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Mapping

from joserfc import jwt
from joserfc.jwk import ECKey, Key, OctKey

from authserver.resource.dpop import b64_sha256
from tests.support.tokens import b64url_json

TOKEN_URL = "http://localhost/oauth/token"


def new_key() -> ECKey:
    """A fresh P-256 key: what a client generates for DPoP."""
    return ECKey.generate_key("P-256")


def proof(
    key: Key,
    htm: str,
    htu: str,
    access_token: str | None = None,
    nonce: str | None = None,
    alg: str = "ES256",
    header: Mapping[str, object] | None = None,
    **claims: object,
) -> str:
    """A DPoP proof (RFC 9449 §4.2) signed by ``key``; ``claims`` override or (as None)
    remove the defaults, ``header`` adds to or replaces header members."""
    body: dict = {"jti": uuid.uuid4().hex, "htm": htm, "htu": htu, "iat": int(time.time())}
    if access_token is not None:
        body["ath"] = b64_sha256(access_token)
    if nonce is not None:
        body["nonce"] = nonce
    body.update(claims)
    body = {name: value for name, value in body.items() if value is not None}
    head = {"typ": "dpop+jwt", "alg": alg, "jwk": key.as_dict(private=False), **(header or {})}
    return jwt.encode(head, body, key, algorithms=[alg])


def unsigned_proof(key: Key, htm: str, htu: str, **claims: object) -> str:
    """An ``alg: none`` proof naming ``key`` (joserfc will not make one)."""
    body = {"jti": uuid.uuid4().hex, "htm": htm, "htu": htu, "iat": int(time.time()), **claims}
    head = {"typ": "dpop+jwt", "alg": "none", "jwk": key.as_dict(private=False)}
    return f"{b64url_json(head)}.{b64url_json(body)}."


def hmac_proof(htm: str, htu: str, **claims: object) -> str:
    """An HS256 proof whose header carries its own secret as an ``oct`` jwk."""
    secret = OctKey.generate_key(256)
    body = {"jti": uuid.uuid4().hex, "htm": htm, "htu": htu, "iat": int(time.time()), **claims}
    head = {"typ": "dpop+jwt", "alg": "HS256", "jwk": secret.as_dict(private=True)}
    return jwt.encode(head, body, secret, algorithms=["HS256"])
