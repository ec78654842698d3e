"""Policy versions (SPEC §8): list, fetch, diff, restore with If-Match."""

from __future__ import annotations

from datetime import datetime

import pytest
import yaml

from authserver.services import policy_store, users
from tests.support.admin import (
    DEFAULT_YAML,
    YAML,
    assert_problem,
    bearer,
    live,
    writing,
)

V2 = DEFAULT_YAML.replace(
    "scopes: [documents:write]", "scopes: [documents:write, documents:delete]"
)
V3 = DEFAULT_YAML.replace("Reads documents", "Reads")


@pytest.fixture
def admin(make_token) -> dict:
    return bearer(make_token("root", ("admin",)))


@pytest.fixture
def three_versions(client, admin) -> None:
    for expected, text in ((1, V2), (2, V3)):
        response = client.put(
            f"/admin/policy?comment=v{expected + 1}", headers=writing(admin, expected), data=text
        )
        assert response.status_code == 200, response.get_json()


def test_versions_are_listed_newest_first(client, admin, three_versions):
    response = client.get("/admin/policy/versions", headers=admin)
    assert response.status_code == 200
    versions = response.get_json()["versions"]
    assert [v["version"] for v in versions] == [3, 2, 1]
    assert [v["created_by"] for v in versions] == ["root", "root", "system"]
    assert versions[0]["comment"] == "v3"
    for entry in versions:
        assert set(entry) == {"version", "created_at", "created_by", "comment"}
        assert datetime.fromisoformat(entry["created_at"]).tzinfo is not None


def test_versions_page_with_limit_and_cursor(client, admin, three_versions):
    """The one pagination style of every admin list (SPEC §8)."""
    first = client.get("/admin/policy/versions?limit=2", headers=admin).get_json()
    assert [v["version"] for v in first["versions"]] == [3, 2]
    cursor = first["next_cursor"]
    second = client.get(f"/admin/policy/versions?limit=2&cursor={cursor}", headers=admin)
    assert [v["version"] for v in second.get_json()["versions"]] == [1]
    assert second.get_json()["next_cursor"] is None


def test_versions_default_page_is_everything_up_to_50(client, admin, three_versions):
    body = client.get("/admin/policy/versions", headers=admin).get_json()
    assert len(body["versions"]) == 3 and body["next_cursor"] is None


@pytest.mark.parametrize(
    "query", ["limit=0", "limit=x", "cursor=-1", "cursor=%%%", "limit=501", "limit=100000"]
)
def test_versions_bad_paging_is_400(client, admin, query):
    body = assert_problem(client.get(f"/admin/policy/versions?{query}", headers=admin), 400)
    assert body["invalid_params"][0]["name"] in {"limit", "cursor"}


def test_versions_need_a_token_and_policies_read(client, make_token):
    assert client.get("/admin/policy/versions").status_code == 401
    viewer = bearer(make_token("alice", ("viewer",)))
    assert client.get("/admin/policy/versions", headers=viewer).status_code == 403


def test_a_version_is_fetched_as_json_or_yaml(client, admin, three_versions):
    response = client.get("/admin/policy/versions/2", headers=admin)
    assert response.status_code == 200
    assert response.get_json() == yaml.safe_load(V2)
    assert response.headers["ETag"] == '"2"'
    response = client.get("/admin/policy/versions/1", headers={**admin, "Accept": YAML})
    assert response.mimetype == YAML
    assert response.get_data(as_text=True) == DEFAULT_YAML


@pytest.mark.parametrize("number", ["9", "0", "99999999999999999999", "abc", "-1"])
def test_an_absent_version_is_404(client, admin, number):
    body = assert_problem(client.get(f"/admin/policy/versions/{number}", headers=admin), 404)
    assert body["title"] == "Not Found"


def test_diff_between_versions(client, admin, three_versions):
    response = client.get("/admin/policy/diff?from=1&to=2", headers=admin)
    assert response.status_code == 200
    body = response.get_json()
    assert body["from"] == 1 and body["to"] == 2
    assert body["summary"] == "roles +0 -0 ~1; scopes +0 -0 ~0"
    assert body["roles_changed"] == {
        "editor": {
            "scopes": {"added": ["documents:delete"], "removed": []},
            "effective_scopes": {"added": ["documents:delete"], "removed": []},
        }
    }
    assert body["scopes_added"] == [] and body["roles_added"] == []


