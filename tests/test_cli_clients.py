"""``authserver clients create|list`` (SPEC §4, §10: secrets stored as SHA-256 digests)."""

from __future__ import annotations

import hashlib
import json

import pytest
from sqlalchemy import inspect

from authserver.services import clients
from tests.conftest import PASSWORD, basic_auth
from tests.support.cli import assert_one_line_error, invoke


def create(runner, *args: str) -> dict:
    result = invoke(runner, "clients", "create", *args)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def password_grant(client, client_id: str, secret: str | None, **params):
    data = {"grant_type": "password", "username": "alice", "password": PASSWORD, **params}
    if secret is None:
        return client.post("/oauth/token", data={**data, "client_id": client_id})
    return client.post("/oauth/token", data=data, headers=basic_auth(client_id, secret))


def test_create_prints_id_and_secret_as_json(runner):
    output = create(
        runner,
        "billing",
        "--grant-type",
        "password",
        "--grant-type",
        "refresh_token",
        "--scope",
        "profile documents:read",
    )

    assert list(output) == ["client_id", "client_secret"]
    row = clients.find(output["client_id"])
    assert row.name == "billing"
    assert row.grant_type_list == ["password", "refresh_token"]
    assert row.scope_list == ["profile", "documents:read"]
    assert not row.is_public
    assert len(output["client_secret"]) >= 43  # 256 bits, URL-safe base64


def test_secret_is_stored_only_as_sha256_digest(runner):
    output = create(runner, "billing", "--grant-type", "password")
    secret = output["client_secret"]

    row = clients.find(output["client_id"])

    assert row.secret_digest == hashlib.sha256(secret.encode()).hexdigest()
    stored = [getattr(row, attr.key) for attr in inspect(row).mapper.column_attrs]
    assert all(secret not in str(value) for value in stored)
    assert row.check_client_secret(secret)
    assert not row.check_client_secret(secret + "x")


def test_created_client_gets_tokens_within_its_scope(runner, client, make_user):
    make_user("alice", roles=["admin"])
    output = create(runner, "app", "--grant-type", "password", "--scope", "profile")

    response = password_grant(client, output["client_id"], output["client_secret"])

    assert response.status_code == 200, response.get_json()
    assert response.get_json()["scope"] == "profile"
    assert "refresh_token" not in response.get_json()  # no refresh_token grant


def test_public_client_has_null_secret_and_authenticates_with_none(runner, client, make_user):
    make_user("alice")
    output = create(runner, "cli-app", "--public", "--grant-type", "password")

    assert output["client_secret"] is None
    assert clients.find(output["client_id"]).is_public
    response = password_grant(client, output["client_id"], None)
    assert response.status_code == 200, response.get_json()


def test_no_grant_type_means_no_grant(runner, client, make_user):
    make_user("alice")
    output = create(runner, "nothing")

    row = clients.find(output["client_id"])
    assert row.grant_type_list == []
    response = password_grant(client, output["client_id"], output["client_secret"])
    assert response.status_code == 400
    assert response.get_json()["error"] == "unauthorized_client"


def test_introspect_flag(runner):
    output = create(runner, "resource-server", "--introspect")

    assert clients.find(output["client_id"]).can_introspect


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["x", "--grant-type", "authorization_code"], "authorization_code"),
        (["x", "--public", "--grant-type", "client_credentials"], "public"),
        (["x", "--grant-type", "client_credentials", "--role", "nobody"], "nobody"),
        (["x", "--grant-type", "password", "--grant-type", "implicit"], "implicit"),
        (["x", "--scope", "profile nonsense:scope"], "nonsense:scope"),
        (["x", "--scope", 'bad"scope'], "scope"),
        (["x", "--scope", "  "], "--scope"),
        (["   "], "name"),
    ],
    ids=[
        "unknown-grant",
        "public-client-credentials",
        "unknown-role",
        "one-unknown-grant",
        "undeclared-scope",
        "bad-scope",
        "empty",
        "name",
    ],
)
def test_bad_input_is_a_one_line_error_and_creates_nothing(runner, args, fragment):
    result = invoke(runner, "clients", "create", *args)

    assert_one_line_error(result, fragment)
    assert clients.list_all() == []


