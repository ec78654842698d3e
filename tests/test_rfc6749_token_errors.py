"""Token endpoint errors (RFC 6749 §5.2): always JSON, never HTML, a traceback or a 500.

Covers what Authlib lets through by default (AUTHLIB-NOTES.md): parameters sent twice,
parameters in the URL, bodies that are not a form, and Basic headers it cannot decode.
"""

from __future__ import annotations

import base64
from urllib.parse import quote

import pytest
import requests

from tests.conftest import PASSWORD, basic_auth

FORM = "application/x-www-form-urlencoded"


def assert_oauth_error(response, status: int, error: str) -> dict:
    """An RFC 6749 §5.2 answer: the status, JSON with ``error``, not cacheable."""
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/json"
    assert response.headers["Cache-Control"] == "no-store"
    body = response.get_json()
    assert body["error"] == error, body
    assert set(body) <= {"error", "error_description", "error_uri"}
    return body


def encoded_form(pairs: list[tuple[str, str]]) -> str:
    return "&".join(f"{quote(name)}={quote(value)}" for name, value in pairs)


@pytest.fixture
def login_pairs(make_user) -> list[tuple[str, str]]:
    make_user("alice")
    return [("grant_type", "password"), ("username", "alice"), ("password", PASSWORD)]


@pytest.fixture
def auth(oauth_client) -> dict[str, str]:
    return basic_auth(oauth_client.client_id, oauth_client.secret)


def post_raw(client, body: bytes | str, headers: dict, content_type: str = FORM, **kwargs):
    return client.post(
        "/oauth/token", data=body, headers=headers, content_type=content_type, **kwargs
    )


def test_valid_raw_form_is_accepted(client, login_pairs, auth) -> None:
    """The baseline the other tests in this module break one thing of."""
    response = post_raw(client, encoded_form(login_pairs), auth)

    assert response.status_code == 200, response.get_json()


# --- RFC 6749 §3.2: one value per parameter, in the body --------------------------------------


@pytest.mark.parametrize(
    "duplicate",
    [
        ("grant_type", "password"),
        ("grant_type", "refresh_token"),
        ("username", "bob"),
        ("password", PASSWORD),
        ("scope", "profile"),
    ],
    ids=["grant_type-same", "grant_type-other", "username", "password", "scope"],
)
def test_parameter_sent_twice_is_invalid_request(client, login_pairs, auth, duplicate) -> None:
    pairs = [*login_pairs, ("scope", "profile"), duplicate]
    if duplicate[0] == "scope":
        pairs = [*login_pairs, ("scope", "profile"), ("scope", "documents:read")]

    response = post_raw(client, encoded_form(pairs), auth)

    body = assert_oauth_error(response, 400, "invalid_request")
    assert duplicate[0] in body["error_description"]


def test_client_id_sent_twice_is_invalid_request(client, login_pairs, oauth_client) -> None:
    pairs = [
        *login_pairs,
        ("client_id", oauth_client.client_id),
        ("client_id", oauth_client.client_id),
        ("client_secret", oauth_client.secret),
    ]

    response = post_raw(client, encoded_form(pairs), {})

    assert_oauth_error(response, 400, "invalid_request")


@pytest.mark.parametrize(
    "query",
    ["username=alice", "client_secret=s3cret", "grant_type=password", "unrelated=1"],
)
def test_parameters_in_the_query_string_are_invalid_request(
    client, login_pairs, auth, query
) -> None:
    response = client.post(
        f"/oauth/token?{query}", data=encoded_form(login_pairs), headers=auth, content_type=FORM
    )

    assert_oauth_error(response, 400, "invalid_request")


def test_credentials_only_in_the_query_string_are_refused(client, login_pairs, auth) -> None:
    response = client.post(f"/oauth/token?{encoded_form(login_pairs)}", headers=auth)

    assert_oauth_error(response, 400, "invalid_request")


# --- the body must be a form ------------------------------------------------------------------


