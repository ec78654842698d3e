"""Logs never hold secrets: passwords, client secrets, refresh tokens, access tokens.

All logging is captured at DEBUG (the root logger, as ``logging.basicConfig(level=DEBUG)``
or a debug deployment would set it) over a whole cycle: login, refresh, a protected call,
revocation, introspection, failed logins (one with the password typed into the username
field, the classic slip) and a refresh-token reuse. Authlib logs whole tokens and raw
usernames at DEBUG; the app must keep those records out whatever the levels say, so the
second variant also turns every ``authlib`` logger to DEBUG after the app is built, as a
logging config file (``dictConfig``) could.
"""

from __future__ import annotations

import base64
import logging
from collections.abc import Iterator

import pytest

from tests.conftest import PASSWORD, basic_auth

WRONG_PASSWORD = "Wrong-Pass-7f3e9a1c"


def _authlib_loggers() -> list[logging.Logger]:
    names = [n for n in logging.root.manager.loggerDict if n.split(".")[0] == "authlib"]
    return [logging.getLogger(name) for name in ["authlib", *names]]


@pytest.fixture(params=["root-debug", "authlib-debug"])
def debug_logging(request, caplog) -> Iterator[str]:
    """Everything at DEBUG from before the app is built (so the app sees it at start)."""
    caplog.set_level(logging.DEBUG)
    yield request.param


@pytest.fixture
def captured(debug_logging, app, caplog) -> Iterator[pytest.LogCaptureFixture]:
    saved = {logger: logger.level for logger in _authlib_loggers()}
    if debug_logging == "authlib-debug":
        for logger in saved:
            logger.setLevel(logging.DEBUG)
    caplog.clear()
    yield caplog
    for logger, level in saved.items():
        logger.setLevel(level)


def _record_text(record: logging.LogRecord) -> str:
    """All a handler or formatter could write out: message, args, extras, traceback."""
    parts = [str(record.msg), record.getMessage(), repr(record.args)]
    parts += [repr(value) for key, value in vars(record).items() if key != "exc_info"]
    if record.exc_info:
        parts.append(logging.Formatter().formatException(record.exc_info))
    return "\n".join(parts)


def _secrets(oauth_client, token_responses: list[dict]) -> dict[str, str]:
    found = {
        "password": PASSWORD,
        "wrong password": WRONG_PASSWORD,
        "client secret": oauth_client.secret,
        "basic credentials": basic_auth(oauth_client.client_id, oauth_client.secret)[
            "Authorization"
        ].split()[1],
    }
    for number, tokens in enumerate(token_responses):
        found[f"access token {number}"] = tokens["access_token"]
        found[f"access token {number} signature"] = tokens["access_token"].rsplit(".", 1)[1]
        found[f"refresh token {number}"] = tokens["refresh_token"]
    return found


def _cycle(client, oauth_client) -> list[dict]:
    """Everything a client does in a life, and a few things an attacker does."""
    auth = basic_auth(oauth_client.client_id, oauth_client.secret)
    login = {"grant_type": "password", "username": "alice", "password": PASSWORD}
    first = client.post("/oauth/token", data=login, headers=auth).get_json()
    second = client.post(
        "/oauth/token",
        data={"grant_type": "refresh_token", "refresh_token": first["refresh_token"]},
        headers=auth,
    ).get_json()
    bearer = {"Authorization": f"Bearer {second['access_token']}"}
    assert client.get("/api/me", headers=bearer).status_code == 200
    assert client.get("/api/documents", headers=bearer).status_code == 200
    introspected = client.post(
        "/oauth/introspect", data={"token": second["access_token"]}, headers=auth
    )
    assert introspected.get_json()["active"] is True
    assert client.post(
        "/oauth/introspect", data={"token": second["refresh_token"]}, headers=auth
    ).get_json()["active"]
    assert (
        client.post("/oauth/revoke", data={"token": second["access_token"]}, headers=auth)
    ).status_code == 200
    assert client.get("/api/me", headers=bearer).status_code == 401
    for username, password in [("alice", WRONG_PASSWORD), (PASSWORD, PASSWORD)]:
        failed = client.post(
            "/oauth/token",
            data={"grant_type": "password", "username": username, "password": password},
            headers=auth,
        )
        assert failed.status_code == 400
    reused = client.post(  # the first refresh token again: reuse, the family is revoked
        "/oauth/token",
        data={"grant_type": "refresh_token", "refresh_token": first["refresh_token"]},
        headers=auth,
    )
    assert reused.get_json()["error"] == "invalid_grant"
    bad_client = client.post(
        "/oauth/token",
        data=login,
        headers={"Authorization": "Basic " + base64.b64encode(b"nobody:" + b"s3cr3t").decode()},
    )
    assert bad_client.status_code == 401
    assert (
        client.post("/oauth/revoke", data={"token": second["refresh_token"]}, headers=auth)
    ).status_code == 200
    return [first, second]


def test_no_secret_reaches_any_log_record(captured, client, oauth_client, make_user) -> None:
    make_user("alice", ["viewer"])

    token_responses = _cycle(client, oauth_client)

    records = captured.records
    assert records, "nothing was captured: the test would prove nothing"
    assert any("reuse" in record.getMessage() for record in records)
    secrets = _secrets(oauth_client, token_responses)
    leaks = [
        (name, record.name, record.getMessage()[:200])
        for record in records
        for name, secret in secrets.items()
        if secret in _record_text(record)
    ]
    assert leaks == []