def test_list_shows_each_client(runner):
    confidential = create(
        runner, "web", "--grant-type", "password", "--scope", "profile", "--introspect"
    )
    public = create(runner, "mobile", "--public", "--grant-type", "password")

    result = invoke(runner, "clients", "list")

    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [
        f"{confidential['client_id']}\tweb\tpassword\tprofile\tconfidential,introspect\t(none)",
        f"{public['client_id']}\tmobile\tpassword\t(any)\tpublic\t(none)",
    ]
    assert confidential["client_secret"] not in result.stdout


# --- delete, disable, enable, rotate-secret (SPEC §4; issue 10 item 17) ------------------------


@pytest.fixture
def confidential(runner, make_user) -> dict:
    make_user("alice")
    return create(runner, "app", "--grant-type", "password", "--grant-type", "refresh_token")


def _login(client, made: dict):
    response = password_grant(client, made["client_id"], made["client_secret"])
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def _refresh(client, client_id: str, secret: str, refresh_token: str):
    data = {"grant_type": "refresh_token", "refresh_token": refresh_token}
    return client.post("/oauth/token", data=data, headers=basic_auth(client_id, secret))


def _me(client, access_token: str) -> int:
    return client.get("/api/me", headers={"Authorization": f"Bearer {access_token}"}).status_code


def test_a_refresh_token_of_a_deleted_and_recreated_demo_client_is_refused(
    runner, client, make_user
) -> None:
    """Issue 10 item 17: after `demo setup` recreated demo-client, a refresh token issued
    to the old one worked with the new secret."""
    from authserver.cli.demo import DEMO_CLIENT

    make_user("alice")
    first = clients.create("Demo client", ["password", "refresh_token"], client_id=DEMO_CLIENT)
    old = _login(client, {"client_id": DEMO_CLIENT, "client_secret": first[1]})

    assert invoke(runner, "clients", "delete", DEMO_CLIENT).exit_code == 0
    _, new_secret = clients.create(
        "Demo client", ["password", "refresh_token"], client_id=DEMO_CLIENT
    )

    response = _refresh(client, DEMO_CLIENT, new_secret, old["refresh_token"])
    assert response.status_code == 400
    assert response.get_json()["error"] == "invalid_grant"
    assert _me(client, old["access_token"]) == 401


def test_delete_ends_the_clients_tokens_and_the_client(runner, client, confidential) -> None:
    tokens = _login(client, confidential)

    result = invoke(runner, "clients", "delete", confidential["client_id"])

    assert result.exit_code == 0, result.output
    assert clients.find_any(confidential["client_id"]) is None
    assert _me(client, tokens["access_token"]) == 401
    assert (
        password_grant(
            client, confidential["client_id"], confidential["client_secret"]
        ).status_code
        == 401
    )


def test_disable_refuses_tokens_and_ends_the_old_ones(runner, client, confidential) -> None:
    tokens = _login(client, confidential)
    client_id, secret = confidential["client_id"], confidential["client_secret"]

    result = invoke(runner, "clients", "disable", client_id)

    assert result.exit_code == 0, result.output
    refused = password_grant(client, client_id, secret)
    assert (refused.status_code, refused.get_json()["error"]) == (401, "invalid_client")
    assert _refresh(client, client_id, secret, tokens["refresh_token"]).status_code == 401
    assert _me(client, tokens["access_token"]) == 401
    assert "disabled" in invoke(runner, "clients", "list").stdout


def test_enable_lets_a_disabled_client_get_tokens_again_but_not_its_old_ones(
    runner, client, confidential
) -> None:
    tokens = _login(client, confidential)
    client_id, secret = confidential["client_id"], confidential["client_secret"]
    invoke(runner, "clients", "disable", client_id)

    result = invoke(runner, "clients", "enable", client_id)

    assert result.exit_code == 0, result.output
    assert _refresh(client, client_id, secret, tokens["refresh_token"]).status_code == 400
    fresh = _login(client, confidential)
    assert _me(client, fresh["access_token"]) == 200


def test_rotate_secret_prints_the_new_secret_once_and_ends_the_tokens(
    runner, client, confidential
) -> None:
    tokens = _login(client, confidential)
    client_id, old_secret = confidential["client_id"], confidential["client_secret"]

    result = invoke(runner, "clients", "rotate-secret", client_id)

    assert result.exit_code == 0, result.output
    printed = json.loads(result.stdout)
    assert printed["client_id"] == client_id and printed["client_secret"] != old_secret
    assert password_grant(client, client_id, old_secret).status_code == 401
    assert (
        _refresh(client, client_id, printed["client_secret"], tokens["refresh_token"]).status_code
        == 400
    )
    assert _me(client, tokens["access_token"]) == 401
    assert password_grant(client, client_id, printed["client_secret"]).status_code == 200
    stored = clients.find(client_id).secret_digest
    assert stored == hashlib.sha256(printed["client_secret"].encode()).hexdigest()