@pytest.mark.parametrize(
    "content_type, body",
    [
        ("application/json", '{"grant_type": "password", "username": "alice"}'),
        ("text/plain", "grant_type=password&username=alice"),
        ("multipart/form-data; boundary=x", "--x--\r\n"),
        (None, "grant_type=password"),
    ],
    ids=["json", "text", "multipart", "none"],
)
def test_body_that_is_not_a_form_is_invalid_request(
    client, login_pairs, auth, content_type, body
) -> None:
    headers = dict(auth)
    kwargs = {"content_type": content_type} if content_type else {}

    response = client.post("/oauth/token", data=body, headers=headers, **kwargs)

    assert_oauth_error(response, 400, "invalid_request")


def test_json_body_with_form_fields_is_still_refused(client, login_pairs, auth) -> None:
    response = client.post("/oauth/token", json=dict(login_pairs), headers=auth)

    assert_oauth_error(response, 400, "invalid_request")


@pytest.mark.parametrize(
    "body, error",
    [
        (b"grant_type=password&username=%FF%FE&password=x", "invalid_grant"),
        (b"grant_type=password&username=alice&password=%C3%28", "invalid_grant"),
        (b"grant_type=password&username=alice&password=%", "invalid_grant"),
        (b"grant_type=password&=&&username=alice&password=x", "invalid_grant"),
        (b"grant_type=password&username=\xff\xfe&password=x", "invalid_request"),
        (b"grant_type=pass\xc3word&username=alice&password=x", "invalid_request"),
        (b"\xff\xfe\xfd", "invalid_request"),
    ],
    ids=[
        "escaped-not-utf8",
        "escaped-truncated-sequence",
        "lone-percent",
        "empty-names",
        "raw-not-utf8",
        "raw-truncated-sequence",
        "garbage",
    ],
)
def test_body_with_non_utf8_or_odd_bytes_is_a_json_400(
    client, make_user, auth, body, error
) -> None:
    """Escaped bytes are the client's text (no such user); raw bytes are not a UTF-8 form."""
    make_user("alice")

    response = post_raw(client, body, auth)

    assert_oauth_error(response, 400, error)


def test_oversize_body_is_json_413(app, client, auth) -> None:
    size = app.config["MAX_CONTENT_LENGTH"] + 1
    body = "grant_type=password&username=alice&password=" + "p" * size

    response = post_raw(client, body, auth)

    assert response.status_code == 413
    assert response.mimetype == "application/json"
    assert response.headers["Cache-Control"] == "no-store"
    assert "error" in response.get_json()


def test_body_just_under_the_limit_is_processed(app, client, login_pairs, auth) -> None:
    padding = app.config["MAX_CONTENT_LENGTH"] - len(encoded_form(login_pairs)) - 16
    pairs = [*login_pairs, ("padding", "p" * padding)]

    response = post_raw(client, encoded_form(pairs), auth)

    assert response.status_code == 200, response.get_json()


# --- client authentication headers ------------------------------------------------------------


def basic(raw: bytes) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(raw).decode()}


@pytest.mark.parametrize(
    "header",
    [
        {"Authorization": "Basic !!!not-base64!!!"},
        {"Authorization": "Basic"},
        {"Authorization": "Basic "},
        {"Authorization": "Basic YWxpY2U6cHc"},  # unpadded
        basic(b"\xff\xfe:secret"),
        basic(b"client:\xff\xfe"),
        basic(b"no-colon-here"),
        basic(b":"),
        basic(b"\x00:\x00"),
        basic(b"client%00:secret"),
        basic(b"client:%ZZ"),
        basic(b"x" * 5000 + b":y"),
        {"Authorization": "Bearer some.jwt.value"},
        {"Authorization": "Digest username=alice"},
    ],
    ids=[
        "not-base64",
        "no-credentials",
        "empty-credentials",
        "unpadded",
        "id-not-utf8",
        "secret-not-utf8",
        "no-colon",
        "empty-pair",
        "nul-bytes",
        "escaped-nul",
        "bad-percent-escape",
        "very-long",
        "bearer-scheme",
        "digest-scheme",
    ],
)
def test_malformed_authorization_header_is_401_invalid_client(client, login_pairs, header) -> None:
    response = post_raw(client, encoded_form(login_pairs), header)

    assert_oauth_error(response, 401, "invalid_client")
    assert response.headers["WWW-Authenticate"].lower().startswith("basic")


