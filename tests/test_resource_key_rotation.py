"""Key rotation as resources see it (SPEC §4 ``keys rotate``, §6, §13): tokens signed with
the old key keep working, new tokens carry the new kid, the JWKS lists both, and a resource
server caching the JWKS never meets a kid it lacks (issue 10 item 15)."""

from __future__ import annotations

import time

import jwt
import pytest
import requests
from joserfc.jwk import import_key

from authserver.config import JWKS_MAX_AGE, load_settings
from authserver.security.keys import SigningKeys
from authserver.services import clients, users
from tests.support import PASSWORD
from tests.support.cli import invoke
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


# -- issue 10 item 15: a resource server that caches the JWKS -------------------------------


class CachingResourceServer:
    """A resource server as PyJWT's docs set it up: PyJWKClient caching the JWKS for
    ``lifespan`` seconds (what our Cache-Control max-age asks), with its default 30 s
    cool-down before an unknown kid may force a new fetch: within it, a token whose kid
    the cache lacks is refused (jose's ERR_JWKS_NO_MATCHING_KEY in the review)."""

    def __init__(self, base: str, lifespan: float) -> None:
        self.base = base
        self.jwks = jwt.PyJWKClient(f"{base}/.well-known/jwks.json", lifespan=lifespan)

    def accepts(self, token: str) -> bool:
        try:
            key = self.jwks.get_signing_key_from_jwt(token)
        except jwt.PyJWKClientError:
            return False  # "Unable to find a signing key that matches"
        jwt.decode(token, key, algorithms=["RS256"], audience=self.base)
        return True


@pytest.fixture
def resource_users(live_server):
    """A viewer and a client on the live server, and a function that logs the viewer in."""
    with live_server.app.app_context():
        users.create("alice", PASSWORD, ["viewer"])
        client, secret = clients.create("rs test", ["password"])
        client_id = client.client_id

    def token() -> str:
        response = requests.post(
            f"{live_server.url}/oauth/token",
            data={"grant_type": "password", "username": "alice", "password": PASSWORD},
            auth=(client_id, secret),
            timeout=10,
        )
        assert response.status_code == 200, response.text
        return response.json()["access_token"]

    return token


def rotate(live_server, *args: str) -> None:
    with live_server.app.app_context():
        result = invoke(live_server.app.test_cli_runner(), "keys", "rotate", *args)
    assert result.exit_code == 0, result.output


def test_default_publish_delay_outlasts_the_jwks_max_age(client):
    max_age = client.get("/.well-known/jwks.json").headers["Cache-Control"]
    assert max_age == f"public, max-age={JWKS_MAX_AGE}"
    defaults = load_settings("production", {}, environ={})
    assert defaults["KEY_PUBLISH_SECONDS"] == JWKS_MAX_AGE + 60


@pytest.fixture
def publish_seconds(settings):
    """Time scaled down: the JWKS is cached for 1 s (standing for max-age=60) and a key is
    published 2 s (standing for AUTHSERVER_KEY_PUBLISH_SECONDS) before it signs."""
    settings["KEY_PUBLISH_SECONDS"] = 2
    return 2


def test_caching_resource_server_never_meets_an_unknown_kid_across_keys_rotate(
    publish_seconds, live_server, resource_users
):
    server = CachingResourceServer(live_server.url, lifespan=1)
    first = resource_users()
    assert server.accepts(first)  # the JWKS is now cached

    rotate(live_server)

    kids, deadline = set(), time.monotonic() + publish_seconds + 1.5
    while time.monotonic() < deadline:
        token = resource_users()
        kids.add(token_header(token)["kid"])
        assert server.accepts(token), f"unknown kid {token_header(token)['kid']}"
        time.sleep(0.1)
    assert len(kids) == 2  # the new key did begin to sign within the loop


def test_rotate_now_is_what_a_caching_resource_server_cannot_follow(
    publish_seconds, live_server, resource_users
):
    """The control: without the publish delay (``--now``, for a compromise) the same
    resource server refuses the next token. The test above would catch that."""
    server = CachingResourceServer(live_server.url, lifespan=1)
    assert server.accepts(resource_users())

    rotate(live_server, "--now")

    assert not server.accepts(resource_users())