def test_rotate_secret_of_a_public_client_is_refused_with_one_line(runner) -> None:
    public = create(runner, "spa", "--grant-type", "password", "--public")

    result = invoke(runner, "clients", "rotate-secret", public["client_id"])

    assert_one_line_error(result, "public")


@pytest.mark.parametrize("command", ["delete", "disable", "enable", "rotate-secret"])
def test_unknown_client_id_is_refused_with_one_line(runner, command: str) -> None:
    result = invoke(runner, "clients", command, "no-such-client")

    assert_one_line_error(result, "no-such-client")


# --- roles and --dpop (SPEC §16, §17) ------------------------------------------------------


def client_credentials(client, client_id: str, secret: str, **params):
    data = {"grant_type": "client_credentials", **params}
    return client.post("/oauth/token", data=data, headers=basic_auth(client_id, secret))


def test_create_with_roles_and_dpop_lists_them(runner) -> None:
    made = create(
        runner,
        "svc",
        "--grant-type",
        "client_credentials",
        "--role",
        "viewer",
        "--role",
        "editor",
        "--dpop",
    )

    row = clients.find(made["client_id"])
    assert row.roles == ["editor", "viewer"] and row.dpop_bound
    listed = invoke(runner, "clients", "list").stdout.splitlines()
    assert listed == [
        f"{made['client_id']}\tsvc\tclient_credentials\t(any)\tconfidential,dpop\teditor viewer"
    ]


def test_set_roles_replaces_the_roles_and_a_role_taken_away_ends_the_tokens(
    runner, client
) -> None:
    made = create(runner, "svc", "--grant-type", "client_credentials", "--role", "editor")
    client_id, secret = made["client_id"], made["client_secret"]
    old = client_credentials(client, client_id, secret).get_json()
    assert old["scope"] == "profile documents:read documents:write"

    result = invoke(runner, "clients", "set-roles", client_id, "viewer")

    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == f"client {client_id} roles: viewer"
    assert _me(client, old["access_token"]) == 401
    fresh = client_credentials(client, client_id, secret).get_json()
    assert fresh["scope"] == "profile documents:read"
    assert _me(client, fresh["access_token"]) == 200


def test_set_roles_with_no_role_takes_them_all(runner) -> None:
    made = create(runner, "svc", "--grant-type", "client_credentials", "--role", "viewer")

    result = invoke(runner, "clients", "set-roles", made["client_id"])

    assert result.exit_code == 0, result.output
    assert clients.find(made["client_id"]).roles == []


@pytest.mark.parametrize(
    ("args", "fragment"),
    [(["no-such-client", "viewer"], "no-such-client"), (["{id}", "viewer", "nobody"], "nobody")],
    ids=["unknown-client", "unknown-role"],
)
def test_set_roles_bad_input_is_a_one_line_error(runner, args, fragment) -> None:
    made = create(runner, "svc", "--grant-type", "client_credentials", "--role", "editor")
    args = [arg.format(id=made["client_id"]) for arg in args]

    result = invoke(runner, "clients", "set-roles", *args)

    assert_one_line_error(result, fragment)
    assert clients.find(made["client_id"]).roles == ["editor"]


def test_disable_and_rotate_end_client_credentials_tokens(runner, client) -> None:
    made = create(runner, "svc", "--grant-type", "client_credentials", "--role", "viewer")
    client_id, secret = made["client_id"], made["client_secret"]
    before_rotate = client_credentials(client, client_id, secret).get_json()["access_token"]

    rotated = json.loads(invoke(runner, "clients", "rotate-secret", client_id).stdout)

    assert _me(client, before_rotate) == 401
    assert client_credentials(client, client_id, secret).status_code == 401
    secret = rotated["client_secret"]
    before_disable = client_credentials(client, client_id, secret).get_json()["access_token"]
    assert _me(client, before_disable) == 200
    invoke(runner, "clients", "disable", client_id)
    assert _me(client, before_disable) == 401
    assert client_credentials(client, client_id, secret).status_code == 401
