"""GET /admin/audit: who did what when, filtered and paginated newest first."""

from __future__ import annotations

from flask import Blueprint, Flask, Response, jsonify

from authserver.api.admin import params
from authserver.resource import require_scopes
from authserver.services import audit
from authserver.web.errors import render_errors_with, render_problem

bp = Blueprint("admin_audit", __name__, url_prefix="/admin")
render_errors_with(bp, render_problem)


@bp.get("/audit")
@require_scopes("audit:read")
def list_events() -> Response:
    """The audit trail, newest first, filtered by since, until, actor, kind and subject.

    ``since`` is inclusive and ``until`` exclusive (ISO 8601; no offset means UTC).
    Paginated (``limit``, ``cursor``, ``next_cursor``): a page stays stable while new
    events are appended.
    """
    query = audit.AuditQuery(
        since=params.time_param("since"),
        until=params.time_param("until"),
        actor=params.text_param("actor"),
        kind=params.text_param("kind"),
        subject=params.text_param("subject"),
        before_id=params.cursor_param(params.id_cursor),
    )
    events, next_id = audit.search(query, params.limit_param())
    return jsonify(
        events=[entry.to_dict() for entry in events],
        next_cursor=params.encode_cursor(next_id) if next_id is not None else None,
    )


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
