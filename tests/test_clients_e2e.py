"""Third-party client libraries against a real WSGI server (SPEC §1 "client developers").

requests-oauthlib and Authlib get, refresh and use tokens; PyJWT then verifies an access
token against the published JWKS exactly as a separate resource server would.
"""

from __future__ import annotations

import time

import jwt
import pytest
import requests
from authlib.integrations.requests_client import OAuth2Session as AuthlibSession
from authlib.integrations.requests_client import OAuthError
from oauthlib.oauth2 import LegacyApplicationClient
from requests.auth import HTTPBasicAuth
from requests_oauthlib import OAuth2Session

from authserver.services import clients, users
from tests.conftest import PASSWORD

TIMEOUT = 10


@pytest.fixture
def server(live_server, monkeypatch):
    """The live server with a user (editor) and a confidential and a public client."""
    monkeypatch.setenv("OAUTHLIB_INSECURE_TRANSPORT", "1")  # plain http on loopback
    with live_server.app.app_context():
        users.create("alice", PASSWORD, ["editor"])
        confidential, secret = clients.create("cli", ["password", "refresh_token"])
        public, _ = clients.create("spa", ["password", "refresh_token"], public=True)
        live_server.confidential = (confidential.client_id, secret)
        live_server.public_id = public.client_id
    return live_server


def token_url(server) -> str:
    return f"{server.url}/oauth/token"


def assert_me(response, client_id: str) -> None:
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["username"] == "alice"
    assert body["client_id"] == client_id
    assert body["roles"] == ["editor"]


# -- requests-oauthlib ----------------------------------------------------------------------


def test_requests_oauthlib_legacy_client_fetch_refresh_and_call(server):
    client_id, secret = server.confidential
    session = OAuth2Session(client=LegacyApplicationClient(client_id=client_id))
    token = session.fetch_token(
        token_url(server),
        username="alice",
        password=PASSWORD,
        client_id=client_id,
        client_secret=secret,
        timeout=TIMEOUT,
    )
    assert token["token_type"].lower() == "bearer"
    assert set(token["scope"]) == {"profile", "documents:read", "documents:write"}
    assert_me(session.get(f"{server.url}/api/me", timeout=TIMEOUT), client_id)

    refreshed = session.refresh_token(
        token_url(server), auth=HTTPBasicAuth(client_id, secret), timeout=TIMEOUT
    )
    assert refreshed["access_token"] != token["access_token"]
    assert refreshed["refresh_token"] != token["refresh_token"]  # rotated
    assert_me(session.get(f"{server.url}/api/me", timeout=TIMEOUT), client_id)

    created = session.post(
        f"{server.url}/api/documents", json={"title": "t", "body": "b"}, timeout=TIMEOUT
    )
    assert created.status_code == 201 and created.json()["owner"] == "alice"


def test_requests_oauthlib_public_client(server):
    client_id = server.public_id
    session = OAuth2Session(client=LegacyApplicationClient(client_id=client_id))
    session.fetch_token(
        token_url(server),
        username="alice",
        password=PASSWORD,
        client_id=client_id,
        include_client_id=True,
        timeout=TIMEOUT,
    )
    assert_me(session.get(f"{server.url}/api/me", timeout=TIMEOUT), client_id)
    session.refresh_token(token_url(server), client_id=client_id, timeout=TIMEOUT)
    assert_me(session.get(f"{server.url}/api/me", timeout=TIMEOUT), client_id)


# -- Authlib --------------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["client_secret_basic", "client_secret_post"])
def test_authlib_session_fetch_refresh_and_call(server, method):
    client_id, secret = server.confidential
    with AuthlibSession(client_id, secret, token_endpoint_auth_method=method) as session:
        token = session.fetch_token(
            token_url(server), grant_type="password", username="alice", password=PASSWORD
        )
        assert token["expires_in"] > 0
        assert_me(session.get(f"{server.url}/api/me", timeout=TIMEOUT), client_id)

        refreshed = session.refresh_token(token_url(server))
        assert refreshed["refresh_token"] != token["refresh_token"]
        assert session.token["access_token"] == refreshed["access_token"]
        listing = session.get(f"{server.url}/api/documents", timeout=TIMEOUT)
        assert listing.status_code == 200 and listing.json() == {"documents": []}

        # The rotated refresh token is spent: presenting it again is reuse (invalid_grant).
        with pytest.raises(OAuthError, match="invalid_grant"):
            session.refresh_token(token_url(server), refresh_token=token["refresh_token"])


def test_authlib_session_public_client_with_auth_method_none(server):
    client_id = server.public_id
    with AuthlibSession(client_id, token_endpoint_auth_method="none") as session:
        session.fetch_token(
            token_url(server), grant_type="password", username="alice", password=PASSWORD
        )
        assert_me(session.get(f"{server.url}/api/me", timeout=TIMEOUT), client_id)
        session.refresh_token(token_url(server))
        assert_me(session.get(f"{server.url}/api/me", timeout=TIMEOUT), client_id)


