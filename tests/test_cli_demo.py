"""``authserver demo setup``: working credentials for a laptop, refused in production."""

from __future__ import annotations

import pytest

from authserver.app import create_app
from authserver.cli import cli
from authserver.extensions import db
from authserver.services import clients, users
from tests.conftest import basic_auth
from tests.support.cli import (
    assert_one_line_error,
    console_env,
    credentials,
    invoke,
    run_console,
)


def login(client, client_id: str, secret: str | None, username: str, password: str):
    data = {"grant_type": "password", "username": username, "password": password}
    if secret is None:
        return client.post("/oauth/token", data={**data, "client_id": client_id})
    return client.post("/oauth/token", data=data, headers=basic_auth(client_id, secret))


def test_demo_setup_prints_credentials_that_work(runner, client):
    result = invoke(runner, "demo", "setup")

    assert result.exit_code == 0, result.output
    found, client_id, secret, public_id = credentials(result.stdout)
    assert {name: role for name, (_, role) in found.items()} == {
        "alice": "admin",
        "bob": "editor",
        "carol": "viewer",
    }
    for name, (password, role) in found.items():
        response = login(client, client_id, secret, name, password)
        assert response.status_code == 200, response.get_json()
        token = response.get_json()
        me = client.get("/api/me", headers={"Authorization": f"Bearer {token['access_token']}"})
        assert me.status_code == 200
        assert me.get_json()["username"] == name
        assert me.get_json()["roles"] == [role]
        assert "refresh_token" in token
    password, _ = found["carol"]
    assert login(client, public_id, None, "carol", password).status_code == 200


def test_demo_setup_prints_a_curl_command_for_the_issuer(runner, app):
    result = invoke(runner, "demo", "setup")

    _, client_id, secret, _ = credentials(result.stdout)
    assert f"curl -s -u {client_id}:{secret} -d grant_type=password" in result.stdout
    assert f"{app.config['ISSUER']}/oauth/token" in result.stdout


def test_demo_setup_again_resets_passwords_and_secret(runner, client):
    first = credentials(invoke(runner, "demo", "setup").stdout)
    users.set_roles("alice", ["viewer"])
    users.set_disabled("bob", True)

    second = credentials(invoke(runner, "demo", "setup").stdout)

    old_users, old_id, old_secret, _ = first
    new_users, new_id, new_secret, _ = second
    assert new_id == old_id and new_secret != old_secret
    assert login(client, old_id, old_secret, "alice", new_users["alice"][0]).status_code == 401
    assert login(client, new_id, new_secret, "alice", old_users["alice"][0]).status_code == 400
    assert login(client, new_id, new_secret, "alice", new_users["alice"][0]).status_code == 200
    assert users.get("alice").roles == ["admin"]
    assert not users.get("bob").disabled
    assert len(clients.list_all()) == 2


def test_demo_setup_is_refused_in_production(settings):
    app = create_app("production", {**settings, "ISSUER": "https://id.example"})
    with app.app_context():
        try:
            result = app.test_cli_runner().invoke(cli, ["demo", "setup"])
            assert_one_line_error(result, "AUTHSERVER_ENV=production")
            assert users.list_all() == []
            assert clients.list_all() == []
        finally:
            db.session.remove()
            db.engine.dispose()


@pytest.mark.processes
def test_demo_setup_is_refused_in_production_by_the_console_script(tmp_path):
    env = console_env(tmp_path)
    assert run_console(env, "db", "upgrade").returncode == 0

    production = {**env, "AUTHSERVER_ENV": "production", "AUTHSERVER_ISSUER": "https://id.example"}

    result = run_console(production, "demo", "setup")

    assert_one_line_error(result, "refused", "AUTHSERVER_ENV=production")
