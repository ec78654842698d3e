"""GET/PUT /admin/policy (SPEC §8): ETag, If-Match, validation, roles in use, problems."""

from __future__ import annotations

import json

import pytest
import yaml

from authserver.services import audit, policy_store, users
from tests.support.admin import (
    DEFAULT_YAML,
    YAML,
    assert_problem,
    bearer,
    live,
    writing,
)
from tests.support.policy_text import without_tests

NEW_SCOPE_YAML = DEFAULT_YAML.replace(
    "  audit:read: Read the audit trail\n",
    "  audit:read: Read the audit trail\n  reports:read: Read reports   # new\n",
).replace("scopes: [documents:write]", "scopes: [documents:write, reports:read]")


def line_of(text: str, line: str) -> int:
    return text.splitlines().index(line) + 1


@pytest.fixture
def admin(make_token) -> dict:
    return bearer(make_token("root", ("admin",)))


@pytest.fixture
def reader(make_token) -> dict:
    """An admin's token narrowed to policies:read."""
    return bearer(make_token("root", ("admin",), scope="policies:read"))


def assert_unchanged(client, admin, version: int, document: dict) -> None:
    assert live(client, admin) == (version, document)


# -- GET ---------------------------------------------------------------------------------


def test_get_policy_json_is_the_document_with_the_version_as_etag(client, admin):
    response = client.get("/admin/policy", headers=admin)
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    assert response.headers["ETag"] == '"1"'
    assert response.get_json() == yaml.safe_load(DEFAULT_YAML)
    assert "Accept" in response.headers["Vary"]


@pytest.mark.parametrize("accept", ["application/yaml", "text/yaml", "application/x-yaml"])
def test_get_policy_yaml_is_the_stored_source(client, admin, accept):
    response = client.get("/admin/policy", headers={**admin, "Accept": accept})
    assert response.status_code == 200
    assert response.mimetype == YAML
    assert response.get_data(as_text=True) == DEFAULT_YAML  # comments and all
    assert response.headers["ETag"] == '"1"'


def test_get_policy_prefers_json_for_any_accept(client, admin):
    response = client.get("/admin/policy", headers={**admin, "Accept": "*/*"})
    assert response.mimetype == "application/json"


def test_get_policy_if_none_match_current_is_304(client, admin):
    response = client.get("/admin/policy", headers={**admin, "If-None-Match": '"1"'})
    assert response.status_code == 304


def test_get_policy_without_token_is_401(client):
    response = client.get("/admin/policy")
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Bearer"


def test_get_policy_without_policies_read_is_403(client, make_token):
    viewer = bearer(make_token("alice", ("viewer",)))
    response = client.get("/admin/policy", headers=viewer)
    assert response.status_code == 403
    assert 'scope="policies:read"' in response.headers["WWW-Authenticate"]


# -- PUT: success ------------------------------------------------------------------------


def test_put_yaml_stores_the_text_as_sent_and_answers_the_new_etag(client, admin):
    response = client.put("/admin/policy", headers=writing(admin, 1), data=NEW_SCOPE_YAML)
    assert response.status_code == 200, response.get_json()
    assert response.headers["ETag"] == '"2"'
    body = response.get_json()
    assert body["version"] == 2 and body["previous"] == 1
    assert body["policy"]["roles"]["editor"]["scopes"] == ["documents:write", "reports:read"]
    assert body["summary"] == "roles +0 -0 ~2; scopes +1 -0 ~0"
    assert body["warnings"] == []
    assert policy_store.newest_version() == 2
    assert policy_store.live_source() == NEW_SCOPE_YAML  # the comment survived
    assert live(client, admin) == (2, body["policy"])


def test_put_json_is_stored_as_yaml(client, admin):
    document = yaml.safe_load(NEW_SCOPE_YAML)
    response = client.put(
        "/admin/policy", headers=writing(admin, 1, "application/json"), data=json.dumps(document)
    )
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["policy"] == document
    assert yaml.safe_load(policy_store.live_source()) == document
    yaml_view = client.get("/admin/policy", headers={**admin, "Accept": YAML})
    assert yaml_view.get_data(as_text=True) == policy_store.live_source()


def test_put_is_audited_with_the_diff(client, admin):
    client.put("/admin/policy", headers=writing(admin, 1), data=NEW_SCOPE_YAML)
    query = audit.AuditQuery(kind="policy.version", subject="policy:v2")
    events, _ = audit.search(query, 10)
    assert len(events) == 1
    event = events[0]
    assert (event.actor, event.subject) == ("root", "policy:v2")
    assert event.details["summary"] == "roles +0 -0 ~2; scopes +1 -0 ~0"
    assert event.details["diff"]["scopes_added"] == ["reports:read"]


def test_put_comment_is_kept_with_the_version(client, admin):
    response = client.put(
        "/admin/policy?comment=add+reports", headers=writing(admin, 1), data=NEW_SCOPE_YAML
    )
    assert response.status_code == 200
    assert policy_store.get_version(2).comment == "add reports"
    assert policy_store.get_version(2).created_by == "root"


