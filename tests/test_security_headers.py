"""Security headers on every answer, success or error, and no-store where tokens or
token-dependent data travel (RFC 6749 §5.1, RFC 6750 §5.3 / RFC 9111)."""

from __future__ import annotations

import pytest

from tests.conftest import PASSWORD, basic_auth

#: Written out here, not imported: the test says what the headers must be.
EXPECTED = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
}


def assert_security_headers(response) -> None:
    for name, value in EXPECTED.items():
        assert response.headers.get(name) == value, (name, response.status_code)
    policy = response.headers.get("Content-Security-Policy", "")
    assert "default-src 'none'" in policy and "frame-ancestors 'none'" in policy


def assert_no_store(response) -> None:
    assert response.headers.get("Cache-Control") == "no-store", response.status_code


@pytest.fixture
def boom(app):
    """A route that fails the way a bug would: the 500 path, through the real handlers."""

    def fail():
        raise RuntimeError("a bug")

    app.add_url_rule("/test-boom", "test_boom", fail)


@pytest.fixture
def tokens(make_token) -> dict:
    return make_token("alice", ["viewer"])


def _requests(client, oauth_client, tokens) -> dict:
    """One request per kind of answer: name -> (response, expected status, no-store?)."""
    auth = basic_auth(oauth_client.client_id, oauth_client.secret)
    bearer = {"Authorization": f"Bearer {tokens['access_token']}"}
    login = {"grant_type": "password", "username": "alice", "password": PASSWORD}
    return {
        "jwks 200": (client.get("/.well-known/jwks.json"), 200, False),
        "metadata 200": (client.get("/.well-known/oauth-authorization-server"), 200, False),
        "token 200": (client.post("/oauth/token", data=login, headers=auth), 200, True),
        "token 400": (client.post("/oauth/token", data={}, headers=auth), 400, True),
        "token 401": (client.post("/oauth/token", data=login), 401, True),
        "token 405": (client.get("/oauth/token"), 405, True),
        "revoke 200": (client.post("/oauth/revoke", data={"token": "x"}, headers=auth), 200, True),
        "revoke 401": (client.post("/oauth/revoke", data={"token": "x"}), 401, True),
        "introspect 200": (
            client.post("/oauth/introspect", data={"token": "x"}, headers=auth),
            200,
            True,
        ),
        "introspect 401": (client.post("/oauth/introspect", data={"token": "x"}), 401, True),
        "me 200": (client.get("/api/me", headers=bearer), 200, True),
        "me 401": (client.get("/api/me"), 401, True),
        "me 401 invalid": (
            client.get("/api/me", headers={"Authorization": "Bearer x"}),
            401,
            True,
        ),
        "documents 403": (
            client.post("/api/documents", json={"title": "t", "body": "b"}, headers=bearer),
            403,
            True,
        ),
        "document 404": (client.get("/api/documents/999", headers=bearer), 404, True),
        "unknown path 404": (client.get("/no/such/path"), 404, False),
        "admin 401": (client.get("/admin/policy"), 401, True),
        "500": (client.get("/test-boom"), 500, False),
    }


def test_every_kind_of_answer_has_the_security_headers(
    boom, app, client, oauth_client, tokens
) -> None:
    for name, (response, status, no_store) in _requests(client, oauth_client, tokens).items():
        assert response.status_code == status, (name, response.get_data()[:200])
        assert_security_headers(response)
        if no_store:
            assert_no_store(response)


def test_500_is_json_without_a_trace(boom, client) -> None:
    response = client.get("/test-boom")

    assert response.status_code == 500
    assert response.mimetype == "application/json"
    assert b"a bug" not in response.get_data()
    assert b"Traceback" not in response.get_data()
    assert_security_headers(response)


@pytest.mark.parametrize("path", ["/oauth/token", "/oauth/revoke", "/oauth/introspect"])
def test_413_has_the_security_headers_and_no_store(app, client, path) -> None:
    response = client.post(path, data={"token": "x" * (app.config["MAX_CONTENT_LENGTH"] + 1)})

    assert response.status_code == 413
    assert_security_headers(response)
    assert_no_store(response)


def test_token_responses_also_say_pragma_no_cache(client, oauth_client, make_user) -> None:
    make_user("alice")
    response = client.post(
        "/oauth/token",
        data={"grant_type": "password", "username": "alice", "password": PASSWORD},
        headers=basic_auth(oauth_client.client_id, oauth_client.secret),
    )

    assert response.headers["Pragma"] == "no-cache"
    assert_no_store(response)


@pytest.fixture
def rate_limited(settings) -> None:
    settings["TOKEN_RATE_LIMIT"] = "1/minute"


def test_429_has_the_security_headers_and_no_store(rate_limited, client, oauth_client) -> None:
    form = {"grant_type": "password", "username": "nobody", "password": "x"}
    auth = basic_auth(oauth_client.client_id, oauth_client.secret)
    environ = {"REMOTE_ADDR": "198.51.100.77"}
    client.post("/oauth/token", data=form, headers=auth, environ_base=environ)

    response = client.post("/oauth/token", data=form, headers=auth, environ_base=environ)

    assert response.status_code == 429
    assert_security_headers(response)
    assert_no_store(response)


@pytest.fixture
def redis_down_closed(settings) -> None:
    settings.update(REDIS_URL="redis://127.0.0.1:1/0", REDIS_FAILURE="closed")


def test_503_has_the_security_headers_and_no_store(
    redis_down_closed, client, oauth_client, make_user
) -> None:
    make_user("alice")
    response = client.post(
        "/oauth/token",
        data={"grant_type": "password", "username": "alice", "password": PASSWORD},
        headers=basic_auth(oauth_client.client_id, oauth_client.secret),
    )

    assert response.status_code == 503
    assert_security_headers(response)
    assert_no_store(response)
