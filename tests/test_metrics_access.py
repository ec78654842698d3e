"""Issue 10 item 11: /metrics (failed logins, lockouts, reuse) can be restricted or turned
off: AUTHSERVER_METRICS_TOKEN asks for a bearer token, AUTHSERVER_METRICS=off removes it."""

from __future__ import annotations

import pytest

from authserver.app import create_app
from authserver.config import ConfigError
from tests.conftest import close_app

TOKEN = "metrics-scraper-token-0123456789"


def app_with(settings: dict, **changes: str):
    return create_app("testing", {**settings, **changes})


def test_metrics_are_open_by_default(client):
    assert client.get("/metrics").status_code == 200


def test_metrics_token_refuses_requests_without_it(settings):
    app = app_with(settings, METRICS_TOKEN=TOKEN)
    with app.app_context():
        web = app.test_client()
        refused = [
            web.get("/metrics"),
            web.get("/metrics", headers={"Authorization": "Bearer wrong"}),
            web.get("/metrics", headers={"Authorization": f"Basic {TOKEN}"}),
        ]
        assert [r.status_code for r in refused] == [401] * 3
        assert refused[0].headers["WWW-Authenticate"].startswith("Bearer")
        assert b"authserver_" not in refused[0].data
        allowed = web.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
        assert allowed.status_code == 200 and b"authserver_" in allowed.data
        close_app(app)


def test_metrics_off_removes_the_route(settings):
    app = app_with(settings, METRICS="off")
    with app.app_context():
        response = app.test_client().get("/metrics")
        assert response.status_code == 404
        assert not response.mimetype.startswith("text/html")
        close_app(app)


def test_bad_metrics_setting_stops_the_start_with_one_line(settings):
    with pytest.raises(ConfigError, match="AUTHSERVER_METRICS"):
        app_with(settings, METRICS="maybe")
