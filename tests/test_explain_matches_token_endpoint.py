"""Issue 10 item 12: ``explain`` answers what the token endpoint does, for every user,
client and scope request (a hypothesis property), and the admin API and the CLI agree.

A client made with only ``--introspect`` was explained as ``granted`` while the token
endpoint answered ``unauthorized_client``. Explain now goes through the same decision
(:func:`authserver.policy.decide_password_grant`): the client's state and grant types, the
user's state, then the granting rule.
"""

from __future__ import annotations

import itertools

import yaml
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from authserver.models.client import GRANT_TYPES
from authserver.services import clients, policy_admin, users
from tests.conftest import PASSWORD, basic_auth
from tests.support.admin import DEFAULT_YAML, bearer
from tests.support.cli import invoke

DECLARED = tuple(yaml.safe_load(DEFAULT_YAML)["scopes"])
ROLES = tuple(yaml.safe_load(DEFAULT_YAML)["roles"])
SCOPE_CHOICES = (*DECLARED, "undeclared:scope")
_names = itertools.count()

requests_ = st.fixed_dictionaries(
    {
        "user_roles": st.lists(st.sampled_from(ROLES), unique=True, max_size=3),
        "user_disabled": st.booleans(),
        "grant_types": st.lists(st.sampled_from(GRANT_TYPES), unique=True),
        "client_scopes": st.none() | st.lists(st.sampled_from(DECLARED), unique=True),
        "public": st.booleans(),
        "introspect": st.booleans(),
        "client_disabled": st.booleans(),
        "requested": st.none() | st.lists(st.sampled_from(SCOPE_CHOICES), unique=True),
    }
)


def token_endpoint(test_client, client, secret, username, requested) -> tuple[str, str | None]:
    """(outcome, granted scope) as the token endpoint answers a password grant."""
    form = {"grant_type": "password", "username": username, "password": PASSWORD}
    if requested is not None:
        form["scope"] = " ".join(requested)
    headers = {}
    if secret is None:
        form["client_id"] = client.client_id
    else:
        headers = basic_auth(client.client_id, secret)
    response = test_client.post("/oauth/token", data=form, headers=headers)
    body = response.get_json()
    if response.status_code == 200:
        return "granted", body["scope"]
    return body["error"], None


def setup(case: dict):
    n = next(_names)
    username = f"user{n}"
    users.create(username, PASSWORD, case["user_roles"])
    if case["user_disabled"]:
        users.set_disabled(username, True)
    grant_types = case["grant_types"]
    if case["public"]:  # refused at registration: a public client cannot authenticate
        grant_types = [g for g in grant_types if g != "client_credentials"]
    client, secret = clients.create(
        f"client {n}",
        grant_types,
        " ".join(case["client_scopes"]) if case["client_scopes"] is not None else None,
        public=case["public"],
        introspect=case["introspect"],
        roles=case.get("client_roles", ()),
    )
    if case["client_disabled"]:
        clients.set_disabled(client.client_id, True)
    return username, client, secret


