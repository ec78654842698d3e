"""/metrics, the request timer and the token-request count, in prometheus-client's
multiprocess mode under gunicorn.

With PROMETHEUS_MULTIPROC_DIR set (config/gunicorn.conf.py sets it), every worker writes its
samples to that folder and /metrics merges them; without it, the process's own registry.
The metric objects themselves live in ``authserver/telemetry.py``, where services can count
without importing web plumbing.
"""

from __future__ import annotations

import os
import time
from typing import Any

from flask import Flask, Response, g, request
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


def _start_timer() -> None:
    g.metrics_started = time.perf_counter()


#: The timer of each (route, method) seen, so a request skips prometheus-client's label
#: checks (they run once per pair, in ``labels``).
_TIMERS: dict[tuple[str, str], Any] = {}


def _observe(response: Response) -> Response:
    started = g.pop("metrics_started", None)
    current = request._get_current_object()  # type: ignore[attr-defined]  # one proxy lookup
    rule = current.url_rule
    if started is not None:
        key = (rule.rule if rule else "(unmatched)", current.method)
        timer = _TIMERS.get(key)
        if timer is None:
            timer = _TIMERS[key] = REQUEST_SECONDS.labels(*key)
        timer.observe(time.perf_counter() - started)
    if rule is not None and rule.endpoint == TOKEN_ENDPOINT and not g.get("token_request_counted"):
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
