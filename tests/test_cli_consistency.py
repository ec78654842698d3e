"""Issue 10 item 18: the command line says what it did, on one stream, and refuses what
cannot work.

- ``--strip-removed-roles`` says which roles were taken from how many users (as the admin
  API's ``stripped_roles``), on apply and restore;
- restoring the live version stores nothing and says so;
- announcements (new live version, stripped roles, warnings) go to standard error on every
  policy command; standard output carries only the answer (the YAML of ``apply``);
- ``clients create NAME --public`` without a grant type is refused with a hint; a client
  name equal to an existing one (after NFKC and case folding) is refused;
- ``authserver --help`` does not offer Flask's development ``run`` server.
"""

from __future__ import annotations

import subprocess

import pytest

from authserver.services import clients, policy_store, users
from authserver.services.errors import Conflict
from tests.support.admin import DEFAULT_YAML
from tests.support.cli import AUTHSERVER, assert_one_line_error, console_env, invoke

WITH_AUDITOR = DEFAULT_YAML + "  auditor:\n    scopes: [audit:read]\n"
WITH_TWO = WITH_AUDITOR + "  reporter:\n    scopes: [profile]\n"


@pytest.fixture
def held_roles(app, make_user):
    """Version 2 adds auditor and reporter; two users hold auditor, one holds reporter."""
    policy_store.save_version(WITH_TWO)
    make_user("carol", ("auditor",))
    make_user("dave", ("auditor", "reporter"))


def test_apply_with_strip_says_which_roles_from_how_many_users(runner, held_roles, tmp_path):
    path = tmp_path / "roles.yaml"
    path.write_text(DEFAULT_YAML)

    result = invoke(runner, "policies", "apply", str(path), "--strip-removed-roles")

    assert result.exit_code == 0, result.output
    assert (
        "stripped removed roles from their users: auditor (2 user(s)), reporter (1 user(s))"
        in (result.stderr)
    )
    assert result.stdout.startswith("version: 1")  # stdout: the policy only
    assert "stripped" not in result.stdout and "is live" not in result.stdout
    assert users.get("dave").roles == []


def test_restore_with_strip_says_which_roles_from_how_many_users(runner, held_roles):
    result = invoke(runner, "policies", "restore", "1", "--strip-removed-roles")

    assert result.exit_code == 0, result.output
    assert "policy version 3 is live (restored version 1)" in result.stderr
    assert "auditor (2 user(s)), reporter (1 user(s))" in result.stderr
    assert result.stdout == ""


def test_apply_without_stripping_says_nothing_of_roles(runner, app, tmp_path):
    path = tmp_path / "roles.yaml"
    path.write_text(WITH_AUDITOR)
    result = invoke(runner, "policies", "apply", str(path))
    assert result.exit_code == 0, result.output
    assert "stripped" not in result.stderr


def test_restoring_the_live_version_stores_nothing_and_says_so(runner, app):
    policy_store.save_version(WITH_AUDITOR)

    result = invoke(runner, "policies", "restore", "2")

    assert result.exit_code == 0, result.output
    assert "policy version 2 is already live; nothing stored" in result.stderr
    assert policy_store.newest_version() == 2


def test_public_client_without_grant_type_is_refused_with_a_hint(runner):
    result = invoke(runner, "clients", "create", "pub", "--public")

    assert_one_line_error(result, "--grant-type password")
    assert clients.list_all() == []


@pytest.mark.parametrize("twin", ["web", "Web", "WEB", " web ", "\uff57eb"])
def test_duplicate_client_name_is_refused(runner, twin):
    assert invoke(runner, "clients", "create", "web", "--grant-type", "password").exit_code == 0

    result = invoke(runner, "clients", "create", twin, "--grant-type", "password")

    assert_one_line_error(result, "a client named 'web' exists")
    assert len(clients.list_all()) == 1


def test_duplicate_client_name_is_refused_by_the_service(app):
    clients.create("backend", ["password"])
    with pytest.raises(Conflict):
        clients.create("Backend", ["password"])


@pytest.mark.processes
def test_help_does_not_offer_the_development_server(tmp_path):
    env = console_env(tmp_path)
    listed = subprocess.run(
        [str(AUTHSERVER), "--help"], env=env, capture_output=True, text=True, timeout=60
    )
    ran = subprocess.run(
        [str(AUTHSERVER), "run"], env=env, capture_output=True, text=True, timeout=60
    )

    assert listed.returncode == 0, listed.stderr
    commands = listed.stdout.split("Commands:")[1].split()
    assert "run" not in commands and "limiter" not in commands
    assert {"db", "users", "clients", "policies", "keys", "routes", "shell"} <= set(commands)
    assert ran.returncode != 0 and "No such command 'run'" in ran.stderr
