"""/admin/clients (SPEC §16): list, get, roles, disable, enable, delete, rotate-secret.

Each route is held to its status codes (401 without a token, 403 without its scope, 404 for
an unknown client, 409 for a secret asked of a public client, 422 for a bad body) and each
change to its effect: on the client's token requests and, through the live state (§12), on
the access tokens it already holds. Changes are audited with the caller as the actor.
"""

from __future__ import annotations

import pytest

from authserver.services import audit, clients
from tests.conftest import basic_auth
from tests.support.http import bearer
from tests.support.tokens import token_claims

PROBLEM = "application/problem+json"

READ_ROUTES = [("get", "/admin/clients"), ("get", "/admin/clients/svc-1")]
WRITE_ROUTES = [
    ("put", "/admin/clients/svc-1/roles"),
    ("post", "/admin/clients/svc-1/disable"),
    ("post", "/admin/clients/svc-1/enable"),
    ("post", "/admin/clients/svc-1/rotate-secret"),
    ("delete", "/admin/clients/svc-1"),
]
ALL_ROUTES = READ_ROUTES + WRITE_ROUTES
PER_CLIENT_ROUTES = ALL_ROUTES[1:]


@pytest.fixture
def admin(make_token) -> dict[str, str]:
    return bearer(make_token("root", ["admin"]))


@pytest.fixture
def svc(app):
    """A machine client: client_credentials, the viewer role, id ``svc-1``."""
    client, secret = clients.create(
        "svc", ["client_credentials"], roles=["viewer"], client_id="svc-1"
    )
    client.secret = secret
    return client


def call(client, method: str, path: str, headers: dict, roles=("editor",)):
    body = {"json": {"roles": list(roles)}} if method == "put" else {}
    return getattr(client, method)(path, headers=headers, **body)


def client_token(client, client_id: str, secret: str):
    data = {"grant_type": "client_credentials"}
    return client.post("/oauth/token", data=data, headers=basic_auth(client_id, secret))


def me(client, token: dict) -> int:
    return client.get("/api/me", headers=bearer(token)).status_code


def assert_problem(response, status: int) -> dict:
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == PROBLEM
    body = response.get_json()
    assert body["status"] == status and body["title"]
    return body


# --- status codes ---------------------------------------------------------------------------


@pytest.mark.parametrize(("method", "path"), ALL_ROUTES)
def test_route_without_token_is_401(client, svc, method, path) -> None:
    response = call(client, method, path, {})

    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Bearer"
    assert clients.find("svc-1") is not None


@pytest.mark.parametrize(
    ("method", "path", "scope"),
    [(m, p, "clients:read") for m, p in READ_ROUTES]
    + [(m, p, "clients:write") for m, p in WRITE_ROUTES],
)
def test_route_without_its_scope_is_403(client, make_token, svc, method, path, scope) -> None:
    other = "clients:write" if scope == "clients:read" else "clients:read"
    for token in (make_token("eve", ["editor"]), make_token("root", ["admin"], scope=other)):
        response = call(client, method, path, bearer(token))

        assert_problem(response, 403)
        assert f'scope="{scope}"' in response.headers["WWW-Authenticate"]
    assert clients.find("svc-1").roles == ["viewer"]


@pytest.mark.parametrize(("method", "path"), ALL_ROUTES)
def test_route_with_its_scope_answers(client, admin, svc, method, path) -> None:
    response = call(client, method, path, admin)

    assert response.status_code == (204 if method == "delete" else 200), response.get_json()


@pytest.mark.parametrize(("method", "path"), PER_CLIENT_ROUTES)
@pytest.mark.parametrize("client_id", ["nobody", "no%20such", "x" * 300, "%00"])
def test_unknown_client_is_404_problem(client, admin, method, path, client_id) -> None:
    response = call(client, method, path.replace("/svc-1", f"/{client_id}"), admin)

    body = assert_problem(response, 404)
    assert body["title"] == "Not Found"


def test_a_client_token_with_the_scopes_may_administer_clients(client, svc) -> None:
    """A machine client holding the admin role manages clients itself; the audit trail
    names it as client:<id>."""
    ops, secret = clients.create("ops", ["client_credentials"], roles=["admin"])
    token = client_token(client, ops.client_id, secret).get_json()

    response = client.post("/admin/clients/svc-1/disable", headers=bearer(token))

    assert response.status_code == 200, response.get_json()
    events, _ = audit.search(audit.AuditQuery(kind="client.disabled"), 10)
    assert events[0].actor == f"client:{ops.client_id}"


# --- list and get ---------------------------------------------------------------------------