def test_put_warns_about_a_scope_a_route_requires_but_the_policy_lacks(client, admin):
    # the shipped tests name documents:delete: an edit that drops the scope drops them too
    text = without_tests(DEFAULT_YAML).replace("  documents:delete: Delete documents\n", "")
    response = client.put("/admin/policy", headers=writing(admin, 1), data=text)
    assert response.status_code == 200, response.get_json()
    messages = [warning["message"] for warning in response.get_json()["warnings"]]
    assert any("'documents:delete' is required by a route" in m for m in messages)


def test_put_lists_the_policys_own_warnings_with_positions(client, admin):
    text = DEFAULT_YAML + "  idle:\n    scopes: []\n"
    response = client.put("/admin/policy", headers=writing(admin, 1), data=text)
    assert response.status_code == 200
    warnings = response.get_json()["warnings"]
    assert any(w["path"].startswith("roles.idle") and w["line"] for w in warnings), warnings


def test_put_accepts_one_of_several_etags(client, admin):
    headers = writing(admin, '"7", "1"')
    response = client.put("/admin/policy", headers=headers, data=NEW_SCOPE_YAML)
    assert response.status_code == 200


# -- PUT: refusals, each leaving the live policy as it was -------------------------------


def test_put_without_token_is_401(client, admin):
    before = live(client, admin)
    response = client.put("/admin/policy", headers=writing({}, 1), data=NEW_SCOPE_YAML)
    assert response.status_code == 401
    assert_unchanged(client, admin, *before)


def test_put_without_policies_write_is_403(client, admin, reader):
    before = live(client, admin)
    response = client.put("/admin/policy", headers=writing(reader, 1), data=NEW_SCOPE_YAML)
    assert response.status_code == 403
    assert 'scope="policies:write"' in response.headers["WWW-Authenticate"]
    assert_unchanged(client, admin, *before)


def test_put_without_if_match_is_428(client, admin):
    before = live(client, admin)
    response = client.put("/admin/policy", headers=writing(admin, None), data=NEW_SCOPE_YAML)
    body = assert_problem(response, 428)
    assert "If-Match" in body["detail"]
    assert_unchanged(client, admin, *before)


def test_428_detail_names_the_live_version(client, admin):
    """Issue 10 item 19: not always ``"3"``, the version to send."""
    first = client.put("/admin/policy", headers=writing(admin, 1), data=NEW_SCOPE_YAML)
    assert first.status_code == 200
    response = client.put("/admin/policy", headers=writing(admin, None), data=NEW_SCOPE_YAML)
    assert 'If-Match: "2"' in assert_problem(response, 428)["detail"]
    response = client.delete("/admin/roles/admin", headers=admin)
    assert 'If-Match: "2"' in assert_problem(response, 428)["detail"]


def test_put_if_match_star_is_428(client, admin):
    before = live(client, admin)
    response = client.put("/admin/policy", headers=writing(admin, "*"), data=NEW_SCOPE_YAML)
    assert_problem(response, 428)
    assert_unchanged(client, admin, *before)


@pytest.mark.parametrize("etag", ['"2"', '"0"', 'W/"1"', '"abc"', ""])
def test_put_with_an_etag_not_naming_the_live_version_is_412(client, admin, etag):
    before = live(client, admin)
    response = client.put("/admin/policy", headers=writing(admin, etag), data=NEW_SCOPE_YAML)
    body = assert_problem(response, 412)
    assert body["current_version"] == 1
    assert_unchanged(client, admin, *before)


def test_put_after_another_write_is_412(client, admin):
    assert (
        client.put("/admin/policy", headers=writing(admin, 1), data=NEW_SCOPE_YAML).status_code
        == 200
    )
    before = live(client, admin)
    response = client.put("/admin/policy", headers=writing(admin, 1), data=DEFAULT_YAML)
    assert assert_problem(response, 412)["current_version"] == 2
    assert_unchanged(client, admin, *before)


def test_put_invalid_yaml_is_422_with_every_error_located(client, admin):
    text = without_tests(DEFAULT_YAML).replace(
        "scopes: [documents:write]", "scopes: [documents:write, nope]"
    )
    text = text.replace("inherits: [editor]", "inherits: [editor, ghost]")
    text += "  viewer:\n    scopes: [profile]\n"  # a duplicate key
    before = live(client, admin)
    response = client.put("/admin/policy", headers=writing(admin, 1), data=text)
    body = assert_problem(response, 422)
    errors = body["errors"]
    assert len(errors) == 3, errors
    assert all(set(e) == {"line", "column", "path", "message"} for e in errors)
    by_path = {e["path"]: e for e in errors}
    assert by_path["roles.editor.scopes[1]"]["line"] == line_of(
        text, "    scopes: [documents:write, nope]"
    )
    assert by_path["roles.editor.scopes[1]"]["column"] == 31
    assert "'nope' is not declared" in by_path["roles.editor.scopes[1]"]["message"]
    assert by_path["roles.admin.inherits[1]"]["line"] == line_of(
        text, "    inherits: [editor, ghost]"
    )
    assert "duplicate key 'viewer'" in by_path["roles.viewer"]["message"]
    assert body["warnings"] == []
    assert_unchanged(client, admin, *before)


