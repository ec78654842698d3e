"""``require_scopes`` (SPEC §9): all-of and any-of semantics, the recorded requirements,
``route_scopes``, and the Flask-Principal identity a token gives a view."""

from __future__ import annotations

import pytest
from flask import Blueprint, g, jsonify, request
from flask_principal import AnonymousIdentity, Permission, RoleNeed, UserNeed

from authserver.resource import (
    RequiredScopes,
    ScopeNeed,
    current_token,
    require_scopes,
    required_scope_names,
    route_scopes,
)
from tests.support.http import bearer
from tests.support.tokens import token_claims

probe = Blueprint("probe", __name__, url_prefix="/probe")


@probe.get("/both")
@require_scopes("documents:read", "documents:write")
def both():
    return jsonify(ok=True)


@probe.get("/any")
@require_scopes(any_of=("documents:write", "documents:delete"))
def any_of():
    return jsonify(ok=True)


@probe.get("/mixed")
@require_scopes("profile", any_of=("documents:write", "documents:delete"))
def mixed():
    return jsonify(ok=True)


@probe.get("/permissions")
@require_scopes()
def permissions():
    """What Flask-Principal says about the needs named in the query string."""
    args = request.args
    return jsonify(
        role=Permission(RoleNeed(args["role"])).can(),
        user=Permission(UserNeed(args["user"])).can(),
        scope=Permission(ScopeNeed(args["scope"])).can(),
        sub=current_token()["sub"],
    )


@probe.get("/anonymous")
def anonymous():
    """No token: Flask-Principal's identity is the anonymous one, with no needs."""
    return jsonify(
        anonymous=isinstance(g.identity, AnonymousIdentity),
        role=Permission(RoleNeed("admin")).can(),
        open=Permission().can(),
    )


@pytest.fixture
def client(app):
    """The app with the probe routes, registered before its first request."""
    app.register_blueprint(probe)
    return app.test_client()


# roles of the default policy: viewer = profile documents:read, editor adds documents:write,
# admin adds documents:delete (and more).
@pytest.mark.parametrize(
    "roles, scope, status",
    [
        (("editor",), None, 200),
        (("editor",), "documents:read", 403),
        (("editor",), "documents:write", 403),
        (("viewer",), None, 403),
        (("admin",), "documents:read documents:write", 200),
    ],
)
def test_all_of_needs_every_scope(client, make_token, roles, scope, status):
    token = make_token("alice", roles, scope=scope)["access_token"]
    response = client.get("/probe/both", headers=bearer(token))
    assert response.status_code == status
    if status == 403:
        assert response.headers["WWW-Authenticate"] == (
            'Bearer error="insufficient_scope", scope="documents:read documents:write"'
        )


@pytest.mark.parametrize(
    "roles, scope, status",
    [
        (("viewer",), None, 403),
        (("editor",), None, 200),  # documents:write
        (("admin",), "documents:delete", 200),  # documents:delete only
        (("admin",), "documents:write", 200),
        (("admin",), "profile documents:read", 403),
    ],
)
def test_any_of_needs_one_alternative(client, make_token, roles, scope, status):
    token = make_token("alice", roles, scope=scope)["access_token"]
    response = client.get("/probe/any", headers=bearer(token))
    assert response.status_code == status
    if status == 403:
        challenge = response.headers["WWW-Authenticate"]
        assert challenge.startswith('Bearer error="insufficient_scope", scope="')
        assert "documents:write" in challenge and "documents:delete" in challenge


@pytest.mark.parametrize(
    "scope, status",
    [
        ("profile documents:delete", 200),
        ("profile documents:write", 200),
        ("documents:write documents:delete", 403),  # profile is required too
        ("profile documents:read", 403),
    ],
)
def test_all_of_and_any_of_combine(client, make_token, scope, status):
    token = make_token("root", ("admin",), scope=scope)["access_token"]
    assert client.get("/probe/mixed", headers=bearer(token)).status_code == status


def test_requirements_are_recorded_on_the_view(app):
    views = app.view_functions
    assert views["examples.list_documents"].required_scopes == RequiredScopes(("documents:read",))
    assert views["examples.delete_document"].required_scopes == RequiredScopes(
        ("documents:delete",)
    )
    assert views["examples.me"].required_scopes == RequiredScopes()
    assert both.required_scopes == RequiredScopes(("documents:read", "documents:write"))
    assert any_of.required_scopes == RequiredScopes((), ("documents:write", "documents:delete"))
    assert both.__name__ == "both"  # functools.wraps: endpoint names stay the view's


