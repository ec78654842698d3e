"""RFC 9449 at the token endpoint (SPEC §17): DPoP proofs on every grant, bound access
tokens, public clients' refresh tokens bound to the key, ``--dpop`` clients, server nonces,
the metadata and introspection. Proofs are made with joserfc (tests/support/dpop.py)."""

from __future__ import annotations

import time

import pytest

from authserver.app import create_app
from authserver.resource.dpop import ALGORITHMS
from authserver.services import clients, users
from tests.conftest import PASSWORD, basic_auth, close_app
from tests.support.dpop import TOKEN_URL, hmac_proof, new_key, proof, unsigned_proof
from tests.support.tokens import token_claims


def post_token(client, params: dict, dpop: str | None = None, auth: dict | None = None):
    headers = dict(auth or {})
    if dpop is not None:
        headers["DPoP"] = dpop
    return client.post("/oauth/token", data=params, headers=headers)


def login(client, oauth_client, key=None, username: str = "alice"):
    """A password grant as ``oauth_client`` (public when it has no secret), with a proof
    of ``key`` if given."""
    params = {"grant_type": "password", "username": username, "password": PASSWORD}
    auth = None
    if getattr(oauth_client, "secret", None):
        auth = basic_auth(oauth_client.client_id, oauth_client.secret)
    else:
        params["client_id"] = oauth_client.client_id
    dpop = proof(key, "POST", TOKEN_URL) if key is not None else None
    return post_token(client, params, dpop, auth)


def refresh(client, oauth_client, refresh_token: str, key=None):
    params = {"grant_type": "refresh_token", "refresh_token": refresh_token}
    params["client_id"] = oauth_client.client_id
    dpop = proof(key, "POST", TOKEN_URL) if key is not None else None
    return post_token(client, params, dpop)


@pytest.fixture
def public_client(app):
    client, _ = clients.create("public app", ["password", "refresh_token"], public=True)
    client.secret = None
    return client


@pytest.fixture
def alice(make_user):
    return make_user("alice", ("viewer",))


def test_password_grant_with_proof_gives_bound_token(client, oauth_client, alice):
    key = new_key()
    response = login(client, oauth_client, key)
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["token_type"] == "DPoP"
    assert token_claims(body["access_token"])["cnf"] == {"jkt": key.thumbprint()}


def test_password_grant_without_proof_stays_bearer(client, oauth_client, alice):
    body = login(client, oauth_client).get_json()
    assert body["token_type"] == "Bearer"
    assert "cnf" not in token_claims(body["access_token"])


def test_confidential_refresh_may_prove_any_key(client, oauth_client, alice):
    """RFC 9449 §5: a confidential client's refresh token is bound by its authentication,
    not by a key; each new access token is bound to the key of its own request."""
    first = login(client, oauth_client, new_key()).get_json()
    other = new_key()
    params = {"grant_type": "refresh_token", "refresh_token": first["refresh_token"]}
    auth = basic_auth(oauth_client.client_id, oauth_client.secret)
    response = post_token(client, params, proof(other, "POST", TOKEN_URL), auth)
    assert response.status_code == 200, response.get_json()
    claims = token_claims(response.get_json()["access_token"])
    assert claims["cnf"] == {"jkt": other.thumbprint()}


def test_public_client_refresh_proves_the_same_key(client, public_client, alice):
    key = new_key()
    first = login(client, public_client, key).get_json()
    response = refresh(client, public_client, first["refresh_token"], key)
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["token_type"] == "DPoP"
    assert token_claims(body["access_token"])["cnf"] == {"jkt": key.thumbprint()}
    again = refresh(client, public_client, body["refresh_token"], key)
    assert again.status_code == 200, again.get_json()


def test_public_client_refresh_with_another_key_is_refused(client, public_client, alice):
    key = new_key()
    first = login(client, public_client, key).get_json()
    response = refresh(client, public_client, first["refresh_token"], new_key())
    assert response.status_code == 400
    assert response.get_json()["error"] == "invalid_grant"
    # Refused before the claim: the token is not used up, its own key still refreshes.
    assert refresh(client, public_client, first["refresh_token"], key).status_code == 200


def test_public_client_bound_refresh_without_proof_is_refused(client, public_client, alice):
    first = login(client, public_client, new_key()).get_json()
    response = refresh(client, public_client, first["refresh_token"])
    assert response.status_code == 400
    assert response.get_json()["error"] == "invalid_dpop_proof"


