"""Admin API for role policies (SPEC §8): the live policy, its versions, roles, explain.

The ETag of the policy and of every role is the live policy version (``"7"``). Every
write needs ``If-Match`` naming it: without it 428, with an older version 412 (RFC 9110
§13.1.1, RFC 6585 §3), so that no admin silently overwrites another's edit. ``If-Match: *``
is refused with 428 on purpose: it would allow exactly that lost update. Errors are RFC 9457
problem details.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import yaml
from flask import Blueprint, Flask, Response, current_app, jsonify, request

from authserver.policy import PolicyIssue
from authserver.resource import current_token, require_scopes, required_scope_names
from authserver.services import policy_admin, policy_store
from authserver.services.errors import NotFound, ServiceError
from authserver.services.policy_admin import JSON, YAML, Saved, Stale
from authserver.services.policy_store import MAX_VERSION, PolicyInvalid, RolesInUse
from authserver.web.errors import ProblemError

bp = Blueprint("admin_policy", __name__, url_prefix="/admin")

YAML_TYPES = ("application/yaml", "text/yaml", "application/x-yaml")
BODY_TYPES = (*YAML_TYPES, "application/json")
MAX_COMMENT = 500
DEFAULT_PAGE, MAX_PAGE = 100, 1000


# -- the live policy -------------------------------------------------------------------


@bp.get("/policy")
@require_scopes("policies:read")
def get_policy() -> Response:
    version, policy = policy_store.live_policy()
    if _wants_yaml():
        response = _yaml(policy_store.get_version(version).source)
    else:
        response = jsonify(policy.to_document())
    return _tagged(response, version)


@bp.put("/policy")
@require_scopes("policies:write")
def put_policy() -> Response:
    kind = _body_kind()
    expected = _if_match()
    with _write_errors():
        saved = policy_admin.replace_policy(
            request.get_data(), kind, expected=expected, **_write_options()
        )
    return _saved_response(saved)


# -- versions --------------------------------------------------------------------------


@bp.get("/policy/versions")
@require_scopes("policies:read")
def list_versions() -> Response:
    limit = _int_arg("limit", DEFAULT_PAGE, 1, MAX_PAGE)
    before = _int_arg("before", None, 1, MAX_VERSION + 1)
    rows = policy_store.list_versions(limit + 1, before)
    body: dict[str, object] = {"versions": [_version_entry(row) for row in rows[:limit]]}
    if len(rows) > limit:
        body["next"] = f"{request.path}?limit={limit}&before={rows[limit - 1].version}"
    return jsonify(body)


@bp.get("/policy/versions/<int:number>")
@require_scopes("policies:read")
def get_version(number: int) -> Response:
    row = _version_or_404(number)
    if _wants_yaml():
        return _tagged(_yaml(row.source), number)
    return _tagged(jsonify(policy_store.policy_at(number).to_document()), number)


@bp.post("/policy/versions/<int:number>/restore")
@require_scopes("policies:write")
def restore_version(number: int) -> Response:
    _version_or_404(number)
    expected = _if_match()
    with _write_errors():
        saved = policy_admin.restore(number, expected=expected, **_write_options())
    return _saved_response(saved)


@bp.get("/policy/diff")
@require_scopes("policies:read")
def diff() -> Response:
    live = policy_store.newest_version()
    new = _int_arg("to", live, 1, MAX_VERSION)
    old = _int_arg("from", max(new - 1, 1), 1, MAX_VERSION)
    for number in (old, new):
        _version_or_404(number)
    changes = policy_admin.diff_versions(old, new)
    return jsonify({"from": old, "to": new, "summary": changes.summary(), **changes.to_dict()})


# -- roles -----------------------------------------------------------------------------


@bp.get("/roles")
@require_scopes("policies:read")
def list_roles() -> Response:
    version, policy = policy_store.live_policy()
    roles = [_role_entry(policy, name) for name in policy.roles]
    return _tagged(jsonify({"roles": roles}), version)


def _live_policy_with_role(name: str):
    """The live (version, policy), or a 404 problem when it has no role ``name``."""
    version, policy = policy_store.live_policy()
    if name not in policy.roles:
        raise ProblemError(404, "Not Found", f"no role named {name!r}")
    return version, policy


@bp.get("/roles/<name>")
@require_scopes("policies:read")
def get_role(name: str) -> Response:
    version, policy = _live_policy_with_role(name)
    if _wants_yaml():
        return _tagged(_yaml(_role_yaml(policy, name)), version)
    return _tagged(jsonify(_role_entry(policy, name)), version)


@bp.put("/roles/<name>")
@require_scopes("policies:write")
def put_role(name: str) -> Response:
    kind = _body_kind()
    expected = _if_match()
    with _write_errors():
        saved, created = policy_admin.put_role(
            name, request.get_data(), kind, expected=expected, **_write_options()
        )
    body = {"version": saved.version, "role": _role_entry(saved.policy, name)}
    return _saved_response(saved, body, 201 if created else 200)


@bp.delete("/roles/<name>")
@require_scopes("policies:write")
def delete_role(name: str) -> Response:
    _live_policy_with_role(name)
    expected = _if_match()
    with _write_errors():
        saved = policy_admin.delete_role(name, expected=expected, **_write_options())
    return _saved_response(saved, {"version": saved.version, "deleted": name})


# -- explain ---------------------------------------------------------------------------


@bp.get("/explain")
@require_scopes("users:read", "policies:read")
def explain() -> Response:
    user = request.args.get("user")
    if not user:
        raise ProblemError(400, "Bad Request", "the query parameter 'user' is required")
    try:
        body = policy_admin.explain(user, request.args.get("scope"), request.args.get("client"))
    except NotFound as exc:
        raise ProblemError(404, "Not Found", str(exc)) from None
    except ServiceError as exc:
        raise ProblemError(400, "Bad Request", str(exc)) from None
    return jsonify(body)


# -- helpers ---------------------------------------------------------------------------


def _wants_yaml() -> bool:
    best = request.accept_mimetypes.best_match(["application/json", *YAML_TYPES])
    return best in YAML_TYPES


def _yaml(text: str) -> Response:
    return Response(text, mimetype="application/yaml")


def _tagged(response: Response, version: int) -> Response:
    """Strong ETag naming the policy version; a GET with If-None-Match may get 304."""
    response.set_etag(str(version))
    response.vary.add("Accept")
    return response.make_conditional(request)


def _body_kind() -> str:
    mimetype = request.mimetype
    if mimetype in YAML_TYPES:
        return YAML
    if mimetype == "application/json":
        return JSON
    raise ProblemError(
        415,
        "Unsupported Media Type",
        "send the body as application/yaml (or text/yaml, application/x-yaml) or application/json",
        supported=list(BODY_TYPES),
    )


def _if_match() -> int:
    """The version the client edited, from If-Match; 428 or 412 when that is not usable."""
    if "If-Match" not in request.headers or request.if_match.star_tag:
        raise ProblemError(
            428,
            "Precondition Required",
            'send If-Match with the ETag of the policy version you edited (e.g. If-Match: "3", '
            "from GET /admin/policy); If-Match: * is not accepted since it could overwrite "
            "another admin's change",
        )
    current = policy_store.newest_version()
    if request.if_match.contains(str(current)):
        return current
    raise ProblemError(
        412,
        "Precondition Failed",
        f"the live policy is version {current}, not the one If-Match names: "
        "fetch it, reapply your change and try again",
        current_version=current,
    )


def _write_options() -> dict:
    token = current_token()
    comment = request.args.get("comment")
    if comment is not None and len(comment) > MAX_COMMENT:
        raise ProblemError(400, "Bad Request", f"comment: at most {MAX_COMMENT} characters")
    return {
        "actor": token.get("username") or f"sub:{token['sub']}",
        "strip_roles": _flag("strip_roles"),
        "comment": comment or None,
        "required": required_scope_names(current_app),
    }


@contextmanager
def _write_errors() -> Iterator[None]:
    """Service errors of a write, as the problems SPEC §7/§8 specify."""
    try:
        yield
    except PolicyInvalid as exc:
        raise _invalid(exc) from None
    except RolesInUse as exc:
        raise _roles_in_use(exc) from None
    except Stale as exc:
        raise ProblemError(
            412, "Precondition Failed", str(exc), current_version=exc.current
        ) from None
    except NotFound as exc:
        raise ProblemError(404, "Not Found", str(exc)) from None


def _invalid(exc: PolicyInvalid) -> ProblemError:
    errors = exc.result.errors
    return ProblemError(
        422,
        "Invalid policy",
        f"the policy has {len(errors)} error(s); the live policy is unchanged",
        errors=[_issue(issue) for issue in errors],
        warnings=[_issue(issue) for issue in exc.result.warnings],
    )


def _roles_in_use(exc: RolesInUse) -> ProblemError:
    roles = [{"role": role, "users": count} for role, count in sorted(exc.counts.items())]
    return ProblemError(
        409,
        "Roles in use",
        f"{exc}; add ?strip_roles=true to take these roles from their users",
        roles=roles,
    )


def _issue(issue: PolicyIssue) -> dict:
    return {
        "line": issue.line,
        "column": issue.column,
        "path": issue.path,
        "message": issue.message,
    }


def _saved_response(saved: Saved, body: dict | None = None, status: int = 200) -> Response:
    if body is None:
        body = {"version": saved.version, "policy": saved.policy.to_document()}
    body = {
        **body,
        "previous": saved.previous,
        "summary": saved.diff.summary(),
        "warnings": [_issue(issue) for issue in saved.warnings],
    }
    if saved.stripped:
        body["stripped_roles"] = [
            {"role": role, "users": count} for role, count in sorted(saved.stripped.items())
        ]
    response = jsonify(body)
    response.status_code = status
    response.set_etag(str(saved.version))
    return response


def _version_or_404(number: int):
    row = policy_store.get_version(number)
    if row is None:
        raise ProblemError(404, "Not Found", f"no policy version {number}")
    return row


def _version_entry(row) -> dict:
    return {
        "version": row.version,
        "created_at": row.created_at.isoformat(),
        "created_by": row.created_by,
        "comment": row.comment,
    }


def _role_entry(policy, name: str) -> dict:
    role = policy.roles[name]
    return {
        "name": name,
        "description": role.description,
        "inherits": list(role.inherits),
        "scopes": list(role.scopes),
        "effective_scopes": policy.in_declared_order(policy.effective_scopes(name)),
        "inherited_by": [other for other, r in policy.roles.items() if name in r.inherits],
    }


def _role_yaml(policy, name: str) -> str:
    """The role as written in the policy document, as YAML (what a PUT accepts)."""
    document = policy.to_document()["roles"][name]
    return yaml.safe_dump(document, sort_keys=False, allow_unicode=True, default_flow_style=None)


def _flag(name: str) -> bool:
    value = request.args.get(name, "false").lower()
    if value in ("true", "1", "yes"):
        return True
    if value in ("false", "0", "no", ""):
        return False
    raise ProblemError(400, "Bad Request", f"{name}: expected true or false")


def _int_arg(name: str, default: int | None, low: int, high: int) -> int | None:
    value = request.args.get(name)
    if value is None:
        return default
    if not value.isascii() or not value.isdigit() or not low <= int(value) <= high:
        raise ProblemError(400, "Bad Request", f"{name}: expected an integer from {low} to {high}")
    return int(value)


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
