"""The client_credentials grant (RFC 6749 §4.4, SPEC §16) in process: the token a client gets
for itself from its own roles, the granting rule of §7 applied to them, who may use the
grant, and the live state (§12) refusing or narrowing the client's tokens when the client or
the policy changes, without ever mistaking the client for a user whose id reads the same.
"""

from __future__ import annotations

import pytest

from authserver.extensions import db
from authserver.models import PolicyVersion
from authserver.services import clients, policy_store, users
from tests.conftest import PASSWORD, basic_auth
from tests.support.http import bearer
from tests.support.tokens import token_claims

EDITOR_SCOPE = "profile documents:read documents:write"


def client_credentials(client, client_id: str, secret: str, **params):
    """POST /oauth/token with grant_type=client_credentials (client_secret_basic)."""
    data = {"grant_type": "client_credentials", **params}
    return client.post("/oauth/token", data=data, headers=basic_auth(client_id, secret))


def token_for(client, service, **params) -> dict:
    response = client_credentials(client, service.client_id, service.secret, **params)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def me(client, token) -> int:
    return client.get("/api/me", headers=bearer(token)).status_code


def make_service(roles=("editor",), scope=None, client_id=None, name="svc"):
    service, secret = clients.create(
        name, ["client_credentials"], scope=scope, roles=roles, client_id=client_id
    )
    service.secret = secret
    return service


@pytest.fixture
def service(app):
    """A confidential client given client_credentials and the editor role."""
    return make_service()


# --- the token --------------------------------------------------------------------------------


def test_token_is_the_clients_own_with_its_roles_and_no_refresh_token(client, service) -> None:
    response = client_credentials(client, service.client_id, service.secret)

    assert response.status_code == 200, response.get_json()
    assert response.headers["Cache-Control"] == "no-store"
    body = response.get_json()
    assert body["token_type"] == "Bearer" and body["expires_in"] > 0
    assert body["scope"] == EDITOR_SCOPE
    assert "refresh_token" not in body  # RFC 6749 §4.4.3
    claims = token_claims(body["access_token"])
    assert claims["sub"] == claims["client_id"] == service.client_id
    assert "username" not in claims
    assert claims["roles"] == ["editor"]
    assert claims["scope"] == EDITOR_SCOPE


def test_api_me_answers_for_a_client_token(client, service) -> None:
    token = token_for(client, service)

    response = client.get("/api/me", headers=bearer(token))

    assert response.status_code == 200
    assert response.get_json() == {
        "sub": service.client_id,
        "username": None,
        "client_id": service.client_id,
        "scope": EDITOR_SCOPE,
        "roles": ["editor"],
    }


def test_client_secret_post_works_too(client, service) -> None:
    data = {
        "grant_type": "client_credentials",
        "client_id": service.client_id,
        "client_secret": service.secret,
    }

    response = client.post("/oauth/token", data=data)

    assert response.status_code == 200, response.get_json()


def test_a_document_written_by_a_client_is_owned_by_the_client(client, service) -> None:
    token = token_for(client, service)

    response = client.post(
        "/api/documents", headers=bearer(token), json={"title": "t", "body": ""}
    )

    assert response.status_code == 201, response.get_json()
    assert response.get_json()["owner"] == f"client:{service.client_id}"


# --- granting: requested ∩ the client's roles ∩ its allowed scopes (SPEC §7) ------------------


@pytest.mark.parametrize(
    ("roles", "allowed", "requested", "granted"),
    [
        (["editor"], None, "documents:read", "documents:read"),
        (["editor"], None, "documents:read documents:delete", "documents:read"),  # dropped
        (["viewer", "editor"], None, None, EDITOR_SCOPE),
        (["editor"], "profile documents:write", None, "profile documents:write"),
        (["admin"], "documents:read", "documents:read documents:delete", "documents:read"),
    ],
    ids=["asked", "unheld-dropped", "all-held", "client-scopes", "client-scopes-asked"],
)
def test_granted_is_requested_and_held_and_allowed(client, roles, allowed, requested, granted):
    service = make_service(roles, allowed)
    params = {} if requested is None else {"scope": requested}

    assert token_for(client, service, **params)["scope"] == granted


@pytest.mark.parametrize(
    ("roles", "allowed", "requested"),
    [
        (["viewer"], None, "reports:read"),  # not declared by the policy
        (["viewer"], None, 'bad"scope'),  # RFC 6749 §3.3 syntax
        (["viewer"], None, "documents:delete"),  # nothing left
        ([], None, None),  # no role: nothing to grant
        (["editor"], "profile", "documents:write"),  # beyond the client's scopes
    ],
    ids=["undeclared", "malformed", "nothing-held", "no-roles", "not-allowed"],
)
def test_nothing_grantable_is_invalid_scope(client, roles, allowed, requested) -> None:
    service = make_service(roles, allowed)
    params = {} if requested is None else {"scope": requested}

    response = client_credentials(client, service.client_id, service.secret, **params)

    assert response.status_code == 400
    assert response.get_json()["error"] == "invalid_scope"


# --- who may use the grant --------------------------------------------------------------------


def test_a_client_not_given_the_grant_is_unauthorized_client(client, oauth_client) -> None:
    response = client_credentials(client, oauth_client.client_id, oauth_client.secret)

    assert response.status_code == 400
    assert response.get_json()["error"] == "unauthorized_client"


def test_a_public_client_cannot_authenticate_for_the_grant(client, app) -> None:
    public, _ = clients.create("spa", ["password"], public=True, roles=["viewer"])
    data = {"grant_type": "client_credentials", "client_id": public.client_id}

    response = client.post("/oauth/token", data=data)

    assert response.status_code == 401
    assert response.get_json()["error"] == "invalid_client"


