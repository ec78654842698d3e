"""/healthz (the process answers) and /readyz (the database, keys and policy are usable).

A load balancer polls both: /healthz never touches the database, so an outage does not make
every process look dead (and be restarted); /readyz says whether this instance can serve.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from collections.abc import Iterator

import pytest
from flask import Flask

from authserver.app import create_app
from authserver.extensions import db
from tests.conftest import PROJECT, close_app, free_port


@pytest.fixture
def unready_app(request, tmp_path, signing_keys_file) -> Iterator[Flask]:
    """An app whose database is unreachable (a closed port) or has no schema."""
    if request.param == "closed-port":
        url = f"postgresql://postgres@127.0.0.1:{free_port()}/authserver"
    else:
        url = f"sqlite:///{tmp_path / 'no-schema.db'}"
    app = create_app("testing", {"DATABASE_URL": url, "SIGNING_KEYS": str(signing_keys_file)})
    try:
        yield app
    finally:
        with app.app_context():
            close_app(app)


def test_healthz_is_200_json(client) -> None:
    response = client.get("/healthz")

    assert response.status_code == 200
    assert response.mimetype == "application/json"
    assert response.get_json() == {"status": "ok"}


def test_readyz_is_200_with_every_check_ok(client) -> None:
    response = client.get("/readyz")

    assert response.status_code == 200
    assert response.mimetype == "application/json"
    assert "Retry-After" not in response.headers
    body = response.get_json()
    assert body["status"] == "ready"
    assert body["checks"].pop("live_feed") in {"local", "starting", "ok"}  # SQLite, PostgreSQL
    assert body["checks"] == {"database": "ok", "signing_keys": "ok", "policy": "version 1"}


def test_readyz_names_the_live_policy_version(client, app) -> None:
    from authserver.services import policy_store

    source = policy_store.live_source()
    policy_store.save_version(source, actor="test", expected=1)

    assert client.get("/readyz").get_json()["checks"]["policy"] == "version 2"


@pytest.mark.parametrize("unready_app", ["closed-port", "no-schema"], indirect=True)
def test_readyz_is_503_with_retry_after_when_the_database_is_unusable(unready_app) -> None:
    response = unready_app.test_client().get("/readyz")

    assert response.status_code == 503
    assert response.mimetype == "application/json"
    assert int(response.headers["Retry-After"]) > 0
    body = response.get_json()
    assert body["status"] == "unavailable"
    assert body["checks"]["signing_keys"] == "ok"
    assert body["checks"]["database"] != "ok" or body["checks"]["policy"] != "ok"


@pytest.mark.parametrize("unready_app", ["closed-port", "no-schema"], indirect=True)
def test_readyz_does_not_publish_sql_or_driver_messages(unready_app) -> None:
    """/readyz is public: a check says what is wrong in a few words, no SQL, no traceback."""
    body = unready_app.test_client().get("/readyz").get_data(as_text=True)

    for leak in ("SELECT", "policy_versions", "sqlalche.me", "\\n", "Traceback", "127.0.0.1"):
        assert leak not in body


@pytest.mark.parametrize("unready_app", ["closed-port", "no-schema"], indirect=True)
def test_healthz_is_200_when_the_database_is_unusable(unready_app) -> None:
    response = unready_app.test_client().get("/healthz")

    assert response.status_code == 200
    assert response.get_json() == {"status": "ok"}


def test_readyz_after_the_database_comes_back_is_200(settings, tmp_path) -> None:
    """A database that was missing at start is picked up later by the same app."""
    if not settings["DATABASE_URL"].startswith("sqlite"):
        pytest.skip("the SQLite file stands for a database that appears later")
    path = tmp_path / "later.db"
    app = create_app("testing", {**settings, "DATABASE_URL": f"sqlite:///{path}"})
    try:
        client = app.test_client()
        assert client.get("/readyz").status_code == 503
        import flask_migrate

        with app.app_context():
            flask_migrate.upgrade()
            from authserver.services import policy_store

            policy_store.seed_if_empty(app)
            db.session.remove()

        response = client.get("/readyz")
        assert response.status_code == 200, response.get_json()
    finally:
        with app.app_context():
            close_app(app)


@pytest.mark.processes
def test_readyz_answers_within_seconds_when_the_database_never_answers(tmp_path) -> None:
    """A black hole: a socket that listens but never speaks (a frozen server, a firewall
    that drops). The app must answer 503 within seconds, not hang its workers."""
    script = textwrap.dedent(
        f"""
        import socket
        from authserver.app import create_app
        hole = socket.socket()
        hole.bind(("127.0.0.1", 0))
        hole.listen(16)
        url = "postgresql://postgres@127.0.0.1:%d/x" % hole.getsockname()[1]
        app = create_app("testing", {{"DATABASE_URL": url,
                                      "SIGNING_KEYS": {str(tmp_path / "keys.json")!r}}})
        print(app.test_client().get("/readyz").status_code)
        """
    )
    try:
        result = subprocess.run(
            [sys.executable, "-c", script],
            cwd=PROJECT,
            capture_output=True,
            text=True,
            timeout=15,
        )
    except subprocess.TimeoutExpired:
        pytest.fail("create_app or /readyz still waiting for the database after 15 s")
    assert result.stdout.strip() == "503", result.stderr
