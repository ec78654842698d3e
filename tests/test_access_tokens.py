"""authserver.security.access_tokens.decode: RFC 9068 access tokens verified locally.

Tokens here are built by hand (joserfc with our real private key, or raw base64 for the
forgeries joserfc refuses to make), never by mocking our code: tests/support/tokens.py.
"""

from __future__ import annotations

import time

import pytest
from joserfc.jwk import Key, RSAKey, import_key

from authserver.security import access_tokens
from authserver.security.keys import SigningKeys
from tests.support.tokens import (
    b64url,
    b64url_json,
    hs256,
    make_claims,
    private_key,
    public_pem,
    sign,
    sign_raw,
    unsigned,
    with_claims,
)

ISSUER = "https://issuer.example"
AUDIENCE = "https://api.example"


# -- decode -------------------------------------------------------------------------------


@pytest.fixture
def keys(signing_keys_file) -> SigningKeys:
    return SigningKeys.load_or_create(signing_keys_file)


@pytest.fixture
def key(signing_keys_file) -> Key:
    return private_key(signing_keys_file)


def decode(token: str, keys: SigningKeys):
    return access_tokens.decode(token, keys, ISSUER, AUDIENCE)


def test_decode_valid_token_returns_claims_and_scopes(keys, key):
    claims = make_claims(ISSUER, AUDIENCE, scope="profile documents:read")
    token = decode(sign(claims, key), keys)
    assert token == claims
    assert token.scopes == {"profile", "documents:read"}
    assert token.get_scope() == "profile documents:read"
    assert not token.is_expired() and not token.is_revoked()


@pytest.mark.parametrize("typ", ["at+jwt", "application/at+jwt", "AT+JWT", "Application/At+JWT"])
def test_decode_accepts_rfc9068_typ_case_insensitively(keys, key, typ):
    # RFC 9068 §4 names both forms; media types compare case-insensitively (RFC 2045 §5.1).
    assert decode(sign(make_claims(ISSUER, AUDIENCE), key, typ=typ), keys) is not None


@pytest.mark.parametrize("typ", ["JWT", "jwt", "at+jwt ", "id+jwt", "", None])
def test_decode_rejects_other_typ(keys, key, typ):
    # typ=None: no typ header at all.
    assert decode(sign(make_claims(ISSUER, AUDIENCE), key, typ=typ), keys) is None


@pytest.mark.parametrize("typ", [1, ["at+jwt"], {"t": "at+jwt"}])
def test_decode_rejects_typ_that_is_not_a_string(keys, key, typ):
    header = {"alg": "RS256", "kid": key.kid, "typ": typ}
    assert decode(sign_raw(header, make_claims(ISSUER, AUDIENCE), key), keys) is None
    header["typ"] = "at+jwt"  # the same token with a proper typ is fine
    assert decode(sign_raw(header, make_claims(ISSUER, AUDIENCE), key), keys) is not None


@pytest.mark.parametrize("claim", access_tokens.REQUIRED_CLAIMS)
def test_decode_rejects_token_missing_a_required_claim(keys, key, claim):
    claims = make_claims(ISSUER, AUDIENCE, **{claim: None})
    assert claim not in claims
    assert decode(sign(claims, key), keys) is None


@pytest.mark.parametrize(
    "changes",
    [
        {"iss": "https://evil.example"},
        {"iss": ISSUER + "/"},
        {"aud": "https://other.example"},
        {"aud": ["https://other.example"]},
        {"aud": []},
        {"exp": int(time.time()) - 1},
        {"exp": "9999999999"},
        {"nbf": int(time.time()) + 3600},
        {"iat": int(time.time()) + 3600},
        {"jti": 12345},
        {"sub": 1},
        {"client_id": ["a"]},
        {"scope": ["documents:read"]},
        {"username": {"name": "alice"}},
        {"roles": "admin"},
        {"roles": [["admin"]]},
    ],
    ids=str,
)
def test_decode_rejects_bad_claims_even_when_signed_by_us(keys, key, changes):
    assert decode(sign(make_claims(ISSUER, AUDIENCE, **changes), key), keys) is None


def test_decode_accepts_audience_list_containing_ours(keys, key):
    claims = make_claims(ISSUER, AUDIENCE, aud=["https://other.example", AUDIENCE])
    assert decode(sign(claims, key), keys) is not None