def test_route_scopes_lists_documents_routes_with_methods_and_scopes(app):
    listed = {(rule, tuple(methods)): required for rule, methods, required in route_scopes(app)}
    assert listed[("/api/documents", ("GET",))] == RequiredScopes(("documents:read",))
    assert listed[("/api/documents", ("POST",))] == RequiredScopes(("documents:write",))
    assert listed[("/api/documents/<int:document_id>", ("GET",))] == RequiredScopes(
        ("documents:read",)
    )
    assert listed[("/api/documents/<int:document_id>", ("DELETE",))] == RequiredScopes(
        ("documents:delete",)
    )
    assert listed[("/api/me", ("GET",))] == RequiredScopes()
    assert not any(rule.startswith("/oauth") or rule.startswith("/.well") for rule, _ in listed)


def test_route_scopes_includes_registered_blueprints(client, app):
    rules = {rule for rule, _methods, _required in route_scopes(app)}
    assert {"/probe/both", "/probe/any", "/probe/mixed"} <= rules
    assert {"documents:read", "documents:write", "documents:delete", "profile"} <= (
        required_scope_names(app)
    )


def test_required_scope_names_are_declared_by_the_default_policy(app):
    from authserver.services import policy_store

    _, policy = policy_store.live_policy()
    assert required_scope_names(app) <= set(policy.scopes)


@pytest.mark.parametrize(
    "roles, role, scope, expected",
    [
        (("editor",), "editor", "documents:read", (True, True, True)),
        (("editor",), "admin", "documents:delete", (False, True, False)),
        (("viewer",), "editor", "documents:write", (False, True, False)),
        (("viewer",), "viewer", "documents:read", (True, True, True)),
    ],
)
def test_principal_needs_follow_the_token(client, make_token, roles, role, scope, expected):
    token = make_token("alice", roles)["access_token"]
    sub = token_claims(token)["sub"]
    response = client.get(
        "/probe/permissions",
        headers=bearer(token),
        query_string={"role": role, "user": sub, "scope": scope},
    )
    body = response.get_json()
    assert (body["role"], body["user"], body["scope"]) == expected
    assert body["sub"] == sub


def test_principal_user_need_is_false_for_another_subject(client, make_token):
    token = make_token("alice", ("viewer",))["access_token"]
    response = client.get(
        "/probe/permissions",
        headers=bearer(token),
        query_string={"role": "viewer", "user": "someone-else", "scope": "profile"},
    )
    assert response.get_json() == {
        "role": True,
        "user": False,
        "scope": True,
        "sub": token_claims(token)["sub"],
    }


def test_principal_identity_does_not_leak_between_requests(client, make_token):
    admin = make_token("root", ("admin",))["access_token"]
    viewer = make_token("alice", ("viewer",))["access_token"]
    query = {"role": "admin", "user": token_claims(admin)["sub"], "scope": "documents:delete"}
    first = client.get("/probe/permissions", headers=bearer(admin), query_string=query)
    assert first.get_json()["role"] is True
    second = client.get("/probe/permissions", headers=bearer(viewer), query_string=query)
    assert (second.get_json()["role"], second.get_json()["user"]) == (False, False)
    assert second.get_json()["scope"] is False


def test_a_route_without_a_token_sees_the_anonymous_identity(client, make_token):
    """Flask-Principal's anonymous identity, also right after a request that had a token's
    (the test client shares one app context, so ``g`` outlives a request: the identity must
    be reset at each request's start, not merely made when first read)."""
    admin = make_token("root", ("admin",))["access_token"]
    query = {"role": "admin", "user": "x", "scope": "documents:delete"}
    assert client.get("/probe/permissions", headers=bearer(admin), query_string=query).json["role"]
    answer = client.get("/probe/anonymous").get_json()
    assert answer == {"anonymous": True, "role": False, "open": True}


def test_scope_need_is_distinct_from_role_need(client, make_token):
    """A role named like a scope is not that scope (the needs carry their method)."""
    assert ScopeNeed("editor") != RoleNeed("editor")
    assert ScopeNeed("documents:read") == ("scope", "documents:read")


def test_narrowed_token_has_only_its_scopes_as_needs(client, make_token):
    token = make_token("root", ("admin",), scope="profile")["access_token"]
    response = client.get(
        "/probe/permissions",
        headers=bearer(token),
        query_string={"role": "admin", "user": token_claims(token)["sub"], "scope": "audit:read"},
    )
    assert response.get_json()["scope"] is False
    assert response.get_json()["role"] is True  # roles are the user's, scopes the token's
