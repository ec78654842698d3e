"""Hostile input at /oauth/token, /oauth/revoke, /oauth/introspect and the resource routes.

SPEC §5: no request, however malformed, gets an HTML page, a stack trace or a 500; §10: a
parameter sent twice is ``invalid_request`` and requests have a size limit. The first part
has one plain test per case (each found failure stays here as a regression test); the
second is a hypothesis property suite with a fixed number of examples per test:

- ``test_token_endpoint_property``: 300 examples
- ``test_revoke_endpoint_property``: 200 examples
- ``test_introspect_endpoint_property``: 200 examples
- ``test_documents_property``: 300 examples

1,000 requests per database backend: about 12 s of the file's 25-30 s on SQLite. Requests
are garbage, or valid ones with fields dropped, replaced or added, so that they get past
the first check.
"""

from __future__ import annotations

import base64
import io
import json
import string

import pytest
from hypothesis import HealthCheck, event, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from tests.conftest import PASSWORD, basic_auth

OAUTH_ENDPOINTS = ["/oauth/token", "/oauth/revoke", "/oauth/introspect"]
FORM = "application/x-www-form-urlencoded"
#: RFC 6749 §5.2 codes, plus RFC 7009's unsupported_token_type and our rate_limited.
OAUTH_ERRORS = {
    "invalid_request",
    "invalid_client",
    "invalid_grant",
    "unauthorized_client",
    "unsupported_grant_type",
    "invalid_scope",
    "unsupported_token_type",
    "rate_limited",
}


def assert_json_error(response, status: int | None = None, error: str | None = None) -> dict:
    assert response.status_code < 500, response.get_data()[:500]
    if status is not None:
        assert response.status_code == status, response.get_data()[:500]
    assert response.mimetype == "application/json", response.get_data()[:500]
    body = response.get_json()
    assert isinstance(body, dict)
    if error is not None:
        assert body.get("error") == error, body
    return body


@pytest.fixture
def auth(oauth_client) -> dict[str, str]:
    return basic_auth(oauth_client.client_id, oauth_client.secret)


# --- size limits ---------------------------------------------------------------------------------


@pytest.mark.parametrize("path", OAUTH_ENDPOINTS)
def test_body_over_max_content_length_is_json_413(app, client, auth, path) -> None:
    size = app.config["MAX_CONTENT_LENGTH"] + 1
    response = client.post(
        path, data={"token": "x" * size, "grant_type": "password"}, headers=auth
    )

    body = assert_json_error(response, 413)
    assert body["error"] == "invalid_request"
    assert response.headers["Cache-Control"] == "no-store"


@pytest.mark.parametrize("path", OAUTH_ENDPOINTS)
def test_body_over_max_content_length_without_content_length_is_json_413(
    app, client, auth, path
) -> None:
    """A chunked body (no Content-Length) is cut at the limit too."""
    body = ("token=" + "x" * (app.config["MAX_CONTENT_LENGTH"] + 1)).encode()
    response = client.post(
        path,
        input_stream=io.BytesIO(body),
        headers={**auth, "Content-Type": FORM, "Transfer-Encoding": "chunked"},
    )

    assert_json_error(response)
    assert response.status_code in (400, 413)


@pytest.fixture
def big_bodies(settings) -> None:
    settings["MAX_CONTENT_LENGTH"] = 1_048_576  # so that 100 KB values reach the code


@pytest.mark.parametrize(
    "field", ["username", "password", "grant_type", "scope", "client_id", "refresh_token"]
)
def test_100kb_value_at_token_endpoint_is_4xx_json(
    big_bodies, client, auth, make_user, field
) -> None:
    make_user("alice")
    form = {"grant_type": "password", "username": "alice", "password": PASSWORD}
    form[field] = "A" * 100_000
    if field == "refresh_token":
        form["grant_type"] = "refresh_token"
    headers = {} if field == "client_id" else auth  # with Basic, a body client_id is ignored

    response = client.post("/oauth/token", data=form, headers=headers)

    assert_json_error(response)
    assert 400 <= response.status_code < 500


