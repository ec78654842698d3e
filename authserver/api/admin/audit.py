"""GET /admin/audit: who did what when, filtered and paginated newest first."""

from __future__ import annotations

from datetime import UTC, datetime

from flask import Blueprint, Flask, Response, jsonify, request

from authserver.resource import require_scopes
from authserver.services import audit
from authserver.web.errors import ProblemError

bp = Blueprint("admin_audit", __name__, url_prefix="/admin")

DEFAULT_LIMIT = 50
MAX_LIMIT = 500


def invalid_param(name: str, reason: str) -> ProblemError:
    """A 400 problem naming the query parameter at fault (RFC 9457 §3's invalid-params)."""
    return ProblemError(
        400,
        "Bad Request",
        f"query parameter {name!r}: {reason}",
        invalid_params=[{"name": name, "reason": reason}],
    )


def text_param(name: str) -> str | None:
    """A filter value; control characters are refused (PostgreSQL rejects NUL in text)."""
    value = request.args.get(name)
    if value is not None and any(ord(char) < 32 for char in value):
        raise invalid_param(name, "contains control characters")
    return value


def limit_param() -> int:
    text = request.args.get("limit")
    if text is None:
        return DEFAULT_LIMIT
    if not text.isdecimal() or not 1 <= int(text) <= MAX_LIMIT:
        raise invalid_param("limit", f"expected a whole number from 1 to {MAX_LIMIT}")
    return int(text)


def cursor_param() -> int | None:
    """The opaque cursor a previous page returned as ``next_cursor``."""
    text = request.args.get("cursor")
    if text is None:
        return None
    if not text.isdecimal() or len(text) > 18:
        raise invalid_param("cursor", "not a cursor this endpoint returned")
    return int(text)


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


@bp.get("/audit")
@require_scopes("audit:read")
def list_events() -> Response:
    """The audit trail, newest first, filtered by since, until, actor, kind and subject.

    ``since`` is inclusive and ``until`` exclusive (ISO 8601; no offset means UTC).
    ``limit`` is 1-500 (default 50); pass ``next_cursor`` back as ``cursor`` for the next
    page, which stays stable while new events are appended.
    """
    query = audit.AuditQuery(
        since=time_param("since"),
        until=time_param("until"),
        actor=text_param("actor"),
        kind=text_param("kind"),
        subject=text_param("subject"),
        before_id=cursor_param(),
    )
    events, next_id = audit.search(query, limit_param())
    return jsonify(
        events=[entry.to_dict() for entry in events],
        next_cursor=str(next_id) if next_id is not None else None,
    )


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
