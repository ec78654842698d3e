"""/admin/roles/<name> (SPEC §8): one role at a time, same versions, same If-Match rules."""

from __future__ import annotations

import json

import pytest
import yaml

from authserver.services import policy_store, users
from tests.support.admin import YAML, assert_problem, bearer, live, writing

JSON = "application/json"


@pytest.fixture
def admin(make_token) -> dict:
    return bearer(make_token("root", ("admin",)))


def put_role(client, headers, name, body, version=1, content_type=JSON, query=""):
    data = json.dumps(body) if content_type == JSON and not isinstance(body, str) else body
    return client.put(
        f"/admin/roles/{name}{query}", headers=writing(headers, version, content_type), data=data
    )


# -- GET ---------------------------------------------------------------------------------


def test_get_role_has_its_parts_effective_scopes_and_heirs(client, admin):
    response = client.get("/admin/roles/editor", headers=admin)
    assert response.status_code == 200
    assert response.headers["ETag"] == '"1"'
    assert response.get_json() == {
        "name": "editor",
        "description": "",
        "inherits": ["viewer"],
        "scopes": ["documents:write"],
        "effective_scopes": ["profile", "documents:read", "documents:write"],
        "inherited_by": ["admin"],
    }


def test_get_role_as_yaml_is_what_the_policy_says(client, admin):
    response = client.get("/admin/roles/viewer", headers={**admin, "Accept": YAML})
    assert response.mimetype == YAML
    assert yaml.safe_load(response.get_data(as_text=True)) == {
        "description": "Reads documents",
        "scopes": ["profile", "documents:read"],
    }


def test_list_roles(client, admin):
    response = client.get("/admin/roles", headers=admin)
    assert [role["name"] for role in response.get_json()["roles"]] == ["viewer", "editor", "admin"]
    assert response.headers["ETag"] == '"1"'


def test_get_unknown_role_is_404(client, admin):
    assert_problem(client.get("/admin/roles/ghost", headers=admin), 404)


def test_roles_need_a_token_and_the_scope(client, make_token):
    assert client.get("/admin/roles/editor").status_code == 401
    viewer = bearer(make_token("alice", ("viewer",)))
    assert client.get("/admin/roles/editor", headers=viewer).status_code == 403
    assert client.delete("/admin/roles/editor", headers=writing(viewer, 1)).status_code == 403


# -- PUT ---------------------------------------------------------------------------------


def test_put_role_replaces_it_in_a_new_version(client, admin):
    body = {"inherits": ["viewer"], "scopes": ["documents:write", "documents:delete"]}
    response = put_role(client, admin, "editor", body)
    assert response.status_code == 200, response.get_json()
    assert response.headers["ETag"] == '"2"'
    result = response.get_json()
    assert result["version"] == 2
    assert result["role"]["scopes"] == ["documents:write", "documents:delete"]
    assert result["summary"] == "roles +0 -0 ~1; scopes +0 -0 ~0"
    version, document = live(client, admin)
    assert version == 2
    assert document["roles"]["editor"] == body
    assert policy_store.get_version(2).comment == "role editor changed"


def test_put_role_yaml_body(client, admin):
    text = "description: Writes\ninherits: [viewer]\nscopes: [documents:write]\n"
    response = put_role(client, admin, "editor", text, content_type=YAML)
    assert response.status_code == 200, response.get_json()
    assert live(client, admin)[1]["roles"]["editor"]["description"] == "Writes"


def test_put_new_role_is_201(client, admin):
    response = put_role(client, admin, "auditor", {"scopes": ["audit:read"]})
    assert response.status_code == 201
    assert response.headers["ETag"] == '"2"'
    assert client.get("/admin/roles/auditor", headers=admin).get_json()["effective_scopes"] == [
        "audit:read"
    ]


def test_a_fetched_role_can_be_sent_back(client, admin):
    fetched = client.get("/admin/roles/editor", headers=admin).get_json()
    fetched["description"] = "Edits"
    response = put_role(client, admin, "editor", fetched)
    assert response.status_code == 200, response.get_json()
    assert live(client, admin)[1]["roles"]["editor"] == {
        "description": "Edits",
        "inherits": ["viewer"],
        "scopes": ["documents:write"],
    }


def test_put_role_warns_about_an_empty_role(client, admin):
    response = put_role(client, admin, "idle", {"scopes": []})
    assert response.status_code == 201
    assert any("idle" in w["path"] for w in response.get_json()["warnings"])


def test_put_role_errors_are_located_in_the_yaml_body(client, admin):
    text = "description: x\nscopes: [documents:write, nope]\ninherits: [viewer]\ninherits: []\n"
    before = live(client, admin)
    response = put_role(client, admin, "editor", text, content_type=YAML)
    errors = assert_problem(response, 422)["errors"]
    assert [(e["line"], e["column"], e["path"]) for e in errors] == [
        (2, 27, "roles.editor.scopes[1]"),
        (4, 1, "roles.editor.inherits"),
    ]
    assert "'nope' is not declared" in errors[0]["message"]
    assert "duplicate key 'inherits'" in errors[1]["message"]
    assert live(client, admin) == before


