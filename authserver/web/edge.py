"""The one WSGI layer around Flask: request id, security headers, request timer and log line.

Every answer passes here, error handlers', Werkzeug's own errors' and the rate limiter's
429 included. Each concern keeps its own module (``headers``: which headers;
``request_log``: the request id, the line and its writer; ``metrics``: the timings); this
layer calls them from one ``start_response``, when the answer starts (Flask's request,
with its matched rule, is still current then). No Flask hook and no context-proxy lookup.

One layer, not one per concern: under gunicorn a worker's caches are cold after each
request's socket calls, and a request's cost follows the code it runs. Measured in one
process, three layers, each with its own closure and ``start_response``, cost a protected
request 11-12 µs; this one 5-7 µs (bench/README.md, third round).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from time import perf_counter

from flask import Flask

from authserver.web import headers, metrics, request_log


class Edge:
    """WSGI middleware: the request id in (``log_requests``), and when the answer starts:
    the security headers and the id out, one timing, one log line."""

    def __init__(self, wsgi_app: Callable, log_requests: bool) -> None:
        self.wsgi_app, self.log_requests = wsgi_app, log_requests

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        started = perf_counter()
        request_id = request_log.request_id_of(environ) if self.log_requests else None

        def start(status: str, response_headers: list[tuple[str, str]], exc_info=None):
            headers.add_to(response_headers, request_id)
            if "authserver.answered" not in environ:  # once: an error may start again
                environ["authserver.answered"] = True
                seconds = perf_counter() - started
                request = environ.get("werkzeug.request")  # Flask's, still current
                if request is not None:
                    metrics.time_request(request, seconds)
                if request_id is not None:
                    request_log.record(environ, request, request_id, status, seconds)
            return start_response(status, response_headers, exc_info)

        return self.wsgi_app(environ, start)


def init_app(app: Flask) -> None:
    """Wrap the app's WSGI callable (Flask's documented way to add middleware); without the
    request log (AUTHSERVER_REQUEST_LOG=false) there is no request id either."""
    # mypy: wsgi_app is a method of Flask; replacing it on the instance is the documented way.
    app.wsgi_app = Edge(app.wsgi_app, bool(app.config["REQUEST_LOG"]))  # type: ignore[method-assign]
