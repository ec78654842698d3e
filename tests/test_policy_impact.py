"""The impact arithmetic (SPEC §14): changed roles, what a role set can get, merging groups."""

from __future__ import annotations

from pathlib import Path

import pytest

from authserver.policy import grant_scopes, load_policy_yaml
from authserver.policy.impact import (
    RoleSet,
    changed_roles,
    grantable,
    group_impact,
    impact_of,
    merge_groups,
)
from tests.support.policy_text import without_tests

DEFAULT = without_tests(
    (Path(__file__).resolve().parent.parent / "policies" / "roles.yaml").read_text()
)


def load(text: str):
    result = load_policy_yaml(text)
    assert result.policy is not None, result.errors
    return result.policy


@pytest.fixture
def live():
    return load(DEFAULT)


@pytest.fixture
def candidate():
    """editor swaps documents:write for documents:delete."""
    return load(DEFAULT.replace("scopes: [documents:write]", "scopes: [documents:delete]"))


def test_changed_roles_are_those_whose_effective_scopes_differ(live, candidate):
    # admin inherits editor, but documents:* covers both scopes: unchanged.
    assert changed_roles(live, candidate) == {"editor"}
    assert changed_roles(live, live) == frozenset()


def test_a_removed_or_added_role_is_changed(live):
    renamed = load(DEFAULT.replace("  viewer:", "  reader:").replace("[viewer]", "[reader]"))
    assert changed_roles(live, renamed) == {"viewer", "reader"}


def test_grantable_is_the_token_endpoints_rule_with_nothing_requested(live):
    for roles in (["viewer"], ["editor"], ["admin"], ["editor", "viewer"]):
        assert grantable(live, roles) == frozenset(grant_scopes(live, None, roles, None))
    assert grantable(live, []) == frozenset()  # invalid_scope at the token endpoint
    assert grantable(live, ["ghost"]) == frozenset()


def test_group_impact_gains_and_losses_in_declared_order(live, candidate):
    group = RoleSet("user", ("editor",), 3, ("a", "b", "c"))
    found = group_impact(live, candidate, group)
    assert found is not None
    assert (found.gains, found.loses) == (("documents:delete",), ("documents:write",))
    assert group_impact(live, candidate, RoleSet("user", ("admin", "editor"), 1, ("x",))) is None


def test_impact_lists_users_first_then_by_size(live, candidate):
    groups = [
        RoleSet("client", ("editor",), 50, ("c",)),
        RoleSet("user", ("editor",), 2, ("a",)),
        RoleSet("user", ("editor", "viewer"), 9, ("b",)),
    ]
    impact = impact_of(live, candidate, groups, {"gone": 3})
    assert [(g.group.kind, g.group.count) for g in impact.groups] == [
        ("user", 9),
        ("user", 2),
        ("client", 50),
    ]
    assert impact.to_dict()["roles_removed_held"] == {"gone": 3}


def test_merge_groups_joins_one_set_keyed_in_two_orders():
    names_a = tuple(f"a{i:02d}" for i in range(20))
    names_b = tuple(f"a{i:02d}" for i in range(5, 40, 2))
    merged = merge_groups(
        [
            RoleSet("user", ("viewer", "editor"), 30, names_a),
            RoleSet("user", ("editor", "viewer"), 18, names_b),
            RoleSet("client", ("editor", "viewer"), 1, ("robot",)),
        ]
    )
    assert len(merged) == 2
    users = merged[0]
    assert users.roles == ("editor", "viewer") and users.count == 48
    assert users.sample == tuple(sorted(set(names_a) | set(names_b)))[:20]
    assert merged[1].kind == "client"
