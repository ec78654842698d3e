"""Issue 10 items 10 and 19 (SPEC §4, §10): changing a password ends the user's sessions,
and no path sets a password shorter than AUTHSERVER_MIN_PASSWORD_LENGTH.

``users set-password`` reads the password as ``users create`` does; a change (there, or
the reset ``demo setup`` makes) ends the user's refresh-token families and cuts off its
access tokens, so a token from before the change stops working.
"""

from __future__ import annotations

import pytest
from sqlalchemy import select

from authserver.app import create_app
from authserver.config import ConfigError
from authserver.extensions import db
from authserver.models import AuditEvent
from authserver.services import users
from authserver.services.errors import Invalid
from tests.conftest import PASSWORD
from tests.support.cli import assert_one_line_error, credentials, invoke
from tests.support.http import bearer

NEW_PASSWORD = "a brand new passphrase"


def refresh(token_request, token: dict):
    return token_request(grant_type="refresh_token", refresh_token=token["refresh_token"])


def test_set_password_from_stdin_changes_the_password(runner, make_user):
    make_user("dana")
    result = invoke(runner, "users", "set-password", "dana", input=f"{NEW_PASSWORD}\n")

    assert result.exit_code == 0, result.output
    assert "dana: password changed" in result.stdout
    assert users.authenticate("dana", NEW_PASSWORD) is not None
    assert users.authenticate("dana", PASSWORD) is None


def test_set_password_ends_refresh_families_and_access_tokens(
    runner, client, make_token, token_request
):
    token = make_token("dana")
    assert client.get("/api/me", headers=bearer(token)).status_code == 200

    result = invoke(runner, "users", "set-password", "dana", input=NEW_PASSWORD)

    assert result.exit_code == 0, result.output
    answer = refresh(token_request, token)
    assert answer.status_code == 400 and answer.get_json()["error"] == "invalid_grant"
    assert client.get("/api/me", headers=bearer(token)).status_code == 401
    changed = select(AuditEvent).where(AuditEvent.kind == "user.password_changed")
    event = db.session.execute(changed).scalar_one()
    assert event.details["families_revoked"] == 1


def test_set_password_with_differing_lines_changes_nothing(runner, make_user):
    make_user("dana")
    result = invoke(runner, "users", "set-password", "dana", input=f"{NEW_PASSWORD}\nother one\n")

    assert_one_line_error(result, "differ")
    assert users.authenticate("dana", PASSWORD) is not None


def test_set_password_for_unknown_user_is_one_line(runner):
    assert_one_line_error(
        invoke(runner, "users", "set-password", "nobody", input=NEW_PASSWORD), "nobody"
    )


def test_demo_setup_again_ends_the_demo_users_refresh_families(runner, token_request):
    first, *_ = credentials(invoke(runner, "demo", "setup").stdout)
    password = first["alice"][0]
    login = token_request(grant_type="password", username="alice", password=password)
    assert login.status_code == 200, login.get_json()

    assert invoke(runner, "demo", "setup").exit_code == 0

    answer = refresh(token_request, login.get_json())
    assert answer.status_code == 400 and answer.get_json()["error"] == "invalid_grant"


# -- the shortest password ----------------------------------------------------------------


def test_cli_create_with_a_short_password_is_refused(runner):
    result = invoke(runner, "users", "create", "eve", input="pw\n")

    assert_one_line_error(result, "shorter than 8")
    assert users.find("eve") is None


def test_cli_set_password_with_a_short_password_is_refused(runner, make_user):
    make_user("dana")
    assert_one_line_error(
        invoke(runner, "users", "set-password", "dana", input="1234567"), "shorter than 8"
    )
    assert users.authenticate("dana", PASSWORD) is not None


def test_service_refuses_a_short_password_everywhere(app, make_user):
    make_user("dana")
    with pytest.raises(Invalid, match="shorter than 8"):
        users.create("eve", "seven77")
    with pytest.raises(Invalid, match="shorter than 8"):
        users.set_password("dana", "seven77")
    users.create("eve", "eight888")


@pytest.fixture
def long_minimum(settings):
    settings["MIN_PASSWORD_LENGTH"] = 20
    return settings


def test_min_password_length_setting_is_applied(long_minimum, app):
    with pytest.raises(Invalid, match="shorter than 20"):
        users.create("eve", "nineteen characters")
    users.create("eve", "twenty characters!!!")


@pytest.mark.parametrize("value", ["0", "x", "1025"])
def test_bad_min_password_length_stops_the_start_with_one_line(settings, value):
    with pytest.raises(ConfigError, match="AUTHSERVER_MIN_PASSWORD_LENGTH"):
        create_app("testing", {**settings, "MIN_PASSWORD_LENGTH": value})