@pytest.mark.parametrize("path", ["/oauth/revoke", "/oauth/introspect"])
@pytest.mark.parametrize("field", ["token", "token_type_hint"])
def test_100kb_value_at_revoke_and_introspect(big_bodies, client, auth, path, field) -> None:
    form = {"token": "t", field: "A" * 100_000}

    response = client.post(path, data=form, headers=auth)

    assert response.status_code == 200
    assert response.get_json() in ({}, {"active": False})


def test_100kb_client_id_with_secret_post_is_invalid_client(big_bodies, client) -> None:
    response = client.post(
        "/oauth/introspect", data={"token": "t", "client_id": "c" * 100_000, "client_secret": "s"}
    )

    # One answer for every failed client authentication (SPEC §10, issue 10 item 5): the 401
    # a known client with a wrong secret gets (WWW-Authenticate only after HTTP Basic).
    assert_json_error(response, 401, "invalid_client")


@pytest.mark.parametrize("size", [8_193, 50_000])
def test_oversized_bearer_token_is_401_invalid_token(client, size) -> None:
    response = client.get("/api/me", headers={"Authorization": "Bearer " + "a" * size})

    assert_json_error(response, 401, "invalid_token")
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


# --- duplicates, content types, the query string ----------------------------------------------


@pytest.mark.parametrize("path", OAUTH_ENDPOINTS)
@pytest.mark.parametrize("name", ["token", "token_type_hint", "client_id", "grant_type"])
def test_parameter_sent_twice_is_invalid_request(client, auth, path, name) -> None:
    body = f"token=a&grant_type=password&{name}=b"
    if name in ("client_id", "token_type_hint"):
        body += f"&{name}=c"

    response = client.post(path, data=body, content_type=FORM, headers=auth)

    assert_json_error(response, 400, "invalid_request")


@pytest.mark.parametrize("path", OAUTH_ENDPOINTS)
@pytest.mark.parametrize(
    ("content_type", "data"),
    [
        ("application/json", json.dumps({"token": "a", "grant_type": "password"})),
        (
            "multipart/form-data; boundary=xyz",
            '--xyz\r\nContent-Disposition: form-data; name="token"\r\n\r\na\r\n--xyz--\r\n',
        ),
        ("text/plain", "token=a"),
        ("application/x-www-form-urlencodedX", "token=a"),
        ("", "token=a"),
        ("\u00ff/\u00fe", "token=a"),
    ],
)
def test_wrong_content_type_is_invalid_request(client, auth, path, content_type, data) -> None:
    response = client.post(path, data=data, headers={**auth, "Content-Type": content_type})

    assert_json_error(response, 400, "invalid_request")


@pytest.mark.parametrize("path", OAUTH_ENDPOINTS)
def test_parameters_in_the_query_string_are_invalid_request(client, auth, path) -> None:
    response = client.post(path + "?token=a", data={"grant_type": "password"}, headers=auth)

    assert_json_error(response, 400, "invalid_request")


@pytest.mark.parametrize("path", OAUTH_ENDPOINTS)
@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE", "PATCH"])
def test_other_methods_are_json_405(client, path, method) -> None:
    response = client.open(path, method=method)

    assert_json_error(response, 405)
    assert "POST" in response.headers["Allow"]


# --- malformed HTTP Basic ---------------------------------------------------------------------


def b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


MALFORMED_BASIC = {
    "not base64": "Basic !!!not-base64!!!",
    "not utf-8": "Basic " + b64(b"\xff\xfe\xfd:\xc3\x28"),
    "no colon": "Basic " + b64(b"client-without-colon"),
    "empty": "Basic ",
    "scheme only": "Basic",
    "padding only": "Basic ====",
    "nul in id": "Basic " + b64(b"cli\x00ent:secret"),
    "empty id and secret": "Basic " + b64(b":"),
    "other scheme": "Digest username=x",
    "bearer": "Bearer abc",
    "latin-1 header": "Basic \u00e9\u00e8",
}


