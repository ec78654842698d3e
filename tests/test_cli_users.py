"""``authserver users create|set-roles|disable|enable|list`` (SPEC §4)."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from authserver.extensions import db
from authserver.models import RefreshFamily
from authserver.services import users
from authserver.state import state
from tests.conftest import PASSWORD
from tests.support.cli import assert_one_line_error, invoke


def can_log_in(username: str, password: str) -> bool:
    return users.authenticate(username, password) is not None


@pytest.mark.parametrize(
    "stdin",
    [f"{PASSWORD}\n", f"{PASSWORD}\n{PASSWORD}\n", PASSWORD, f"{PASSWORD}\r\n{PASSWORD}\r\n"],
    ids=["one-line", "two-matching-lines", "no-newline", "crlf"],
)
def test_create_reads_password_from_piped_stdin(runner, stdin):
    result = invoke(runner, "users", "create", "dana", "--role", "viewer", input=stdin)

    assert result.exit_code == 0, result.output
    assert result.stdout == "created user dana with roles: viewer\n"
    assert can_log_in("dana", PASSWORD)
    assert users.get("dana").password_hash.startswith("$argon2id$")


def test_create_with_two_different_lines_is_an_error_and_creates_nobody(runner):
    result = invoke(runner, "users", "create", "dana", input=f"{PASSWORD}\nsomething else\n")

    assert_one_line_error(result, "differ")
    assert users.find("dana") is None


@pytest.mark.parametrize("stdin", ["", "\n", "\nsecond\n"], ids=["empty", "blank", "blank-first"])
def test_create_without_a_password_is_an_error(runner, stdin):
    result = invoke(runner, "users", "create", "dana", input=stdin)

    assert_one_line_error(result, "no password")
    assert users.find("dana") is None


def test_create_with_several_roles(runner):
    result = invoke(
        runner, "users", "create", "dana", "--role", "viewer", "--role", "editor", input=PASSWORD
    )

    assert result.exit_code == 0, result.output
    assert sorted(users.get("dana").roles) == ["editor", "viewer"]


def test_create_with_unknown_role_is_a_one_line_error(runner):
    result = invoke(runner, "users", "create", "dana", "--role", "wizard", input=PASSWORD)

    assert_one_line_error(result, "unknown role", "wizard")
    assert users.find("dana") is None


def test_create_duplicate_user_is_an_error(runner, make_user):
    make_user("dana")

    result = invoke(runner, "users", "create", "dana", input="another password\n")

    assert_one_line_error(result, "dana", "exists")
    assert can_log_in("dana", PASSWORD)  # the first user's password is untouched


@pytest.mark.parametrize("username", ["-leading-dash", "has space", "x" * 151, "é"])
def test_create_with_invalid_username_is_an_error(runner, username):
    result = invoke(runner, "users", "create", "--", username, input=PASSWORD)

    assert_one_line_error(result, "username")


def test_set_roles_replaces_roles(runner, make_user):
    make_user("dana", roles=["viewer"])

    result = invoke(runner, "users", "set-roles", "dana", "editor", "admin")

    assert result.exit_code == 0, result.output
    assert sorted(users.get("dana").roles) == ["admin", "editor"]


def test_set_roles_with_none_removes_all(runner, make_user):
    make_user("dana", roles=["viewer", "editor"])

    result = invoke(runner, "users", "set-roles", "dana")

    assert result.exit_code == 0, result.output
    assert users.get("dana").roles == []
    assert "(no roles)" in result.stdout


def test_set_roles_unknown_role_changes_nothing(runner, make_user):
    make_user("dana", roles=["viewer"])

    result = invoke(runner, "users", "set-roles", "dana", "editor", "wizard")

    assert_one_line_error(result, "wizard")
    assert users.get("dana").roles == ["viewer"]


@pytest.mark.parametrize("command", ["set-roles", "disable", "enable"])
def test_unknown_user_is_a_one_line_error(runner, command):
    result = invoke(runner, "users", command, "nobody")

    assert_one_line_error(result, "nobody")


def test_disable_then_enable(runner, make_user):
    make_user("dana")

    disabled = invoke(runner, "users", "disable", "dana")
    assert disabled.exit_code == 0, disabled.output
    assert users.get("dana").disabled
    assert not can_log_in("dana", PASSWORD)

    enabled = invoke(runner, "users", "enable", "dana")
    assert enabled.exit_code == 0, enabled.output
    assert not users.get("dana").disabled
    assert can_log_in("dana", PASSWORD)


def test_disable_ends_refresh_families(runner, make_token):
    make_token("dana")
    user_id = users.get("dana").id

    invoke(runner, "users", "disable", "dana")

    rows = db.session.execute(
        select(RefreshFamily.revoked_reason).where(RefreshFamily.user_id == user_id)
    ).all()
    assert rows and all(reason == "user_disabled" for (reason,) in rows)


def test_list_shows_each_user_state_and_roles_sorted_by_name(runner, make_user):
    make_user("zoe", roles=["viewer"])
    make_user("adam", roles=["editor", "viewer"])
    make_user("nora", roles=())
    users.set_disabled("zoe", True)

    result = invoke(runner, "users", "list")

    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [
        "adam\tenabled\teditor viewer",
        "nora\tenabled\t-",
        "zoe\tdisabled\tviewer",
    ]


def test_list_with_no_users_prints_nothing(runner):
    result = invoke(runner, "users", "list")

    assert result.exit_code == 0
    assert result.stdout == ""


def test_created_password_uses_configured_argon2_parameters(runner, app):
    invoke(runner, "users", "create", "dana", input=PASSWORD)

    assert not state(app).passwords.needs_rehash(users.get("dana").password_hash)
