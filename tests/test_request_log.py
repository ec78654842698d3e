"""One JSON log line per request, with a request id: X-Request-ID in (when well-formed) or a
new one, always echoed in the response. Only the path is logged: never the query string,
headers or body, which can carry tokens and passwords.
"""

from __future__ import annotations

import io
import json
import logging
import re
import secrets
import sys

import pytest
import requests

from authserver.web.log_format import JSONFormatter
from tests.conftest import PASSWORD
from tests.support.deploy import (
    json_lines,
    migrate_and_seed,
    password_grant,
    server_env,
)
from tests.support.gunicorn import Gunicorns
from tests.support.http import bearer

GENERATED_ID = re.compile(r"^[0-9a-f]{16}$")


@pytest.fixture
def settings(settings) -> dict:
    return {**settings, "LOG_LEVEL": "INFO"}


@pytest.fixture
def request_lines(caplog):
    """The request log records of the test so far, parsed."""
    caplog.set_level(logging.INFO, logger="authserver.request")

    def lines() -> list[dict]:
        return [
            json.loads(record.getMessage())
            for record in caplog.records
            if record.name == "authserver.request"
        ]

    return lines


def test_one_json_line_per_request(client, request_lines) -> None:
    response = client.get("/healthz")

    (line,) = request_lines()
    assert line["event"] == "request"
    assert line["request_id"] == response.headers["X-Request-ID"]
    assert GENERATED_ID.match(line["request_id"])
    assert (line["method"], line["path"], line["status"]) == ("GET", "/healthz", 200)
    assert isinstance(line["duration_ms"], float | int) and line["duration_ms"] >= 0
    assert line["remote_addr"] == "127.0.0.1"


def test_each_request_gets_its_own_id(client, request_lines) -> None:
    ids = {client.get("/healthz").headers["X-Request-ID"] for _ in range(5)}

    assert len(ids) == 5
    assert {line["request_id"] for line in request_lines()} == ids


@pytest.mark.parametrize("sent", ["abc-123", "0f8fad5b-d9cb-469f-a165-70867728950e", "a.b_C"])
def test_a_well_formed_request_id_is_echoed_and_logged(client, request_lines, sent) -> None:
    response = client.get("/healthz", headers={"X-Request-ID": sent})

    assert response.headers["X-Request-ID"] == sent
    assert [line["request_id"] for line in request_lines()] == [sent]


@pytest.mark.parametrize(
    "sent", ["has space", "x" * 65, "a;b", "<script>", 'quote"', "tab\tin", "ünïcödé"]
)
def test_a_malformed_request_id_is_replaced(client, request_lines, sent) -> None:
    response = client.get("/healthz", headers={"X-Request-ID": sent})

    replaced = response.headers["X-Request-ID"]
    assert GENERATED_ID.match(replaced)
    assert [line["request_id"] for line in request_lines()] == [replaced]
    assert sent not in json.dumps(request_lines())


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [("GET", "/no/such/route", 404), ("DELETE", "/healthz", 405), ("GET", "/api/me", 401)],
)
def test_error_answers_are_logged_with_an_id_too(
    client, request_lines, method, path, status
) -> None:
    response = client.open(path, method=method)

    assert response.status_code == status
    (line,) = request_lines()
    assert (line["method"], line["path"], line["status"]) == (method, path, status)
    assert line["request_id"] == response.headers["X-Request-ID"]


def test_no_query_string_header_or_body_reaches_the_log(
    client, request_lines, caplog, make_token, oauth_client
) -> None:
    tokens = make_token("alice")
    secret = f"s3cret-{secrets.token_hex(8)}"
    client.get(f"/api/me?access_token={secret}&x={secret}")
    client.get("/api/me", headers=bearer(tokens["access_token"]))
    client.post(
        f"/oauth/token?password={secret}",
        data={"grant_type": "password", "username": "alice", "password": PASSWORD},
    )
    client.post(
        "/oauth/token",
        data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
    )

    paths = [line["path"] for line in request_lines()]
    assert paths[-4:] == ["/api/me", "/api/me", "/oauth/token", "/oauth/token"]
    everything = "\n".join(record.getMessage() for record in caplog.records)
    for value in (secret, PASSWORD, tokens["access_token"], tokens["refresh_token"]):
        assert value not in everything
    assert oauth_client.secret not in everything


def test_a_path_with_a_newline_stays_one_line(client, request_lines, caplog) -> None:
    client.get("/x%0A%7B%22forged%22%3A1%7D")

    (record,) = [r for r in caplog.records if r.name == "authserver.request"]
    formatted = JSONFormatter().format(record)
    assert "\n" not in formatted
    assert "forged" not in json.loads(formatted)  # the path is a value, not merged keys
    assert json.loads(formatted)["path"] == '/x\n{"forged":1}'


def test_the_formatter_merges_the_request_fields_into_one_object(client, caplog) -> None:
    caplog.set_level(logging.INFO, logger="authserver.request")
    client.get("/healthz", headers={"X-Request-ID": "merge-me"})

    (record,) = [r for r in caplog.records if r.name == "authserver.request"]
    line = json.loads(JSONFormatter().format(record))

    assert line["level"] == "INFO" and line["logger"] == "authserver.request"
    assert line["ts"].endswith("+00:00")
    assert line["request_id"] == "merge-me" and line["path"] == "/healthz"


