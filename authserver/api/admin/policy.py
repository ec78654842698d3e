"""Admin API for role policies (SPEC §8, §14): the live policy, its preview, versions, diff,
explain.

The ETag is the live policy version; writes need If-Match naming it (:mod:`versioned`).
One role at a time is :mod:`roles`. Errors are RFC 9457 problem details.
"""

from __future__ import annotations

from flask import Blueprint, Flask, Response, current_app, jsonify, request

from authserver.api.admin import params
from authserver.api.admin.versioned import (
    body_kind,
    saved_response,
    tagged,
    wants_yaml,
    write_options,
    yaml_response,
)
from authserver.resource import require_scopes, required_scope_names
from authserver.services import policy_admin, policy_preview, policy_store
from authserver.services.errors import NotFound
from authserver.services.policy_store import MAX_VERSION
from authserver.web.errors import render_errors_with, render_problem

bp = Blueprint("admin_policy", __name__, url_prefix="/admin")
render_errors_with(bp, render_problem)


# -- the live policy -------------------------------------------------------------------


@bp.get("/policy")
@require_scopes("policies:read")
def get_policy() -> Response:
    version, policy = policy_store.live_policy()
    if wants_yaml():
        response = yaml_response(policy_store.source_at(version))
    else:
        response = jsonify(policy.to_document())
    return tagged(response, version)


@bp.put("/policy")
@require_scopes("policies:write")
def put_policy() -> Response:
    kind = body_kind()
    return saved_response(policy_admin.replace_policy(request.get_data(), kind, write_options()))


@bp.post("/policy/preview")
@require_scopes("policies:read")
def preview_policy() -> Response:
    """Preview a candidate policy: errors, warnings, diff, who gains and loses, its tests.

    The body is a whole policy (YAML or JSON, as PUT). Nothing is stored: the answer is
    200 whether the candidate is valid or not (SPEC §14), ``{"valid", "errors",
    "warnings", "diff", "impact", "tests"}``; ``diff`` and ``impact`` are null when the
    candidate does not load.
    """
    kind = body_kind()
    required = required_scope_names(current_app)
    return jsonify(policy_preview.preview(request.get_data(), kind, required).to_dict())


# -- versions --------------------------------------------------------------------------


@bp.get("/policy/versions")
@require_scopes("policies:read")
def list_versions() -> Response:
    """Versions newest first, paginated (``limit``, ``cursor``, ``next_cursor``)."""
    limit = params.limit_param()
    before = params.cursor_param(params.id_cursor)
    rows = policy_store.list_versions(limit + 1, before)
    page, next_cursor = params.page(rows, limit, key=lambda row: row.version)
    return jsonify(versions=[_version_entry(row) for row in page], next_cursor=next_cursor)


@bp.get("/policy/versions/<int:number>")
@require_scopes("policies:read")
def get_version(number: int) -> Response:
    row = _version_or_404(number)
    if wants_yaml():
        return tagged(yaml_response(row.source), number)
    return tagged(jsonify(policy_store.policy_at(number).to_document()), number)


@bp.post("/policy/versions/<int:number>/restore")
@require_scopes("policies:write")
def restore_version(number: int) -> Response:
    return saved_response(policy_admin.restore(number, write_options()))


@bp.get("/policy/diff")
@require_scopes("policies:read")
def diff() -> Response:
    live = policy_store.newest_version()
    new = params.int_param("to", live, 1, MAX_VERSION)
    old = params.int_param("from", max(new - 1, 1), 1, MAX_VERSION)
    for number in (old, new):
        _version_or_404(number)
    changes = policy_admin.diff_versions(old, new)
    return jsonify({"from": old, "to": new, "summary": changes.summary(), **changes.to_dict()})


# -- explain ---------------------------------------------------------------------------


@bp.get("/explain")
@require_scopes("users:read", "policies:read")
def explain() -> Response:
    """Which roles give a user a scope, or why not; ``client`` alone: the client's own
    grant (client_credentials, SPEC §16)."""
    user = request.args.get("user") or None
    client = request.args.get("client") or None
    if user is None and client is None:
        raise params.invalid_param("user", "required (or client, for a client's own grant)")
    return jsonify(policy_admin.explain(user, request.args.get("scope"), client))


# -- helpers ---------------------------------------------------------------------------


def _version_or_404(number: int):
    row = policy_store.get_version(number)
    if row is None:
        raise NotFound(f"no policy version {number}")
    return row


def _version_entry(row) -> dict:
    return {
        "version": row.version,
        "created_at": row.created_at.isoformat(),
        "created_by": row.created_by,
        "comment": row.comment,
    }


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
