"""``authserver routes``: every route, its methods and the scopes it needs."""

from __future__ import annotations

import json

import pytest

from authserver.cli.routes import ANY_TOKEN, PUBLIC, describe, route_table
from authserver.resource import RequiredScopes, route_scopes
from tests.support.cli import invoke

IMPLICIT = {"HEAD", "OPTIONS"}


def table_rows(output: str) -> list[list[str]]:
    """The table's rows split into rule, methods and scopes (columns are 2+ spaces apart)."""
    lines = output.splitlines()
    assert lines[0].split() == ["Rule", "Methods", "Scopes"]
    rows = []
    for line in lines[1:]:
        rule, rest = line.split(" ", 1)
        methods, _, scopes = rest.strip().partition("  ")
        rows.append([rule, methods, scopes.strip()])
    return rows


def test_routes_lists_every_rule_with_methods_and_scopes(app, runner) -> None:
    result = invoke(runner, "routes")

    assert result.exit_code == 0, result.output
    rows = table_rows(result.output)
    expected = sorted(
        (rule.rule, ", ".join(sorted(rule.methods - IMPLICIT)))
        for rule in app.url_map.iter_rules()
    )
    assert sorted((rule, methods) for rule, methods, _ in rows) == expected
    scopes = {(rule, methods): scope for rule, methods, scope in rows}
    assert scopes[("/admin/audit", "GET")] == "audit:read"
    assert scopes[("/admin/users/<username>/roles", "PUT")] == "users:write"
    assert scopes[("/api/documents/<int:document_id>", "DELETE")] == "documents:delete"
    assert scopes[("/api/me", "GET")] == ANY_TOKEN
    assert scopes[("/oauth/token", "POST")] == PUBLIC
    assert scopes[("/openapi.json", "GET")] == PUBLIC


def test_routes_scopes_match_route_scopes(app, runner) -> None:
    rows = table_rows(invoke(runner, "routes").output)
    scopes = {(rule, methods): scope for rule, methods, scope in rows}

    for rule, methods, required in route_scopes(app):
        assert scopes[(rule, ", ".join(methods))] == describe(required)


def test_routes_json_for_tools(app, runner) -> None:
    result = invoke(runner, "routes", "--format", "json")

    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)
    assert rows == json.loads(json.dumps(route_table(app)))
    audit = next(row for row in rows if row["rule"] == "/admin/audit")
    assert audit["methods"] == ["GET"]
    assert audit["endpoint"] == "admin_audit.list_events"
    assert audit["required"] == {"all_of": ["audit:read"], "any_of": []}
    token = next(row for row in rows if row["rule"] == "/oauth/token")
    assert token["required"] is None


def test_routes_bad_format_is_a_usage_error(runner) -> None:
    result = invoke(runner, "routes", "--format", "xml")

    assert result.exit_code == 2
    assert "Traceback" not in result.output


@pytest.mark.parametrize(
    ("required", "text"),
    [
        (None, PUBLIC),
        (RequiredScopes(), ANY_TOKEN),
        (RequiredScopes(("a", "b")), "a b"),
        (RequiredScopes(("a",), ("b", "c")), "a, one of: b | c"),
        (RequiredScopes((), ("b", "c")), "one of: b | c"),
    ],
)
def test_describe(required, text) -> None:
    assert describe(required) == text
