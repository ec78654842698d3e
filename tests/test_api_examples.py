"""The example resources (SPEC §5): /api/me and /api/documents with the default policy's
viewer, editor and admin roles."""

from __future__ import annotations

import pytest

from tests.support.tokens import token_claims


@pytest.fixture
def auth_headers(make_token):
    """Authorization headers for a user with ``roles`` (created on first use)."""

    def headers(username: str = "alice", roles=("viewer",), scope=None) -> dict[str, str]:
        token = make_token(username, roles, scope=scope)["access_token"]
        return {"Authorization": f"Bearer {token}"}

    return headers


@pytest.fixture
def document(client, auth_headers):
    """A document created by the editor ``ed``."""
    response = client.post(
        "/api/documents", headers=auth_headers("ed", ("editor",)), json={"title": "T", "body": "B"}
    )
    assert response.status_code == 201
    return response.get_json()


def assert_json_error(response, status: int) -> dict:
    assert response.status_code == status, response.get_data(as_text=True)[:300]
    assert response.is_json
    body = response.get_json()
    assert isinstance(body.get("error"), str)
    return body


# -- /api/me ---------------------------------------------------------------------------------


def test_me_answers_from_the_token(client, make_token, oauth_client):
    token = make_token("alice", ("editor",))
    response = client.get("/api/me", headers={"Authorization": f"Bearer {token['access_token']}"})
    assert response.status_code == 200
    assert response.get_json() == {
        "sub": token_claims(token["access_token"])["sub"],
        "username": "alice",
        "client_id": oauth_client.client_id,
        "scope": token["scope"],
        "roles": ["editor"],
    }
    assert set(token["scope"].split()) == {"profile", "documents:read", "documents:write"}


def test_me_reports_the_narrowed_scope(client, auth_headers):
    response = client.get("/api/me", headers=auth_headers("alice", ("admin",), scope="profile"))
    assert response.get_json()["scope"] == "profile"
    assert response.get_json()["roles"] == ["admin"]


# -- /api/documents by role ------------------------------------------------------------------


@pytest.mark.parametrize(
    "roles, can_write, can_delete",
    [(("viewer",), False, False), (("editor",), True, False), (("admin",), True, True)],
)
def test_documents_by_role(client, auth_headers, document, roles, can_write, can_delete):
    headers = auth_headers("user1", roles)
    listing = client.get("/api/documents", headers=headers)
    assert listing.status_code == 200
    assert listing.get_json() == {"documents": [document]}
    assert client.get(f"/api/documents/{document['id']}", headers=headers).get_json() == document

    created = client.post("/api/documents", headers=headers, json={"title": "x", "body": "y"})
    assert created.status_code == (201 if can_write else 403)

    deleted = client.delete(f"/api/documents/{document['id']}", headers=headers)
    assert deleted.status_code == (204 if can_delete else 403)
    after = client.get(f"/api/documents/{document['id']}", headers=headers)
    assert after.status_code == (404 if can_delete else 200)


def test_create_answers_201_with_the_document_owned_by_the_user(client, auth_headers):
    response = client.post(
        "/api/documents",
        headers=auth_headers("ed", ("editor",)),
        json={"title": "Quarterly report", "body": "Numbers."},
    )
    assert response.status_code == 201
    body = response.get_json()
    assert body == {
        "id": body["id"],
        "title": "Quarterly report",
        "body": "Numbers.",
        "owner": "ed",
    }
    assert isinstance(body["id"], int)


def test_owner_comes_from_the_token_not_the_body(client, auth_headers):
    response = client.post(
        "/api/documents",
        headers=auth_headers("ed", ("editor",)),
        json={"title": "t", "body": "b", "owner": "admin", "id": 424242},
    )
    assert response.status_code == 201
    assert response.get_json()["owner"] == "ed"
    assert response.get_json()["id"] != 424242


def test_unicode_round_trips(client, auth_headers):
    headers = auth_headers("ed", ("editor",))
    created = client.post(
        "/api/documents", headers=headers, json={"title": "Zürich ☃ 日本", "body": "emoji 🎉"}
    ).get_json()
    fetched = client.get(f"/api/documents/{created['id']}", headers=headers).get_json()
    assert (fetched["title"], fetched["body"]) == ("Zürich ☃ 日本", "emoji 🎉")


def test_delete_then_delete_again_is_404(client, auth_headers, document):
    headers = auth_headers("root", ("admin",))
    assert client.delete(f"/api/documents/{document['id']}", headers=headers).status_code == 204
    assert_json_error(client.delete(f"/api/documents/{document['id']}", headers=headers), 404)


