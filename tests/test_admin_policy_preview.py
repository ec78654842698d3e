"""POST /admin/policy/preview (SPEC §14): validity, diff, impact by role set, tests; no write."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import insert

from authserver.extensions import db
from authserver.models import User, UserRole
from authserver.models.client import Client, ClientRole
from authserver.services import policy_store
from tests.support.admin import DEFAULT_YAML, YAML, assert_problem, bearer, writing
from tests.support.policy_text import with_tests, without_tests

EDITORS_CANNOT_WRITE = DEFAULT_YAML.replace(
    "    scopes: [documents:write]\n", "    scopes: [documents:delete]\n"
)


@pytest.fixture
def admin(make_token) -> dict:
    return bearer(make_token("root", ("admin",)))


def add_users(prefix: str, count: int, roles: tuple[str, ...]) -> None:
    """``count`` users named ``prefix0001``... holding ``roles`` (no password: not logins)."""
    names = [f"{prefix}{i:04d}" for i in range(count)]
    db.session.execute(insert(User), [{"username": n, "password_hash": "x"} for n in names])
    ids = dict(
        db.session.execute(db.select(User.username, User.id).where(User.username.in_(names))).all()
    )
    rows = [{"user_id": ids[n], "role": role} for n in names for role in roles]
    if rows:
        db.session.execute(insert(UserRole), rows)
    db.session.commit()


def preview(client, headers: dict, body: str, content_type: str = YAML):
    response = client.post(
        "/admin/policy/preview", data=body, headers={**headers, "Content-Type": content_type}
    )
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()


def group(body: dict, roles: list[str], kind: str = "user") -> dict:
    found = [g for g in body["impact"]["groups"] if g["roles"] == roles and g["kind"] == kind]
    assert len(found) == 1, body["impact"]
    return found[0]


def test_preview_answers_the_spec_shape_and_changes_nothing(client, admin):
    add_users("ed", 3, ("editor",))
    before = policy_store.newest_version()
    body = preview(client, admin, EDITORS_CANNOT_WRITE)
    assert set(body) == {"valid", "errors", "warnings", "diff", "impact", "tests"}
    assert body["valid"] is True and body["errors"] == []
    assert set(body["impact"]) == {"groups", "roles_removed_held"}
    assert policy_store.newest_version() == before
    assert client.get("/admin/policy", headers={**admin, "Accept": YAML}).text == DEFAULT_YAML


def test_preview_groups_holders_by_exact_role_set_with_gains_and_losses(client, admin):
    add_users("ed", 3, ("editor",))
    add_users("both", 2, ("editor", "viewer"))
    add_users("view", 4, ("viewer",))
    body = preview(client, admin, EDITORS_CANNOT_WRITE)
    editors = group(body, ["editor"])
    assert editors["count"] == 3
    assert editors["loses"] == ["documents:write"]
    assert editors["gains"] == ["documents:delete"]
    assert editors["sample"] == ["ed0000", "ed0001", "ed0002"]
    assert group(body, ["editor", "viewer"])["count"] == 2
    # viewers' scopes do not change: no group for them; admins (root) lose nothing either
    # (documents:* covers documents:write) ...
    assert all(g["roles"] not in (["viewer"], ["admin"]) for g in body["impact"]["groups"])


def test_preview_sample_is_the_first_twenty_names_in_order(client, admin):
    add_users("zed", 25, ("editor",))
    add_users("abe", 5, ("editor",))
    editors = group(preview(client, admin, EDITORS_CANNOT_WRITE), ["editor"])
    assert editors["count"] == 30
    assert editors["sample"] == [f"abe{i:04d}" for i in range(5)] + [
        f"zed{i:04d}" for i in range(15)
    ]


def test_preview_a_set_covered_by_another_role_is_no_group(client, admin):
    """editor+admin loses nothing: admin's documents:* still grants documents:write."""
    add_users("boss", 2, ("admin", "editor"))
    body = preview(client, admin, EDITORS_CANNOT_WRITE)
    assert [g for g in body["impact"]["groups"] if "admin" in g["roles"]] == []


def test_preview_counts_removed_roles_still_held(client, admin):
    add_users("ed", 7, ("editor",))
    add_users("mix", 2, ("editor", "viewer"))
    without_editor = (
        without_tests(DEFAULT_YAML)
        .replace("  editor:\n    inherits: [viewer]\n    scopes: [documents:write]\n", "")
        .replace("inherits: [editor]", "inherits: [viewer]")
    )
    body = preview(client, admin, without_editor)
    assert body["valid"] is True, body["errors"]
    assert body["impact"]["roles_removed_held"] == {"editor": 9}
    assert group(body, ["editor"])["loses"] == ["profile", "documents:read", "documents:write"]
    assert group(body, ["editor", "viewer"])["loses"] == ["documents:write"]
    assert body["diff"]["roles_removed"] == ["editor"]


def test_preview_diff_is_what_the_diff_route_would_show(client, admin):
    body = preview(client, admin, EDITORS_CANNOT_WRITE)
    diff = body["diff"]
    assert diff["from"] == policy_store.newest_version()
    assert diff["summary"] == "roles +0 -0 ~1; scopes +0 -0 ~0"
    assert diff["roles_changed"]["editor"]["scopes"] == {
        "added": ["documents:delete"],
        "removed": ["documents:write"],
    }


