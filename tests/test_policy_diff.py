"""diff_policies: what changed between two policy versions (pure, no app)."""

from __future__ import annotations

from pathlib import Path

import pytest

from authserver.policy import PolicyDiff, diff_policies, load_policy_yaml
from tests.support.policy_text import without_tests

# The engine's diff, not the shipped tests (which name roles and scopes these edits drop).
DEFAULT = without_tests(
    (Path(__file__).resolve().parent.parent / "policies" / "roles.yaml").read_text()
)


def load(text: str):
    result = load_policy_yaml(text)
    assert result.ok, result.errors
    return result.policy


@pytest.fixture
def default():
    return load(DEFAULT)


def test_diff_of_equal_policies_is_empty(default):
    diff = diff_policies(default, load(DEFAULT))
    assert diff.empty
    assert diff.summary() == "roles +0 -0 ~0; scopes +0 -0 ~0"
    assert diff.to_dict() == {
        "scopes_added": [],
        "scopes_removed": [],
        "scopes_changed": [],
        "roles_added": [],
        "roles_removed": [],
        "roles_changed": {},
        "tests_added": [],
        "tests_removed": [],
        "tests_changed": [],
    }


def test_diff_reports_scopes_added_removed_and_redescribed(default):
    text = (
        DEFAULT.replace("  audit:read: Read the audit trail\n", "")
        .replace("Read your own profile", "Read the profile")
        .replace("scopes:                     #", "scopes:\n  reports:read: Reports\n  x: y #")
        .replace(", audit:read]", "]")
    )
    diff = diff_policies(default, load(text))
    assert diff.scopes_added == ["reports:read", "x"]
    assert diff.scopes_removed == ["audit:read"]
    assert diff.scopes_changed == ["profile"]
    assert diff.summary() == "roles +0 -0 ~1; scopes +2 -1 ~1"
    assert diff.roles_changed["admin"]["scopes"] == {"added": [], "removed": ["audit:read"]}


def test_diff_reports_roles_added_removed_and_each_changed_part(default):
    text = DEFAULT.replace(
        "  editor:\n    inherits: [viewer]\n    scopes: [documents:write]\n",
        "  editor:\n    description: Writes\n    scopes: [documents:write, audit:read]\n"
        "  auditor:\n    scopes: [audit:read]\n",
    ).replace(
        "  viewer:\n    description: Reads documents\n    scopes: [profile, documents:read]\n", ""
    )
    text = text.replace("inherits: [editor]", "inherits: [editor, auditor]")
    diff = diff_policies(default, load(text))
    assert diff.roles_added == ["auditor"]
    assert diff.roles_removed == ["viewer"]
    assert diff.roles_changed["editor"] == {
        "description": ["", "Writes"],
        "inherits": {"added": [], "removed": ["viewer"]},
        "scopes": {"added": ["audit:read"], "removed": []},
        "effective_scopes": {"added": ["audit:read"], "removed": ["profile", "documents:read"]},
    }
    # admin lists documents:*, so losing viewer's documents:read changes nothing for it,
    # but it lost profile through the inheritance chain.
    assert diff.roles_changed["admin"] == {
        "inherits": {"added": ["auditor"], "removed": []},
        "effective_scopes": {"added": [], "removed": ["profile"]},
    }
    assert diff.summary() == "roles +1 -1 ~2; scopes +0 -0 ~0"
    assert not diff.empty


def test_effective_change_through_a_parent_alone_is_reported(default):
    text = DEFAULT.replace("scopes: [profile, documents:read]", "scopes: [documents:read]")
    diff = diff_policies(default, load(text))
    assert set(diff.roles_changed) == {"viewer", "editor", "admin"}
    assert diff.roles_changed["editor"] == {
        "effective_scopes": {"added": [], "removed": ["profile"]}
    }


def test_wildcard_matching_a_new_scope_changes_effective_scopes(default):
    text = DEFAULT.replace(
        "  documents:delete: Delete documents\n",
        "  documents:delete: Delete documents\n  documents:share: Share documents\n",
    )
    diff = diff_policies(default, load(text))
    assert diff.scopes_added == ["documents:share"]
    assert diff.roles_changed == {
        "admin": {"effective_scopes": {"added": ["documents:share"], "removed": []}}
    }


def test_to_dict_is_a_copy(default):
    text = DEFAULT.replace("scopes: [documents:write]", "scopes: [documents:write, audit:read]")
    diff = diff_policies(default, load(text))
    snapshot = diff.to_dict()
    snapshot["roles_changed"]["editor"]["scopes"]["added"].append("mutated")
    assert diff.to_dict()["roles_changed"]["editor"]["scopes"]["added"] == ["audit:read"]


def test_policy_diff_defaults_to_empty():
    assert PolicyDiff().empty
