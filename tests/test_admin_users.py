"""/admin/users: listing, roles, disable and enable, revoking a user's tokens.

Each route is held to its status codes (200, 401 without a token, 403 without the scope,
404 for an unknown user, 422 for a bad body) and each change to its effect on logins and
refreshes.
"""

from __future__ import annotations

import pytest

from authserver.api.admin import users as users_api
from authserver.extensions import db
from authserver.models import User
from authserver.services import audit, users
from tests.conftest import PASSWORD
from tests.support.http import bearer

PROBLEM = "application/problem+json"

READ_ROUTES = [("get", "/admin/users"), ("get", "/admin/users/bob")]
WRITE_ROUTES = [
    ("put", "/admin/users/bob/roles"),
    ("post", "/admin/users/bob/disable"),
    ("post", "/admin/users/bob/enable"),
    ("post", "/admin/users/bob/revoke-tokens"),
]
ALL_ROUTES = READ_ROUTES + WRITE_ROUTES
PER_USER_ROUTES = ALL_ROUTES[1:]


@pytest.fixture
def admin(make_token) -> dict[str, str]:
    return bearer(make_token("root", ["admin"]))


@pytest.fixture
def bob(make_user):
    return make_user("bob", ["viewer"])


def call(client, method: str, path: str, headers: dict, roles=("editor",)):
    body = {"json": {"roles": list(roles)}} if method == "put" else {}
    return getattr(client, method)(path, headers=headers, **body)


def password_login(token_request, username: str = "bob", password: str = PASSWORD):
    return token_request(grant_type="password", username=username, password=password)


def refresh(token_request, refresh_token: str):
    return token_request(grant_type="refresh_token", refresh_token=refresh_token)


# --- status codes ----------------------------------------------------------------------------


@pytest.mark.parametrize(("method", "path"), ALL_ROUTES)
def test_admin_users_route_without_token_is_401(client, bob, method, path) -> None:
    response = call(client, method, path, {})

    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Bearer"


@pytest.mark.parametrize(
    ("method", "path", "scope"),
    [(m, p, "users:read") for m, p in READ_ROUTES]
    + [(m, p, "users:write") for m, p in WRITE_ROUTES],
)
def test_admin_users_route_without_its_scope_is_403(
    client, make_token, bob, method, path, scope
) -> None:
    # An editor holds documents scopes only; an admin token narrowed to the other users scope.
    other = "users:write" if scope == "users:read" else "users:read"
    for token in (make_token("eve", ["editor"]), make_token("root", ["admin"], scope=other)):
        response = call(client, method, path, bearer(token))

        assert response.status_code == 403
        assert f'scope="{scope}"' in response.headers["WWW-Authenticate"]


@pytest.mark.parametrize(("method", "path"), ALL_ROUTES)
def test_admin_users_route_with_its_scope_is_200(client, admin, bob, method, path) -> None:
    response = call(client, method, path, admin)

    assert response.status_code == 200, response.get_json()
    assert response.mimetype == "application/json"


@pytest.mark.parametrize(("method", "path"), PER_USER_ROUTES)
@pytest.mark.parametrize("name", ["nobody", "no%20such%20user", "x" * 300, "%00"])
def test_admin_users_unknown_user_is_404_problem(client, admin, method, path, name) -> None:
    response = call(client, method, path.replace("/bob", f"/{name}"), admin)

    assert response.status_code == 404
    assert response.mimetype == PROBLEM
    body = response.get_json()
    assert body["status"] == 404 and body["title"] == "Not Found"


@pytest.mark.parametrize(
    "body",
    [
        None,
        [],
        "editor",
        {},
        {"roles": "editor"},
        {"roles": None},
        {"roles": [1]},
        {"roles": ["editor", None]},
        {"roles": [["editor"]]},
        {"role": ["editor"]},
    ],
)
def test_put_roles_with_a_body_that_is_not_a_list_of_strings_is_422(
    client, admin, bob, body
) -> None:
    response = client.put("/admin/users/bob/roles", headers=admin, json=body)

    assert response.status_code == 422
    assert response.mimetype == PROBLEM
    assert users.get("bob").roles == ["viewer"]


def test_put_roles_with_malformed_json_is_422(client, admin, bob) -> None:
    response = client.put(
        "/admin/users/bob/roles",
        headers={**admin, "Content-Type": "application/json"},
        data=b'{"roles": [',
    )

    assert response.status_code == 422
    assert response.mimetype == PROBLEM


def test_put_unknown_roles_is_422_listing_each_and_changes_nothing(client, admin, bob) -> None:
    response = client.put(
        "/admin/users/bob/roles", headers=admin, json={"roles": ["editor", "wizard", "ghost"]}
    )

    assert response.status_code == 422
    assert response.mimetype == PROBLEM
    body = response.get_json()
    assert body["unknown_roles"] == ["wizard", "ghost"]
    assert "wizard" in body["detail"] and "ghost" in body["detail"]
    assert users.get("bob").roles == ["viewer"]


