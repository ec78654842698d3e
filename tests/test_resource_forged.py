"""Forged, malformed and otherwise invalid bearer tokens at the resource routes.

Every one must get RFC 6750 §3.1 ``401`` with ``WWW-Authenticate: Bearer
error="invalid_token"`` and a JSON body: never a 500, an HTML page or a 200.
"""

from __future__ import annotations

import time

import pytest
from joserfc.jwk import RSAKey

from tests.support.http import bearer
from tests.support.tokens import (
    hs256,
    make_claims,
    private_key,
    public_pem,
    sign,
    token_claims,
    token_header,
    unsigned,
    with_claims,
)

PATHS = ["/api/me", "/api/documents"]
INVALID = 'Bearer error="invalid_token"'


def assert_invalid_token(response) -> None:
    assert response.status_code == 401, response.get_data(as_text=True)[:300]
    assert response.headers["WWW-Authenticate"] == INVALID
    assert response.is_json
    assert response.get_json()["error"] == "invalid_token"
    assert response.headers["Cache-Control"] == "no-store"


@pytest.fixture
def claims(app):
    """Claims that would be accepted, for the app under test, if signed with our key."""

    def build(**changes):
        return make_claims(app.config["ISSUER"], app.config["AUDIENCE"], **changes)

    return build


@pytest.fixture
def our_key(signing_keys_file):
    return private_key(signing_keys_file)


@pytest.mark.parametrize("path", PATHS)
def test_well_signed_token_is_accepted(client, claims, our_key, path):
    """The control: our key and good claims pass, so the rejections below are meaningful."""
    response = client.get(path, headers=bearer(sign(claims(), our_key)))
    assert response.status_code == 200, response.get_json()


@pytest.mark.parametrize("path", PATHS)
def test_alg_none_is_rejected(client, claims, our_key, path):
    token = unsigned(claims(), kid=our_key.kid)
    assert_invalid_token(client.get(path, headers=bearer(token)))
    # With a copy of a real signature appended, too.
    signature = sign(claims(), our_key).split(".")[2]
    assert_invalid_token(client.get(path, headers=bearer(token + signature)))


@pytest.mark.parametrize("path", PATHS)
def test_hs256_keyed_with_our_public_key_is_rejected(
    client, claims, our_key, signing_keys_file, path
):
    pem = public_pem(signing_keys_file)
    for secret in (pem, pem.strip()):
        token = hs256(claims(), secret, kid=our_key.kid)
        assert_invalid_token(client.get(path, headers=bearer(token)))


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("change", [{"scope": "documents:read documents:delete"}, {"sub": "2"}])
def test_tampered_payload_is_rejected(client, make_token, path, change):
    token = make_token("alice", ("viewer",))["access_token"]
    assert client.get(path, headers=bearer(token)).status_code == 200
    assert_invalid_token(client.get(path, headers=bearer(with_claims(token, **change))))


@pytest.mark.parametrize("path", PATHS)
def test_foreign_key_carrying_our_kid_is_rejected(client, claims, our_key, path):
    foreign = RSAKey.generate_key(2048)
    token = sign(claims(), foreign, alg="RS256", kid=our_key.kid)
    assert token_header(token)["kid"] == our_key.kid
    assert_invalid_token(client.get(path, headers=bearer(token)))


@pytest.mark.parametrize("path", PATHS)
def test_expired_token_signed_with_our_key_is_rejected(client, claims, our_key, path):
    now = int(time.time())
    token = sign(claims(iat=now - 1000, exp=now - 10), our_key)
    assert_invalid_token(client.get(path, headers=bearer(token)))


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize(
    "change",
    [
        {"iss": "https://evil.example"},
        {"aud": "https://another-api.example"},
        {"aud": ["https://another-api.example"]},
        {"jti": None},
        {"client_id": None},
        {"sub": None},
        {"exp": None},
    ],
    ids=str,
)
def test_signed_token_with_wrong_claims_is_rejected(client, claims, our_key, path, change):
    assert_invalid_token(client.get(path, headers=bearer(sign(claims(**change), our_key))))


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("typ", ["JWT", None, "id+jwt"])
def test_signed_token_with_wrong_typ_is_rejected(client, claims, our_key, path, typ):
    assert_invalid_token(client.get(path, headers=bearer(sign(claims(), our_key, typ=typ))))


@pytest.mark.parametrize("path", PATHS)
def test_unknown_kid_is_rejected(client, claims, our_key, path):
    token = sign(claims(), our_key, kid="an-unknown-kid")
    assert_invalid_token(client.get(path, headers=bearer(token)))


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize(
    "token",
    [
        "garbage",
        "a.b.c",
        "...",
        "a.b.c.d.e",
        "eyJhbGciOiJSUzI1NiJ9",
        "eyJhbGciOiJSUzI1NiJ9.e30",
        "eyJhbGciOiJSUzI1NiJ9.e30.",
        "Bearer",
        "é" * 20,
        "two words",
        '"quoted"',
    ],
)
def test_garbage_token_is_rejected(client, path, token):
    assert_invalid_token(client.get(path, headers=bearer(token)))


@pytest.mark.parametrize("path", PATHS)
def test_oversized_token_is_rejected_without_error(client, path):
    response = client.get(path, headers=bearer("eyJ" + "A" * 100_000))
    assert_invalid_token(response)


def test_oversized_well_signed_token_is_rejected(client, claims, our_key):
    token = sign(claims(padding="x" * 100_000), our_key)
    assert len(token) > 100_000
    assert_invalid_token(client.get("/api/me", headers=bearer(token)))


def test_token_issued_by_us_carries_what_resources_check(make_token, app, our_key):
    """What the forgeries above imitate is what the token endpoint really issues."""
    token = make_token("alice", ("viewer",))["access_token"]
    header, claims = token_header(token), token_claims(token)
    assert header == {"typ": "at+jwt", "alg": "RS256", "kid": our_key.kid}
    assert claims["iss"] == app.config["ISSUER"]
    assert claims["aud"] == app.config["AUDIENCE"]
    for name in ("sub", "exp", "iat", "jti", "client_id", "scope", "username", "roles"):
        assert name in claims
