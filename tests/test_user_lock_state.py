"""Issue 10 item 19 (SPEC §4, §8): a locked account is visible and can be unlocked.

``users list`` and GET /admin/users/<u> show the lock and its end; ``users unlock`` and
POST /admin/users/<u>/unlock (users:write) clear it, so the right password works at once.
"""

from __future__ import annotations

from datetime import datetime

import pytest

from authserver.services import users
from tests.conftest import PASSWORD
from tests.support.admin import assert_problem, bearer
from tests.support.cli import assert_one_line_error, invoke


def lock(token_request, username: str) -> None:
    for _ in range(10):  # LOCKOUT_THRESHOLD's default
        token_request(grant_type="password", username=username, password="wrong password!")
    answer = token_request(grant_type="password", username=username, password=PASSWORD)
    assert answer.status_code == 400  # locked: even the right password is refused


@pytest.fixture
def admin(make_token) -> dict:
    return bearer(make_token("root", ("admin",)))


def test_admin_user_shows_no_lock_when_not_locked(client, admin, make_user):
    make_user("dana")
    body = client.get("/admin/users/dana", headers=admin).get_json()
    assert body["locked"] is False and body["locked_until"] is None


def test_admin_user_shows_the_lock_and_its_end(client, admin, make_user, token_request):
    make_user("dana")
    lock(token_request, "dana")

    body = client.get("/admin/users/dana", headers=admin).get_json()

    assert body["locked"] is True
    assert datetime.fromisoformat(body["locked_until"]) > datetime.now().astimezone()
    listed = client.get("/admin/users", headers=admin).get_json()["users"]
    assert [u["locked"] for u in listed if u["username"] == "dana"] == [True]


def test_admin_unlock_lets_the_right_password_in_at_once(client, admin, make_user, token_request):
    make_user("dana")
    lock(token_request, "dana")

    response = client.post("/admin/users/dana/unlock", headers=admin)

    assert response.status_code == 200
    assert response.get_json()["locked"] is False
    login = token_request(grant_type="password", username="dana", password=PASSWORD)
    assert login.status_code == 200


def test_admin_unlock_needs_users_write(client, make_token, make_user):
    make_user("dana")
    viewer = bearer(make_token("vic", ("viewer",)))
    assert client.post("/admin/users/dana/unlock", headers=viewer).status_code == 403


def test_admin_unlock_unknown_user_is_404(client, admin):
    assert_problem(client.post("/admin/users/nobody/unlock", headers=admin), 404)


def test_cli_list_shows_the_lock_and_unlock_clears_it(runner, make_user, token_request):
    make_user("dana")
    lock(token_request, "dana")

    listed = invoke(runner, "users", "list").stdout
    assert "dana\tenabled,locked until 20" in listed

    result = invoke(runner, "users", "unlock", "dana")
    assert result.exit_code == 0 and result.stdout == "dana unlocked\n"
    assert "dana\tenabled\tviewer\n" in invoke(runner, "users", "list").stdout
    assert users.locked_until(users.get("dana")) is None
    assert (
        token_request(grant_type="password", username="dana", password=PASSWORD).status_code == 200
    )


def test_cli_unlock_unknown_user_is_one_line(runner):
    assert_one_line_error(invoke(runner, "users", "unlock", "nobody"), "nobody")
