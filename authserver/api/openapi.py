"""GET /openapi.json: an OpenAPI 3.1 document generated from the app itself.

apispec builds the document; a small apispec plugin turns each Flask rule into an OpenAPI
path with typed path parameters. One operation per (rule, method): its summary is the
view's docstring, and its security requirement is what ``require_scopes`` recorded on the
view, so the document cannot drift from the code. The ``oauth2`` scheme lists the scopes of
the live policy with their descriptions.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Iterator
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from apispec import APISpec, BasePlugin
from flask import Blueprint, Flask, Response, current_app, jsonify
from werkzeug.routing import Rule, parse_converter_args
from werkzeug.routing.converters import (
    AnyConverter,
    BaseConverter,
    FloatConverter,
    IntegerConverter,
    UUIDConverter,
)

from authserver.resource import RequiredScopes
from authserver.services import policy_store

bp = Blueprint("openapi", __name__)

#: A variable part of a Flask rule: ``<name>``, ``<int:name>``, ``<any(a, b):name>``.
RULE_VARIABLE = re.compile(
    r"<(?:(?P<converter>[a-zA-Z_][a-zA-Z0-9_]*)(?:\((?P<args>.*?)\))?:)?"
    r"(?P<name>[a-zA-Z_][a-zA-Z0-9_]*)>"
)
IMPLICIT_METHODS = frozenset({"HEAD", "OPTIONS"})
_PAGE = [
    {"in": "query", "name": "limit", "schema": {"type": "integer", "minimum": 1, "maximum": 500}},
    {"in": "query", "name": "cursor", "schema": {"type": "string"}},
]
#: Query parameters by endpoint, for the lists people search (the view's docstring says more).
QUERY_PARAMETERS: dict[str, list[dict]] = {
    "admin_users.list_users": [
        *_PAGE,
        {"in": "query", "name": "role", "schema": {"type": "string"}},
        {
            "in": "query",
            "name": "q",
            "description": "A username prefix, in any case; % and _ are literal.",
            "schema": {"type": "string", "maxLength": 150},
        },
    ],
}
UNDECLARED = "Required by a route, but not declared by the live policy"


def converter_schema(converter: BaseConverter) -> dict:
    """The JSON Schema of what a Werkzeug converter accepts."""
    if isinstance(converter, IntegerConverter | FloatConverter):
        schema: dict[str, str | int] = {
            "type": "integer" if isinstance(converter, IntegerConverter) else "number"
        }
        minimum = converter.min if converter.min is not None else (None if converter.signed else 0)
        if minimum is not None:
            schema["minimum"] = minimum
        if converter.max is not None:
            schema["maximum"] = converter.max
        return schema
    if isinstance(converter, UUIDConverter):
        return {"type": "string", "format": "uuid"}
    if isinstance(converter, AnyConverter):
        return {"type": "string", "enum": sorted(converter.items)}
    return {"type": "string"}


class FlaskRulePlugin(BasePlugin):
    """apispec path helper: ``spec.path(rule=rule)`` for a Werkzeug Rule."""

    def path_helper(self, path=None, operations=None, parameters=None, rule=None, **kwargs):
        if rule is None:
            return None
        for match in RULE_VARIABLE.finditer(rule.rule):
            args, kw = parse_converter_args(match["args"]) if match["args"] else ((), {})
            converter = rule.get_converter(
                match["name"], match["converter"] or "default", args, kw
            )
            parameters.append(
                {
                    "in": "path",
                    "name": match["name"],
                    "required": True,
                    "schema": converter_schema(converter),
                }
            )
        return RULE_VARIABLE.sub(r"{\g<name>}", rule.rule)


def endpoints(app: Flask) -> Iterator[tuple[Rule, str, RequiredScopes | None]]:
    """Every (rule, method) the app serves, with the scopes its view requires (None: public).

    HEAD and OPTIONS, which Flask adds to every rule, are left out.
    """
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: (r.rule, sorted(r.methods or ()))):
        view = app.view_functions.get(rule.endpoint)
        required = getattr(view, "required_scopes", None)
        for method in sorted((rule.methods or set()) - IMPLICIT_METHODS):
            yield rule, method, required


def security(required: RequiredScopes) -> list[dict[str, list[str]]]:
    """One requirement per alternative (``any_of``); a token with no scope: an empty list."""
    alternatives = required.authlib_scopes()
    return [{"oauth2": scopes.split()} for scopes in alternatives] or [{"oauth2": []}]


def _operation(app: Flask, rule: Rule, method: str, required: RequiredScopes | None) -> dict:
    doc = inspect.getdoc(app.view_functions.get(rule.endpoint)) or ""
    summary, _, description = doc.partition("\n")
    operation: dict[str, Any] = {
        "tags": [rule.endpoint.partition(".")[0] if "." in rule.endpoint else "app"],
        "responses": {"default": "Answer"},
    }
    if summary:
        operation["summary"] = summary.strip()
    if description.strip():
        operation["description"] = description.strip()
    if rule.endpoint in QUERY_PARAMETERS:
        operation["parameters"] = QUERY_PARAMETERS[rule.endpoint]
    if required is not None:
        operation["security"] = security(required)
        operation["responses"].update({"401": "Unauthorized", "403": "Forbidden"})
    return operation


def _scopes(app: Flask) -> dict[str, str]:
    """The live policy's scopes and descriptions, plus any scope a route needs but the
    policy does not declare (so every security requirement names a listed scope)."""
    _, policy = policy_store.live_policy()
    scopes = dict(policy.scopes)
    for _rule, _method, required in endpoints(app):
        for scope in (*required.all_of, *required.any_of) if required else ():
            scopes.setdefault(scope, UNDECLARED)
    return scopes


def _components(spec: APISpec, app: Flask) -> None:
    issuer = app.config["ISSUER"]
    spec.components.security_scheme(
        "oauth2",
        {
            "type": "oauth2",
            "description": "RFC 9068 JWT access tokens from the password grant; "
            "refresh with the refresh_token grant.",
            "flows": {
                "password": {
                    "tokenUrl": f"{issuer}/oauth/token",
                    "refreshUrl": f"{issuer}/oauth/token",
                    "scopes": _scopes(app),
                }
            },
        },
    )
    spec.components.response(
        "Answer",
        {
            "description": "The operation's answer. Errors are JSON: RFC 9457 problem details "
            "under /admin, RFC 6749 §5.2 errors under /oauth."
        },
    )
    spec.components.response(
        "Unauthorized",
        {
            "description": "No bearer token, or one that is invalid, expired or revoked "
            "(RFC 6750 §3; WWW-Authenticate says which)."
        },
    )
    spec.components.response(
        "Forbidden", {"description": "The token lacks a scope (RFC 6750 §3 insufficient_scope)."}
    )


def build_spec(app: Flask) -> dict:
    """The OpenAPI 3.1 document of ``app`` (needs an app context: it reads the live policy)."""
    try:
        package_version = version("authserver")
    except PackageNotFoundError:  # pragma: no cover - running from a source tree
        package_version = "0"
    spec = APISpec(
        title="authserver",
        version=package_version,
        openapi_version="3.1.0",
        plugins=[FlaskRulePlugin()],
        servers=[{"url": app.config["ISSUER"]}],
    )
    _components(spec, app)
    seen: set[str] = set()
    for rule, method, required in endpoints(app):
        operation = _operation(app, rule, method, required)
        operation["operationId"] = _unique(f"{rule.endpoint}.{method.lower()}", seen)
        spec.path(rule=rule, operations={method.lower(): operation})
    return spec.to_dict()


def _unique(name: str, seen: set[str]) -> str:
    """``name``, or ``name_2``... when one view serves several rules."""
    candidate, number = name, 1
    while candidate in seen:
        number += 1
        candidate = f"{name}_{number}"
    seen.add(candidate)
    return candidate


@bp.get("/openapi.json")
def openapi_document() -> Response:
    """This API's OpenAPI 3.1 document, generated from the routes and their scopes."""
    response = jsonify(build_spec(current_app))
    response.headers["Cache-Control"] = "public, max-age=60"
    return response


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