def test_authlib_session_wrong_secret_is_invalid_client(server):
    client_id, _ = server.confidential
    with AuthlibSession(client_id, "wrong", token_endpoint_auth_method="client_secret_basic") as s:
        with pytest.raises(OAuthError, match="invalid_client"):
            s.fetch_token(
                token_url(server), grant_type="password", username="alice", password=PASSWORD
            )


def test_authlib_session_with_narrowed_scope_gets_403_with_challenge(server):
    client_id, secret = server.confidential
    with AuthlibSession(client_id, secret, scope="profile") as session:
        token = session.fetch_token(
            token_url(server), grant_type="password", username="alice", password=PASSWORD
        )
        assert token["scope"] == "profile"
        response = session.get(f"{server.url}/api/documents", timeout=TIMEOUT)
    assert response.status_code == 403
    assert response.headers["WWW-Authenticate"] == (
        'Bearer error="insufficient_scope", scope="documents:read"'
    )


# -- a separate resource server: PyJWT and the JWKS ------------------------------------------


def fetch_access_token(server) -> str:
    client_id, secret = server.confidential
    with AuthlibSession(client_id, secret) as session:
        token = session.fetch_token(
            token_url(server), grant_type="password", username="alice", password=PASSWORD
        )
    return token["access_token"]


def test_pyjwt_verifies_access_token_with_published_jwks(server):
    access_token = fetch_access_token(server)
    metadata = requests.get(
        f"{server.url}/.well-known/oauth-authorization-server", timeout=TIMEOUT
    ).json()
    issuer = metadata["issuer"]
    assert issuer == server.url
    jwks_client = jwt.PyJWKClient(metadata["jwks_uri"], cache_keys=False)

    header = jwt.get_unverified_header(access_token)
    assert header["typ"] == "at+jwt"
    assert header["alg"] == "RS256"
    published = {key.key_id for key in jwks_client.get_jwk_set().keys}
    assert header["kid"] in published

    signing_key = jwks_client.get_signing_key_from_jwt(access_token)
    claims = jwt.decode(
        access_token,
        signing_key.key,
        algorithms=["RS256"],
        audience=issuer,
        issuer=issuer,
        options={"require": ["exp", "iat", "iss", "aud", "sub", "jti"]},
    )
    assert claims["username"] == "alice"
    assert claims["client_id"] == server.confidential[0]
    assert claims["scope"].split() == ["profile", "documents:read", "documents:write"]
    assert claims["roles"] == ["editor"]
    assert claims["exp"] > time.time()


def test_pyjwt_rejects_tampered_token_and_wrong_audience(server):
    access_token = fetch_access_token(server)
    jwks_client = jwt.PyJWKClient(f"{server.url}/.well-known/jwks.json", cache_keys=False)
    key = jwks_client.get_signing_key_from_jwt(access_token).key
    with pytest.raises(jwt.InvalidAudienceError):
        jwt.decode(access_token, key, algorithms=["RS256"], audience="https://other.example")
    head, payload, signature = access_token.split(".")
    tampered = f"{head}.{payload[:-4]}AAAA.{signature}"
    with pytest.raises(jwt.InvalidTokenError):
        jwt.decode(tampered, key, algorithms=["RS256"], audience=server.url)


def test_jwks_publishes_public_members_only(server):
    response = requests.get(f"{server.url}/.well-known/jwks.json", timeout=TIMEOUT)
    assert response.status_code == 200
    for key in response.json()["keys"]:
        assert not {"d", "p", "q", "dp", "dq", "qi"} & set(key)
        assert key["use"] == "sig" and key["kid"]


# -- the real server's answers to bad requests -----------------------------------------------


def test_live_no_token_gets_bare_challenge(server):
    response = requests.get(f"{server.url}/api/me", timeout=TIMEOUT)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Bearer"
    assert response.headers["Content-Type"].startswith("application/json")


def test_live_large_garbage_token_is_401_json(server):
    """Below the WSGI server's header-line limit (64 KB here), the app itself answers."""
    headers = {"Authorization": "Bearer " + "A" * 60_000}
    response = requests.get(f"{server.url}/api/me", headers=headers, timeout=TIMEOUT)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == 'Bearer error="invalid_token"'
    assert response.json()["error"] == "invalid_token"


def test_live_oversized_header_is_refused_without_a_500(server):
    """A 100 KB header: the server refuses it (431 from the WSGI server) or the app does."""
    headers = {"Authorization": "Bearer " + "A" * 100_000}
    try:
        response = requests.get(f"{server.url}/api/me", headers=headers, timeout=TIMEOUT)
    except requests.ConnectionError:
        return  # the server closed the connection: refused, which is fine
    assert response.status_code in {400, 401, 431}