def test_public_client_unbound_family_is_bound_by_its_first_proof(client, public_client, alice):
    first = login(client, public_client).get_json()
    key = new_key()
    second = refresh(client, public_client, first["refresh_token"], key).get_json()
    assert second["token_type"] == "DPoP"
    response = refresh(client, public_client, second["refresh_token"], new_key())
    assert response.get_json()["error"] == "invalid_grant"


def test_dpop_client_must_send_a_proof(client, app, alice):
    dpop_client, secret = clients.create("dpop app", ["password"], dpop=True)
    dpop_client.secret = secret
    response = login(client, dpop_client)
    assert response.status_code == 400
    assert response.get_json()["error"] == "invalid_dpop_proof"
    assert login(client, dpop_client, new_key()).status_code == 200


def test_client_credentials_with_proof_gives_bound_token(client, app):
    service, secret = clients.create("dpop service", ["client_credentials"], roles=["viewer"])
    key = new_key()
    response = post_token(
        client,
        {"grant_type": "client_credentials"},
        proof(key, "POST", TOKEN_URL),
        basic_auth(service.client_id, secret),
    )
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["token_type"] == "DPoP"
    assert token_claims(body["access_token"])["cnf"] == {"jkt": key.thumbprint()}


def _bad_proofs(key):
    now = int(time.time())
    return {
        "wrong htm": proof(key, "GET", TOKEN_URL),
        "wrong htu": proof(key, "POST", "http://localhost/oauth/revoke"),
        "htu on another host": proof(key, "POST", "http://evil.example/oauth/token"),
        "stale iat": proof(key, "POST", TOKEN_URL, iat=now - 600),
        "iat in the future": proof(key, "POST", TOKEN_URL, iat=now + 600),
        "no jti": proof(key, "POST", TOKEN_URL, jti=None),
        "wrong typ": proof(key, "POST", TOKEN_URL, header={"typ": "JWT"}),
        "alg none": unsigned_proof(key, "POST", TOKEN_URL),
        "HMAC": hmac_proof("POST", TOKEN_URL),
        "private key in jwk": proof(
            key, "POST", TOKEN_URL, header={"jwk": key.as_dict(private=True)}
        ),
        "another key's jwk": proof(
            key, "POST", TOKEN_URL, header={"jwk": new_key().as_dict(private=False)}
        ),
        "not a JWT": "not.a.jwt",
    }


@pytest.mark.parametrize("case", list(_bad_proofs(new_key())))
def test_bad_proof_is_invalid_dpop_proof(client, oauth_client, alice, case):
    params = {"grant_type": "password", "username": "alice", "password": PASSWORD}
    auth = basic_auth(oauth_client.client_id, oauth_client.secret)
    response = post_token(client, params, _bad_proofs(new_key())[case], auth)
    assert response.status_code == 400
    body = response.get_json()
    assert body["error"] == "invalid_dpop_proof", body
    assert response.headers["Cache-Control"] == "no-store"


def test_replayed_proof_is_refused(client, oauth_client, alice):
    key = new_key()
    params = {"grant_type": "password", "username": "alice", "password": PASSWORD}
    auth = basic_auth(oauth_client.client_id, oauth_client.secret)
    once = proof(key, "POST", TOKEN_URL)
    assert post_token(client, params, once, auth).status_code == 200
    again = post_token(client, params, once, auth)
    assert again.status_code == 400
    assert again.get_json()["error"] == "invalid_dpop_proof"


def test_two_proof_headers_are_refused(client, oauth_client, alice):
    key = new_key()
    params = {"grant_type": "password", "username": "alice", "password": PASSWORD}
    headers = [
        *basic_auth(oauth_client.client_id, oauth_client.secret).items(),
        ("DPoP", proof(key, "POST", TOKEN_URL)),
        ("DPoP", proof(key, "POST", TOKEN_URL)),
    ]
    response = client.post("/oauth/token", data=params, headers=headers)
    assert response.get_json()["error"] == "invalid_dpop_proof"


def test_proof_naming_the_issuer_url_is_accepted(client, oauth_client, alice, app):
    """Behind a proxy the client names the public URL (the metadata's token_endpoint)."""
    params = {"grant_type": "password", "username": "alice", "password": PASSWORD}
    auth = basic_auth(oauth_client.client_id, oauth_client.secret)
    htu = app.config["ISSUER"] + "/oauth/token"
    response = post_token(client, params, proof(new_key(), "POST", htu), auth)
    assert response.status_code == 200, response.get_json()


def test_metadata_lists_dpop_algorithms(client):
    document = client.get("/.well-known/oauth-authorization-server").get_json()
    algs = document["dpop_signing_alg_values_supported"]
    assert algs == list(ALGORITHMS)
    assert "none" not in algs and not any(alg.startswith("HS") for alg in algs)


