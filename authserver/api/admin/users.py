"""/admin/users: list users, change their roles, disable, enable, unlock, revoke their tokens.

Every change is audited with the caller as the actor (``params.actor``). Errors are RFC
9457 problem details, from the service's own errors: 404 for an unknown user, 422 for a
body that is not ``{"roles": [strings]}`` or names roles the live policy does not define.
"""

from __future__ import annotations

from datetime import datetime

from flask import Blueprint, Flask, Response, jsonify

from authserver.api.admin import params
from authserver.models import User
from authserver.resource import require_scopes
from authserver.services import users
from authserver.services.errors import Invalid
from authserver.web.errors import render_errors_with, render_problem

MAX_PREFIX = 150  # the longest username (users.USERNAME)

bp = Blueprint("admin_users", __name__, url_prefix="/admin")
render_errors_with(bp, render_problem)


def _iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def user_json(user: User) -> dict:
    """A user as the admin API shows it; ``locked_until`` is null unless logins are locked."""
    until = users.locked_until(user)
    return {
        "username": user.username,
        "roles": sorted(user.roles),
        "disabled": user.disabled,
        "locked": until is not None,
        "locked_until": _iso(until) if until is not None else None,
        "created_at": _iso(user.created_at),
    }


def _username_cursor(text: str) -> str | None:
    return text if users.USERNAME.fullmatch(text) else None


@bp.get("/users")
@require_scopes("users:read")
def list_users() -> Response:
    """Users by username, optionally only those holding ``role`` and those whose username
    starts with ``q`` (case-insensitive, ``%`` and ``_`` literal); paginated (``limit``,
    ``cursor``, ``next_cursor``), so new users never shift a later page."""
    limit = params.limit_param()
    after = params.cursor_param(_username_cursor)
    prefix = params.text_param("q")
    if prefix is not None and len(prefix) > MAX_PREFIX:
        raise params.invalid_param("q", f"longer than {MAX_PREFIX} characters")
    rows = users.list_page(limit + 1, after, params.text_param("role"), prefix)
    page, next_cursor = params.page(rows, limit, key=lambda user: user.username)
    return jsonify(users=[user_json(user) for user in page], next_cursor=next_cursor)


@bp.get("/users/<username>")
@require_scopes("users:read")
def get_user(username: str) -> Response:
    """One user: username, roles, disabled, created_at."""
    return jsonify(user_json(users.get(username)))


def _roles_from_body() -> list[str]:
    body = params.json_object()
    roles = body.get("roles") if body is not None else None
    if not isinstance(roles, list) or not all(isinstance(role, str) for role in roles):
        raise Invalid('The body must be a JSON object {"roles": [...]} with a list of role names.')
    return roles


@bp.put("/users/<username>/roles")
@require_scopes("users:write")
def set_roles(username: str) -> Response:
    """Replace the user's roles with ``{"roles": [...]}``; every role must exist."""
    roles = _roles_from_body()
    return jsonify(user_json(users.set_roles(username, roles, actor=params.actor())))


@bp.post("/users/<username>/disable")
@require_scopes("users:write")
def disable(username: str) -> Response:
    """Disable the user: no new tokens, and every refresh-token family ends now."""
    return jsonify(user_json(users.set_disabled(username, True, actor=params.actor())))


@bp.post("/users/<username>/enable")
@require_scopes("users:write")
def enable(username: str) -> Response:
    """Enable the user again (families ended by disabling stay ended)."""
    return jsonify(user_json(users.set_disabled(username, False, actor=params.actor())))


@bp.post("/users/<username>/unlock")
@require_scopes("users:write")
def unlock(username: str) -> Response:
    """Clear the user's failed-login count and lockout (SPEC §8)."""
    return jsonify(user_json(users.unlock(username, actor=params.actor())))


@bp.post("/users/<username>/revoke-tokens")
@require_scopes("users:write")
def revoke_tokens(username: str) -> Response:
    """End every refresh-token family of the user.

    Access tokens are not tracked per user: those already issued stay valid until their
    ``exp`` (at most ACCESS_TOKEN_TTL) unless revoked one by one at /oauth/revoke.
    """
    families = users.revoke_tokens(username, actor=params.actor())
    return jsonify(username=username, families_revoked=len(families))


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
