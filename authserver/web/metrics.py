"""Prometheus metrics, in prometheus-client's multiprocess mode under gunicorn.

With PROMETHEUS_MULTIPROC_DIR set (config/gunicorn.conf.py sets it), every worker writes its
samples to that folder and /metrics merges them; without it, the process's own registry.
The metric objects are module-level by design: prometheus-client's registry is global.
"""

from __future__ import annotations

import os
import time

from flask import Flask, Response, g, request
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)
from werkzeug.exceptions import HTTPException

TOKEN_REQUESTS = Counter(
    "authserver_token_requests",
    "Token endpoint requests by grant type and outcome (success or the RFC 6749 error).",
    ["grant_type", "outcome"],
)
REQUEST_SECONDS = Histogram(
    "authserver_request_duration_seconds",
    "Request latency by route and method.",
    ["route", "method"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
)
LOCKOUTS = Counter("authserver_lockouts", "Accounts locked after repeated failed logins.")
REUSE_DETECTIONS = Counter(
    "authserver_refresh_reuse_detections", "Refresh-token reuse detected (family revoked)."
)
POLICY_VERSION = Gauge(
    "authserver_policy_version", "Live policy version this process uses.", multiprocess_mode="max"
)


def render() -> tuple[bytes, str]:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST


def _start_timer() -> None:
    g.metrics_started = time.perf_counter()


def _observe(response: Response) -> Response:
    started = g.pop("metrics_started", None)
    if started is not None:
        route = request.url_rule.rule if request.url_rule else "(unmatched)"
        REQUEST_SECONDS.labels(route, request.method).observe(time.perf_counter() - started)
    if request.endpoint == TOKEN_ENDPOINT and not g.get("token_request_counted"):
        # The view counts what it answers; this counts what never reached its end: the
        # rate limit's 429, a database or Redis outage's 503.
        count_token_request(_form_grant_type(), response)
    return response


def _form_grant_type() -> str | None:
    """The grant_type of the form, if it can be read at all (not a 413, say)."""
    try:
        return request.form.get("grant_type")
    except HTTPException:  # a body Werkzeug refuses (too large, cut short)
        return None


def _metrics() -> Response:
    body, content_type = render()
    return Response(body, content_type=content_type)


def init_app(app: Flask) -> None:
    app.before_request(_start_timer)
    app.after_request(_observe)
    app.add_url_rule("/metrics", "metrics", _metrics, methods=["GET"])


GRANT_TYPES = frozenset({"password", "refresh_token"})
TOKEN_ENDPOINT = "oauth.token"


def count_token_request(grant_type: str | None, response: Response) -> None:
    """Count a token request by grant and outcome; unknown grant names are not labels."""
    g.token_request_counted = True
    label = grant_type if grant_type in GRANT_TYPES else "other"
    if response.status_code == 200:
        outcome = "success"
    else:
        body = response.get_json(silent=True) or {}
        outcome = body.get("error", "error") if isinstance(body, dict) else "error"
    TOKEN_REQUESTS.labels(label, str(outcome)[:40]).inc()