def test_introspection_reports_cnf_and_dpop_type(client, oauth_client, alice):
    key = new_key()
    token = login(client, oauth_client, key).get_json()["access_token"]
    response = client.post(
        "/oauth/introspect",
        data={"token": token},
        headers=basic_auth(oauth_client.client_id, oauth_client.secret),
    )
    body = response.get_json()
    assert body["active"] is True
    assert body["token_type"] == "DPoP"
    assert body["cnf"] == {"jkt": key.thumbprint()}


# -- server nonces (RFC 9449 §8) -----------------------------------------------------------


@pytest.fixture
def nonce_app(settings):
    app = create_app("testing", {**settings, "DPOP_NONCE": True})
    with app.app_context():
        yield app
        close_app(app)


def test_nonce_flow(nonce_app):
    client = nonce_app.test_client()
    user_client, secret = clients.create("nonce app", ["password"])
    users.create("bob", PASSWORD, ("viewer",))
    params = {"grant_type": "password", "username": "bob", "password": PASSWORD}
    auth = basic_auth(user_client.client_id, secret)
    key = new_key()
    first = post_token(client, params, proof(key, "POST", TOKEN_URL), auth)
    assert first.status_code == 400
    assert first.get_json()["error"] == "use_dpop_nonce"
    nonce = first.headers["DPoP-Nonce"]
    assert nonce
    wrong = post_token(client, params, proof(key, "POST", TOKEN_URL, nonce="1.abc"), auth)
    assert wrong.get_json()["error"] == "use_dpop_nonce"
    ok = post_token(client, params, proof(key, "POST", TOKEN_URL, nonce=nonce), auth)
    assert ok.status_code == 200, ok.get_json()
    assert ok.headers["DPoP-Nonce"]
    assert ok.get_json()["token_type"] == "DPoP"


def test_nonce_is_valid_at_another_app_on_the_same_keys(nonce_app, settings):
    """Stateless nonces: a second instance (same key file) accepts the first one's."""
    user_client, secret = clients.create("nonce app", ["password"])
    users.create("bob", PASSWORD, ("viewer",))
    params = {"grant_type": "password", "username": "bob", "password": PASSWORD}
    auth = basic_auth(user_client.client_id, secret)
    first = post_token(nonce_app.test_client(), params, proof(new_key(), "POST", TOKEN_URL), auth)
    nonce = first.headers["DPoP-Nonce"]
    other = create_app("testing", {**settings, "DPOP_NONCE": True})
    try:
        with other.app_context():
            dpop = proof(new_key(), "POST", TOKEN_URL, nonce=nonce)
            response = post_token(other.test_client(), params, dpop, auth)
            assert response.status_code == 200, response.get_json()
    finally:
        with other.app_context():
            close_app(other)


def _key(kind: str):
    from joserfc.jwk import ECKey, OKPKey, RSAKey

    if kind == "RSA":
        return RSAKey.generate_key(2048)
    if kind == "OKP":
        return OKPKey.generate_key("Ed25519")
    return ECKey.generate_key(kind)


@pytest.mark.parametrize(
    "kind, alg",
    [("P-256", "ES256"), ("P-384", "ES384"), ("RSA", "RS256"), ("RSA", "PS256"),
     ("RSA", "RS512"), ("OKP", "Ed25519")],
)  # fmt: skip
def test_each_advertised_algorithm_binds_a_token(client, oauth_client, alice, kind, alg):
    key = _key(kind)
    params = {"grant_type": "password", "username": "alice", "password": PASSWORD}
    auth = basic_auth(oauth_client.client_id, oauth_client.secret)
    response = post_token(client, params, proof(key, "POST", TOKEN_URL, alg=alg), auth)
    assert response.status_code == 200, response.get_json()
    assert token_claims(response.get_json()["access_token"])["cnf"]["jkt"] == key.thumbprint()


def test_key_that_does_not_fit_its_alg_is_refused(client, oauth_client, alice):
    """An EC key with alg RS256: joserfc refuses to verify with the wrong key type."""
    key, rsa = new_key(), _key("RSA")
    params = {"grant_type": "password", "username": "alice", "password": PASSWORD}
    auth = basic_auth(oauth_client.client_id, oauth_client.secret)
    forged = proof(rsa, "POST", TOKEN_URL, alg="RS256", header={"jwk": key.as_dict()})
    response = post_token(client, params, forged, auth)
    assert response.get_json()["error"] == "invalid_dpop_proof"