@pytest.mark.parametrize("change", ["wrong-secret", "disabled", "deleted"])
def test_a_client_that_cannot_authenticate_is_invalid_client(client, service, change) -> None:
    secret = service.secret
    if change == "wrong-secret":
        secret += "x"
    elif change == "disabled":
        clients.set_disabled(service.client_id, True)
    else:
        clients.delete(service.client_id)

    response = client_credentials(client, service.client_id, secret)

    assert response.status_code == 401
    assert response.get_json()["error"] == "invalid_client"


# --- live state (SPEC §12) ----------------------------------------------------------------------


@pytest.mark.parametrize("change", ["disable", "delete", "rotate-secret"])
def test_a_client_change_cuts_its_tokens_off_at_once(client, service, change) -> None:
    token = token_for(client, service)
    assert me(client, token) == 200

    if change == "disable":
        clients.set_disabled(service.client_id, True)
    elif change == "delete":
        clients.delete(service.client_id)
    else:
        service.secret = clients.rotate_secret(service.client_id)

    assert me(client, token) == 401
    if change == "rotate-secret":  # the new secret gets a token that works at once
        assert me(client, token_for(client, service)) == 200


def test_a_role_taken_from_the_client_cuts_its_tokens_off(client, service) -> None:
    token = token_for(client, service)

    clients.set_roles(service.client_id, ["viewer"])

    assert me(client, token) == 401
    fresh = token_for(client, service)
    assert fresh["scope"] == "profile documents:read"
    assert me(client, fresh) == 200


def test_a_role_given_to_the_client_leaves_its_tokens_alone(client, service) -> None:
    token = token_for(client, service)

    clients.set_roles(service.client_id, ["editor", "admin"])

    assert me(client, token) == 200
    assert "users:read" not in token_claims(token["access_token"])["scope"]  # never widened


def test_a_policy_edit_narrows_a_client_token_at_once(client, service) -> None:
    token = token_for(client, service)
    document = {"json": {"title": "t", "body": "b"}, "headers": bearer(token)}
    assert client.post("/api/documents", **document).status_code == 201

    source = db.session.get(PolicyVersion, 1).source.replace(
        "scopes: [documents:write]", "scopes: [profile]"
    )
    policy_store.save_version(source, actor="test")

    assert client.post("/api/documents", **document).status_code == 403
    assert me(client, token) == 200


def test_a_user_and_a_client_whose_ids_read_the_same_never_share_a_cut_off(
    client, make_user, make_token, oauth_client
) -> None:
    """A client_credentials token's sub is its client_id: a client whose id is a user's id
    must not lose its tokens when that user is disabled, nor the user when it is."""
    user = make_user("alice", ["editor"])
    service = make_service(client_id=str(user.id))
    client_token = token_for(client, service)
    user_token = make_token("alice")
    assert token_claims(client_token["access_token"])["sub"] == str(user.id)
    assert token_claims(user_token["access_token"])["sub"] == str(user.id)

    users.set_disabled("alice", True)
    assert me(client, user_token) == 401
    assert me(client, client_token) == 200

    users.set_disabled("alice", False)
    user_token = make_token("alice")
    clients.set_disabled(service.client_id, True)
    assert me(client, client_token) == 401
    assert me(client, user_token) == 200


# --- introspection and revocation ---------------------------------------------------------------


def test_introspection_reports_a_client_token_without_a_username(client, service) -> None:
    token = token_for(client, service)
    resource, secret = clients.create("resource server", introspect=True)

    response = client.post(
        "/oauth/introspect",
        data={"token": token["access_token"]},
        headers=basic_auth(resource.client_id, secret),
    )

    body = response.get_json()
    assert body["active"] is True
    assert body["sub"] == body["client_id"] == service.client_id
    assert body["scope"] == EDITOR_SCOPE
    assert "username" not in body


def test_the_client_can_revoke_its_own_token(client, service) -> None:
    token = token_for(client, service)

    response = client.post(
        "/oauth/revoke",
        data={"token": token["access_token"]},
        headers=basic_auth(service.client_id, service.secret),
    )

    assert response.status_code == 200
    assert me(client, token) == 401


def test_a_password_user_cannot_pose_as_the_client(client, make_user, service) -> None:
    """The grant ignores username and password: the token is the client's, whatever else the
    form carries."""
    make_user("alice", ["admin"])

    body = token_for(client, service, username="alice", password=PASSWORD)

    claims = token_claims(body["access_token"])
    assert claims["sub"] == service.client_id and "username" not in claims
    assert claims["roles"] == ["editor"]


def test_a_role_the_policy_removes_is_taken_from_its_clients(client) -> None:
    """No user holds ``exporter``, so the version without it is stored; the client loses
    the role for good (defined again later, it does not come back) and its tokens end."""
    source = db.session.get(PolicyVersion, 1).source
    assert source.rstrip().endswith("audit:read]")  # roles: is the document's last section
    with_exporter = source.rstrip("\n") + "\n  exporter:\n    scopes: [documents:read]\n"
    policy_store.save_version(with_exporter, actor="test")
    service = make_service(roles=["exporter"])
    token = token_for(client, service)

    policy_store.save_version(source, actor="test")

    assert clients.get(service.client_id).roles == []
    assert me(client, token) == 401
    policy_store.save_version(with_exporter, actor="test")
    assert clients.get(service.client_id).roles == []
