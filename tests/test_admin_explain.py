"""GET /admin/explain (SPEC §8): which roles give a user a scope, or why not.

The verdict must match what the token endpoint grants, so several tests ask both.
"""

from __future__ import annotations

import pytest
import yaml

from authserver.policy import explain_grant, load_policy_yaml
from authserver.services import clients, users
from tests.conftest import PASSWORD, basic_auth
from tests.support.admin import DEFAULT_YAML, assert_problem, bearer


@pytest.fixture
def admin(make_token) -> dict:
    return bearer(make_token("root", ("admin",)))


def explain(test_client, headers, **params) -> dict:
    response = test_client.get("/admin/explain", headers=headers, query_string=params)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def test_scope_granted_through_two_levels_of_inheritance(client, admin, make_user):
    make_user("erin", ("editor",))
    body = explain(client, admin, user="erin", scope="documents:read")
    assert body == {
        "user": "erin",
        "user_roles": ["editor"],
        "requested": ["documents:read"],
        "granted": "documents:read",
        "outcome": "granted",
        "scopes": {
            "documents:read": {
                "granted": True,
                "roles": [{"role": "editor", "path": ["editor", "viewer"]}],
            }
        },
    }


def test_admin_gets_documents_read_by_its_wildcard_and_by_inheritance(client, admin):
    body = explain(client, admin, user="root", scope="documents:read")
    roles = body["scopes"]["documents:read"]["roles"]
    assert {"role": "admin", "path": ["admin"], "via": "documents:*"} in roles
    assert {"role": "admin", "path": ["admin", "editor", "viewer"]} in roles
    assert len(roles) == 2


def test_wildcard_grant_shows_the_role_listing_the_pattern(client, admin):
    body = explain(client, admin, user="root", scope="documents:delete")
    assert body["scopes"]["documents:delete"] == {
        "granted": True,
        "roles": [{"role": "admin", "path": ["admin"], "via": "documents:*"}],
    }


def test_no_role_grants_drops_the_scope_like_the_token_endpoint(
    client, admin, make_user, token_request
):
    make_user("alice", ("viewer",))
    body = explain(client, admin, user="alice", scope="documents:read documents:write")
    assert body["granted"] == "documents:read"
    assert body["scopes"]["documents:write"] == {
        "granted": False,
        "roles": [],
        "reason": "no_role_grants",
    }
    token = token_request(
        grant_type="password",
        username="alice",
        password=PASSWORD,
        scope="documents:read documents:write",
    )
    assert token.get_json()["scope"] == body["granted"]


def test_nothing_left_is_invalid_scope(client, admin, make_user):
    make_user("alice", ("viewer",))
    body = explain(client, admin, user="alice", scope="documents:write")
    assert body["granted"] is None
    assert "none of the requested scopes" in body["error"]
    assert body["scopes"]["documents:write"]["reason"] == "no_role_grants"


def test_undeclared_scope_makes_the_request_invalid(client, admin, make_user, token_request):
    make_user("alice", ("viewer",))
    body = explain(client, admin, user="alice", scope="profile reports:read")
    assert body["granted"] is None
    assert body["error"] == "unknown scope: reports:read"
    assert body["scopes"]["reports:read"] == {
        "granted": False,
        "roles": [],
        "reason": "undeclared",
    }
    assert body["scopes"]["profile"]["reason"] == "request_invalid"
    assert body["scopes"]["profile"]["roles"] == [{"role": "viewer", "path": ["viewer"]}]
    response = token_request(
        grant_type="password", username="alice", password=PASSWORD, scope="profile reports:read"
    )
    assert response.get_json()["error"] == "invalid_scope"


def test_client_not_allowed(client, admin, make_user):
    make_user("erin", ("editor",))
    restricted, _ = clients.create("reader app", ["password"], scope="profile documents:read")
    body = explain(
        client,
        admin,
        user="erin",
        scope="documents:read documents:write",
        client=restricted.client_id,
    )
    assert body["client"] == restricted.client_id
    assert body["granted"] == "documents:read"
    assert body["scopes"]["documents:write"] == {
        "granted": False,
        "roles": [{"role": "editor", "path": ["editor"]}],
        "reason": "client_not_allowed",
    }


def test_client_verdict_matches_the_token_endpoint(client, admin, make_user):
    make_user("erin", ("editor",))
    restricted, secret = clients.create("reader app", ["password"], scope="profile documents:read")
    body = explain(client, admin, user="erin", client=restricted.client_id)
    response = client.post(
        "/oauth/token",
        data={"grant_type": "password", "username": "erin", "password": PASSWORD},
        headers=basic_auth(restricted.client_id, secret),
    )
    assert response.get_json()["scope"] == body["granted"] == "profile documents:read"


def test_user_disabled(client, admin, make_user):
    make_user("alice", ("viewer",))
    users.set_disabled("alice", True)
    body = explain(client, admin, user="alice", scope="documents:read")
    assert body["granted"] is None
    assert "disabled" in body["error"]
    assert body["scopes"]["documents:read"] == {
        "granted": False,
        "roles": [{"role": "viewer", "path": ["viewer"]}],
        "reason": "user_disabled",
    }


def test_without_scope_every_declared_scope_is_explained(client, admin, make_user):
    make_user("alice", ("viewer",))
    body = explain(client, admin, user="alice")
    assert body["requested"] == []
    assert body["granted"] == "profile documents:read"
    assert list(body["scopes"]) == list(yaml.safe_load(DEFAULT_YAML)["scopes"])
    assert body["scopes"]["audit:read"]["reason"] == "no_role_grants"


@pytest.mark.parametrize(
    "params, status",
    [
        ({"scope": "profile"}, 400),
        ({"user": "ghost", "scope": "profile"}, 404),
        ({"user": "root", "scope": "profile", "client": "ghost"}, 404),
        ({"user": "root", "scope": 'bad"scope'}, 400),
    ],
)
def test_explain_bad_queries_are_problems(client, admin, params, status):
    response = client.get("/admin/explain", headers=admin, query_string=params)
    assert_problem(response, status)


def test_explain_needs_users_read_and_policies_read(client, make_token):
    assert client.get("/admin/explain?user=root&scope=profile").status_code == 401
    for scope in ("policies:read", "users:read"):
        narrowed = bearer(make_token("root", ("admin",), scope=scope))
        response = client.get("/admin/explain?user=root&scope=profile", headers=narrowed)
        assert response.status_code == 403
        assert 'scope="users:read policies:read"' in response.headers["WWW-Authenticate"]


def test_explain_grant_ignores_roles_the_policy_no_longer_has():
    policy = load_policy_yaml(DEFAULT_YAML).policy
    explanation = explain_grant(policy, ["profile"], ["gone", "viewer"], None)
    assert explanation.granted == ("profile",)
    assert explanation.to_dict()["scopes"]["profile"]["roles"] == [
        {"role": "viewer", "path": ["viewer"]}
    ]