@pytest.mark.parametrize("path", OAUTH_ENDPOINTS)
@pytest.mark.parametrize("header", MALFORMED_BASIC.values(), ids=MALFORMED_BASIC.keys())
def test_malformed_basic_is_401_invalid_client(client, path, header) -> None:
    response = client.post(
        path,
        data={"token": "a", "grant_type": "password", "username": "u", "password": "p"},
        headers={"Authorization": header},
    )

    assert_json_error(response, 401, "invalid_client")


# --- odd bytes and characters ----------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        b"grant_type=password&username=%ff%fe&password=%c3%28",
        b"grant_type=password&username=\xff\xfe&password=\xc3\x28",
        b"grant_type=password&username=alice&password=%00",
        b"grant_type=password&username=%ed%a0%80&password=x",  # an encoded lone surrogate
        b"grant_type=%00&username=alice&password=x",
        b"grant_type=password&username=alice&password=x&scope=%00",
        b"grant_type=password&username=alice&password=x&scope=%ff",
        b"grant_type=refresh_token&refresh_token=%00%ff",
        b"=&&&=&grant_type=password",
        b"%zz=%zz",
    ],
)
def test_non_utf8_and_nul_bytes_at_token_endpoint(client, auth, make_user, body) -> None:
    make_user("alice")

    response = client.post("/oauth/token", data=body, content_type=FORM, headers=auth)

    body_json = assert_json_error(response)
    assert 400 <= response.status_code < 500
    assert body_json["error"] in OAUTH_ERRORS


@pytest.mark.parametrize("path", ["/oauth/revoke", "/oauth/introspect"])
@pytest.mark.parametrize(
    "body",
    [b"token=%ff%fe", b"token=a%00b", b"token=%ed%a0%80", b"token=x&token_type_hint=%00"],
)
def test_non_utf8_and_nul_bytes_at_revoke_and_introspect(client, auth, path, body) -> None:
    response = client.post(path, data=body, content_type=FORM, headers=auth)

    assert response.status_code == 200
    assert response.get_json() in ({}, {"active": False})


@pytest.mark.parametrize("path", ["/oauth/revoke", "/oauth/introspect"])
@pytest.mark.parametrize("body", [b"token=\xff\xfe", b"token=\xc3\x28&a=b"])
def test_raw_non_ascii_form_body_is_invalid_request(client, auth, path, body) -> None:
    """Not percent-encoded: not a urlencoded body (Werkzeug parses it as empty)."""
    response = client.post(path, data=body, content_type=FORM, headers=auth)

    assert_json_error(response, 400, "invalid_request")


@pytest.mark.parametrize("username", ["al\x00ice", "alice\x00", "\x00", "alice\x00; DROP TABLE"])
def test_nul_byte_in_username_is_invalid_grant(client, auth, make_user, username) -> None:
    make_user("alice")

    response = client.post(
        "/oauth/token",
        data={"grant_type": "password", "username": username, "password": PASSWORD},
        headers=auth,
    )

    assert_json_error(response, 400, "invalid_grant")


def test_nul_byte_in_client_id_is_invalid_client(client) -> None:
    response = client.post(
        "/oauth/token",
        data={"grant_type": "password", "username": "a", "password": "b", "client_id": "a\x00b"},
    )

    assert_json_error(response, 401, "invalid_client")  # as an unknown client (SPEC §10)


@pytest.mark.parametrize(
    "header",
    ["Bearer a\x00b", "Bearer \u00ff\u00fe", "Bearer ", "Bearer", "bearer x.y.z", "Basic abc"],
)
def test_odd_authorization_at_resource_is_401_json(client, header) -> None:
    response = client.get("/api/documents", headers={"Authorization": header})

    assert_json_error(response, 401)
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


# --- hypothesis properties --------------------------------------------------------------------

