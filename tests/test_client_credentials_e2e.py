"""client_credentials with real client libraries against a real WSGI server (SPEC §16).

Authlib's ``OAuth2Session.fetch_token(grant_type="client_credentials")`` in Python, and
Node's ``oauth4webapi`` (``clientCredentialsGrantRequest`` +
``processClientCredentialsResponse``, then ``validateJwtAccessToken`` against the JWKS and
a protected call) run through ``node``: tests/node/client_credentials.mjs, with the
packages of tests/node/package-lock.json (see tests/support/node.py).
"""

from __future__ import annotations

import pytest
from authlib.integrations.requests_client import OAuth2Session, OAuthError

from authserver.services import clients
from tests.support.node import run_script
from tests.support.tokens import token_claims

TIMEOUT = 10
EDITOR_SCOPE = "profile documents:read documents:write"


@pytest.fixture
def server(live_server):
    """The live server with a machine client holding the editor role."""
    with live_server.app.app_context():
        service, secret = clients.create("svc", ["client_credentials"], roles=["editor"])
        live_server.service = (service.client_id, secret)
    return live_server


def assert_client_claims(claims: dict, client_id: str, scope: str) -> None:
    assert claims["sub"] == claims["client_id"] == client_id
    assert "username" not in claims
    assert claims["roles"] == ["editor"]
    assert claims["scope"] == scope


# -- Authlib --------------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["client_secret_basic", "client_secret_post"])
def test_authlib_fetch_token_client_credentials_and_call(server, method) -> None:
    client_id, secret = server.service
    with OAuth2Session(client_id, secret, token_endpoint_auth_method=method) as session:
        token = session.fetch_token(
            f"{server.url}/oauth/token", grant_type="client_credentials", timeout=TIMEOUT
        )
        assert token["token_type"] == "Bearer" and token["expires_in"] > 0
        assert "refresh_token" not in token
        assert token["scope"] == EDITOR_SCOPE
        assert_client_claims(token_claims(token["access_token"]), client_id, EDITOR_SCOPE)

        me = session.get(f"{server.url}/api/me", timeout=TIMEOUT)
        assert me.status_code == 200, me.text
        assert me.json() == {
            "sub": client_id,
            "username": None,
            "client_id": client_id,
            "scope": EDITOR_SCOPE,
            "roles": ["editor"],
        }
        created = session.post(
            f"{server.url}/api/documents", json={"title": "t", "body": "b"}, timeout=TIMEOUT
        )
        assert created.status_code == 201 and created.json()["owner"] == f"client:{client_id}"


def test_authlib_narrower_scope_and_refusals(server) -> None:
    client_id, secret = server.service
    url = f"{server.url}/oauth/token"
    with OAuth2Session(client_id, secret, scope="documents:read") as session:
        token = session.fetch_token(url, grant_type="client_credentials", timeout=TIMEOUT)
        assert token["scope"] == "documents:read"
        assert session.get(f"{server.url}/api/documents", timeout=TIMEOUT).status_code == 200
        written = session.post(
            f"{server.url}/api/documents", json={"title": "t", "body": "b"}, timeout=TIMEOUT
        )
        assert written.status_code == 403

    with OAuth2Session(client_id, secret, scope="users:read") as session:
        with pytest.raises(OAuthError, match="invalid_scope"):
            session.fetch_token(url, grant_type="client_credentials", timeout=TIMEOUT)

    with OAuth2Session(client_id, secret + "x") as session:
        with pytest.raises(OAuthError, match="invalid_client"):
            session.fetch_token(url, grant_type="client_credentials", timeout=TIMEOUT)


# -- oauth4webapi through node ------------------------------------------------------------------


@pytest.mark.processes
@pytest.mark.parametrize("auth", ["client_secret_basic", "client_secret_post"])
def test_oauth4webapi_client_credentials_grant_and_call(server, auth) -> None:
    client_id, secret = server.service

    seen = run_script(
        "client_credentials.mjs",
        {
            "issuer": server.url,
            "client_id": client_id,
            "client_secret": secret,
            "auth": auth,
            "scope": "documents:read profile",
            "audience": server.app.config["AUDIENCE"],
        },
    )

    assert "client_credentials" in seen["grant_types_supported"]
    token = seen["token"]
    assert token["has_access_token"] and token["token_type"] == "bearer"  # lowercased by it
    assert token["scope"] == "profile documents:read"
    assert "refresh_token" not in token
    assert_client_claims(seen["claims"], client_id, "profile documents:read")
    assert seen["me"] == {
        "status": 200,
        "body": {
            "sub": client_id,
            "username": None,
            "client_id": client_id,
            "scope": "profile documents:read",
            "roles": ["editor"],
        },
    }
    wrong = seen["wrong_secret"]
    assert wrong["status"] == 401
    assert wrong["error"] == "invalid_client" or "basic" in [s.lower() for s in wrong["schemes"]]
    assert seen["undeclared_scope"]["error"] == "invalid_scope"
    assert seen["undeclared_scope"]["status"] == 400
