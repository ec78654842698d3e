"""One JSON log line per request, with a request id (X-Request-ID in, or a new one; always out).

Only the path is logged, never the query string, headers or body: those can carry tokens and
passwords.

This runs on every request, so it is written for speed (see README, Performance): the line
is one ``%`` template (strings quoted by the json module's own C encoder, so it is exactly
what ``json.dumps`` of the same dict would give), the record is handed to the logger
without the caller lookup ``Logger.info`` does, and the formatter splices it after its head.
"""

from __future__ import annotations

import logging
import os
import re
import time
from json.encoder import encode_basestring_ascii as _quote

from flask import Flask, Response, g, request

log = logging.getLogger("authserver.request")
REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
#: Field for field what ``json.dumps`` gave for the dict this line used to be. The request
#: id needs no quoting: it matches REQUEST_ID or is hexadecimal.
LINE = (
    '{"event": "request", "request_id": "%s", "method": %s, "path": %s, "status": %d, '
    '"duration_ms": %r, "remote_addr": %s}'
)


def _begin() -> None:
    incoming = request.environ.get("HTTP_X_REQUEST_ID", "")
    g.request_id = incoming if REQUEST_ID.match(incoming) else os.urandom(8).hex()
    g.request_started = time.perf_counter()


def _end(response: Response) -> Response:
    request_id = g.get("request_id")
    if request_id is None:
        return response
    response.headers["X-Request-ID"] = request_id
    if log.isEnabledFor(logging.INFO):
        log.handle(_record(request_id, response.status_code))
    return response


def _record(request_id: str, status: int) -> logging.LogRecord:
    started = g.get("request_started", time.perf_counter())
    address = request.remote_addr
    message = LINE % (
        request_id,
        _quote(request.method),
        _quote(request.path[:200]),
        status,
        round((time.perf_counter() - started) * 1000, 2),
        "null" if address is None else _quote(address),
    )
    record = log.makeRecord(log.name, logging.INFO, __file__, 0, message, (), None, "_end")
    record.json_message = True  # already a JSON object: the formatter splices it
    return record


def init_app(app: Flask) -> None:
    if not app.config["REQUEST_LOG"]:
        return
    app.before_request(_begin)
    app.after_request(_end)