FIELD_NAMES = [
    "grant_type",
    "username",
    "password",
    "refresh_token",
    "scope",
    "client_id",
    "client_secret",
    "token",
    "token_type_hint",
]
#: Any text, NUL and controls included (surrogates can't be sent as UTF-8).
texts = st.text(max_size=40)
values = st.one_of(
    texts,
    st.sampled_from(
        [
            "password",
            "refresh_token",
            "access_token",
            "alice",
            PASSWORD,
            "profile",
            "documents:read documents:write",
            "documents:*",
            "undeclared:scope",
            '"quoted"',
        ]
    ),
    st.text(alphabet=string.ascii_letters + ".-_", min_size=100, max_size=3000),
)
forms = st.dictionaries(st.one_of(st.sampled_from(FIELD_NAMES), texts), values, max_size=6)
#: What a header can carry on the wire: latin-1 text without CR/LF.
header_texts = st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0xFF), max_size=60)
content_types = st.one_of(
    st.just(FORM + "; charset=latin-1"),
    st.sampled_from(["application/json", "multipart/form-data", "text/plain", ""]),
    header_texts,
)
raw_bodies = st.one_of(
    st.binary(max_size=300),
    forms.map(lambda form: "&".join(f"{k}={v}" for k, v in form.items()).encode("utf-8")),
)


@st.composite
def mutated(draw, valid_forms: list[dict]) -> dict:
    """A valid form with fields dropped, replaced or added: reaches past the first check."""
    form = dict(draw(st.sampled_from(valid_forms)))
    for name in draw(st.lists(st.sampled_from(sorted(form)), max_size=2)):
        form.pop(name, None)
    form.update(draw(st.dictionaries(st.sampled_from(FIELD_NAMES), values, max_size=2)))
    return form


@st.composite
def authorizations(draw, valid: dict[str, str]):
    """None, our client's real Basic header, or garbage in every shape."""
    kind = draw(st.sampled_from(["valid"] * 4 + ["none", "basic-bytes", "basic-text", "text"]))
    if kind == "none":
        return None
    if kind == "valid":
        return valid["Authorization"]
    if kind == "basic-bytes":
        return "Basic " + b64(draw(st.binary(max_size=40)))
    if kind == "basic-text":
        return "Basic " + draw(header_texts)
    return draw(header_texts)


@st.composite
def oauth_requests(draw, valid: dict[str, str], valid_forms: list[dict]) -> dict:
    headers = {}
    authorization = draw(authorizations(valid))
    if authorization is not None:
        headers["Authorization"] = authorization
    shape = draw(st.sampled_from(["mutated", "mutated", "form", "raw"]))
    content_type = FORM if shape != "raw" else draw(content_types)
    if shape == "mutated":
        data = draw(mutated(valid_forms))
    else:
        data = draw(forms if shape == "form" else raw_bodies)
    query = draw(st.sampled_from([""] * 8 + ["?token=x", "?a=%ff"]))
    return {"headers": headers, "content_type": content_type, "data": data, "query": query}


def _send(client, path: str, request: dict):
    return client.post(
        path + request["query"],
        data=request["data"],
        content_type=request["content_type"] or None,
        headers=request["headers"],
    )


def examples(count: int) -> hypothesis_settings:
    """A fixed number of examples; fixtures are built once per test, not per example."""
    return hypothesis_settings(
        max_examples=count,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )


def _check_oauth_error(response, request: dict) -> None:
    body = assert_json_error(response)
    assert body.get("error") in OAUTH_ERRORS, body
    authorization = request["headers"].get("Authorization", "")
    if response.status_code == 401 and authorization.lower().startswith("basic"):
        assert response.headers["WWW-Authenticate"].startswith("Basic")
    assert response.headers["Cache-Control"] == "no-store"


@pytest.fixture
def tokens(make_token) -> dict:
    """alice (an editor) logged in: a real access and refresh token to build requests from."""
    return make_token("alice", ["editor"])