# --- listing ---------------------------------------------------------------------------------


def test_list_users_shape_sorted_by_username(client, admin, make_user) -> None:
    make_user("carol", ["editor"])
    make_user("bob", [])

    response = client.get("/admin/users", headers=admin)

    body = response.get_json()
    assert [u["username"] for u in body["users"]] == ["bob", "carol", "root"]
    assert body["next_cursor"] is None
    carol = body["users"][1]
    assert set(carol) == {"username", "roles", "disabled", "locked", "locked_until", "created_at"}
    assert carol["roles"] == ["editor"] and carol["disabled"] is False
    assert carol["created_at"].endswith("Z")


def test_list_users_pages_with_cursor_and_new_users_do_not_shift_pages(
    client, admin, make_user
) -> None:
    for name in ("u1", "u3", "u5"):
        make_user(name, [])

    first = client.get("/admin/users?limit=2", headers=admin).get_json()
    make_user("r0", [])  # sorts before every name already listed
    second = client.get(f"/admin/users?limit=2&cursor={first['next_cursor']}", headers=admin)

    assert [u["username"] for u in first["users"]] == ["root", "u1"]
    assert [u["username"] for u in second.get_json()["users"]] == ["u3", "u5"]
    assert second.get_json()["next_cursor"] is None


def test_list_users_filters_by_role(client, admin, make_user) -> None:
    make_user("bob", ["viewer"])
    make_user("carol", ["editor", "viewer"])

    body = client.get("/admin/users?role=viewer", headers=admin).get_json()

    assert [u["username"] for u in body["users"]] == ["bob", "carol"]


def names(client, admin, query: str) -> list[str]:
    response = client.get(f"/admin/users?{query}", headers=admin)
    assert response.status_code == 200, response.get_json()
    return [u["username"] for u in response.get_json()["users"]]


def legacy_user(username: str) -> None:
    """A row with a name the service now refuses (as an older release or an import may have
    left it): the only way to hold ``%``, ``_`` or ``\\`` in a username."""
    db.session.add(User(username=username, password_hash="x"))
    db.session.commit()


def test_list_users_by_prefix_ignores_case(client, admin, make_user) -> None:
    for name in ("Alice", "alex", "ALBERT", "bal", "al"):
        make_user(name, [])

    for q in ("al", "AL", "aL", "%EF%BC%A1l"):  # the last: fullwidth A, NFKC-folded
        assert set(names(client, admin, f"q={q}")) == {"Alice", "alex", "ALBERT", "al"}, q
    assert names(client, admin, "q=ALI") == ["Alice"]
    assert names(client, admin, "q=alice") == ["Alice"]
    assert names(client, admin, "q=alices") == []
    assert names(client, admin, "q=l") == []  # a prefix, not a substring
    assert len(names(client, admin, "q=")) == 6  # empty: no filter (root too)


def test_list_users_prefix_takes_like_wildcards_literally(client, admin) -> None:
    for name in ("a_b", "a%c", "a\\d", "axb", "abc", "aXc"):
        legacy_user(name)

    assert names(client, admin, "q=a_") == ["a_b"]
    assert names(client, admin, "q=a%25") == ["a%c"]
    assert names(client, admin, "q=a%5C") == ["a\\d"]
    assert names(client, admin, "q=%25") == []
    assert names(client, admin, "q=_") == []
    assert len(names(client, admin, "q=a")) == 6


def test_list_users_prefix_combines_with_role_and_pages(client, admin, make_user) -> None:
    for n in range(1, 8):
        make_user(f"dev{n}", ["viewer"] if n % 2 else ["editor"])
    make_user("devops", ["viewer"])
    make_user("dave", ["viewer"])

    seen, cursor = [], None
    while True:
        query = "q=DEV&role=viewer&limit=2" + (f"&cursor={cursor}" if cursor else "")
        body = client.get(f"/admin/users?{query}", headers=admin).get_json()
        assert len(body["users"]) <= 2
        seen.append([u["username"] for u in body["users"]])
        cursor = body["next_cursor"]
        if cursor is None:
            break
        make_user(f"dev0{len(seen)}", ["viewer"])  # sorts before the pages already read

    assert seen == [["dev1", "dev3"], ["dev5", "dev7"], ["devops"]]
    assert names(client, admin, "q=dev&role=editor") == ["dev2", "dev4", "dev6"]


