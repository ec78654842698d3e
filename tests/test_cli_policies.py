"""``authserver policies check|apply|export`` (SPEC §4, §7)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from authserver.policy import load_policy_yaml
from authserver.services import policy_store, users
from tests.support.cli import PROJECT, assert_one_line_error, invoke

# Five errors, one of each kind, at known places.
SEVERAL_ERRORS = """\
version: 1
scopes:
  profile: Read your own profile
  documents:read: Read documents
  "bad scope": nope
roles:
  viewer:
    scopes: [profile, documents:write]
    colour: blue
  editor:
    inherits: [viewer, ghost]
    scopes: [documents:read]
  viewer:
    scopes: []
"""
EXPECTED_ERRORS = [
    (5, 3, "bad scope"),
    (8, 23, "documents:write"),
    (9, 5, "colour"),
    (11, 24, "ghost"),
    (13, 3, "duplicate key 'viewer'"),
]

# The shipped policy (it declares every scope a route needs) plus a scope nobody grants and
# a role that grants nothing: valid, with exactly two warnings.
SHIPPED = (PROJECT / "policies" / "roles.yaml").read_text(encoding="utf-8")
VALID_WITH_WARNINGS = (
    SHIPPED.replace("tests:", "  unused: Nobody has it\ntests:", 1) + "  empty:\n    scopes: []\n"
)


def line_of(text: str, start: str) -> int:
    return next(n for n, line in enumerate(text.splitlines(), 1) if line.startswith(start))


WITHOUT_EDITOR = """\
version: 1
scopes:
  profile: Read your own profile
  documents:read: Read documents
  documents:write: Create and change documents
  documents:delete: Delete documents
roles:
  viewer:
    scopes: [profile, documents:read]
"""


def write(tmp_path: Path, text: str, name: str = "policy.yaml") -> str:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


def test_check_prints_every_error_as_file_line_column_and_exits_1(runner, tmp_path):
    path = write(tmp_path, SEVERAL_ERRORS)

    result = invoke(runner, "policies", "check", path)

    assert result.exit_code == 1
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == len(EXPECTED_ERRORS), result.stderr
    for line, (number, column, fragment) in zip(lines, EXPECTED_ERRORS, strict=True):
        assert line.startswith(f"{path}:{number}:{column}: "), line
        assert fragment in line
    assert "Traceback" not in result.output


def test_check_valid_file_exits_0_with_warnings_on_stderr(runner, tmp_path):
    path = write(tmp_path, VALID_WITH_WARNINGS)

    result = invoke(runner, "policies", "check", path)

    assert result.exit_code == 0, result.output
    assert result.stdout == f"{path}: ok (2 warning(s))\n"
    warnings = result.stderr.splitlines()
    assert len(warnings) == 2
    unused, empty = (
        line_of(VALID_WITH_WARNINGS, "  unused:"),
        line_of(VALID_WITH_WARNINGS, "  empty:"),
    )
    assert re.match(rf"{re.escape(path)}:{unused}:3: warning: .*'unused'", warnings[0])
    assert re.match(rf"{re.escape(path)}:{empty}:3: warning: .*'empty'", warnings[1])


def test_check_warns_of_scope_a_route_requires_but_policy_lacks(runner, tmp_path):
    path = write(tmp_path, WITHOUT_EDITOR.replace("  documents:delete: Delete documents\n", ""))

    result = invoke(runner, "policies", "check", path)

    assert result.exit_code == 0, result.output
    assert "warning:" in result.stderr
    assert "documents:delete" in result.stderr


@pytest.mark.parametrize(
    "args",
    [("policies", "check", "/no/such/file.yaml"), ("policies", "apply", "/no/such/file.yaml")],
)
def test_missing_file_is_a_one_line_error(runner, args):
    result = invoke(runner, *args)

    assert_one_line_error(result, "/no/such/file.yaml")


def test_apply_makes_a_new_version_and_prints_it(runner, tmp_path):
    path = write(tmp_path, VALID_WITH_WARNINGS)

    result = invoke(runner, "policies", "apply", path)

    assert result.exit_code == 0, result.output
    assert "policy version 2 is live" in result.stderr
    assert load_policy_yaml(result.stdout).policy == load_policy_yaml(VALID_WITH_WARNINGS).policy
    assert policy_store.newest_version() == 2
    assert policy_store.live_source() == VALID_WITH_WARNINGS


def test_apply_invalid_file_prints_errors_and_keeps_live_version(runner, tmp_path):
    path = write(tmp_path, SEVERAL_ERRORS)

    result = invoke(runner, "policies", "apply", path)

    assert result.exit_code == 1
    assert len(result.stderr.splitlines()) == len(EXPECTED_ERRORS)
    assert policy_store.newest_version() == 1


def test_apply_refuses_removing_a_role_users_hold(runner, make_user, tmp_path):
    make_user("ed", roles=["editor"])
    make_user("eve", roles=["editor", "viewer"])
    path = write(tmp_path, WITHOUT_EDITOR)

    result = invoke(runner, "policies", "apply", path)

    line = assert_one_line_error(result, "editor (held by 2 user(s))", "--strip-removed-roles")
    assert line.startswith("Error: ")
    assert policy_store.newest_version() == 1
    assert users.get("ed").roles == ["editor"]


def test_apply_with_strip_removed_roles_takes_them_from_users(runner, make_user, tmp_path):
    make_user("ed", roles=["editor"])
    make_user("eve", roles=["editor", "viewer"])
    path = write(tmp_path, WITHOUT_EDITOR)

    result = invoke(runner, "policies", "apply", "--strip-removed-roles", path)

    assert result.exit_code == 0, result.output
    assert policy_store.newest_version() == 2
    assert users.get("ed").roles == []
    assert users.get("eve").roles == ["viewer"]


def test_export_round_trips_through_apply(runner, tmp_path):
    exported = invoke(runner, "policies", "export")
    assert exported.exit_code == 0, exported.output
    assert exported.stdout == policy_store.live_source()
    path = write(tmp_path, exported.stdout, "exported.yaml")

    applied = invoke(runner, "policies", "apply", path)
    again = invoke(runner, "policies", "export")

    assert applied.exit_code == 0, applied.output
    assert policy_store.newest_version() == 2
    assert again.stdout == exported.stdout
    assert load_policy_yaml(again.stdout).policy == load_policy_yaml(exported.stdout).policy


def test_export_after_apply_is_the_applied_file(runner, tmp_path):
    invoke(runner, "policies", "apply", write(tmp_path, VALID_WITH_WARNINGS))

    result = invoke(runner, "policies", "export")

    assert result.stdout == VALID_WITH_WARNINGS
