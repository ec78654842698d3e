"""/admin/clients (SPEC §16): list, get, set roles, disable, enable, delete, rotate-secret.

Reads need ``clients:read``, changes ``clients:write``. Every change is audited with the
caller as the actor (``params.actor``). Disable, delete, rotate-secret and a role taken
away end the client's tokens (its refresh families and, through the live state, its access
tokens: SPEC §12). Errors are RFC 9457 problem details from the service's own errors: 404
for an unknown client, 409 for a secret asked of a public client, 422 for a body that is
not ``{"roles": [strings]}`` or names roles the live policy does not define.
"""

from __future__ import annotations

from flask import Blueprint, Flask, Response, jsonify

from authserver.api.admin import params
from authserver.models import Client
from authserver.resource import require_scopes
from authserver.services import clients
from authserver.services.errors import Invalid, NotFound
from authserver.web.errors import render_errors_with, render_problem

bp = Blueprint("admin_clients", __name__, url_prefix="/admin")
render_errors_with(bp, render_problem)


def client_json(client: Client) -> dict:
    """A client as the admin API shows it; never its secret (only its kind)."""
    return {
        "client_id": client.client_id,
        "name": client.name,
        "public": client.is_public,
        "grant_types": client.grant_type_list,
        "scope": client.scope_list,
        "roles": sorted(client.roles),
        "introspect": client.can_introspect,
        "disabled": client.disabled,
        "dpop_bound_access_tokens": client.dpop_bound,
        "created_at": client.created_at.isoformat().replace("+00:00", "Z"),
    }


def _roles_from_body() -> list[str]:
    body = params.json_object()
    roles = body.get("roles") if body is not None else None
    if not isinstance(roles, list) or not all(isinstance(role, str) for role in roles):
        raise Invalid('The body must be a JSON object {"roles": [...]} with a list of role names.')
    return roles


def _client_cursor(text: str) -> str | None:
    return text if clients.CLIENT_ID.fullmatch(text) else None


@bp.get("/clients")
@require_scopes("clients:read")
def list_clients() -> Response:
    """Clients by client_id; paginated (``limit``, ``cursor``, ``next_cursor``)."""
    limit = params.limit_param()
    rows = clients.list_page(limit + 1, params.cursor_param(_client_cursor))
    page, next_cursor = params.page(rows, limit, key=lambda client: client.client_id)
    return jsonify(clients=[client_json(client) for client in page], next_cursor=next_cursor)


@bp.get("/clients/<client_id>")
@require_scopes("clients:read")
def get_client(client_id: str) -> Response:
    """One client: kind, grant types, scope, roles, flags; never its secret."""
    return jsonify(client_json(clients.get(client_id)))


@bp.put("/clients/<client_id>/roles")
@require_scopes("clients:write")
def set_roles(client_id: str) -> Response:
    """Replace the client's roles with ``{"roles": [...]}``; every role must exist. A role
    taken away ends the client's access tokens now."""
    roles = _roles_from_body()
    client = clients.set_roles(client_id, roles, actor=params.actor())
    return jsonify(client_json(client))


@bp.post("/clients/<client_id>/disable")
@require_scopes("clients:write")
def disable(client_id: str) -> Response:
    """Disable the client: it cannot authenticate, and its tokens end now."""
    return jsonify(client_json(clients.set_disabled(client_id, True, actor=params.actor())))


@bp.post("/clients/<client_id>/enable")
@require_scopes("clients:write")
def enable(client_id: str) -> Response:
    """Enable the client again (the tokens its disable ended stay ended)."""
    return jsonify(client_json(clients.set_disabled(client_id, False, actor=params.actor())))


@bp.delete("/clients/<client_id>")
@require_scopes("clients:write")
def delete(client_id: str) -> tuple[str, int]:
    """Delete the client; its tokens end (a client made later with its id gets none)."""
    if not clients.delete(client_id, actor=params.actor()):
        raise NotFound(f"no client with id {client_id!r}")
    return "", 204


@bp.post("/clients/<client_id>/rotate-secret")
@require_scopes("clients:write")
def rotate_secret(client_id: str) -> Response:
    """A new secret, answered this once (stored as a digest); the old one stops working and
    the client's tokens end. 409 for a public client, which has no secret."""
    secret = clients.rotate_secret(client_id, actor=params.actor())
    response = jsonify(client_id=client_id, client_secret=secret)
    response.headers["Cache-Control"] = "no-store"
    return response


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