@hypothesis_settings(
    max_examples=80,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(case=requests_)
def test_explain_verdict_equals_the_token_endpoints_outcome(client, case):
    username, oauth_client, secret = setup(case)
    scope = " ".join(case["requested"]) if case["requested"] else None

    explained = policy_admin.explain(username, scope, oauth_client.client_id)
    outcome, granted = token_endpoint(client, oauth_client, secret, username, case["requested"])

    assert explained["outcome"] == outcome, (explained, outcome)
    assert explained["granted"] == granted
    granted_set = set((granted or "").split())
    assert {s for s, v in explained["scopes"].items() if v["granted"]} <= granted_set


def test_introspect_only_client_is_explained_as_unauthorized_client(client, make_token, runner):
    """The newcomer's case, through the admin API and the CLI."""
    admin = bearer(make_token("root", ("admin",)))
    users.create("bob", PASSWORD, ["viewer"])
    resource_server, _ = clients.create("resource server", [], introspect=True)
    query = {"user": "bob", "scope": "documents:read", "client": resource_server.client_id}

    body = client.get("/admin/explain", headers=admin, query_string=query).get_json()
    printed = invoke(
        runner,
        "policies",
        "explain",
        "bob",
        "documents:read",
        "--client",
        resource_server.client_id,
    ).stdout

    assert body["outcome"] == "unauthorized_client" and body["granted"] is None
    assert body["scopes"]["documents:read"]["reason"] == "client_grant_type"
    assert "granted: nothing" in printed and "unauthorized_client" in printed
    assert "the client may not use the password grant" in printed


def test_disabled_client_is_explained_as_invalid_client(client, make_user):
    make_user("bob")
    disabled, _ = clients.create("off", ["password"])
    clients.set_disabled(disabled.client_id, True)
    body = policy_admin.explain("bob", "profile", disabled.client_id)
    assert body["outcome"] == "invalid_client"
    assert body["scopes"]["profile"]["reason"] == "client_disabled"


client_requests = st.fixed_dictionaries(
    {
        "user_roles": st.just([]),
        "user_disabled": st.just(False),
        "client_roles": st.lists(st.sampled_from(ROLES), unique=True, max_size=3),
        "grant_types": st.lists(st.sampled_from(GRANT_TYPES), unique=True),
        "client_scopes": st.none() | st.lists(st.sampled_from(DECLARED), unique=True),
        "public": st.booleans(),
        "introspect": st.booleans(),
        "client_disabled": st.booleans(),
        "requested": st.none() | st.lists(st.sampled_from(SCOPE_CHOICES), unique=True),
    }
)


def client_credentials(test_client, client, secret, requested) -> tuple[str, str | None]:
    """(outcome, granted scope) as the token endpoint answers a client_credentials grant."""
    form = {"grant_type": "client_credentials"}
    if requested is not None:
        form["scope"] = " ".join(requested)
    headers = {}
    if secret is None:
        form["client_id"] = client.client_id
    else:
        headers = basic_auth(client.client_id, secret)
    response = test_client.post("/oauth/token", data=form, headers=headers)
    body = response.get_json()
    if response.status_code == 200:
        return "granted", body["scope"]
    return body["error"], None


@hypothesis_settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(case=client_requests)
def test_explain_of_a_client_alone_equals_its_client_credentials_outcome(client, case):
    """SPEC §16: ``explain`` with ``client=`` alone is the client's own grant."""
    _, oauth_client, secret = setup(case)
    scope = " ".join(case["requested"]) if case["requested"] else None

    explained = policy_admin.explain(None, scope, oauth_client.client_id)
    outcome, granted = client_credentials(client, oauth_client, secret, case["requested"])

    assert explained["outcome"] == outcome, (explained, outcome)
    assert explained["granted"] == granted
    assert explained["client_roles"] == sorted(case["client_roles"])


def test_client_alone_through_the_admin_api_and_the_cli(client, make_token, runner):
    admin = bearer(make_token("root", ("admin",)))
    robot, _ = clients.create(
        "robot", ["client_credentials"], "documents:read documents:write", roles=["editor"]
    )
    query = {"client": robot.client_id, "scope": "documents:write documents:delete"}
    body = client.get("/admin/explain", headers=admin, query_string=query).get_json()
    printed = invoke(
        runner,
        "policies",
        "explain-client",
        robot.client_id,
        "documents:write",
        "documents:delete",
    ).stdout

    assert body["grant_type"] == "client_credentials" and body["client_roles"] == ["editor"]
    assert body["granted"] == "documents:write"
    assert body["scopes"]["documents:write"]["roles"][0]["path"] == ["editor"]
    assert body["scopes"]["documents:delete"]["reason"] == "no_role_grants"
    assert f"client {robot.client_id} (roles: editor)" in printed
    assert "documents:write: granted by editor" in printed


def test_explain_without_user_or_client_is_400(client, make_token):
    admin = bearer(make_token("root", ("admin",)))
    response = client.get("/admin/explain", headers=admin, query_string={"scope": "profile"})
    assert response.status_code == 400