def test_diff_defaults_to_the_live_version_and_its_predecessor(client, admin, three_versions):
    body = client.get("/admin/policy/diff", headers=admin).get_json()
    assert (body["from"], body["to"]) == (2, 3)
    assert body["roles_changed"]["viewer"] == {"description": ["Reads documents", "Reads"]}
    assert set(body["roles_changed"]["editor"]) == {"scopes", "effective_scopes"}


def test_diff_backwards_reverses_it(client, admin, three_versions):
    body = client.get("/admin/policy/diff?from=2&to=1", headers=admin).get_json()
    assert body["roles_changed"]["editor"]["scopes"] == {
        "added": [],
        "removed": ["documents:delete"],
    }


@pytest.mark.parametrize("query, status", [("from=1&to=9", 404), ("from=x&to=1", 400)])
def test_diff_with_a_bad_version_is_a_problem(client, admin, query, status):
    assert_problem(client.get(f"/admin/policy/diff?{query}", headers=admin), status)


def test_restore_makes_a_new_version_with_the_old_source(client, admin, three_versions):
    response = client.post("/admin/policy/versions/1/restore", headers=writing(admin, 3))
    assert response.status_code == 200, response.get_json()
    assert response.headers["ETag"] == '"4"'
    body = response.get_json()
    assert body["version"] == 4 and body["previous"] == 3
    assert body["policy"] == yaml.safe_load(DEFAULT_YAML)
    assert policy_store.get_version(4).source == DEFAULT_YAML
    assert policy_store.get_version(4).comment == "restored version 1"
    assert live(client, admin) == (4, yaml.safe_load(DEFAULT_YAML))
    assert [
        v["version"] for v in client.get("/admin/policy/versions", headers=admin).json["versions"]
    ] == [4, 3, 2, 1]


def test_restore_without_if_match_is_428(client, admin, three_versions):
    before = live(client, admin)
    response = client.post("/admin/policy/versions/1/restore", headers=admin)
    assert_problem(response, 428)
    assert live(client, admin) == before


def test_restore_with_a_stale_etag_is_412(client, admin, three_versions):
    before = live(client, admin)
    response = client.post("/admin/policy/versions/1/restore", headers=writing(admin, 2))
    assert assert_problem(response, 412)["current_version"] == 3
    assert live(client, admin) == before


def test_restore_of_an_absent_version_is_404(client, admin, three_versions):
    before = live(client, admin)
    response = client.post("/admin/policy/versions/42/restore", headers=writing(admin, 3))
    assert_problem(response, 404)
    assert live(client, admin) == before


def test_restore_needs_policies_write(client, admin, make_token, three_versions):
    reader = bearer(make_token("root", ("admin",), scope="policies:read"))
    before = live(client, admin)
    response = client.post("/admin/policy/versions/1/restore", headers=writing(reader, 3))
    assert response.status_code == 403
    assert client.post("/admin/policy/versions/1/restore").status_code == 401
    assert live(client, admin) == before


def test_restore_that_removes_held_roles_is_409_unless_stripped(client, admin, make_user):
    text = DEFAULT_YAML + "  auditor:\n    scopes: [audit:read]\n"
    assert client.put("/admin/policy", headers=writing(admin, 1), data=text).status_code == 200
    make_user("carol", ("auditor",))
    before = live(client, admin)
    response = client.post("/admin/policy/versions/1/restore", headers=writing(admin, 2))
    assert assert_problem(response, 409)["roles"] == [{"role": "auditor", "users": 1}]
    assert live(client, admin) == before
    assert users.get("carol").roles == ["auditor"]
    response = client.post(
        "/admin/policy/versions/1/restore?strip_roles=true", headers=writing(admin, 2)
    )
    assert response.status_code == 200
    assert users.get("carol").roles == []