def test_put_role_json_errors_have_paths(client, admin):
    before = live(client, admin)
    body = {"scopes": "documents:write", "inherits": ["ghost"], "colour": "blue"}
    errors = assert_problem(put_role(client, admin, "editor", body), 422)["errors"]
    assert {e["path"] for e in errors} == {
        "roles.editor.scopes",
        "roles.editor.inherits[0]",
        "roles.editor.colour",
    }
    assert all(e["line"] is None for e in errors)
    assert live(client, admin) == before


def test_put_role_creating_a_cycle_is_422_naming_it(client, admin):
    before = live(client, admin)
    response = put_role(client, admin, "viewer", {"inherits": ["admin"], "scopes": ["profile"]})
    errors = assert_problem(response, 422)["errors"]
    assert any("cycle" in e["message"] and "admin" in e["message"] for e in errors), errors
    assert live(client, admin) == before


def test_put_role_named_differently_in_the_body_is_422(client, admin):
    before = live(client, admin)
    response = put_role(client, admin, "editor", {"name": "boss", "scopes": ["profile"]})
    assert "boss" in assert_problem(response, 422)["errors"][0]["message"]
    assert live(client, admin) == before


@pytest.mark.parametrize("body", ["[1, 2]", '"text"', "null"])
def test_put_role_body_not_a_mapping_is_422(client, admin, body):
    before = live(client, admin)
    response = put_role(client, admin, "editor", body)
    assert_problem(response, 422)
    assert live(client, admin) == before


def test_put_role_without_if_match_is_428(client, admin):
    before = live(client, admin)
    assert_problem(put_role(client, admin, "editor", {"scopes": []}, version=None), 428)
    assert live(client, admin) == before


def test_put_role_with_a_stale_etag_is_412(client, admin):
    assert put_role(client, admin, "auditor", {"scopes": ["audit:read"]}).status_code == 201
    before = live(client, admin)
    response = put_role(client, admin, "editor", {"scopes": ["profile"]}, version=1)
    assert assert_problem(response, 412)["current_version"] == 2
    assert live(client, admin) == before


def test_put_role_with_another_content_type_is_415(client, admin):
    before = live(client, admin)
    response = put_role(client, admin, "editor", "scopes=profile", content_type="text/plain")
    assert_problem(response, 415)
    assert live(client, admin) == before


def test_put_role_without_token_is_401(client, admin):
    before = live(client, admin)
    assert put_role(client, {}, "editor", {"scopes": ["profile"]}).status_code == 401
    assert live(client, admin) == before


# -- DELETE ------------------------------------------------------------------------------


def test_delete_role_nobody_holds(client, admin):
    assert put_role(client, admin, "auditor", {"scopes": ["audit:read"]}).status_code == 201
    response = client.delete("/admin/roles/auditor", headers=writing(admin, 2))
    assert response.status_code == 200, response.get_json()
    assert response.headers["ETag"] == '"3"'
    assert response.get_json()["deleted"] == "auditor"
    assert "auditor" not in live(client, admin)[1]["roles"]
    assert policy_store.get_version(3).comment == "role auditor deleted"


def test_delete_held_role_is_409_with_the_count_unless_stripped(client, admin, make_user):
    assert put_role(client, admin, "auditor", {"scopes": ["audit:read"]}).status_code == 201
    make_user("carol", ("auditor", "viewer"))
    make_user("dave", ("auditor",))
    before = live(client, admin)
    response = client.delete("/admin/roles/auditor", headers=writing(admin, 2))
    body = assert_problem(response, 409)
    assert body["roles"] == [{"role": "auditor", "users": 2}]
    assert "held by 2 user(s)" in body["detail"]
    assert live(client, admin) == before
    response = client.delete("/admin/roles/auditor?strip_roles=true", headers=writing(admin, 2))
    assert response.status_code == 200
    assert response.get_json()["stripped_roles"] == [{"role": "auditor", "users": 2}]
    assert users.get("carol").roles == ["viewer"]
    assert users.get("dave").roles == []


def test_delete_unknown_role_is_404(client, admin):
    before = live(client, admin)
    assert_problem(client.delete("/admin/roles/ghost", headers=writing(admin, 1)), 404)
    assert live(client, admin) == before


def test_delete_inherited_role_is_422_naming_the_heir(client, admin):
    before = live(client, admin)
    errors = assert_problem(client.delete("/admin/roles/viewer", headers=writing(admin, 1)), 422)[
        "errors"
    ]
    assert errors == [
        {
            "line": None,
            "column": None,
            "path": "roles.editor.inherits[0]",
            "message": "role 'editor' inherits 'viewer': remove it from 'editor' first",
        }
    ]
    assert live(client, admin) == before


def test_delete_role_without_if_match_is_428_and_stale_is_412(client, admin):
    before = live(client, admin)
    assert_problem(client.delete("/admin/roles/admin", headers=admin), 428)
    assert_problem(client.delete("/admin/roles/admin", headers=writing(admin, 5)), 412)
    assert client.delete("/admin/roles/admin", headers=writing({}, 1)).status_code == 401
    assert live(client, admin) == before


@pytest.mark.parametrize("name", ["a%00b", "tab%09role", "r" * 101])
def test_put_role_with_a_name_users_could_not_hold_is_422(client, admin, name):
    before = live(client, admin)
    response = put_role(client, admin, name, {"scopes": ["profile"]})
    assert "ASCII letter" in assert_problem(response, 422)["errors"][0]["message"]
    assert live(client, admin) == before