def test_basic_credentials_are_form_urlencoded_per_rfc6749_2_3_1(
    client, login_pairs, oauth_client
) -> None:
    """RFC 6749 §2.3.1: id and secret are form-urlencoded before Base64."""
    secret = "".join(f"%{ord(ch):02X}" for ch in oauth_client.secret)
    header = basic(f"{oauth_client.client_id}:{secret}".encode())

    response = post_raw(client, encoded_form(login_pairs), header)

    assert response.status_code == 200, response.get_json()


def test_no_client_authentication_at_all_is_401_invalid_client(client, login_pairs) -> None:
    response = post_raw(client, encoded_form(login_pairs), {})

    assert_oauth_error(response, 401, "invalid_client")


def test_basic_and_post_secrets_together_are_invalid_request(
    client, login_pairs, oauth_client, auth
) -> None:
    """RFC 6749 §2.3: a client MUST NOT use more than one authentication method."""
    pairs = [
        *login_pairs,
        ("client_id", oauth_client.client_id),
        ("client_secret", oauth_client.secret),
    ]

    response = post_raw(client, encoded_form(pairs), auth)

    assert_oauth_error(response, 400, "invalid_request")


def test_basic_with_client_id_in_the_body_is_accepted(client, login_pairs, oauth_client, auth):
    """A client_id in the body authenticates nothing: it is not a second method."""
    pairs = [*login_pairs, ("client_id", oauth_client.client_id)]

    response = post_raw(client, encoded_form(pairs), auth)

    assert response.status_code == 200, response.get_json()


# --- grant_type ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "grant_type",
    [
        "authorization_code",
        "urn:ietf:params:oauth:grant-type:jwt-bearer",
        "PASSWORD",
        "x" * 5000,
    ],
    ids=["authorization_code", "jwt-bearer", "wrong-case", "very-long"],
)
def test_unsupported_grant_type(client, auth, grant_type) -> None:
    response = post_raw(client, encoded_form([("grant_type", grant_type)]), auth)

    assert_oauth_error(response, 400, "unsupported_grant_type")


@pytest.mark.parametrize("body", ["", "username=alice&password=x", "grant_type="])
def test_missing_grant_type_is_invalid_request(client, auth, body) -> None:
    response = post_raw(client, body, auth)

    assert_oauth_error(response, 400, "invalid_request")


# --- HTTP method ------------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["GET", "PUT"])
def test_other_methods_are_json_405(client, method) -> None:
    response = client.open("/oauth/token", method=method)

    assert response.status_code == 405
    assert response.mimetype == "application/json"
    assert "POST" in response.headers["Allow"]
    assert "error" in response.get_json()


def chunks(total: int, prefix: bytes):
    """A request body without Content-Length: requests sends a generator chunked."""
    yield prefix
    for _ in range(total // 1024):
        yield b"p" * 1024


@pytest.mark.parametrize("over", [1, 40_000], ids=["just-over", "far-over"])
def test_oversize_chunked_body_is_json_413_not_a_truncated_form(
    live_server, oauth_client, over
) -> None:
    """Werkzeug (and gunicorn) read a chunked body only up to the limit, then parse it."""
    limit = live_server.app.config["MAX_CONTENT_LENGTH"]
    prefix = b"grant_type=password&username=alice&password="

    response = requests.post(
        f"{live_server.url}/oauth/token",
        data=chunks(limit - len(prefix) + over + 1024, prefix),
        headers={"Content-Type": FORM},
        auth=(oauth_client.client_id, oauth_client.secret),
        timeout=30,
    )

    assert response.status_code == 413
    assert response.headers["Content-Type"].startswith("application/json")
    assert response.json()["error"] == "invalid_request"


def test_small_chunked_body_is_processed(live_server, make_user, oauth_client) -> None:
    make_user("alice")
    body = encoded_form(
        [("grant_type", "password"), ("username", "alice"), ("password", PASSWORD)]
    )

    response = requests.post(
        f"{live_server.url}/oauth/token",
        data=iter([body.encode()]),
        headers={"Content-Type": FORM},
        auth=(oauth_client.client_id, oauth_client.secret),
        timeout=30,
    )

    assert response.status_code == 200, response.json()
