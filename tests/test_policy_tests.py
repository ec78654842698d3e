"""Policy tests (SPEC §14): the ``tests:`` list, its errors, and every write enforcing it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from sqlalchemy import insert

from authserver.extensions import db
from authserver.models import PolicyVersion
from authserver.models.base import utcnow
from authserver.policy import load_policy_data, load_policy_yaml
from authserver.policy.cases import run_tests
from authserver.services import policy_store, users
from tests.support.admin import DEFAULT_YAML, assert_problem, bearer, writing
from tests.support.cli import invoke
from tests.support.policy_text import with_tests, without_tests

PINNED = with_tests(
    DEFAULT_YAML,
    "  - name: editors write\n"
    "    roles: [editor]\n"
    "    grants: [documents:read, documents:write]\n"
    "    denies: [documents:delete]\n"
    "  - name: a reading client keeps admins to reading\n"
    "    roles: [admin]\n"
    "    client_scopes: [documents:read]\n"
    "    grants: [documents:read]\n"
    "    denies: [documents:write, policies:write]\n",
)
EDITOR_LOSES_WRITE = PINNED.replace(
    "    scopes: [documents:write]\n", "    scopes: [documents:delete]\n"
)


def line_of(text: str, line: str, nth: int = 0) -> int:
    return [n for n, text_line in enumerate(text.splitlines(), 1) if text_line == line][nth]


def load(text: str):
    result = load_policy_yaml(text)
    assert result.policy is not None, result.errors
    return result.policy


# -- the document -----------------------------------------------------------------------


def test_tests_load_and_pass():
    policy = load(PINNED)
    assert [t.name for t in policy.tests][-2:] == [
        "editors write",
        "a reading client keeps admins to reading",
    ]
    assert all(result.passed for result in run_tests(policy))


def test_failures_point_at_the_scope_that_fails():
    *shipped, editors, client = run_tests(load(EDITOR_LOSES_WRITE))
    assert all(result.passed for result in shipped)
    assert client.passed
    assert [(f.path, f.line, f.column) for f in editors.failures] == [
        (
            "tests[3].grants[1]",
            line_of(EDITOR_LOSES_WRITE, "    grants: [documents:read, documents:write]"),
            30,
        ),
        ("tests[3].denies[0]", line_of(EDITOR_LOSES_WRITE, "    denies: [documents:delete]"), 14),
    ]
    assert editors.failures[0].message == (
        "test 'editors write': documents:write is not granted to roles [editor], "
        "but the test grants it"
    )
    assert "is granted to roles [editor], but the test denies it" in editors.failures[1].message


BAD_TESTS = """\
version: 1
scopes:
  profile: Read your own profile
roles:
  viewer:
    scopes: [profile]
tests:
  - name: unknown things
    roles: [viewer, ghost]
    grants: [profile, nope]
    colour: blue
  - name: wrong types
    roles: viewer
    client_scopes: [1]
    denies: {profile: yes}
  - roles: [viewer]
  - just a string
  - name: unknown things
    roles: [viewer]
    grants: [profile]
