"""RFC 6750 §3 at the resource routes: challenges for no token, wrong schemes, too little
scope, and tokens revoked by ``jti`` (SPEC §5, §6)."""

from __future__ import annotations

import base64

import pytest

from authserver.services import tokens
from tests.support.http import bearer
from tests.support.tokens import token_claims

PATHS = ["/api/me", "/api/documents"]


def assert_no_token(response) -> None:
    """RFC 6750 §3.1: no authentication information, so no error code in the challenge."""
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Bearer"
    assert response.is_json
    body = response.get_json()
    assert isinstance(body, dict) and body.get("error_description")


@pytest.mark.parametrize("path", PATHS)
def test_no_authorization_header_gets_bare_bearer_challenge(client, path):
    assert_no_token(client.get(path))


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize(
    "header",
    [
        "Basic " + base64.b64encode(b"alice:secret").decode(),
        "Basic",
        "Digest username=alice",
        "Token abc",
        "",
        "Bearer",
        "Bearer ",
    ],
)
def test_other_schemes_or_no_credentials_are_treated_as_no_token(client, path, header):
    assert_no_token(client.get(path, headers={"Authorization": header}))


def test_token_in_query_string_is_not_accepted(client, make_token):
    """RFC 9700 §2.4 / RFC 6750 §2.3: URL tokens leak to logs; only the header counts."""
    token = make_token()["access_token"]
    assert_no_token(client.get(f"/api/me?access_token={token}"))


def test_token_in_form_body_is_not_accepted(client, make_token):
    token = make_token("alice", ("editor",))["access_token"]
    assert_no_token(client.post("/api/documents", data={"access_token": token}))


@pytest.mark.parametrize("scheme", ["Bearer", "bearer", "BEARER"])
def test_auth_scheme_is_case_insensitive(client, make_token, scheme):
    token = make_token()["access_token"]
    assert client.get("/api/me", headers=bearer(token, scheme)).status_code == 200


@pytest.mark.parametrize(
    "method, path, needed",
    [
        ("GET", "/api/documents", "documents:read"),
        ("GET", "/api/documents/1", "documents:read"),
        ("POST", "/api/documents", "documents:write"),
        ("DELETE", "/api/documents/1", "documents:delete"),
    ],
)
def test_insufficient_scope_is_403_naming_the_scope(client, make_token, method, path, needed):
    token = make_token("alice", ("viewer",), scope="profile")["access_token"]
    response = client.open(
        path, method=method, headers=bearer(token), json={"title": "t", "body": "b"}
    )
    assert response.status_code == 403
    assert response.headers["WWW-Authenticate"] == (
        f'Bearer error="insufficient_scope", scope="{needed}"'
    )
    assert response.is_json
    assert response.get_json()["error"] == "insufficient_scope"


def test_scope_check_precedes_document_lookup(client, make_token):
    """A token without the scope learns nothing about which documents exist."""
    token = make_token("alice", ("viewer",))["access_token"]
    response = client.delete("/api/documents/999999", headers=bearer(token))
    assert response.status_code == 403


@pytest.mark.parametrize("path", PATHS)
def test_revoked_jti_is_invalid_token(client, make_token, path):
    token = make_token("alice", ("viewer",))["access_token"]
    assert client.get(path, headers=bearer(token)).status_code == 200
    claims = token_claims(token)
    tokens.revoke_access(claims["jti"], claims["exp"])
    response = client.get(path, headers=bearer(token))
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == 'Bearer error="invalid_token"'
    assert response.get_json()["error"] == "invalid_token"


def test_revoking_one_token_leaves_the_others_valid(client, make_token):
    first = make_token("alice", ("viewer",))["access_token"]
    second = make_token("alice", ("viewer",))["access_token"]
    claims = token_claims(first)
    tokens.revoke_access(claims["jti"], claims["exp"])
    assert client.get("/api/me", headers=bearer(first)).status_code == 401
    assert client.get("/api/me", headers=bearer(second)).status_code == 200


def test_revoking_twice_is_harmless(app, client, make_token):
    token = make_token()["access_token"]
    claims = token_claims(token)
    tokens.revoke_access(claims["jti"], claims["exp"])
    tokens.revoke_access(claims["jti"], claims["exp"])
    assert tokens.is_revoked(claims["jti"])
    assert client.get("/api/me", headers=bearer(token)).status_code == 401


def test_revoking_while_the_session_holds_the_row_is_harmless(app, make_token):
    """The revocation endpoint may have looked the row up first in the same session."""
    from sqlalchemy import select

    from authserver.extensions import db
    from authserver.models import LiveChange

    claims = token_claims(make_token()["access_token"])
    tokens.revoke_access(claims["jti"], claims["exp"])
    row = db.session.execute(select(LiveChange).where(LiveChange.key == claims["jti"])).scalar()
    assert row is not None
    tokens.revoke_access(claims["jti"], claims["exp"])
    assert tokens.is_revoked(claims["jti"])


def test_unrevoked_jti_is_not_revoked(app):
    assert not tokens.is_revoked("never-issued")


def test_errors_are_not_cached(client):
    assert client.get("/api/me").headers["Cache-Control"] == "no-store"


@pytest.mark.parametrize("scopes", [None, ("profile",)])
def test_admin_routes_answer_token_problems_as_rfc9457(client, make_token, scopes):
    headers = {}
    if scopes is not None:  # a viewer's token: valid, but without policies:read
        headers = {"Authorization": f"Bearer {make_token(scope=' '.join(scopes))['access_token']}"}
    response = client.get("/admin/policy", headers=headers)
    assert response.status_code == (401 if scopes is None else 403)
    assert response.mimetype == "application/problem+json"
    body = response.get_json()
    assert body["status"] == response.status_code and body["title"] and body["error"]
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