def test_preview_of_an_invalid_candidate_gives_errors_and_no_impact(client, admin):
    add_users("ed", 3, ("editor",))
    broken = DEFAULT_YAML.replace("scopes: [documents:write]", "scopes: [documents:wirte]")
    body = preview(client, admin, broken)
    assert body["valid"] is False
    assert body["impact"] is None and body["diff"] is None and body["tests"] == []
    [error] = body["errors"]
    assert error["path"] == "roles.editor.scopes[0]"
    assert (error["line"], error["column"]) == (
        DEFAULT_YAML.splitlines().index("    scopes: [documents:write]") + 1,
        14,
    )


def test_preview_accepts_json(client, admin):
    add_users("ed", 1, ("editor",))
    document = client.get("/admin/policy", headers=admin).get_json()
    document["roles"]["editor"]["scopes"] = []
    body = preview(client, admin, json.dumps(document), "application/json")
    assert group(body, ["editor"])["loses"] == ["documents:write"]


def test_preview_runs_the_candidates_tests(client, admin):
    candidate = with_tests(
        EDITORS_CANNOT_WRITE,
        "  - name: editors write\n"
        "    roles: [editor]\n"
        "    grants: [documents:write]\n"
        "  - name: viewers read\n"
        "    roles: [viewer]\n"
        "    grants: [documents:read]\n",
    )
    body = preview(client, admin, candidate)
    assert body["valid"] is False  # a save would be refused (422)
    assert [(t["name"], t["passed"]) for t in body["tests"]][-2:] == [
        ("editors write", False),
        ("viewers read", True),
    ]
    assert all(t["passed"] for t in body["tests"][:-2])  # the shipped ones
    [failure] = body["tests"][-2]["failures"]
    assert body["errors"] == [failure]
    assert failure["path"] == "tests[3].grants[0]"
    assert failure["line"] == candidate.splitlines().index("    grants: [documents:write]") + 1
    assert body["impact"]["groups"] is not None  # the candidate loads: its impact is shown


def test_preview_no_change_has_no_groups(client, admin):
    add_users("ed", 3, ("editor",))
    body = preview(client, admin, DEFAULT_YAML)
    assert body["impact"] == {"groups": [], "roles_removed_held": {}}
    assert body["valid"] is True


def test_preview_needs_policies_read(client, make_token):
    token = bearer(make_token("reader", ("viewer",)))
    response = client.post(
        "/admin/policy/preview", data=DEFAULT_YAML, headers=writing(token, None)
    )
    assert_problem(response, 403)


def test_preview_refuses_other_media_types(client, admin):
    response = client.post(
        "/admin/policy/preview", data="x", headers={**admin, "Content-Type": "text/plain"}
    )
    assert_problem(response, 415)


def test_preview_is_in_the_openapi_document(client):
    document = client.get("/openapi.json").get_json()
    operation = document["paths"]["/admin/policy/preview"]["post"]
    assert operation["security"] == [{"oauth2": ["policies:read"]}]
    assert "Preview" in operation["summary"]


def add_clients(prefix: str, count: int, roles: tuple[str, ...]) -> None:
    """``count`` clients named ``prefix0000``... holding ``roles``."""
    names = [f"{prefix}{i:04d}" for i in range(count)]
    rows = [{"client_id": f"id-{n}", "name": n, "grant_types": ""} for n in names]
    db.session.execute(insert(Client), rows)
    ids = db.session.execute(db.select(Client.name, Client.id).where(Client.name.in_(names)))
    db.session.execute(
        insert(ClientRole), [{"client_id": i, "role": r} for _, i in ids for r in roles]
    )
    db.session.commit()


def test_preview_groups_clients_apart_from_users(client, admin):
    add_users("ed", 2, ("editor",))
    add_clients("robot", 3, ("editor",))
    body = preview(client, admin, EDITORS_CANNOT_WRITE)
    robots = group(body, ["editor"], kind="client")
    assert robots["count"] == 3
    assert robots["sample"] == ["robot0000", "robot0001", "robot0002"]
    assert robots["loses"] == ["documents:write"]
    assert group(body, ["editor"], kind="user")["count"] == 2
    kinds = [g["kind"] for g in body["impact"]["groups"]]
    assert kinds == sorted(kinds, key=lambda kind: kind != "user")  # users first


def test_preview_gains_and_losses_are_what_the_token_endpoint_then_grants(
    client, admin, make_token
):
    """Preview, save, and ask the token endpoint: the difference is what the preview said."""
    before = set(make_token("bob", ("editor",))["scope"].split())
    body = preview(client, admin, EDITORS_CANNOT_WRITE)
    bob = group(body, ["editor"])
    saved = client.put("/admin/policy", headers=writing(admin, 1), data=EDITORS_CANNOT_WRITE)
    assert saved.status_code == 200, saved.get_json()
    after = set(make_token("bob")["scope"].split())
    assert set(bob["loses"]) == before - after == {"documents:write"}
    assert set(bob["gains"]) == after - before == {"documents:delete"}
