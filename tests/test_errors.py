"""The one error tree and its renderers: services raise errors that carry their status and
title; each blueprint renders them in its own format (RFC 9457 under /admin, RFC 6749 §5.2
at /oauth, RFC 6750 elsewhere), including URLs that matched no route."""

from __future__ import annotations

import pytest
from flask import Blueprint

from authserver.services import errors
from authserver.services.policy_errors import PolicyInvalid, RolesInUse, Stale
from authserver.services.users import UnknownRoles
from authserver.web.errors import render_errors_with, render_problem

PROBLEM = "application/problem+json"

#: A blueprint of the test's own, like one an integrator adds: it names its renderer.
problems = Blueprint("errors_probe_problems", __name__, url_prefix="/probe-problems")
render_errors_with(problems, render_problem)
plain = Blueprint("errors_probe_plain", __name__, url_prefix="/probe-plain")


@problems.get("/conflict")
def problem_conflict():
    raise errors.Conflict("someone else got there first", holder="bob")


@plain.get("/conflict")
def plain_conflict():
    raise errors.Conflict("someone else got there first")


@plain.get("/bug")
def plain_bug():
    raise RuntimeError("a bug")


@pytest.fixture
def client(app):
    app.register_blueprint(problems)
    app.register_blueprint(plain)
    return app.test_client()


@pytest.mark.parametrize(
    "error, status, title",
    [
        (errors.BadRequest(), 400, "Bad Request"),
        (errors.NotFound("no user named 'x'"), 404, "Not Found"),
        (errors.Conflict("x"), 409, "Conflict"),
        (errors.PreconditionFailed("x"), 412, "Precondition Failed"),
        (errors.Invalid("x"), 422, "Unprocessable Content"),
        (errors.PreconditionRequired("x"), 428, "Precondition Required"),
        (errors.Unavailable("redis"), 503, "Service Unavailable"),
        (UnknownRoles(["wizard"]), 422, "Unknown roles"),
        (RolesInUse({"editor": 2}), 409, "Roles in use"),
        (Stale(3, 2), 412, "Precondition Failed"),
    ],
)
def test_service_errors_carry_status_and_a_human_title(error, status, title):
    assert (error.status, error.title) == (status, title)
    assert isinstance(error, errors.ServiceError)


def test_extra_members_travel_with_the_error():
    assert UnknownRoles(["wizard"]).members() == {"unknown_roles": ["wizard"]}
    assert RolesInUse({"editor": 2}).members() == {"roles": [{"role": "editor", "users": 2}]}
    assert Stale(3, 2).members() == {"current_version": 3}
    assert issubclass(PolicyInvalid, errors.Invalid)


def test_a_blueprint_renders_with_the_renderer_it_registered(client):
    response = client.get("/probe-problems/conflict")
    assert response.status_code == 409 and response.mimetype == PROBLEM
    assert response.get_json() == {
        "type": "about:blank",
        "title": "Conflict",
        "status": 409,
        "detail": "someone else got there first",
        "holder": "bob",
    }


def test_without_a_renderer_errors_are_rfc6750_style_json(client):
    response = client.get("/probe-plain/conflict")
    assert response.status_code == 409 and response.mimetype == "application/json"
    assert response.get_json() == {
        "error": "conflict",
        "error_description": "someone else got there first",
    }


def test_a_bug_is_a_generic_500_in_the_blueprint_format(client):
    response = client.get("/probe-plain/bug")
    assert response.status_code == 500
    assert response.get_json()["error"] == "internal_server_error"
    assert b"a bug" not in response.get_data()


@pytest.mark.parametrize(
    "method, path, status",
    [
        ("GET", "/admin/no-such-thing", 404),
        ("DELETE", "/admin/users", 405),
        ("GET", "/admin/policy/versions/abc", 404),
        ("GET", "/probe-problems/nothing", 404),
    ],
)
def test_unmatched_urls_under_a_problem_blueprint_are_problems(client, method, path, status):
    response = client.open(path, method=method)
    assert response.status_code == status and response.mimetype == PROBLEM
    assert response.get_json()["status"] == status
    if status == 405:
        assert "GET" in response.headers["Allow"]


def test_unmatched_urls_under_oauth_are_rfc6749_errors(client):
    response = client.get("/oauth/nothing")
    assert response.status_code == 404
    assert response.get_json()["error"] == "invalid_request"
    assert response.headers["Cache-Control"] == "no-store"


def test_unmatched_urls_elsewhere_are_json(client):
    for path in ("/nothing", "/administrator", "/probe-plain/nothing"):
        response = client.get(path)
        assert response.status_code == 404 and response.mimetype == "application/json"
        assert response.get_json()["error"] == "not_found"


def test_a_service_error_in_an_admin_view_keeps_its_title(client, make_token):
    token = make_token("root", ("admin",))["access_token"]
    response = client.get("/admin/users/ghost", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 404 and response.mimetype == PROBLEM
    body = response.get_json()
    assert (body["title"], body["detail"]) == ("Not Found", "no user named 'ghost'")
