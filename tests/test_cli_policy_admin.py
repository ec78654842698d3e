"""``authserver policies history|diff|explain|restore``: the admin API's views, as text."""

from __future__ import annotations

import pytest

from authserver.services import clients, policy_store, users
from tests.support.admin import DEFAULT_YAML
from tests.support.cli import assert_one_line_error, invoke

V2 = DEFAULT_YAML.replace(
    "  audit:read: Read the audit trail\n",
    "  audit:read: Read the audit trail\n  reports:read: Read reports\n",
).replace("scopes: [documents:write]", "scopes: [documents:write, reports:read]")


@pytest.fixture
def two_versions(app) -> None:
    policy_store.save_version(V2, actor="root", expected=1, comment="add reports")


def test_history_prints_one_line_per_version_newest_first(runner, two_versions):
    result = invoke(runner, "policies", "history")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert len(lines) == 2
    assert lines[0].startswith("v2 (live)  ")
    assert lines[0].endswith("  root  add reports")
    assert lines[1].startswith("v1  ") and "  system  seeded from " in lines[1]


def test_diff_prints_readable_lines(runner, two_versions):
    result = invoke(runner, "policies", "diff", "1", "2")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [
        "v1 -> v2: roles +0 -0 ~2; scopes +1 -0 ~0",
        "scope added: reports:read",
        "role editor: scopes +reports:read",
        "role editor: effective scopes +reports:read",
        "role admin: effective scopes +reports:read",
    ]


def test_diff_of_a_version_with_itself(runner, app):
    result = invoke(runner, "policies", "diff", "1", "1")
    assert result.stdout.splitlines()[1:] == ["no changes"]


def test_diff_of_an_absent_version_is_a_one_line_error(runner, app):
    assert_one_line_error(invoke(runner, "policies", "diff", "1", "7"), "no policy version 7")


def test_explain_prints_chains_and_reasons(runner, make_user):
    make_user("root", ("admin",))
    make_user("alice", ("viewer",))
    result = invoke(runner, "policies", "explain", "root", "documents:read", "documents:delete")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [
        "user root (roles: admin)",
        "requested: documents:read documents:delete",
        "granted: documents:read documents:delete",
        "  documents:read: granted by admin (via documents:*); admin -> editor -> viewer",
        "  documents:delete: granted by admin (via documents:*)",
    ]
    result = invoke(runner, "policies", "explain", "alice", "documents:write", "profile")
    assert result.stdout.splitlines()[2:] == [
        "granted: profile",
        "  documents:write: refused: no role of the user grants it",
        "  profile: granted by viewer",
    ]


def test_explain_with_a_client(runner, make_user):
    make_user("erin", ("editor",))
    restricted, _ = clients.create("reader", ["password"], scope="documents:read")
    result = invoke(
        runner, "policies", "explain", "erin", "documents:write", "--client", restricted.client_id
    )
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == f"user erin (roles: editor), client {restricted.client_id}"
    assert lines[2] == "granted: nothing"
    assert lines[3].startswith("error: ")
    assert lines[4] == (
        "  documents:write: refused: the client may not ask for it (roles granting it: editor)"
    )


def test_explain_unknown_user_is_a_one_line_error(runner, app):
    assert_one_line_error(invoke(runner, "policies", "explain", "ghost", "profile"), "ghost")


def test_restore_makes_a_new_version(runner, two_versions):
    result = invoke(runner, "policies", "restore", "1")
    assert result.exit_code == 0, result.output
    assert "policy version 3 is live (restored version 1)" in result.stderr
    assert policy_store.live_source() == DEFAULT_YAML
    assert policy_store.get_version(3).created_by == "cli"


def test_restore_refuses_to_remove_held_roles_without_the_flag(runner, app, make_user):
    policy_store.save_version(DEFAULT_YAML + "  auditor:\n    scopes: [audit:read]\n")
    make_user("carol", ("auditor",))
    result = invoke(runner, "policies", "restore", "1")
    assert_one_line_error(result, "auditor (held by 1 user(s))", "--strip-removed-roles")
    assert policy_store.newest_version() == 2
    result = invoke(runner, "policies", "restore", "1", "--strip-removed-roles")
    assert result.exit_code == 0, result.output
    assert users.get("carol").roles == []