def test_get_shows_the_client_and_never_its_secret(client, admin, svc) -> None:
    response = client.get("/admin/clients/svc-1", headers=admin)

    body = response.get_json()
    assert body == {
        "client_id": "svc-1",
        "name": "svc",
        "public": False,
        "grant_types": ["client_credentials"],
        "scope": None,
        "roles": ["viewer"],
        "introspect": False,
        "disabled": False,
        "dpop_bound_access_tokens": False,
        "created_at": body["created_at"],
    }
    assert body["created_at"].endswith("Z")
    assert svc.secret not in response.get_data(as_text=True)


def test_get_shows_a_dpop_bound_public_client(client, admin) -> None:
    clients.create("spa", ["password"], public=True, client_id="spa-1", dpop=True)

    body = client.get("/admin/clients/spa-1", headers=admin).get_json()

    assert body["public"] is True and body["dpop_bound_access_tokens"] is True


def test_list_pages_by_client_id(client, admin) -> None:
    for index in range(5):
        clients.create(f"c{index}", ["password"], client_id=f"c-{index}")
    ids: list[str] = []
    cursor = None
    while True:
        query = {"limit": 2} | ({"cursor": cursor} if cursor else {})
        response = client.get("/admin/clients", headers=admin, query_string=query)
        assert response.status_code == 200
        body = response.get_json()
        assert len(body["clients"]) <= 2
        ids += [row["client_id"] for row in body["clients"]]
        cursor = body["next_cursor"]
        if cursor is None:
            break

    assert [i for i in ids if i.startswith("c-")] == [f"c-{index}" for index in range(5)]
    assert ids == sorted(ids)


@pytest.mark.parametrize("query", [{"limit": "0"}, {"limit": "x"}, {"cursor": "!!"}])
def test_list_with_a_bad_parameter_is_400_problem(client, admin, query) -> None:
    assert_problem(client.get("/admin/clients", headers=admin, query_string=query), 400)


# --- roles ----------------------------------------------------------------------------------


def test_put_roles_replaces_them_audits_and_cuts_tokens_off_when_one_is_taken(
    client, admin, svc
) -> None:
    clients.set_roles("svc-1", ["editor"])
    token = client_token(client, "svc-1", svc.secret).get_json()

    response = client.put("/admin/clients/svc-1/roles", headers=admin, json={"roles": ["viewer"]})

    assert response.status_code == 200
    assert response.get_json()["roles"] == ["viewer"]
    assert me(client, token) == 401
    fresh = client_token(client, "svc-1", svc.secret).get_json()
    assert token_claims(fresh["access_token"])["roles"] == ["viewer"]
    events, _ = audit.search(audit.AuditQuery(kind="client.roles_changed"), 10)
    assert events[0].actor == "root" and events[0].subject == "client:svc-1"
    assert events[0].details == {"old": ["editor"], "new": ["viewer"]}


def test_put_roles_adding_one_leaves_the_tokens_alone(client, admin, svc) -> None:
    token = client_token(client, "svc-1", svc.secret).get_json()

    response = client.put(
        "/admin/clients/svc-1/roles", headers=admin, json={"roles": ["viewer", "editor"]}
    )

    assert response.status_code == 200
    assert me(client, token) == 200


@pytest.mark.parametrize(
    "body",
    [None, [], "editor", {}, {"roles": "editor"}, {"roles": [1]}, {"role": ["editor"]}],
)
def test_put_roles_with_a_body_that_is_not_a_list_of_strings_is_422(
    client, admin, svc, body
) -> None:
    response = client.put("/admin/clients/svc-1/roles", headers=admin, json=body)

    assert_problem(response, 422)
    assert clients.find("svc-1").roles == ["viewer"]


def test_put_unknown_roles_is_422_listing_them_and_changes_nothing(client, admin, svc) -> None:
    response = client.put(
        "/admin/clients/svc-1/roles", headers=admin, json={"roles": ["editor", "wizard"]}
    )

    body = assert_problem(response, 422)
    assert body["unknown_roles"] == ["wizard"]
    assert clients.find("svc-1").roles == ["viewer"]


# --- disable, enable, delete, rotate-secret -------------------------------------------------


def test_disable_refuses_new_tokens_and_cuts_the_old_off(client, admin, svc) -> None:
    token = client_token(client, "svc-1", svc.secret).get_json()

    response = client.post("/admin/clients/svc-1/disable", headers=admin)

    assert response.get_json()["disabled"] is True
    assert me(client, token) == 401
    assert client_token(client, "svc-1", svc.secret).status_code == 401
    events, _ = audit.search(audit.AuditQuery(kind="client.disabled"), 10)
    assert events[0].actor == "root"