def test_put_yaml_syntax_error_is_422_with_its_position(client, admin):
    before = live(client, admin)
    response = client.put("/admin/policy", headers=writing(admin, 1), data="roles: [a\nscopes: {")
    errors = assert_problem(response, 422)["errors"]
    assert len(errors) == 1 and errors[0]["line"] and "YAML syntax error" in errors[0]["message"]
    assert_unchanged(client, admin, *before)


def test_put_invalid_json_is_422_with_paths(client, admin):
    document = yaml.safe_load(DEFAULT_YAML)
    document["roles"]["editor"]["scopes"] = ["documents:write", 7]
    document["roles"]["viewer"]["colour"] = "blue"
    before = live(client, admin)
    response = client.put(
        "/admin/policy", headers=writing(admin, 1, "application/json"), data=json.dumps(document)
    )
    errors = assert_problem(response, 422)["errors"]
    paths = {e["path"] for e in errors}
    assert paths == {"roles.editor.scopes[1]", "roles.viewer.colour"}
    assert all(e["line"] is None and e["column"] is None for e in errors)
    assert_unchanged(client, admin, *before)


@pytest.mark.parametrize(
    "text, expected",
    [
        ('{"version": 1,\n "scopes": {', "JSON syntax error"),
        ('{"version": 1, "version": 1, "scopes": {}, "roles": {}}', "duplicate key 'version'"),
    ],
)
def test_put_malformed_json_is_422(client, admin, text, expected):
    before = live(client, admin)
    response = client.put(
        "/admin/policy", headers=writing(admin, 1, "application/json"), data=text
    )
    errors = assert_problem(response, 422)["errors"]
    assert expected in errors[0]["message"]
    assert_unchanged(client, admin, *before)


def test_put_body_not_utf8_is_422(client, admin):
    before = live(client, admin)
    response = client.put("/admin/policy", headers=writing(admin, 1), data=b"version: \xff\n")
    assert "not UTF-8" in assert_problem(response, 422)["errors"][0]["message"]
    assert_unchanged(client, admin, *before)


@pytest.mark.parametrize("content_type", ["text/plain", "application/xml", None])
def test_put_other_content_types_are_415(client, admin, content_type):
    before = live(client, admin)
    headers = {**admin, "If-Match": '"1"'}
    if content_type:
        headers["Content-Type"] = content_type
    response = client.put("/admin/policy", headers=headers, data=NEW_SCOPE_YAML)
    body = assert_problem(response, 415)
    assert "application/json" in body["supported"]
    assert_unchanged(client, admin, *before)


def test_put_removing_a_held_role_is_409_naming_it_and_its_holders(client, admin, make_user):
    make_user("alice", ("editor",))
    make_user("bob", ("editor", "viewer"))
    text = (
        without_tests(DEFAULT_YAML)
        .replace("  editor:\n    inherits: [viewer]\n    scopes: [documents:write]\n", "")
        .replace("inherits: [editor]", "inherits: [viewer]")
    )
    before = live(client, admin)
    response = client.put("/admin/policy", headers=writing(admin, 1), data=text)
    body = assert_problem(response, 409)
    assert body["roles"] == [{"role": "editor", "users": 2}]
    assert "editor (held by 2 user(s))" in body["detail"]
    assert_unchanged(client, admin, *before)
    assert users.get("alice").roles == ["editor"]

    response = client.put("/admin/policy?strip_roles=true", headers=writing(admin, 1), data=text)
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["stripped_roles"] == [{"role": "editor", "users": 2}]
    assert users.get("alice").roles == []
    assert users.get("bob").roles == ["viewer"]


def test_put_strip_roles_must_be_a_boolean(client, admin):
    before = live(client, admin)
    response = client.put(
        "/admin/policy?strip_roles=maybe", headers=writing(admin, 1), data=NEW_SCOPE_YAML
    )
    assert_problem(response, 400)
    assert_unchanged(client, admin, *before)


def test_unknown_admin_path_is_a_problem(client, admin):
    assert_problem(client.get("/admin/policy/nothing", headers=admin), 404)


@pytest.mark.parametrize("content_type", ["application/json", YAML])
@pytest.mark.parametrize("opening, closing", [("[", "]"), ('{"a": ', "}")])
@pytest.mark.parametrize("depth", [900, 5000])
def test_deeply_nested_bodies_are_422_not_500(
    client, admin, content_type, opening, closing, depth
):
    before = live(client, admin)
    text = opening * depth + "1" + closing * depth
    for path in ("/admin/policy", "/admin/roles/editor"):
        response = client.put(path, headers=writing(admin, 1, content_type), data=text)
        assert_problem(response, 422)
    assert_unchanged(client, admin, *before)
