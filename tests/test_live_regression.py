"""Issue 9, item 1: the admin who was removed cannot act with the token he already held.

An admin ``bob`` holds a token. Another admin takes his roles away, disables him and
revokes his tokens: through the admin API, through the CLI in the same process, and
through the real console script (another process). Every step bob then tries with the
token he held gets 401 (introspection: inactive), nothing he tried changed anything, and
he cannot log in or refresh again.
"""

from __future__ import annotations

import time

import pytest

from authserver.extensions import db
from authserver.services import users
from tests.conftest import PASSWORD, basic_auth
from tests.support.cli import console_env, invoke, run_console
from tests.support.http import bearer


@pytest.fixture
def root(make_token) -> dict[str, str]:
    return bearer(make_token("root", ["admin"]))


@pytest.fixture
def bob_tokens(make_token, make_user) -> dict:
    make_user("carol", ["viewer"])
    return make_token("bob", ["admin"])


def remove_bob_through_the_api(client, root, _runner, _settings) -> None:
    assert (
        client.put("/admin/users/bob/roles", headers=root, json={"roles": []}).status_code == 200
    )
    assert client.post("/admin/users/bob/disable", headers=root).status_code == 200
    assert client.post("/admin/users/bob/revoke-tokens", headers=root).status_code == 200


def remove_bob_through_the_cli(_client, _root, runner, _settings) -> None:
    for args in (("set-roles", "bob"), ("disable", "bob"), ("revoke-tokens", "bob")):
        result = invoke(runner, "users", *args)
        assert result.exit_code == 0, result.output


def bobs_attempts(client, token: dict) -> dict[str, object]:
    """What bob tries with the token he held, and the answers."""
    headers = bearer(token)
    return {
        "enable himself": client.post("/admin/users/bob/enable", headers=headers),
        "make himself admin": client.put(
            "/admin/users/bob/roles", headers=headers, json={"roles": ["admin"]}
        ),
        "make carol admin": client.put(
            "/admin/users/carol/roles", headers=headers, json={"roles": ["admin"]}
        ),
        "disable root": client.post("/admin/users/root/disable", headers=headers),
        "list users": client.get("/admin/users", headers=headers),
        "read a document": client.get("/api/me", headers=headers),
    }


def assert_bob_is_out(client, oauth_client, token: dict) -> None:
    for step, response in bobs_attempts(client, token).items():
        assert response.status_code == 401, step
        assert 'error="invalid_token"' in response.headers["WWW-Authenticate"], step
    bob, carol, root = users.get("bob"), users.get("carol"), users.get("root")
    assert (bob.disabled, bob.roles, carol.roles, root.disabled) == (True, [], ["viewer"], False)
    auth = basic_auth(oauth_client.client_id, oauth_client.secret)
    login = {"grant_type": "password", "username": "bob", "password": PASSWORD}
    again = {"grant_type": "refresh_token", "refresh_token": token["refresh_token"]}
    for form in (login, again):
        answer = client.post("/oauth/token", data=form, headers=auth)
        assert (answer.status_code, answer.get_json()["error"]) == (400, "invalid_grant")


@pytest.mark.parametrize("remove", [remove_bob_through_the_api, remove_bob_through_the_cli])
def test_bob_removed_gets_401_at_every_step(
    client, root, bob_tokens, oauth_client, runner, settings, remove
) -> None:
    assert client.get("/admin/users", headers=bearer(bob_tokens)).status_code == 200

    remove(client, root, runner, settings)

    assert_bob_is_out(client, oauth_client, bob_tokens)


@pytest.mark.processes
def test_bob_removed_by_another_process_gets_401_within_the_bound(
    client, root, bob_tokens, oauth_client, settings, tmp_path
) -> None:
    """The console script is another process: this one learns of it through its feed (or
    the fallback) within the bound."""
    assert client.get("/admin/users", headers=bearer(bob_tokens)).status_code == 200
    env = console_env(
        tmp_path, DATABASE_URL=settings["DATABASE_URL"], SIGNING_KEYS=settings["SIGNING_KEYS"]
    )

    for args in (("set-roles", "bob"), ("disable", "bob"), ("revoke-tokens", "bob")):
        result = run_console(env, "users", *args)
        assert result.returncode == 0, result.stderr
    time.sleep(1.0)  # SPEC §12: every other process within 1 second

    assert_bob_is_out(client, oauth_client, bob_tokens)


def test_introspection_says_bobs_token_is_inactive(client, root, bob_tokens, oauth_client):
    oauth_client.can_introspect = True
    db.session.commit()
    auth = basic_auth(oauth_client.client_id, oauth_client.secret)
    form = {"token": bob_tokens["access_token"]}
    assert client.post("/oauth/introspect", data=form, headers=auth).get_json()["active"]

    client.post("/admin/users/bob/disable", headers=root)

    answer = client.post("/oauth/introspect", data=form, headers=auth).get_json()
    assert answer == {"active": False}
