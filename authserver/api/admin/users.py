"""/admin/users: list users, change their roles, disable, enable, revoke their tokens.

Every change is audited with the caller's username as the actor. Errors are RFC 9457
problem details: 404 for an unknown user, 422 for a body that is not
``{"roles": [strings]}`` or names roles the live policy does not define.
"""

from __future__ import annotations

import base64
import binascii

from flask import Blueprint, Flask, Response, jsonify, request

from authserver.api.admin.audit import invalid_param, limit_param, text_param
from authserver.models import User
from authserver.resource import current_token, require_scopes
from authserver.services import users
from authserver.services.errors import NotFound
from authserver.web.errors import ProblemError

bp = Blueprint("admin_users", __name__, url_prefix="/admin")


def user_json(user: User) -> dict:
    return {
        "username": user.username,
        "roles": sorted(user.roles),
        "disabled": user.disabled,
        "created_at": user.created_at.isoformat().replace("+00:00", "Z"),
    }


def actor() -> str:
    """The admin making the request: the token's username (its client for a user-less one)."""
    token = current_token()
    return token.get("username") or f"client:{token['client_id']}"


def _user_or_404(username: str) -> User:
    try:
        return users.get(username)
    except NotFound:
        raise ProblemError(404, "Not Found", f"No user named {username!r}.") from None


def _encode_cursor(username: str) -> str:
    return base64.urlsafe_b64encode(username.encode()).decode().rstrip("=")


def _decode_cursor(text: str | None) -> str | None:
    if text is None:
        return None
    try:
        username = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)).decode()
    except (binascii.Error, ValueError):
        username = ""
    if not users.USERNAME.fullmatch(username):
        raise invalid_param("cursor", "not a cursor this endpoint returned")
    return username


@bp.get("/users")
@require_scopes("users:read")
def list_users() -> Response:
    """Users by username, optionally only those holding ``role``; paginated.

    ``limit`` is 1-500 (default 50); pass ``next_cursor`` back as ``cursor`` for the next
    page (null when there is none).
    """
    limit = limit_param()
    page = users.list_page(
        limit + 1, _decode_cursor(request.args.get("cursor")), text_param("role")
    )
    more = len(page) > limit
    page = page[:limit]
    next_cursor = _encode_cursor(page[-1].username) if more else None
    return jsonify(users=[user_json(user) for user in page], next_cursor=next_cursor)


@bp.get("/users/<username>")
@require_scopes("users:read")
def get_user(username: str) -> Response:
    """One user: username, roles, disabled, created_at."""
    return jsonify(user_json(_user_or_404(username)))


def _roles_from_body() -> list[str]:
    body = request.get_json(silent=True)
    roles = body.get("roles") if isinstance(body, dict) else None
    if not isinstance(roles, list) or not all(isinstance(role, str) for role in roles):
        raise ProblemError(
            422,
            "Unprocessable Content",
            'The body must be a JSON object {"roles": [...]} with a list of role names.',
        )
    return roles


@bp.put("/users/<username>/roles")
@require_scopes("users:write")
def set_roles(username: str) -> Response:
    """Replace the user's roles with ``{"roles": [...]}``; every role must exist."""
    roles = _roles_from_body()
    _user_or_404(username)
    try:
        user = users.set_roles(username, roles, actor=actor())
    except users.UnknownRoles as exc:
        detail = f"The live policy defines no role(s): {', '.join(exc.roles)}."
        raise ProblemError(422, "Unknown roles", detail, unknown_roles=exc.roles) from None
    return jsonify(user_json(user))


@bp.post("/users/<username>/disable")
@require_scopes("users:write")
def disable(username: str) -> Response:
    """Disable the user: no new tokens, and every refresh-token family ends now."""
    _user_or_404(username)
    return jsonify(user_json(users.set_disabled(username, True, actor=actor())))


@bp.post("/users/<username>/enable")
@require_scopes("users:write")
def enable(username: str) -> Response:
    """Enable the user again (families ended by disabling stay ended)."""
    _user_or_404(username)
    return jsonify(user_json(users.set_disabled(username, False, actor=actor())))


@bp.post("/users/<username>/revoke-tokens")
@require_scopes("users:write")
def revoke_tokens(username: str) -> Response:
    """End every refresh-token family of the user.

    Access tokens are not tracked per user: those already issued stay valid until their
    ``exp`` (at most ACCESS_TOKEN_TTL) unless revoked one by one at /oauth/revoke.
    """
    _user_or_404(username)
    families = users.revoke_tokens(username, actor=actor())
    return jsonify(username=username, families_revoked=len(families))


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
