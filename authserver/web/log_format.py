"""JSON log lines: one object per record, so request and audit lines parse as they are."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime


class JSONFormatter(logging.Formatter):
    """``{"ts", "level", "logger", ...}``; a message that is itself a JSON object is merged."""

    def format(self, record: logging.LogRecord) -> str:
        message = record.getMessage()
        if getattr(record, "json_message", False) and not record.exc_info:
            # Already a JSON object made by us (request lines): splice, don't parse it again.
            head = json.dumps(self._head(record))
            return f"{head[:-1]}, {message[1:]}" if len(message) > 2 else head
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
        return {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
        }