"""


def test_every_error_in_tests_is_located():
    result = load_policy_yaml(BAD_TESTS)
    assert result.policy is None
    found = [(issue.line, issue.column, issue.path) for issue in result.errors]
    assert found == [
        (9, 21, "tests[0].roles[1]"),
        (10, 23, "tests[0].grants[1]"),
        (11, 5, "tests[0].colour"),
        (13, 12, "tests[1].roles"),
        (14, 21, "tests[1].client_scopes[0]"),
        (15, 13, "tests[1].denies"),
        (16, 5, "tests[2]"),  # no name
        (16, 5, "tests[2]"),  # checks nothing
        (17, 5, "tests[3]"),
        (18, 11, "tests[4].name"),  # duplicate
    ]
    messages = " | ".join(issue.message for issue in result.errors)
    for fragment in (
        "role 'ghost' is not declared",
        "scope 'nope' is not declared",
        "unknown key 'colour' in a test",
        "roles must be a list of roles, got string",
        "scope must be a string, got integer",
        "denies must be a list of scopes, got mapping",
        "a test needs 'name'",
        "a test must be a mapping",
        "duplicate test name 'unknown things'",
    ):
        assert fragment in messages


def test_tests_must_be_a_list():
    result = load_policy_yaml(without_tests(DEFAULT_YAML) + "tests: {a: 1}\n")
    [error] = result.errors
    assert (error.path, error.message) == ("tests", "tests must be a list of tests, got mapping")


def test_json_tests_have_paths_and_round_trip():
    document = yaml.safe_load(PINNED)
    policy = load_policy_data(json.loads(json.dumps(document))).policy
    assert policy is not None and policy.to_document() == document
    assert load(policy.to_yaml()) == policy  # exported YAML keeps the tests


# -- every write path ---------------------------------------------------------------------


@pytest.fixture
def admin(make_token) -> dict:
    return bearer(make_token("root", ("admin",)))


@pytest.fixture
def pinned(client, admin) -> int:
    response = client.put("/admin/policy", headers=writing(admin, 1), data=PINNED)
    assert response.status_code == 200, response.get_json()
    return 2


def assert_refused_by_tests(response, version: int) -> list[dict]:
    body = assert_problem(response, 422)
    assert body["title"] == "Policy tests fail"
    assert "'editors write'" in body["detail"]
    assert policy_store.newest_version() == version
    assert [t["name"] for t in body["tests"] if not t["passed"]] == ["editors write"]
    return body["errors"]


def test_put_policy_refuses_a_policy_whose_tests_fail(client, admin, pinned):
    response = client.put("/admin/policy", headers=writing(admin, pinned), data=EDITOR_LOSES_WRITE)
    errors = assert_refused_by_tests(response, pinned)
    assert [(e["line"], e["path"]) for e in errors] == [
        (
            line_of(EDITOR_LOSES_WRITE, "    grants: [documents:read, documents:write]"),
            "tests[3].grants[1]",
        ),
        (line_of(EDITOR_LOSES_WRITE, "    denies: [documents:delete]"), "tests[3].denies[0]"),
    ]


def test_put_role_refuses_an_edit_that_breaks_a_test_pointing_into_the_live_policy(
    client, admin, pinned
):
    response = client.put(
        "/admin/roles/editor",
        headers=writing(admin, pinned, "application/json"),
        data=json.dumps({"inherits": ["viewer"], "scopes": ["documents:delete"]}),
    )
    errors = assert_refused_by_tests(response, pinned)
    live_yaml = policy_store.live_source()
    assert errors[0]["line"] == line_of(live_yaml, "    grants: [documents:read, documents:write]")
    assert errors[0]["column"] == 30


def test_delete_role_refuses_when_a_test_names_it(client, admin, pinned):
    """The tests name the role: without it they refer to an unknown role (422, located in
    the live document)."""
    response = client.delete("/admin/roles/admin", headers=writing(admin, pinned))
    body = assert_problem(response, 422)
    error = body["errors"][0]
    assert error["message"] == "role 'admin' is not declared under 'roles'"
    assert error["path"] == "tests[2].roles[0]"  # the shipped "admins read the audit trail"
    live_yaml = policy_store.live_source()
    assert (error["line"], error["column"]) == (line_of(live_yaml, "    roles: [admin]"), 13)
    assert [e["path"] for e in body["errors"]] == ["tests[2].roles[0]", "tests[4].roles[0]"]
    assert policy_store.newest_version() == pinned


def test_restore_runs_the_tests_of_the_version_restored(client, admin, pinned):
    # A stored version whose tests fail cannot be written through any path: put one in
    # the table directly, then make another version live.
    db.session.execute(
        insert(PolicyVersion).values(
            version=3, source=EDITOR_LOSES_WRITE, created_at=utcnow(), created_by="x"
        )
    )
    db.session.commit()
    assert client.put("/admin/policy", headers=writing(admin, 3), data=PINNED).status_code == 200
    response = client.post("/admin/policy/versions/3/restore", headers=writing(admin, 4))
    errors = assert_refused_by_tests(response, 4)
    assert errors[0]["line"] == line_of(
        EDITOR_LOSES_WRITE, "    grants: [documents:read, documents:write]"
    )
    assert (
        client.post("/admin/policy/versions/2/restore", headers=writing(admin, 4)).status_code
        == 200
    )


def test_tests_are_versioned_exported_and_diffed(client, admin, pinned):
    assert [t.name for t in policy_store.policy_at(pinned).tests][-2:] == [
        "editors write",
        "a reading client keeps admins to reading",
    ]
    document = client.get("/admin/policy", headers=admin).get_json()
    assert document["tests"][3]["name"] == "editors write"
    diff = client.get("/admin/policy/diff?from=1&to=2", headers=admin).get_json()
    assert diff["tests_added"] == ["editors write", "a reading client keeps admins to reading"]
    assert diff["summary"].endswith("; tests +2 -0 ~0")


def test_role_edits_keep_the_tests(client, admin, pinned):
    response = client.put(
        "/admin/roles/viewer",
        headers=writing(admin, pinned, "application/json"),
        data=json.dumps({"description": "Reads", "scopes": ["profile", "documents:read"]}),
    )
    assert response.status_code == 200, response.get_json()
    assert [t.name for t in policy_store.live_policy()[1].tests][-2:] == [
        "editors write",
        "a reading client keeps admins to reading",
    ]


# -- the CLI -------------------------------------------------------------------------------


def write(tmp_path: Path, text: str) -> str:
    path = tmp_path / "policy.yaml"
    path.write_text(text, encoding="utf-8")
    return str(path)


def test_cli_test_passes(runner, tmp_path):
    path = write(tmp_path, PINNED)
    result = invoke(runner, "policies", "test", path)
    assert result.exit_code == 0, result.output
    assert result.stdout == f"{path}: 5 passed, 0 failed\n"


def test_cli_test_prints_each_failure_as_file_line_column(runner, tmp_path):
    path = write(tmp_path, EDITOR_LOSES_WRITE)
    result = invoke(runner, "policies", "test", path)
    assert result.exit_code == 1
    grants = line_of(EDITOR_LOSES_WRITE, "    grants: [documents:read, documents:write]")
    denies = line_of(EDITOR_LOSES_WRITE, "    denies: [documents:delete]")
    assert result.stderr.splitlines() == [
        f"{path}:{grants}:30: test 'editors write': documents:write is not granted to roles "
        "[editor], but the test grants it",
        f"{path}:{denies}:14: test 'editors write': documents:delete is granted to roles "
        "[editor], but the test denies it",
    ]
    assert result.stdout == f"{path}: 4 passed, 1 failed\n"


def test_cli_test_of_an_invalid_file_prints_its_errors(runner, tmp_path):
    path = write(tmp_path, BAD_TESTS)
    result = invoke(runner, "policies", "test", path)
    assert result.exit_code == 1
    assert result.stderr.splitlines()[0].startswith(f"{path}:9:21: role 'ghost'")


def test_cli_apply_refuses_failing_tests(runner, tmp_path, app):
    path = write(tmp_path, EDITOR_LOSES_WRITE)
    result = invoke(runner, "policies", "apply", path)
    assert result.exit_code == 1
    grants = line_of(EDITOR_LOSES_WRITE, "    grants: [documents:read, documents:write]")
    assert f"{path}:{grants}:30: test 'editors write'" in result.stderr
    assert policy_store.newest_version() == 1


def test_cli_restore_refuses_a_version_whose_tests_fail(runner, app):
    db.session.execute(
        insert(PolicyVersion).values(
            version=2, source=EDITOR_LOSES_WRITE, created_at=utcnow(), created_by="x"
        )
    )
    db.session.commit()
    policy_store.save_version(DEFAULT_YAML, actor="test")
    result = invoke(runner, "policies", "restore", "2")
    assert result.exit_code == 1
    assert "version 2:" in result.stderr and "test 'editors write'" in result.stderr
    assert policy_store.newest_version() == 3


def test_seeding_refuses_a_policy_file_whose_tests_fail(app):
    with pytest.raises(Exception, match="editors write"):
        policy_store.save_version(EDITOR_LOSES_WRITE, actor="test")
    assert users.find("nobody") is None