def test_enable_lets_the_client_get_tokens_again_but_not_use_its_old_ones(
    client, admin, svc
) -> None:
    token = client_token(client, "svc-1", svc.secret).get_json()
    client.post("/admin/clients/svc-1/disable", headers=admin)

    response = client.post("/admin/clients/svc-1/enable", headers=admin)

    assert response.get_json()["disabled"] is False
    assert me(client, token) == 401
    assert me(client, client_token(client, "svc-1", svc.secret).get_json()) == 200


def test_delete_is_204_and_ends_the_client_and_its_tokens(client, admin, svc) -> None:
    token = client_token(client, "svc-1", svc.secret).get_json()

    response = client.delete("/admin/clients/svc-1", headers=admin)

    assert response.status_code == 204 and response.get_data() == b""
    assert me(client, token) == 401
    assert_problem(client.get("/admin/clients/svc-1", headers=admin), 404)
    assert_problem(client.delete("/admin/clients/svc-1", headers=admin), 404)
    events, _ = audit.search(audit.AuditQuery(kind="client.deleted"), 10)
    assert events[0].actor == "root" and events[0].subject == "client:svc-1"


def test_delete_ends_the_refresh_families_of_the_clients_users(
    client, admin, make_token, oauth_client
) -> None:
    """A password client's users lose their sessions with it (SPEC §4)."""
    tokens = make_token("alice")
    client.delete(f"/admin/clients/{oauth_client.client_id}", headers=admin)

    refresh = client.post(
        "/oauth/token",
        data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
        headers=basic_auth(oauth_client.client_id, oauth_client.secret),
    )

    assert refresh.status_code == 401  # the client itself is gone
    assert me(client, tokens) == 401


def test_rotate_secret_answers_the_new_secret_once_and_ends_the_tokens(client, admin, svc) -> None:
    token = client_token(client, "svc-1", svc.secret).get_json()

    response = client.post("/admin/clients/svc-1/rotate-secret", headers=admin)

    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    body = response.get_json()
    assert body["client_id"] == "svc-1" and body["client_secret"] != svc.secret
    assert me(client, token) == 401
    assert client_token(client, "svc-1", svc.secret).status_code == 401
    assert client_token(client, "svc-1", body["client_secret"]).status_code == 200
    shown = client.get("/admin/clients/svc-1", headers=admin).get_data(as_text=True)
    assert body["client_secret"] not in shown
    events, _ = audit.search(audit.AuditQuery(kind="client.secret_rotated"), 10)
    assert body["client_secret"] not in str(events[0].details)


def test_rotate_secret_of_a_public_client_is_409(client, admin) -> None:
    clients.create("spa", ["password"], public=True, client_id="spa-1")

    body = assert_problem(client.post("/admin/clients/spa-1/rotate-secret", headers=admin), 409)

    assert "public" in body["detail"]
    assert clients.find("spa-1").is_public


def test_the_admin_cannot_cut_off_its_own_client_unknowingly(client, admin, oauth_client) -> None:
    """Disabling the client the admin's own token came from ends that token too: the
    response is still sent (the change is made), the next call is 401."""
    response = client.post(f"/admin/clients/{oauth_client.client_id}/disable", headers=admin)

    assert response.status_code == 200
    assert client.get("/admin/clients", headers=admin).status_code == 401


def test_disabling_twice_or_enabling_an_enabled_client_records_nothing(client, admin, svc):
    for _ in range(2):
        assert client.post("/admin/clients/svc-1/disable", headers=admin).status_code == 200
    assert client.post("/admin/clients/svc-1/enable", headers=admin).status_code == 200
    assert client.post("/admin/clients/svc-1/enable", headers=admin).status_code == 200

    kinds = [event.kind for event in audit.search(audit.AuditQuery(subject="client:svc-1"), 10)[0]]
    assert kinds == ["client.enabled", "client.disabled", "client.created"]


def test_the_openapi_description_lists_each_route_with_its_scope(client) -> None:
    paths = client.get("/openapi.json").get_json()["paths"]

    for method, path in ALL_ROUTES:
        templated = path.replace("svc-1", "{client_id}")
        scope = "clients:read" if method == "get" else "clients:write"
        assert paths[templated][method]["security"] == [{"oauth2": [scope]}], templated


def test_a_path_no_client_id_can_match_is_a_json_404(client, admin) -> None:
    response = client.get("/admin/clients/a/b", headers=admin)

    assert response.status_code == 404
    assert response.is_json
