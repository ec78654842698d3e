"""``authserver policies apply FILE --dry-run`` (SPEC §14): the preview as text, no write."""

from __future__ import annotations

from pathlib import Path

from authserver.services import policy_store
from tests.support.admin import DEFAULT_YAML
from tests.support.cli import invoke
from tests.support.policy_text import with_tests, without_tests
from tests.test_admin_policy_preview import EDITORS_CANNOT_WRITE, add_users


def write(tmp_path: Path, text: str) -> str:
    path = tmp_path / "policy.yaml"
    path.write_text(text, encoding="utf-8")
    return str(path)


def test_dry_run_prints_who_gains_and_loses_what_and_stores_nothing(runner, tmp_path, app):
    add_users("ed", 12, ("editor",))
    add_users("pair", 1, ("editor", "viewer"))
    path = write(tmp_path, EDITORS_CANNOT_WRITE)

    result = invoke(runner, "policies", "apply", path, "--dry-run")

    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [
        "changes from the live version 1: roles +0 -0 ~1; scopes +0 -0 ~0",
        "  role editor: scopes +documents:delete -documents:write",
        "  role editor: effective scopes +documents:delete -documents:write",
        "impact:",
        "  12 users holding [editor] lose documents:write and gain documents:delete "
        "(ed0000, ed0001, ed0002, ed0003, ed0004, ...)",
        "  1 user holding [editor, viewer] loses documents:write and gains documents:delete "
        "(pair0000)",
        "tests: 3 passed, 0 failed",
        "dry run: nothing stored; apply would store it",
    ]
    assert policy_store.newest_version() == 1


def test_dry_run_of_an_invalid_file_prints_its_errors_and_exits_1(runner, tmp_path, app):
    path = write(tmp_path, DEFAULT_YAML.replace("[documents:write]", "[documents:wirte]"))
    result = invoke(runner, "policies", "apply", path, "--dry-run")
    assert result.exit_code == 1
    [error, verdict] = result.stdout.splitlines()
    assert error.startswith(f"{path}:") and "'documents:wirte' is not declared" in error
    assert verdict == "dry run: nothing stored; apply would refuse it"
    assert "impact" not in result.stdout


def test_dry_run_names_removed_roles_still_held(runner, tmp_path, app):
    add_users("ed", 3, ("editor",))
    without_editor = (
        without_tests(DEFAULT_YAML)
        .replace("  editor:\n    inherits: [viewer]\n    scopes: [documents:write]\n", "")
        .replace("inherits: [editor]", "inherits: [viewer]")
    )
    path = write(tmp_path, without_editor)

    refused = invoke(runner, "policies", "apply", path, "--dry-run")
    stripped = invoke(runner, "policies", "apply", path, "--dry-run", "--strip-removed-roles")

    assert refused.exit_code == 1
    assert "removed role still held: editor (3 holder(s))" in refused.stdout
    assert refused.stdout.endswith("apply would refuse it\n")
    assert stripped.exit_code == 0
    assert stripped.stdout.endswith("apply would store it\n")
    assert policy_store.newest_version() == 1


def test_dry_run_reports_failing_tests_at_their_place(runner, tmp_path, app):
    text = with_tests(
        EDITORS_CANNOT_WRITE,
        "  - name: editors write\n    roles: [editor]\n    grants: [documents:write]\n",
    )
    path = write(tmp_path, text)
    result = invoke(runner, "policies", "apply", path, "--dry-run")
    assert result.exit_code == 1
    line = text.splitlines().index("    grants: [documents:write]") + 1
    assert (
        f"  {path}:{line}:14: test 'editors write': documents:write is not granted to roles "
        "[editor], but the test grants it"
    ) in result.stdout.splitlines()
    assert "tests: 3 passed, 1 failed" in result.stdout


def test_dry_run_without_change_says_so(runner, tmp_path, app):
    result = invoke(runner, "policies", "apply", write(tmp_path, DEFAULT_YAML), "--dry-run")
    assert result.exit_code == 0
    assert "impact: no user or client gains or loses a scope" in result.stdout