def test_decode_tolerates_small_clock_skew_on_iat(keys, key):
    # Issued by another instance whose clock runs a few seconds ahead: still valid.
    claims = make_claims(ISSUER, AUDIENCE, iat=int(time.time()) + 5)
    assert decode(sign(claims, key), keys) is not None


def test_decode_rejects_token_expired_within_the_skew_leeway(keys, key):
    # The leeway applies to iat/nbf only: an expired token is expired.
    claims = make_claims(ISSUER, AUDIENCE, exp=int(time.time()) - 2, iat=int(time.time()) - 60)
    assert decode(sign(claims, key), keys) is None


def test_decode_rejects_alg_none(keys):
    claims = make_claims(ISSUER, AUDIENCE)
    assert decode(unsigned(claims, kid=keys.signing_kid), keys) is None


def test_decode_rejects_hs256_keyed_with_our_public_key(keys, signing_keys_file):
    claims = make_claims(ISSUER, AUDIENCE)
    pem = public_pem(signing_keys_file)
    assert decode(hs256(claims, pem, kid=keys.signing_kid), keys) is None
    assert decode(hs256(claims, pem.strip(), kid=keys.signing_kid), keys) is None


def test_decode_rejects_foreign_key_carrying_our_kid(keys):
    foreign = RSAKey.generate_key(2048)
    token = sign(make_claims(ISSUER, AUDIENCE), foreign, alg="RS256", kid=keys.signing_kid)
    assert decode(token, keys) is None


def test_decode_rejects_tampered_payload(keys, key):
    token = sign(make_claims(ISSUER, AUDIENCE), key)
    assert decode(token, keys) is not None
    assert decode(with_claims(token, scope="documents:delete"), keys) is None
    assert decode(with_claims(token, sub="2"), keys) is None


def test_decode_rejects_unknown_kid(keys, key):
    assert decode(sign(make_claims(ISSUER, AUDIENCE), key, kid="not-our-kid"), keys) is None


def test_decode_rejects_oversized_value_before_parsing(keys, key):
    token = sign(make_claims(ISSUER, AUDIENCE, pad="x" * 10_000), key)
    assert decode(token, keys) is None


def test_decode_accepts_token_with_many_roles(keys, key):
    """A token of a user with many roles (about 6 KB) is still a valid token."""
    roles = [f"team-{n:03d}-reader" for n in range(200)]
    token = sign(make_claims(ISSUER, AUDIENCE, roles=roles), key)
    assert 4096 < len(token) < access_tokens.MAX_TOKEN_LENGTH
    assert decode(token, keys)["roles"] == roles


@pytest.mark.parametrize(
    "value",
    [
        "",
        "abc",
        "a.b.c",
        "...",
        "a.b.c.d.e",
        "é.é.é",
        "\x00.\x00.\x00",
        b64url("[]") + ".e30.",
        b64url('"x"') + ".e30.",
        b64url("[" * 300 + "]" * 300) + ".e30.",
        b64url_json({"alg": {"x": 1}, "kid": "k"}) + ".e30.",
        b64url_json({"alg": ["RS256"]}) + ".e30.",
        b64url_json({"alg": "RS256", "kid": {"x": 1}}) + ".e30.",
        b64url_json({"alg": "RS256", "crit": ["exp"]}) + ".e30.",
        b64url_json({"alg": "RS256", "b64": False, "crit": ["b64"]}) + ".e30.",
        b64url_json({"alg": "RS256", "jwk": {"kty": "oct", "k": "AA"}}) + ".e30.",
        b64url(b"\xff\xfe") + ".e30.",
    ],
    ids=repr,
)
def test_decode_rejects_garbage_without_raising(keys, value):
    assert decode(value, keys) is None


def test_decode_reloads_keys_rotated_by_another_process(tmp_path):
    path = tmp_path / "keys.json"
    keys = SigningKeys.load_or_create(path)
    rotated = SigningKeys.rotate(path)  # as `authserver keys rotate` would, elsewhere
    new_key = import_key(rotated.private_jwks()["keys"][0])
    assert new_key.kid != keys.signing_kid
    assert decode(sign(make_claims(ISSUER, AUDIENCE), new_key), keys) is not None
    assert keys.signing_kid == new_key.kid
