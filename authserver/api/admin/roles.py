"""Admin API for one role at a time (SPEC §8): GET/PUT/DELETE /admin/roles/<name>.

A role edit is a policy edit: the same versions, the live version as the ETag, the same
If-Match rules and the same write path as PUT /admin/policy (:mod:`versioned`).
"""

from __future__ import annotations

import yaml
from flask import Blueprint, Flask, Response, jsonify, request

from authserver.api.admin.versioned import (
    body_kind,
    saved_response,
    tagged,
    wants_yaml,
    write_options,
    yaml_response,
)
from authserver.policy import Policy
from authserver.resource import require_scopes
from authserver.services import policy_admin, policy_store
from authserver.services.errors import NotFound
from authserver.web.errors import render_errors_with, render_problem

bp = Blueprint("admin_roles", __name__, url_prefix="/admin/roles")
render_errors_with(bp, render_problem)


@bp.get("")
@require_scopes("policies:read")
def list_roles() -> Response:
    version, policy = policy_store.live_policy()
    roles = [role_entry(policy, name) for name in policy.roles]
    return tagged(jsonify({"roles": roles}), version)


@bp.get("/<name>")
@require_scopes("policies:read")
def get_role(name: str) -> Response:
    version, policy = policy_store.live_policy()
    if name not in policy.roles:
        raise NotFound(f"no role named {name!r}")
    if wants_yaml():
        return tagged(yaml_response(_role_yaml(policy, name)), version)
    return tagged(jsonify(role_entry(policy, name)), version)


@bp.put("/<name>")
@require_scopes("policies:write")
def put_role(name: str) -> Response:
    kind = body_kind()
    saved, created = policy_admin.put_role(name, request.get_data(), kind, write_options())
    body = {"version": saved.version, "role": role_entry(saved.policy, name)}
    return saved_response(saved, body, 201 if created else 200)


@bp.delete("/<name>")
@require_scopes("policies:write")
def delete_role(name: str) -> Response:
    saved = policy_admin.delete_role(name, write_options())
    return saved_response(saved, {"version": saved.version, "deleted": name})


def role_entry(policy: Policy, name: str) -> dict:
    """A role as GET shows it: as written, plus its effective scopes and its heirs."""
    role = policy.roles[name]
    return {
        "name": name,
        "description": role.description,
        "inherits": list(role.inherits),
        "scopes": list(role.scopes),
        "effective_scopes": policy.in_declared_order(policy.effective_scopes(name)),
        "inherited_by": [other for other, r in policy.roles.items() if name in r.inherits],
    }


def _role_yaml(policy: Policy, name: str) -> str:
    """The role as written in the policy document, as YAML (what a PUT accepts)."""
    document = policy.to_document()["roles"][name]
    return yaml.safe_dump(document, sort_keys=False, allow_unicode=True, default_flow_style=None)


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
