"""The loaded Policy: effective scopes, wildcards, inheritance, explanations, round trips."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from authserver.policy import Policy, Role, load_policy_yaml, undeclared_required_scopes
from tests.support.policy import ALL_SPEC_SCOPES

DEFAULT_POLICY = Path(__file__).resolve().parent.parent / "policies" / "roles.yaml"


def load(text: str) -> Policy:
    result = load_policy_yaml(textwrap.dedent(text).lstrip("\n"))
    assert result.ok, result.errors
    assert result.policy is not None
    return result.policy


@pytest.fixture
def spec_policy() -> Policy:
    return load(DEFAULT_POLICY.read_text())


def test_default_policy_file_loads_without_errors_or_warnings():
    result = load_policy_yaml(DEFAULT_POLICY.read_text())
    assert result.errors == []
    assert result.warnings == []


def test_default_policy_declares_the_spec_scopes_in_order(spec_policy):
    assert list(spec_policy.scopes) == ALL_SPEC_SCOPES
    assert list(spec_policy.roles) == ["viewer", "editor", "admin"]
    assert spec_policy.roles["editor"] == Role(
        name="editor", description="", inherits=("viewer",), scopes=("documents:write",)
    )


def test_effective_scopes_follow_two_levels_of_inheritance(spec_policy):
    assert spec_policy.effective_scopes("viewer") == {"profile", "documents:read"}
    assert spec_policy.effective_scopes("editor") == {
        "profile",
        "documents:read",
        "documents:write",
    }
    assert spec_policy.effective_scopes("admin") == set(ALL_SPEC_SCOPES)


def test_wildcard_expands_to_every_declared_scope_with_the_prefix():
    policy = load("""
        version: 1
        scopes:
          documents:read: R
          documents:write: W
          documentsx: not under the prefix
          docs:read: not under the prefix
          documents:archive:read: nested
        roles:
          writer: {scopes: ["documents:*"]}
          other: {scopes: [documentsx, docs:read]}
        """)
    assert policy.effective_scopes("writer") == {
        "documents:read",
        "documents:write",
        "documents:archive:read",
    }
    assert policy.roles["writer"].scopes == ("documents:*",)


def test_nested_prefix_wildcard():
    policy = load("""
        version: 1
        scopes: {a:b:c: x, a:b:d: x, a:e: x}
        roles:
          r: {scopes: ["a:b:*"]}
          s: {scopes: [a:e]}
        """)
    assert policy.effective_scopes("r") == {"a:b:c", "a:b:d"}


def test_effective_scopes_of_an_unknown_role_is_a_key_error(spec_policy):
    with pytest.raises(KeyError, match="ghost"):
        spec_policy.effective_scopes("ghost")


@pytest.mark.parametrize(
    ("roles", "expected"),
    [
        ([], set()),
        (["viewer"], {"profile", "documents:read"}),
        (["viewer", "ghost"], {"profile", "documents:read"}),
        (["ghost"], set()),
        (["viewer", "editor"], {"profile", "documents:read", "documents:write"}),
        (("admin", "viewer"), set(ALL_SPEC_SCOPES)),
    ],
)
def test_scopes_for_roles_is_the_union_ignoring_unknown_roles(spec_policy, roles, expected):
    assert spec_policy.scopes_for_roles(roles) == expected


def test_scopes_for_roles_refuses_a_bare_string(spec_policy):
    with pytest.raises(TypeError):
        spec_policy.scopes_for_roles("admin")


def test_grant_paths_lists_each_inheritance_chain(spec_policy):
    assert spec_policy.grant_paths("admin", "documents:read") == [
        ["admin"],  # through documents:*
        ["admin", "editor", "viewer"],
    ]
    assert spec_policy.grant_paths("admin", "audit:read") == [["admin"]]
    assert spec_policy.grant_paths("editor", "profile") == [["editor", "viewer"]]
    assert spec_policy.grant_paths("viewer", "audit:read") == []
    assert spec_policy.grant_paths("ghost", "profile") == []


def test_grant_paths_through_a_diamond():
    policy = load("""
        version: 1
        scopes: {p: P}
        roles:
          base: {scopes: [p]}
          left: {inherits: [base]}
          right: {inherits: [base]}
          top: {inherits: [left, right]}
        """)
    assert policy.grant_paths("top", "p") == [["top", "left", "base"], ["top", "right", "base"]]


def test_policy_is_read_only(spec_policy):
    with pytest.raises(TypeError):
        spec_policy.scopes["new"] = "x"  # type: ignore[index]
    with pytest.raises(AttributeError):
        spec_policy.extra = 1  # type: ignore[attr-defined]


def test_to_document_preserves_what_was_written(spec_policy):
    document = spec_policy.to_document()
    assert document["version"] == 1
    assert list(document["scopes"]) == ALL_SPEC_SCOPES
    assert document["roles"] == {
        "viewer": {"description": "Reads documents", "scopes": ["profile", "documents:read"]},
        "editor": {"inherits": ["viewer"], "scopes": ["documents:write"]},
        "admin": {
            "inherits": ["editor"],
            "scopes": ["documents:*", "policies:*", "users:*", "clients:*", "audit:read"],
        },
    }


def test_to_yaml_round_trips_to_an_equal_policy(spec_policy):
    text = spec_policy.to_yaml()
    again = load_policy_yaml(text)
    assert again.errors == [] and again.warnings == []
    assert again.policy == spec_policy
    assert again.policy.to_yaml() == text


def test_to_yaml_quotes_scalars_yaml_would_misread():
    policy = load("""
        version: 1
        scopes:
          "yes": A scope named yes
          "123": "null"
          "a:b": "multi\\nline: with # and 'quotes'"
        roles:
          "on": {description: "true", scopes: ["yes", "123", "a:*"]}
        """)
    again = load_policy_yaml(policy.to_yaml())
    assert again.ok, again.errors
    assert again.policy == policy


def test_policies_differing_in_a_role_are_not_equal(spec_policy):
    other = load(DEFAULT_POLICY.read_text().replace(", audit:read]", "]"))
    assert other != spec_policy


def test_undeclared_required_scopes_warns_once_per_scope(spec_policy):
    issues = undeclared_required_scopes(
        spec_policy, ["documents:read", "reports:read", "reports:read", "billing:write"]
    )
    assert [(i.line, i.column, i.path) for i in issues] == [(None, None, "scopes")] * 2
    assert [i.message for i in issues] == [
        "scope 'reports:read' is required by a route but not declared in the policy",
        "scope 'billing:write' is required by a route but not declared in the policy",
    ]


def test_undeclared_required_scopes_empty_when_all_declared(spec_policy):
    assert undeclared_required_scopes(spec_policy, ALL_SPEC_SCOPES) == []
