"""JSON log lines: one object per record, so request and audit lines parse as they are."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from json.encoder import encode_basestring_ascii as _quote

from flask.logging import default_handler, wsgi_errors_stream

#: The head of every line, as ``json.dumps`` of ``_head``'s dict would write it, open at the end.
_HEAD = '{"ts": "%s", "level": %s, "logger": %s'


class JSONFormatter(logging.Formatter):
    """``{"ts", "level", "logger", ...}``; a message that is itself a JSON object is merged."""

    def format(self, record: logging.LogRecord) -> str:
        message = record.getMessage()
        if getattr(record, "json_message", False) and not record.exc_info:
            # Already a JSON object made by us (request lines): splice, don't parse it again.
            head = _HEAD % (_timestamp(record), _quote(record.levelname), _quote(record.name))
            return f"{head}, {message[1:]}" if len(message) > 2 else head + "}"
        payload: dict = {}
        if message.startswith("{"):
            try:
                payload = json.loads(message)
            except ValueError:
                payload = {}
        if not isinstance(payload, dict) or not payload:
            payload = {"message": message}
        line = {**self._head(record), **payload}
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str)

    @staticmethod
    def _head(record: logging.LogRecord) -> dict:
        return {"ts": _timestamp(record), "level": record.levelname, "logger": record.name}


def _timestamp(record: logging.LogRecord) -> str:
    return iso_timestamp(record.created)


_second: list = [None, ""]  # [the whole second last formatted, its text up to the seconds]


def iso_timestamp(when: float) -> str:
    """``when`` as ``datetime.isoformat(timespec="milliseconds")`` in UTC writes it
    (``2026-11-30T20:44:31.931+00:00``); the date and time up to the second are made once
    per second, not once per line."""
    second = int(when)
    microseconds = round((when - second) * 1e6)  # as datetime.fromtimestamp rounds
    if microseconds >= 1_000_000:
        second, microseconds = second + 1, microseconds - 1_000_000
    if _second[0] != second:
        text = datetime.fromtimestamp(second, UTC).isoformat(timespec="seconds")[:-6]
        _second[0], _second[1] = second, text  # one list: a thread reads both or neither
    return f"{_second[1]}.{microseconds // 1000:03d}+00:00"


class WSGIErrorsHandler(logging.StreamHandler):
    """Flask's default handler (the request's ``wsgi.errors``, else stderr), but finding that
    stream once per record: Flask's resolves its proxy four times per line (write, and the
    flush's checks), a tenth of a protected request's time."""

    def __init__(self) -> None:
        super().__init__(wsgi_errors_stream)

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = self.format(record) + self.terminator
            stream = wsgi_errors_stream._get_current_object()
            stream.write(line)
            stream.flush()
        except RecursionError:
            raise
        except Exception:
            self.handleError(record)


#: One handler for every app, like Flask's ``default_handler`` it stands in for.
HANDLER = WSGIErrorsHandler()
HANDLER.setFormatter(JSONFormatter())


def use_json_handler(logger: logging.Logger) -> None:
    """Where Flask put its default handler on ``logger``, put :data:`HANDLER` instead."""
    if default_handler in logger.handlers:
        logger.removeHandler(default_handler)
        logger.addHandler(HANDLER)