@examples(300)
@given(data=st.data())
def test_token_endpoint_property(client, auth, tokens, data) -> None:
    valid_forms = [
        {"grant_type": "password", "username": "alice", "password": PASSWORD},
        {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
    ]
    request = data.draw(oauth_requests(auth, valid_forms))

    response = _send(client, "/oauth/token", request)
    event(f"status {response.status_code}")  # --hypothesis-show-statistics

    if response.status_code == 200:
        body = response.get_json()
        assert body["token_type"] == "Bearer" and body["access_token"]
        assert response.headers["Cache-Control"] == "no-store"
    else:
        _check_oauth_error(response, request)


def _token_forms(tokens: dict) -> list[dict]:
    return [
        {"token": tokens["access_token"]},
        {"token": tokens["refresh_token"], "token_type_hint": "refresh_token"},
    ]


@examples(200)
@given(data=st.data())
def test_revoke_endpoint_property(client, auth, tokens, data) -> None:
    request = data.draw(oauth_requests(auth, _token_forms(tokens)))

    response = _send(client, "/oauth/revoke", request)
    event(f"status {response.status_code}")  # --hypothesis-show-statistics

    if response.status_code == 200:
        assert response.get_json() == {}
    else:
        _check_oauth_error(response, request)


@examples(200)
@given(data=st.data())
def test_introspect_endpoint_property(client, auth, tokens, data) -> None:
    request = data.draw(oauth_requests(auth, _token_forms(tokens)))

    response = _send(client, "/oauth/introspect", request)
    event(f"status {response.status_code}")  # --hypothesis-show-statistics

    if response.status_code == 200:
        body = response.get_json()
        assert isinstance(body.get("active"), bool), body
        if not body["active"]:
            assert body == {"active": False}
        else:
            # a refresh token has no token_type (RFC 6749 §5.1 types only; issue 10 item 19)
            assert body["client_id"] and body.get("token_type") in ("Bearer", None)
    else:
        _check_oauth_error(response, request)


any_text = st.text(alphabet=st.characters(exclude_categories=()), max_size=30)  # surrogates too
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | any_text,
    lambda children: (
        st.lists(children, max_size=3)
        | st.dictionaries(st.sampled_from(["title", "body", "x"]), children, max_size=3)
    ),
    max_leaves=6,
)
document_bodies = st.one_of(
    st.fixed_dictionaries(
        {"title": any_text | json_values, "body": any_text | json_values | st.just("x" * 20_001)}
    ),
    json_values,
).map(json.dumps)
document_paths = st.one_of(
    st.just("/api/documents"),
    st.just("/api/documents"),
    st.integers(min_value=1, max_value=3).map(lambda n: f"/api/documents/{n}"),
    st.integers(min_value=-5, max_value=2**40).map(lambda n: f"/api/documents/{n}"),
    st.text(alphabet=string.ascii_letters + "%/.", max_size=10).map(
        lambda s: "/api/documents/" + s
    ),
)


@examples(300)
@given(data=st.data())
def test_documents_property(client, tokens, data) -> None:
    """Any method, path, token and body: JSON, never 5xx; no valid token is 401 Bearer."""
    access_token = tokens["access_token"]
    valid = data.draw(st.booleans())
    if valid:
        authorization = "Bearer " + access_token
    else:
        authorization = data.draw(
            st.one_of(
                st.none(),
                header_texts,
                header_texts.map(lambda t: "Bearer " + t),
                st.just("Bearer " + access_token[:-3] + "abc"),  # a bad signature
            )
        )
    method = data.draw(st.sampled_from(["GET", "POST", "POST", "DELETE", "PUT"]))
    path = data.draw(document_paths)
    kwargs = {"headers": {"Authorization": authorization} if authorization is not None else {}}
    if method in ("POST", "PUT"):
        kwargs["data"] = data.draw(st.one_of(document_bodies, st.binary(max_size=100)))
        kwargs["content_type"] = data.draw(st.sampled_from(["application/json", "text/plain"]))

    response = client.open(path, method=method, **kwargs)
    event(f"status {response.status_code}")  # --hypothesis-show-statistics

    assert response.status_code < 500, response.get_data()[:500]
    if response.status_code == 204:
        return
    assert response.mimetype == "application/json", response.get_data()[:300]
    if not valid and response.status_code not in (404, 405):
        assert response.status_code == 401, response.get_json()
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
    if response.status_code == 403:
        assert response.headers["WWW-Authenticate"].startswith('Bearer error="insufficient_scope"')
