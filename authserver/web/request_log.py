"""One JSON log line per request, with a request id (X-Request-ID in, or a new one; always out).

Only the path is logged, never the query string, headers or body: those can carry tokens and
passwords.
"""

from __future__ import annotations

import json
import logging
import re
import secrets
import time

from flask import Flask, Response, g, request

log = logging.getLogger("authserver.request")
REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


def _begin() -> None:
    incoming = request.headers.get("X-Request-ID", "")
    g.request_id = incoming if REQUEST_ID.match(incoming) else secrets.token_hex(8)
    g.request_started = time.perf_counter()


def _end(response: Response) -> Response:
    request_id = g.get("request_id")
    if request_id is None:
        return response
    response.headers["X-Request-ID"] = request_id
    if log.isEnabledFor(logging.INFO):
        started = g.get("request_started", time.perf_counter())
        line = {
            "event": "request",
            "request_id": request_id,
            "method": request.method,
            "path": request.path[:200],
            "status": response.status_code,
            "duration_ms": round((time.perf_counter() - started) * 1000, 2),
            "remote_addr": request.remote_addr,
        }
        log.info(json.dumps(line), extra={"json_message": True})
    return response


def init_app(app: Flask) -> None:
    if not app.config["REQUEST_LOG"]:
        return
    app.before_request(_begin)
    app.after_request(_end)