def test_the_formatter_keeps_an_exception_on_one_line() -> None:
    try:
        raise ValueError("boom\nsecond line")
    except ValueError:
        record = logging.LogRecord("authserver", logging.ERROR, __file__, 1, "failed", (), None)
        record.exc_info = sys.exc_info()

    formatted = JSONFormatter().format(record)

    assert "\n" not in formatted
    assert "ValueError" in json.loads(formatted)["exception"]


def test_x_forwarded_for_is_not_trusted_without_a_proxy_setup(client, request_lines) -> None:
    """The logged (and rate-limited, and audited) address is the peer's: a header any client
    can send must not choose it. Behind a proxy, see docs/deploy.md (ProxyFix)."""
    client.get("/healthz", headers={"X-Forwarded-For": "203.0.113.9"})

    assert [line["remote_addr"] for line in request_lines()] == ["127.0.0.1"]


def test_request_log_off_means_no_line_and_no_header(settings, request_lines) -> None:
    from authserver.app import create_app
    from tests.conftest import close_app

    app = create_app("testing", {**settings, "REQUEST_LOG": False})
    try:
        response = app.test_client().get("/healthz", headers={"X-Request-ID": "abc"})
    finally:
        with app.app_context():
            close_app(app)

    assert "X-Request-ID" not in response.headers
    assert request_lines() == []


# -- under gunicorn ----------------------------------------------------------------------------


@pytest.mark.processes
def test_gunicorn_logs_one_json_line_per_request_without_secrets(
    gunicorns: Gunicorns,
    tmp_path,
) -> None:
    env = server_env(
        DATABASE_URL=f"sqlite:///{tmp_path / 'authserver.db'}",
        SIGNING_KEYS=str(tmp_path / "signing-keys.json"),
        LOG_LEVEL="INFO",
    )
    seeded = migrate_and_seed(env)
    server = gunicorns.start(env, "log")
    viewer, client = seeded.usernames["viewer"], seeded.client
    tokens = password_grant(server.base, client, viewer).json()
    secret = f"s3cret-{secrets.token_hex(8)}"
    sent = [
        requests.get(server.url(f"/api/me?access_token={secret}"), timeout=10),
        requests.get(
            server.url("/api/me"),
            headers={**bearer(tokens["access_token"]), "X-Request-ID": "trace-42"},
            timeout=10,
        ),
        requests.get(server.url("/healthz"), headers={"X-Request-ID": "bad id"}, timeout=10),
        password_grant(server.base, client, viewer, password=secret),
    ]
    ids = [response.headers["X-Request-ID"] for response in sent]

    gunicorns.stop_all()  # every line is written
    log = server.log_text()
    lines = [line for line in json_lines(log) if line.get("event") == "request"]
    # Each worker writes its lines in order, in batches: two workers' lines interleave by
    # batch, so the request ids say which line is which request.
    paths = {line["request_id"]: line["path"] for line in lines}
    assert ids[1] == "trace-42" and GENERATED_ID.match(ids[2])
    assert [paths.get(request_id) for request_id in ids] == [
        "/api/me",
        "/api/me",
        "/healthz",
        "/oauth/token",
    ]
    for value in (secret, PASSWORD, tokens["access_token"], tokens["refresh_token"], client[1]):
        assert value not in log


def test_proxy_hops_take_the_address_the_nearest_proxy_wrote(settings, request_lines) -> None:
    """With AUTHSERVER_PROXY_HOPS=1 the last X-Forwarded-For entry (written by our proxy)
    is the client; what the client itself put further left is still ignored."""
    from authserver.app import create_app
    from tests.conftest import close_app

    app = create_app("testing", {**settings, "PROXY_HOPS": 1})
    try:
        forwarded = {"X-Forwarded-For": "198.51.100.7, 203.0.113.9"}
        app.test_client().get("/healthz", headers=forwarded)
    finally:
        with app.app_context():
            close_app(app)

    assert [line["remote_addr"] for line in request_lines()] == ["203.0.113.9"]


def test_the_writer_thread_writes_every_line_in_order_and_finishes_at_close() -> None:
    """Off the request path (web/request_log.py, LineWriter): the lines a process queued
    reach their streams in order, each whole, as the handler would write them."""
    from authserver.web import request_log

    streams = [io.StringIO(), io.StringIO()]
    for number in range(200):
        fields = (1764547200.5, f"id{number}", "GET", f"/n/{number}", 200, 0.001, "192.0.2.1")
        request_log.WRITER.put(streams[number % 2], fields)
    request_log.WRITER.close()

    for parity, stream in enumerate(streams):
        lines = [json.loads(line) for line in stream.getvalue().splitlines()]
        assert [line["path"] for line in lines] == [f"/n/{n}" for n in range(parity, 200, 2)]
        assert {(line["logger"], line["level"], line["event"]) for line in lines} == {
            ("authserver.request", "INFO", "request")
        }
        assert {line["ts"] for line in lines} == {"2025-12-01T00:00:00.500+00:00"}
        assert {line["duration_ms"] for line in lines} == {1.0}
    # A line after close starts the writer again.
    request_log.WRITER.put(streams[0], (0.0, "last", "GET", "/last", 204, 0.0, None))
    request_log.WRITER.close()
    last = json.loads(streams[0].getvalue().splitlines()[-1])
    assert (last["path"], last["status"], last["remote_addr"]) == ("/last", 204, None)
