"""/metrics, the request timer and the token-request count, in prometheus-client's
multiprocess mode under gunicorn.

With PROMETHEUS_MULTIPROC_DIR set (config/gunicorn.conf.py sets it), every worker writes its
samples to that folder and /metrics merges them; without it, the process's own registry.
The metric objects themselves live in ``authserver/telemetry.py``, where services can count
without importing web plumbing.
"""

from __future__ import annotations

import atexit
import bisect
import hmac
import logging
import os
import threading
import time
from typing import Any

from flask import Flask, Request, Response, current_app, g, request
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    generate_latest,
    multiprocess,
)
from werkzeug.exceptions import HTTPException

from authserver import forks
from authserver.models.client import GRANT_TYPES
from authserver.telemetry import REQUEST_SECONDS, TOKEN_REQUESTS


def render() -> tuple[bytes, str]:
    TIMINGS.flush()  # this process's own requests up to now
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST


def time_request(request: Request, seconds: float) -> None:
    """Count a request that took ``seconds`` under its route and method (called by the one
    WSGI layer, web/edge.py, when the answer starts: the matched rule is known then)."""
    rule = request.url_rule
    TIMINGS.observe((rule.rule if rule else "(unmatched)", request.method), seconds)


class PendingTimings:
    """The request timer's observations, counted in process and written to the histogram
    at most ``every`` seconds.

    In multiprocess mode each ``Histogram.observe`` is two writes to a memory-mapped file,
    each under prometheus-client's lock: a tenth of a protected request's own time. Here a
    request adds to a bucket count and a sum in a dictionary, and the sums are handed to
    the histogram's values (what ``observe`` updates, bucket by bucket) once a second: by a
    daemon thread of the process (started on first use, after gunicorn's fork), before
    this process renders /metrics, and at exit. What /metrics shows of other workers is at
    most ``every`` seconds behind; the counts themselves are exact.
    """

    def __init__(self, histogram: Any, every: float = 1.0) -> None:
        self.histogram, self.every = histogram, every
        self._bounds: tuple[float, ...] = tuple(histogram._upper_bounds)
        self._pending: dict[tuple[str, str], list] = {}
        self._lock = threading.Lock()
        self._pid = 0

    def observe(self, labels: tuple[str, str], seconds: float) -> None:
        """Count one request of ``labels`` (route, method) that took ``seconds``."""
        if self._pid != forks.pid():
            self._start()
        index = bisect.bisect_left(self._bounds, seconds)  # the first bound >= seconds
        with self._lock:
            entry = self._pending.get(labels)
            if entry is None:
                entry = self._pending[labels] = [0.0, [0] * len(self._bounds)]
            entry[0] += seconds
            entry[1][index] += 1

    def flush(self) -> None:
        """Write what was counted since the last flush to the histogram's values."""
        with self._lock:
            pending, self._pending = self._pending, {}
        for labels, (total, counts) in pending.items():
            # The child's values, updated as Histogram.observe updates them (sum, then
            # each bucket by its count): one write per bucket hit, not per request.
            timer = self.histogram.labels(*labels)
            timer._sum.inc(total)
            for index, count in enumerate(counts):
                if count:
                    timer._buckets[index].inc(count)

    def _start(self) -> None:
        with self._lock:
            if self._pid == forks.pid():
                return
            self._pid = forks.pid()
            self._pending = {}  # a fork's copy of its parent's counts is not its own
        thread = threading.Thread(target=self._run, name="authserver-metrics", daemon=True)
        thread.start()
        atexit.register(self.flush)

    def _run(self) -> None:
        pid = forks.pid()
        while self._pid == pid:
            time.sleep(self.every)
            try:
                self.flush()
            except Exception:  # noqa: BLE001 - never let the flusher die; try again next second
                logging.getLogger(__name__).exception("request timings not flushed")


TIMINGS = PendingTimings(REQUEST_SECONDS)


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
    """The token-request count and the /metrics route (not registered with
    AUTHSERVER_METRICS=off); requests are timed by the one WSGI layer (web/edge.py)."""
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