@pytest.mark.parametrize(
    "query",
    ["limit=0", "limit=501", "limit=x", "cursor=%%%", "role=a%00", "q=a%00", "q=" + "a" * 151],
)
def test_list_users_bad_query_is_400_problem(client, admin, query) -> None:
    response = client.get(f"/admin/users?{query}", headers=admin)

    assert response.status_code == 400
    assert response.mimetype == PROBLEM
    assert response.get_json()["invalid_params"][0]["name"] in {"limit", "cursor", "role", "q"}


def test_list_users_prefix_of_the_longest_name_is_allowed(client, admin, make_user) -> None:
    make_user("a" * 150, [])

    assert names(client, admin, "q=" + "A" * 150) == ["a" * 150]


def test_get_user(client, admin, bob) -> None:
    body = client.get("/admin/users/bob", headers=admin).get_json()

    assert body["username"] == "bob"
    assert body["roles"] == ["viewer"]
    assert body["disabled"] is False


# --- effects ---------------------------------------------------------------------------------


def test_put_roles_replaces_roles_and_next_login_gets_their_scopes(
    client, admin, bob, token_request
) -> None:
    response = client.put(
        "/admin/users/bob/roles", headers=admin, json={"roles": ["editor", "editor"]}
    )

    assert response.status_code == 200
    assert response.get_json()["roles"] == ["editor"]
    assert users.get("bob").roles == ["editor"]
    granted = password_login(token_request).get_json()["scope"].split()
    assert "documents:write" in granted


def test_put_roles_empty_list_removes_every_role(client, admin, bob) -> None:
    response = client.put("/admin/users/bob/roles", headers=admin, json={"roles": []})

    assert response.get_json()["roles"] == []
    assert users.get("bob").roles == []


def test_put_roles_is_audited_with_old_and_new_roles(client, admin, bob) -> None:
    client.put("/admin/users/bob/roles", headers=admin, json={"roles": ["editor", "admin"]})

    events, _ = audit.search(audit.AuditQuery(kind="user.roles_changed"), 10)

    assert len(events) == 1
    event = events[0]
    assert (event.actor, event.subject) == ("root", "user:bob")
    assert event.details == {"old": ["viewer"], "new": ["admin", "editor"]}


def test_put_same_roles_is_200_and_not_audited(client, admin, bob) -> None:
    response = client.put("/admin/users/bob/roles", headers=admin, json={"roles": ["viewer"]})

    assert response.status_code == 200
    assert audit.search(audit.AuditQuery(kind="user.roles_changed"), 10)[0] == []


def test_disabled_user_cannot_log_in_and_cannot_refresh(client, admin, bob, token_request) -> None:
    tokens = password_login(token_request).get_json()

    response = client.post("/admin/users/bob/disable", headers=admin)

    assert response.status_code == 200
    assert response.get_json()["disabled"] is True
    login = password_login(token_request)
    assert login.status_code == 400 and login.get_json()["error"] == "invalid_grant"
    again = refresh(token_request, tokens["refresh_token"])
    assert again.status_code == 400 and again.get_json()["error"] == "invalid_grant"


def test_enabled_user_can_log_in_again_but_old_families_stay_ended(
    client, admin, bob, token_request
) -> None:
    tokens = password_login(token_request).get_json()
    client.post("/admin/users/bob/disable", headers=admin)

    response = client.post("/admin/users/bob/enable", headers=admin)

    assert response.status_code == 200
    assert response.get_json()["disabled"] is False
    assert password_login(token_request).status_code == 200
    assert refresh(token_request, tokens["refresh_token"]).status_code == 400


def test_revoke_tokens_ends_every_family_but_not_the_account(
    client, admin, bob, token_request
) -> None:
    first = password_login(token_request).get_json()
    second = password_login(token_request).get_json()

    response = client.post("/admin/users/bob/revoke-tokens", headers=admin)

    assert response.status_code == 200
    assert response.get_json() == {"username": "bob", "families_revoked": 2}
    for tokens in (first, second):
        answer = refresh(token_request, tokens["refresh_token"])
        assert answer.status_code == 400 and answer.get_json()["error"] == "invalid_grant"
    assert password_login(token_request).status_code == 200


def test_revoke_tokens_ends_access_tokens_already_issued(client, admin, make_token) -> None:
    """SPEC §12: a live cut-off refuses every access token of the user issued before it."""
    token = make_token("bob", ["viewer"])

    client.post("/admin/users/bob/revoke-tokens", headers=admin)

    assert client.get("/api/me", headers=bearer(token)).status_code == 401


def test_the_openapi_document_describes_the_prefix_search(client) -> None:
    operation = client.get("/openapi.json").get_json()["paths"]["/admin/users"]["get"]

    parameters = {p["name"]: p for p in operation["parameters"]}
    assert set(parameters) == {"limit", "cursor", "role", "q"}
    assert parameters["q"]["in"] == "query"
    assert parameters["q"]["schema"]["maxLength"] == users_api.MAX_PREFIX
    assert "starts with ``q``" in operation["description"]
