"""One JSON log line per request, with a request id (X-Request-ID in, or a new one; always out).

Only the path is logged, never the query string, headers or body: those can carry tokens and
passwords.

This runs on every request, so it is written for speed (see README, Performance): WSGI
middleware, so no Flask hook and no context-proxy lookups; the line is written when the
app starts its response (the request is still current then, so the line goes to that
request's ``wsgi.errors`` as before); one ``%`` template, strings quoted by the json
module's own C encoder (exactly what ``json.dumps`` of the same dict gives); the record is
handed to the logger without the caller lookup ``Logger.info`` does, and the formatter
splices it after its head.
"""

from __future__ import annotations

import logging
import os
import re
import threading
import time
from collections.abc import Callable, Iterable
from json.encoder import encode_basestring_ascii as _quote

from flask import Flask

log = logging.getLogger("authserver.request")
REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
#: Field for field what ``json.dumps`` gave for the dict this line used to be. The request
#: id needs no quoting: it matches REQUEST_ID or is hexadecimal.
LINE = (
    '{"event": "request", "request_id": "%s", "method": %s, "path": %s, "status": %d, '
    '"duration_ms": %r, "remote_addr": %s}'
)


class RequestLog:
    """WSGI middleware: the request id in and out, and the line when the response starts."""

    def __init__(self, wsgi_app: Callable) -> None:
        self.wsgi_app = wsgi_app

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        started = time.perf_counter()
        incoming = environ.get("HTTP_X_REQUEST_ID", "")
        request_id = incoming if REQUEST_ID.match(incoming) else os.urandom(8).hex()
        environ["authserver.request_id"] = request_id

        def start(status: str, headers: list[tuple[str, str]], exc_info=None):
            if not any(name.lower() == "x-request-id" for name, _ in headers):
                headers.append(("X-Request-ID", request_id))
            if log.isEnabledFor(logging.INFO) and "authserver.logged" not in environ:
                environ["authserver.logged"] = True
                log.handle(_record(environ, request_id, int(status[:3]), started))
            return start_response(status, headers, exc_info)

        return self.wsgi_app(environ, start)


def _record(environ: dict, request_id: str, status: int, started: float) -> logging.LogRecord:
    request = environ.get("werkzeug.request")  # Flask's request, still current here
    if request is not None:
        method, path, address = request.method, request.path, request.remote_addr
    else:  # not reached through Flask: the raw values
        method, path = environ.get("REQUEST_METHOD", ""), environ.get("PATH_INFO", "")
        address = environ.get("REMOTE_ADDR")
    message = LINE % (
        request_id,
        _quote(method),
        _quote(path[:200]),
        status,
        round((time.perf_counter() - started) * 1000, 2),
        "null" if address is None else _quote(address),
    )
    return _RequestRecord(message)


class _RequestRecord(logging.LogRecord):
    """The request line's record, made without ``LogRecord.__init__``'s per-record lookups
    (source file name and module, thread and process names): those are the same on every
    line, so they are copied from one record made the usual way. The message is already a
    JSON object: the formatter splices it (``json_message``)."""

    json_message = True
    _fixed: dict | None = None
    _fixed_pid = 0

    def __init__(self, message: str) -> None:
        pid = os.getpid()
        if _RequestRecord._fixed is None or _RequestRecord._fixed_pid != pid:
            model = logging.LogRecord(log.name, logging.INFO, __file__, 0, "", (), None, "start")
            _RequestRecord._fixed, _RequestRecord._fixed_pid = vars(model), pid
        attributes = self.__dict__
        attributes.update(_RequestRecord._fixed)
        attributes["msg"] = message
        now = time.time_ns()
        attributes["created"] = now / 1e9
        attributes["msecs"] = (now % 1_000_000_000) // 1_000_000 + 0.0
        # What LogRecord.__init__ uses: logging's start time, private, so not in typeshed.
        attributes["relativeCreated"] = (now / 1e9 - logging._startTime) * 1000  # type: ignore[attr-defined]
        attributes["thread"] = threading.get_ident()
        attributes["threadName"] = threading.current_thread().name


def init_app(app: Flask) -> None:
    """Wrap the app's WSGI callable (Flask's documented way to add middleware)."""
    if not app.config["REQUEST_LOG"]:
        return
    # mypy: wsgi_app is a method of Flask; replacing it on the instance is the documented way.
    app.wsgi_app = RequestLog(app.wsgi_app)  # type: ignore[method-assign]
