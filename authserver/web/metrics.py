"""/metrics, the request timer and the token-request count, in prometheus-client's
multiprocess mode under gunicorn.

With PROMETHEUS_MULTIPROC_DIR set (config/gunicorn.conf.py sets it), every worker writes its
samples to that folder and /metrics merges them; without it, the process's own registry.
The metric objects themselves live in ``authserver/telemetry.py``, where services can count
without importing web plumbing.
"""

from __future__ import annotations

import hmac
import os
import time
from collections.abc import Callable, Iterable
from typing import Any

from flask import Flask, Response, current_app, g, request
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    generate_latest,
    multiprocess,
)
from werkzeug.exceptions import HTTPException

from authserver.models.client import GRANT_TYPES
from authserver.telemetry import REQUEST_SECONDS, TOKEN_REQUESTS


def render() -> tuple[bytes, str]:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST


class RequestTimer:
    """WSGI middleware timing each request under its route and method, observed when the
    response starts (Flask's request, with its matched rule, is still current then). No
    Flask hook and no context-proxy lookups: this runs on every request."""

    def __init__(self, wsgi_app: Callable) -> None:
        self.wsgi_app = wsgi_app

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        started = time.perf_counter()

        def start(status: str, headers: list[tuple[str, str]], exc_info=None):
            request = environ.get("werkzeug.request")
            if request is not None and "authserver.timed" not in environ:
                environ["authserver.timed"] = True
                rule = request.url_rule
                _timer(rule.rule if rule else "(unmatched)", request.method).observe(
                    time.perf_counter() - started
                )
            return start_response(status, headers, exc_info)

        return self.wsgi_app(environ, start)


#: The timer of each (route, method) seen, so a request skips prometheus-client's label
#: checks (they run once per pair, in ``labels``).
_TIMERS: dict[tuple[str, str], Any] = {}


def _timer(route: str, method: str) -> Any:
    timer = _TIMERS.get((route, method))
    if timer is None:
        timer = _TIMERS[(route, method)] = REQUEST_SECONDS.labels(route, method)
    return timer


def _count_unanswered(response: Response) -> Response:
    """After a request to the oauth blueprint: count a token request the view did not."""
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
    """The merged samples; with AUTHSERVER_METRICS_TOKEN set, only for a request bearing it
    (the counters tell an attacker how its guessing goes: /metrics must not be public)."""
    token = current_app.config.get("METRICS_TOKEN")
    if token and not _bears(token):
        return Response(
            "metrics need Authorization: Bearer <AUTHSERVER_METRICS_TOKEN>\n",
            401,
            {"WWW-Authenticate": 'Bearer realm="metrics"', "Content-Type": "text/plain"},
        )
    body, content_type = render()
    return Response(body, content_type=content_type)


def _bears(token: str) -> bool:
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(given.encode(), token.encode())


def init_app(app: Flask) -> None:
    """The request timer (middleware), the token-request count and the /metrics route
    (not registered with AUTHSERVER_METRICS=off)."""
    # mypy: wsgi_app is a method of Flask; replacing it on the instance is the documented way.
    app.wsgi_app = RequestTimer(app.wsgi_app)  # type: ignore[method-assign]
    # Registered for the token endpoint's blueprint only (by name: it is registered later).
    app.after_request_funcs.setdefault(TOKEN_ENDPOINT.split(".")[0], []).append(_count_unanswered)
    if app.config.get("METRICS", "on") != "off":
        app.add_url_rule("/metrics", "metrics", _metrics, methods=["GET"])


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
