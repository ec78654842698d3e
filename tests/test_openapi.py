"""GET /openapi.json, held against the app's URL map and the scopes its decorators declare."""

from __future__ import annotations

import re

import pytest
from openapi_spec_validator import validate

from authserver.api.openapi import UNDECLARED
from authserver.resource import require_scopes, route_scopes
from authserver.services import policy_store

IMPLICIT = {"HEAD", "OPTIONS"}


def openapi_path(rule: str) -> str:
    return re.sub(r"<(?:[^<>]*:)?([^<>:]+)>", r"{\1}", rule)


@pytest.fixture
def extra_routes(app):
    """Routes the shipped app lacks: alternatives (any_of), typed parameters, and a scope the
    policy does not declare. Added before the first request, as an extension would."""

    @require_scopes("profile", any_of=("documents:read", "documents:write"))
    def either(item, kind, ratio):
        """Either scope will do.

        A longer description.
        """

    @require_scopes("reports:read")
    def reports():
        """Reports nobody can read yet."""

    app.add_url_rule(
        "/test/<uuid:item>/<any(a, b):kind>/<float:ratio>",
        "either",
        either,
        methods=["GET", "PATCH"],
    )
    app.add_url_rule("/test/reports", "reports", reports)
    return app


@pytest.fixture
def document(client, extra_routes) -> dict:
    response = client.get("/openapi.json")
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    return response.get_json()


def test_document_is_valid_openapi_3_1(document) -> None:
    validate(document)

    assert document["openapi"] == "3.1.0"
    assert document["info"]["title"] == "authserver"


def test_every_rule_and_method_is_one_operation(app, document) -> None:
    expected = {
        (openapi_path(rule.rule), method.lower())
        for rule in app.url_map.iter_rules()
        for method in rule.methods - IMPLICIT
    }
    documented = {
        (path, method)
        for path, item in document["paths"].items()
        for method in item
        if method not in {"parameters", "summary", "description"}
    }

    assert documented == expected
    ids = [op["operationId"] for _, op in operations(document)]
    assert len(ids) == len(set(ids))


def operations(document: dict):
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if method not in {"parameters", "summary", "description"}:
                yield (path, method), operation


def test_protected_operations_list_exactly_their_decorators_scopes(app, document) -> None:
    protected = set()
    for rule, methods, required in route_scopes(app):
        for method in methods:
            operation = document["paths"][openapi_path(rule)][method.lower()]
            alternatives = [set(a.split()) for a in required.authlib_scopes()] or [set()]
            listed = [set(requirement["oauth2"]) for requirement in operation["security"]]
            assert sorted(map(sorted, listed)) == sorted(map(sorted, alternatives)), rule
            assert all(set(r) == {"oauth2"} for r in operation["security"])
            assert {"401", "403"} <= set(operation["responses"])
            protected.add((openapi_path(rule), method.lower()))

    for key, operation in operations(document):
        if key not in protected:
            assert "security" not in operation, key
    assert ("/admin/audit", "get") in protected
    assert ("/oauth/token", "post") not in protected


@pytest.mark.parametrize(
    ("path", "method", "security"),
    [
        ("/admin/audit", "get", [{"oauth2": ["audit:read"]}]),
        ("/admin/users/{username}/roles", "put", [{"oauth2": ["users:write"]}]),
        ("/api/me", "get", [{"oauth2": []}]),
        (
            "/test/{item}/{kind}/{ratio}",
            "patch",
            [
                {"oauth2": ["profile", "documents:read"]},
                {"oauth2": ["profile", "documents:write"]},
            ],
        ),
    ],
)
def test_security_requirements(document, path, method, security) -> None:
    assert document["paths"][path][method]["security"] == security


def test_path_parameters_are_typed_from_the_converters(document) -> None:
    def schemas(path: str) -> dict:
        return {p["name"]: p["schema"] for p in document["paths"][path]["parameters"]}

    assert schemas("/api/documents/{document_id}") == {
        "document_id": {"type": "integer", "minimum": 0}
    }
    assert schemas("/admin/users/{username}") == {"username": {"type": "string"}}
    assert schemas("/test/{item}/{kind}/{ratio}") == {
        "item": {"type": "string", "format": "uuid"},
        "kind": {"type": "string", "enum": ["a", "b"]},
        "ratio": {"type": "number", "minimum": 0},
    }
    parameter = document["paths"]["/api/documents/{document_id}"]["parameters"][0]
    assert parameter["in"] == "path" and parameter["required"] is True


def test_oauth2_scheme_is_the_password_flow_with_the_live_policys_scopes(app, document) -> None:
    scheme = document["components"]["securitySchemes"]["oauth2"]
    flow = scheme["flows"]["password"]
    issuer = app.config["ISSUER"]
    _, policy = policy_store.live_policy()

    assert scheme["type"] == "oauth2"
    assert flow["tokenUrl"] == flow["refreshUrl"] == f"{issuer}/oauth/token"
    assert {k: v for k, v in flow["scopes"].items() if k in policy.scopes} == dict(policy.scopes)
    assert flow["scopes"]["reports:read"] == UNDECLARED
    assert set(flow["scopes"]) == set(policy.scopes) | {"reports:read"}


def test_scopes_follow_a_new_policy_version(client, extra_routes) -> None:
    source = policy_store.live_source().replace(
        "  audit:read: Read the audit trail\n",
        "  audit:read: Read the audit trail\n  reports:read: Read the reports\n",
    )
    policy_store.save_version(source, actor="root")

    scopes = client.get("/openapi.json").get_json()["components"]["securitySchemes"]["oauth2"]
    assert scopes["flows"]["password"]["scopes"]["reports:read"] == "Read the reports"


def test_summary_and_description_come_from_the_docstring(document) -> None:
    operation = document["paths"]["/test/{item}/{kind}/{ratio}"]["get"]
    audit_operation = document["paths"]["/admin/audit"]["get"]

    assert operation["summary"] == "Either scope will do."
    assert operation["description"] == "A longer description."
    assert audit_operation["summary"].startswith("The audit trail, newest first")
    assert audit_operation["tags"] == ["admin_audit"]


def test_openapi_document_needs_no_token(client) -> None:
    assert client.get("/openapi.json").status_code == 200