# -- bad input ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs",
    [
        {"data": "not json", "content_type": "application/json"},
        {"data": "{", "content_type": "application/json"},
        {"data": b"\xff\xfe", "content_type": "application/json"},
        {"data": '{"title": "t", "body": "b"}', "content_type": "text/plain"},
        {"data": "title=t&body=b", "content_type": "application/x-www-form-urlencoded"},
        {},
        {"json": []},
        {"json": "title"},
        {"json": None},
        {"json": {}},
        {"json": {"title": "t"}},
        {"json": {"body": "b"}},
        {"json": {"title": "", "body": "b"}},
        {"json": {"title": "   ", "body": "b"}},
        {"json": {"title": 1, "body": "b"}},
        {"json": {"title": ["t"], "body": "b"}},
        {"json": {"title": "t", "body": None}},
        {"json": {"title": "t", "body": {"a": 1}}},
        {"json": {"title": "t" * 201, "body": "b"}},
        {"json": {"title": "t", "body": "b" * 20_001}},
        {"json": {"title": "a\u0000b", "body": "b"}},
        {"json": {"title": "t", "body": "nul \u0000 inside"}},
        {"json": {"title": "\ud800", "body": "b"}},
        {"json": {"title": "t", "body": "lone \udfff surrogate"}},
    ],
    ids=repr,
)
def test_bad_create_bodies_are_400_json(client, auth_headers, kwargs):
    headers = auth_headers("ed", ("editor",))
    response = client.post("/api/documents", headers=headers, **kwargs)
    assert_json_error(response, 400)
    assert client.get("/api/documents", headers=headers).get_json() == {"documents": []}


def test_raw_json_escapes_for_nul_and_surrogates_are_400(client, auth_headers):
    headers = auth_headers("ed", ("editor",))
    for raw in ('{"title": "a\\u0000", "body": ""}', '{"title": "\\ud83d", "body": ""}'):
        response = client.post(
            "/api/documents", headers=headers, data=raw, content_type="application/json"
        )
        assert_json_error(response, 400)


def test_title_at_the_limit_is_accepted(client, auth_headers):
    response = client.post(
        "/api/documents",
        headers=auth_headers("ed", ("editor",)),
        json={"title": "é" * 200, "body": ""},
    )
    assert response.status_code == 201


def test_body_over_the_request_size_limit_is_413_json(client, auth_headers, app):
    size = app.config["MAX_CONTENT_LENGTH"] + 1
    response = client.post(
        "/api/documents",
        headers=auth_headers("ed", ("editor",)),
        data='{"title": "t", "body": "' + "x" * size + '"}',
        content_type="application/json",
    )
    assert_json_error(response, 413)


@pytest.mark.parametrize(
    "path",
    [
        "/api/documents/999",
        "/api/documents/0",
        "/api/documents/2147483647",
        "/api/documents/2147483648",
        "/api/documents/99999999999999999999999999999999",
        "/api/documents/" + "9" * 500,
    ],
)
@pytest.mark.parametrize("method", ["GET", "DELETE"])
def test_unknown_or_huge_ids_are_404_json(client, auth_headers, path, method):
    response = client.open(path, method=method, headers=auth_headers("root", ("admin",)))
    assert_json_error(response, 404)


@pytest.mark.parametrize("method", ["GET", "DELETE", "PUT"])
def test_id_too_long_for_python_int_is_a_json_4xx(client, auth_headers, method):
    """Past 4300 digits int() refuses, Werkzeug's converter fails and the route does not
    match; Werkzeug then answers 404 or (for some methods) 405, never a 500."""
    path = "/api/documents/" + "9" * 5000
    response = client.open(path, method=method, headers=auth_headers("root", ("admin",)))
    assert response.status_code in {404, 405}
    assert response.is_json


@pytest.mark.parametrize("path", ["/api/documents/-1", "/api/documents/abc", "/api/documents/1.5"])
def test_ids_that_are_not_numbers_are_404_json(client, auth_headers, path):
    assert_json_error(client.get(path, headers=auth_headers("root", ("admin",))), 404)


@pytest.mark.parametrize(
    "method, path", [("PUT", "/api/documents/1"), ("PATCH", "/api/documents"), ("POST", "/api/me")]
)
def test_wrong_methods_are_405_json(client, auth_headers, method, path):
    assert_json_error(client.open(path, method=method, headers=auth_headers()), 405)
