"""What every admin route reads from a request: query parameters, the page, the actor.

One pagination style for every list (SPEC §8): ``limit`` from 1 to :data:`MAX_LIMIT`
(default :data:`DEFAULT_LIMIT`); the answer's ``next_cursor`` (null on the last page) is
passed back as ``cursor`` for the next page. Cursors are opaque to clients. A bad
parameter is a 400 problem naming it (RFC 9457 §3's ``invalid_params``).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TypeVar

from flask import request

from authserver.resource import current_token
from authserver.services.errors import BadRequest

DEFAULT_LIMIT = 50
MAX_LIMIT = 500
MAX_CURSOR = 200

T = TypeVar("T")


def invalid_param(name: str, reason: str) -> BadRequest:
    """A 400 problem naming the query parameter at fault."""
    return BadRequest(
        f"query parameter {name!r}: {reason}",
        invalid_params=[{"name": name, "reason": reason}],
    )


def text_param(name: str) -> str | None:
    """A filter value; control characters are refused (PostgreSQL rejects NUL in text)."""
    value = request.args.get(name)
    if value is not None and any(ord(char) < 32 for char in value):
        raise invalid_param(name, "contains control characters")
    return value


def int_param(name: str, default: int, low: int, high: int) -> int:
    """A whole number from ``low`` to ``high``; ``default`` when absent."""
    text = request.args.get(name)
    if text is None:
        return default
    if not text.isascii() or not text.isdigit() or not low <= int(text) <= high:
        raise invalid_param(name, f"expected a whole number from {low} to {high}")
    return int(text)


def flag_param(name: str) -> bool:
    """``true``/``1``/``yes`` or ``false``/``0``/``no`` (default false)."""
    value = request.args.get(name, "false").lower()
    if value in ("true", "1", "yes"):
        return True
    if value in ("false", "0", "no", ""):
        return False
    raise invalid_param(name, "expected true or false")


def time_param(name: str) -> datetime | None:
    """An ISO 8601 date or date-time; one without an offset is taken as UTC."""
    text = request.args.get(name)
    if text is None:
        return None
    try:
        value = datetime.fromisoformat(text)
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    except (ValueError, OverflowError):
        raise invalid_param(name, "expected an ISO 8601 date or date-time") from None


# -- pagination ---------------------------------------------------------------------------


def limit_param() -> int:
    """The page size: ``limit`` from 1 to MAX_LIMIT, default DEFAULT_LIMIT."""
    return int_param("limit", DEFAULT_LIMIT, 1, MAX_LIMIT)


def cursor_param(parse: Callable[[str], T | None]) -> T | None:
    """The position a previous page returned as ``next_cursor``, or None for the first page.

    ``parse`` turns the decoded text into the endpoint's key, or None when it is not one.
    """
    text = request.args.get("cursor")
    if text is None:
        return None
    try:
        decoded = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)).decode()
    except (binascii.Error, ValueError):
        decoded = None
    key = parse(decoded) if decoded is not None and len(text) <= MAX_CURSOR else None
    if key is None:
        raise invalid_param("cursor", "not a cursor this endpoint returned")
    return key


def encode_cursor(key: object) -> str:
    """The opaque ``next_cursor`` for a page that ends at ``key``."""
    return base64.urlsafe_b64encode(str(key).encode()).decode().rstrip("=")


def id_cursor(text: str) -> int | None:
    """A cursor parser for numeric keys (ids, version numbers)."""
    return int(text) if text.isascii() and text.isdigit() and len(text) <= 18 else None


def page(items: list[T], limit: int, key: Callable[[T], object]) -> tuple[list[T], str | None]:
    """The first ``limit`` of ``items`` (fetched as ``limit + 1`` to tell whether there is
    more) and the ``next_cursor``: the last item's key, or None on the last page."""
    if len(items) <= limit:
        return items, None
    items = items[:limit]
    return items, encode_cursor(key(items[-1]))


# -- the request body and the actor -------------------------------------------------------


def json_object() -> dict | None:
    """The body as a JSON object, or None when it is not one (nor JSON nested too deep for
    the parser: ``silent`` catches ValueError only, and RecursionError was a 500)."""
    try:
        body = request.get_json(silent=True)
    except RecursionError:
        return None
    return body if isinstance(body, dict) else None


def actor() -> str:
    """Who makes the request, as the audit trail names them: the token's username, or
    ``client:<client_id>`` for a token issued to a client alone."""
    token = current_token()
    return token.get("username") or f"client:{token['client_id']}"
