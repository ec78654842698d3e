"""Issue 10 item 5 (SPEC §10): an unknown client and a known client with a wrong (or
missing) secret get the same answer, in readable words, at the token, revocation and
introspection endpoints alike. Authlib said "The client does not exist on this server." to
one and printed a Python list of methods, ``none`` included, to the other."""

from __future__ import annotations

import pytest

from authserver.oauth2.server import CLIENT_AUTH_FAILED_TEXT
from tests.conftest import basic_auth

ENDPOINTS = {
    "/oauth/token": {"grant_type": "password", "username": "alice", "password": "x" * 12},
    "/oauth/revoke": {"token": "anything"},
    "/oauth/introspect": {"token": "anything"},
}


def _answer(response) -> tuple:
    return (
        response.status_code,
        response.get_json(),
        response.headers.get("WWW-Authenticate"),
    )


def _basic(client, path: str, client_id: str, secret: str):
    return client.post(path, data=ENDPOINTS[path], headers=basic_auth(client_id, secret))


def _post(client, path: str, **credentials: str):
    return client.post(path, data={**ENDPOINTS[path], **credentials})


@pytest.mark.parametrize("path", list(ENDPOINTS))
def test_unknown_client_and_wrong_secret_by_basic_get_the_same_answer(
    client, oauth_client, path
) -> None:
    unknown = _basic(client, path, "no-such-client", "some secret")
    wrong = _basic(client, path, oauth_client.client_id, "wrong secret")

    assert _answer(unknown) == _answer(wrong)
    assert unknown.status_code == 401
    assert unknown.get_json() == {
        "error": "invalid_client",
        "error_description": CLIENT_AUTH_FAILED_TEXT,
    }
    assert unknown.headers["WWW-Authenticate"].startswith("Basic")


@pytest.mark.parametrize("path", list(ENDPOINTS))
def test_unknown_client_and_wrong_secret_in_the_body_get_the_same_answer(
    client, oauth_client, path
) -> None:
    unknown = _post(client, path, client_id="no-such-client", client_secret="some secret")
    wrong = _post(client, path, client_id=oauth_client.client_id, client_secret="wrong")

    assert _answer(unknown) == _answer(wrong)
    assert unknown.get_json()["error"] == "invalid_client"
    assert unknown.get_json()["error_description"] == CLIENT_AUTH_FAILED_TEXT


@pytest.mark.parametrize("path", list(ENDPOINTS))
def test_unknown_client_and_confidential_client_without_secret_get_the_same_answer(
    client, oauth_client, path
) -> None:
    unknown = _post(client, path, client_id="no-such-client")
    no_secret = _post(client, path, client_id=oauth_client.client_id)

    assert _answer(unknown) == _answer(no_secret)
    assert unknown.get_json()["error"] == "invalid_client"


@pytest.mark.parametrize("path", list(ENDPOINTS))
def test_client_authentication_failure_text_is_readable(client, oauth_client, path) -> None:
    """No Python list, and no ``none`` offered to a confidential client."""
    wrong = _basic(client, path, oauth_client.client_id, "wrong secret")

    text = wrong.get_json()["error_description"]
    assert "[" not in text and "'" not in text and "none" not in text
    assert "exist" not in text
