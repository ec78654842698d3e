"""Key rotation as resources see it (SPEC §4 ``keys rotate``, §6): tokens signed with the
old key keep working, new tokens carry the new kid, the JWKS lists both."""

from __future__ import annotations

import pytest
from joserfc.jwk import import_key

from authserver.security.keys import SigningKeys
from tests.support.http import bearer
from tests.support.tokens import hs256, make_claims, sign, token_header


@pytest.fixture
def settings(settings, tmp_path):
    """A key file of this test's own: rotating it must not touch the session's."""
    settings["SIGNING_KEYS"] = str(tmp_path / "k.json")
    return settings


def published_kids(client) -> list[str]:
    return [key["kid"] for key in client.get("/.well-known/jwks.json").get_json()["keys"]]


def test_rotation_keeps_old_tokens_valid_and_signs_new_ones_with_new_kid(app, client, make_token):
    old_token = make_token("alice", ("viewer",))["access_token"]
    old_kid = token_header(old_token)["kid"]
    assert published_kids(client) == [old_kid]

    rotated = SigningKeys.rotate(app.config["SIGNING_KEYS"])  # as `authserver keys rotate`
    new_kid = rotated.signing_kid
    assert new_kid != old_kid

    new_token = make_token("alice", ("viewer",))["access_token"]
    assert token_header(new_token)["kid"] == new_kid
    assert published_kids(client) == [new_kid, old_kid]
    for token in (old_token, new_token):
        response = client.get("/api/documents", headers=bearer(token))
        assert response.status_code == 200, response.get_json()


def test_resource_accepts_new_key_before_the_app_has_issued_with_it(app, client):
    """Another process rotated and issued a token: the first use makes this one reload."""
    rotated = SigningKeys.rotate(app.config["SIGNING_KEYS"])
    new_key = import_key(rotated.private_jwks()["keys"][0])
    token = sign(make_claims(app.config["ISSUER"], app.config["AUDIENCE"]), new_key)
    assert client.get("/api/me", headers=bearer(token)).status_code == 200


def test_two_rotations_keep_every_unexpired_key(app, client, make_token):
    first = make_token()["access_token"]
    SigningKeys.rotate(app.config["SIGNING_KEYS"])
    second = make_token()["access_token"]
    SigningKeys.rotate(app.config["SIGNING_KEYS"])
    third = make_token()["access_token"]
    kids = [token_header(token)["kid"] for token in (third, second, first)]
    assert len(set(kids)) == 3
    published = published_kids(client)
    assert published[0] == kids[0]  # the signing key first; retired ones in any order
    assert sorted(published) == sorted(kids)
    for token in (first, second, third):
        assert client.get("/api/me", headers=bearer(token)).status_code == 200


def test_retired_key_cannot_sign_any_more(app):
    """The file keeps a retired key's public part only: a copy of it cannot forge tokens."""
    before = SigningKeys.load_or_create(app.config["SIGNING_KEYS"])
    old_kid = before.signing_kid
    rotated = SigningKeys.rotate(app.config["SIGNING_KEYS"])
    private = rotated.private_jwks()["keys"]
    assert [key["kid"] for key in private] == [rotated.signing_kid]
    assert old_kid in [key["kid"] for key in rotated.public_jwks()["keys"]]


def test_rotation_to_es256_keeps_rs256_tokens_and_refuses_algorithm_confusion(
    app, client, make_token
):
    old_token = make_token()["access_token"]
    old_header = token_header(old_token)
    assert old_header["alg"] == "RS256"
    rotated = SigningKeys.rotate(app.config["SIGNING_KEYS"], alg="ES256")
    published_kids(client)  # reloads the keys first: see the xfail test below

    new_token = make_token()["access_token"]
    assert token_header(new_token) == {"typ": "at+jwt", "alg": "ES256", "kid": rotated.signing_kid}
    for token in (old_token, new_token):
        assert client.get("/api/me", headers=bearer(token)).status_code == 200

    # The RSA key's kid under the EC algorithm, and HS256 keyed with the EC public key.
    ec_key = import_key(rotated.private_jwks()["keys"][0])
    claims = make_claims(app.config["ISSUER"], app.config["AUDIENCE"])
    confused = sign(claims, ec_key, kid=old_header["kid"])
    assert client.get("/api/me", headers=bearer(confused)).status_code == 401
    pem = import_key(rotated.public_jwks()["keys"][0]).as_pem(private=False)
    forged = hs256(claims, pem, kid=rotated.signing_kid)
    assert client.get("/api/me", headers=bearer(forged)).status_code == 401


def test_first_token_after_algorithm_changing_rotation_is_issued(app, make_token):
    make_token()
    SigningKeys.rotate(app.config["SIGNING_KEYS"], alg="ES256")
    assert token_header(make_token()["access_token"])["alg"] == "ES256"


def test_metadata_names_the_current_algorithm_after_rotation(app, client):
    SigningKeys.rotate(app.config["SIGNING_KEYS"], alg="ES256")
    client.get("/.well-known/jwks.json")  # any request may be the one that notices
    document = client.get("/.well-known/oauth-authorization-server").get_json()
    assert "ES256" in document["access_token_signing_alg_values_supported"]
