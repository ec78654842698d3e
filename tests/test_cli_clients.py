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
        (["x", "--grant-type", "client_credentials"], "client_credentials"),
        (["x", "--grant-type", "password", "--grant-type", "implicit"], "implicit"),
        (["x", "--scope", "profile nonsense:scope"], "nonsense:scope"),
        (["x", "--scope", 'bad"scope'], "scope"),
        (["x", "--scope", "  "], "--scope"),
        (["   "], "name"),
    ],
    ids=["unknown-grant", "one-unknown-grant", "undeclared-scope", "bad-scope", "empty", "name"],
)
def test_bad_input_is_a_one_line_error_and_creates_nothing(runner, args, fragment):
    result = invoke(runner, "clients", "create", *args)

    assert_one_line_error(result, fragment)
    assert clients.list_all() == []


def test_list_shows_each_client(runner):
    confidential = create(
        runner, "web", "--grant-type", "password", "--scope", "profile", "--introspect"
    )
    public = create(runner, "mobile", "--public")

    result = invoke(runner, "clients", "list")

    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [
        f"{confidential['client_id']}\tweb\tpassword\tprofile\tconfidential,introspect",
        f"{public['client_id']}\tmobile\t(none)\t(any)\tpublic",
    ]
    assert confidential["client_secret"] not in result.stdout
