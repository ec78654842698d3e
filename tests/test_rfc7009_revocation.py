"""RFC 7009 token revocation at POST /oauth/revoke.

Revocation is checked where it matters: the resource (/api/me answers 401 invalid_token),
the introspection endpoint (inactive) and the token endpoint (a refresh fails). The last
test runs the app under gunicorn with two worker processes and checks that a revocation
made through one worker is honoured by both.
"""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from authserver.services import clients
from tests.conftest import PASSWORD, REDIS_URL, basic_auth, free_port
from tests.support.deploy import run_cli, server_env
from tests.support.gunicorn import Gunicorns, Server, wait_until_up


def revoke(client, oauth_client, token: str, **extra):
    """POST /oauth/revoke as ``oauth_client`` with client_secret_basic."""
    return client.post(
        "/oauth/revoke",
        data={"token": token, **extra},
        headers=basic_auth(oauth_client.client_id, oauth_client.secret),
    )


def introspect(client, oauth_client, token: str):
    return client.post(
        "/oauth/introspect",
        data={"token": token},
        headers=basic_auth(oauth_client.client_id, oauth_client.secret),
    )


def me(client, access_token: str):
    return client.get("/api/me", headers={"Authorization": f"Bearer {access_token}"})


def refresh(token_request, refresh_token: str):
    return token_request(grant_type="refresh_token", refresh_token=refresh_token)


def assert_revoked_access_token(client, oauth_client, access_token: str) -> None:
    response = me(client, access_token)
    assert response.status_code == 401
    assert response.get_json()["error"] == "invalid_token"
    assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]
    assert introspect(client, oauth_client, access_token).get_json() == {"active": False}


@pytest.fixture
def other_client(app):
    """A second confidential client with the same grants."""
    client, secret = clients.create("other client", ["password", "refresh_token"])
    client.secret = secret
    return client


@pytest.fixture
def public_client(app):
    client, _ = clients.create("public client", ["password", "refresh_token"], public=True)
    return client


# --- access tokens ---------------------------------------------------------------------------


def test_revoke_access_token_is_refused_at_resource_and_inactive(
    client, oauth_client, make_token
) -> None:
    tokens = make_token()
    assert me(client, tokens["access_token"]).status_code == 200

    response = revoke(client, oauth_client, tokens["access_token"])

    assert response.status_code == 200
    assert response.get_json() == {}
    assert_revoked_access_token(client, oauth_client, tokens["access_token"])


def test_revoke_access_token_leaves_its_refresh_token_and_other_tokens_alone(
    client, oauth_client, make_token, token_request
) -> None:
    first, second = make_token(), make_token()

    revoke(client, oauth_client, first["access_token"])

    assert me(client, second["access_token"]).status_code == 200
    assert refresh(token_request, first["refresh_token"]).status_code == 200


def test_revoke_access_token_twice_is_200(client, oauth_client, make_token) -> None:
    access_token = make_token()["access_token"]

    assert revoke(client, oauth_client, access_token).status_code == 200
    response = revoke(client, oauth_client, access_token)

    assert response.status_code == 200
    assert me(client, access_token).status_code == 401


# --- refresh tokens: the whole family ---------------------------------------------------------


def test_revoke_refresh_token_fails_its_refresh_with_invalid_grant(
    client, oauth_client, make_token, token_request
) -> None:
    refresh_token = make_token()["refresh_token"]

    assert revoke(client, oauth_client, refresh_token).status_code == 200
    response = refresh(token_request, refresh_token)

    assert response.status_code == 400
    assert response.get_json()["error"] == "invalid_grant"


def test_revoke_refresh_token_revokes_its_sibling_in_the_family(
    client, oauth_client, make_token, token_request
) -> None:
    first = make_token()["refresh_token"]
    rotated = refresh(token_request, first).get_json()["refresh_token"]

    assert revoke(client, oauth_client, first).status_code == 200  # the used one

    response = refresh(token_request, rotated)
    assert response.status_code == 400
    assert response.get_json()["error"] == "invalid_grant"
    assert introspect(client, oauth_client, rotated).get_json() == {"active": False}


def test_revoke_refresh_token_leaves_other_families_alone(
    client, oauth_client, make_token, token_request
) -> None:
    revoked, kept = make_token()["refresh_token"], make_token()["refresh_token"]

    revoke(client, oauth_client, revoked)

    assert refresh(token_request, kept).status_code == 200


# --- whose token ------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["access_token", "refresh_token"])
def test_revoke_another_clients_token_answers_as_unknown_and_changes_nothing(
    client, oauth_client, other_client, make_token, token_request, kind
) -> None:
    """Issue 10 item 16: a token not issued to the caller is answered exactly as an unknown
    one (200, empty body), so revocation is no oracle of which tokens are live; the token
    stays valid (README: a deliberate reading of RFC 7009 §2.1)."""
    tokens = make_token()

    response = revoke(client, other_client, tokens[kind])
    unknown = revoke(client, other_client, "no-such-token-" + kind)

    assert (response.status_code, response.get_json()) == (200, {})
    assert (response.status_code, response.get_data()) == (unknown.status_code, unknown.get_data())
    assert response.headers["Cache-Control"] == "no-store"
    assert me(client, tokens["access_token"]).status_code == 200
    assert refresh(token_request, tokens["refresh_token"]).status_code == 200


@pytest.mark.parametrize("kind", ["access_token", "refresh_token"])
def test_revoke_another_clients_token_by_a_public_client_answers_as_unknown(
    client, public_client, make_token, token_request, kind
) -> None:
    tokens = make_token()
    form = {"client_id": public_client.client_id}

    response = client.post("/oauth/revoke", data={"token": tokens[kind], **form})
    garbage = client.post("/oauth/revoke", data={"token": "garbage", **form})

    assert (response.status_code, response.get_data()) == (200, garbage.get_data())
    assert garbage.status_code == 200
    assert me(client, tokens["access_token"]).status_code == 200
    assert refresh(token_request, tokens["refresh_token"]).status_code == 200


# --- what is presented -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "token",
    ["no-such-token", "a" * 43, "eyJhbGciOiJub25lIn0.eyJzdWIiOiIxIn0.", "x" * 5000, "é ü \t"],
)
def test_revoke_unknown_or_garbage_token_is_200(client, oauth_client, token) -> None:
    response = revoke(client, oauth_client, token)

    assert response.status_code == 200
    assert response.get_json() == {}


@pytest.mark.parametrize(
    ("kind", "hint"),
    [
        ("access_token", "refresh_token"),
        ("refresh_token", "access_token"),
        ("access_token", "no_such_type"),
        ("refresh_token", "no_such_type"),
        ("access_token", ""),
    ],
)
def test_token_type_hint_is_a_hint_not_a_filter(
    client, oauth_client, make_token, token_request, kind, hint
) -> None:
    tokens = make_token()

    response = revoke(client, oauth_client, tokens[kind], token_type_hint=hint)

    assert response.status_code == 200
    if kind == "access_token":
        assert_revoked_access_token(client, oauth_client, tokens["access_token"])
    else:
        assert refresh(token_request, tokens["refresh_token"]).status_code == 400


@pytest.mark.parametrize("form", [{}, {"token": ""}, {"token_type_hint": "access_token"}])
def test_revoke_without_token_is_invalid_request(client, oauth_client, form) -> None:
    response = client.post(
        "/oauth/revoke", data=form, headers=basic_auth(oauth_client.client_id, oauth_client.secret)
    )

    assert response.status_code == 400
    assert response.get_json()["error"] == "invalid_request"


# --- client authentication ------------------------------------------------------------------


def test_revoke_without_client_auth_is_401_invalid_client(
    client, oauth_client, make_token
) -> None:
    access_token = make_token()["access_token"]

    response = client.post("/oauth/revoke", data={"token": access_token})

    assert response.status_code == 401
    assert response.get_json()["error"] == "invalid_client"
    assert me(client, access_token).status_code == 200


def test_revoke_with_wrong_secret_is_401_invalid_client(client, oauth_client, make_token) -> None:
    access_token = make_token()["access_token"]

    response = client.post(
        "/oauth/revoke",
        data={"token": access_token},
        headers=basic_auth(oauth_client.client_id, "wrong-secret"),
    )

    assert response.status_code == 401
    assert response.get_json()["error"] == "invalid_client"
    assert "Basic" in response.headers["WWW-Authenticate"]
    assert me(client, access_token).status_code == 200


def test_confidential_client_cannot_revoke_with_client_id_alone(
    client, oauth_client, make_token
) -> None:
    access_token = make_token()["access_token"]

    response = client.post(
        "/oauth/revoke", data={"token": access_token, "client_id": oauth_client.client_id}
    )

    assert response.status_code == 401
    assert response.get_json()["error"] == "invalid_client"
    assert me(client, access_token).status_code == 200


def test_revoke_with_client_secret_post(client, oauth_client, make_token) -> None:
    access_token = make_token()["access_token"]

    response = client.post(
        "/oauth/revoke",
        data={
            "token": access_token,
            "client_id": oauth_client.client_id,
            "client_secret": oauth_client.secret,
        },
    )

    assert response.status_code == 200
    assert me(client, access_token).status_code == 401


def test_public_client_revokes_its_token_with_auth_method_none(
    client, make_user, public_client
) -> None:
    make_user("alice")
    tokens = client.post(
        "/oauth/token",
        data={
            "grant_type": "password",
            "username": "alice",
            "password": PASSWORD,
            "client_id": public_client.client_id,
        },
    ).get_json()

    response = client.post(
        "/oauth/revoke",
        data={"token": tokens["refresh_token"], "client_id": public_client.client_id},
    )

    assert response.status_code == 200
    again = client.post(
        "/oauth/token",
        data={
            "grant_type": "refresh_token",
            "refresh_token": tokens["refresh_token"],
            "client_id": public_client.client_id,
        },
    )
    assert again.status_code == 400
    assert again.get_json()["error"] == "invalid_grant"


@pytest.mark.parametrize("outcome", ["revoked", "unknown", "no_auth", "missing_token"])
def test_revoke_responses_are_no_store(client, oauth_client, make_token, outcome) -> None:
    token = make_token()["access_token"] if outcome == "revoked" else "unknown"
    if outcome == "no_auth":
        response = client.post("/oauth/revoke", data={"token": token})
    elif outcome == "missing_token":
        response = revoke(client, oauth_client, "")
    else:
        response = revoke(client, oauth_client, token)

    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["Pragma"] == "no-cache"
    assert response.mimetype == "application/json"


# --- two gunicorn workers ----------------------------------------------------------------------


@pytest.fixture
def gunicorn_server(tmp_path, database_url, gunicorns: Gunicorns) -> tuple[Server, dict]:
    """The app under plain gunicorn with two workers (each builds its own app), and the
    environment for console scripts on the same database."""
    if database_url.startswith("sqlite"):
        database_url = f"sqlite:///{tmp_path / 'gunicorn.db'}"  # a fresh file, migrated here
    port = free_port()
    env = server_env(
        DATABASE_URL=database_url,
        SIGNING_KEYS=str(tmp_path / "signing-keys.json"),
        ISSUER=f"http://127.0.0.1:{port}",
    )
    if database_url.startswith("postgresql") and REDIS_URL:
        env["AUTHSERVER_REDIS_URL"] = REDIS_URL  # production shape: PostgreSQL + Redis
    run_cli(env, "db", "upgrade")
    server = gunicorns.launch(env, "revocation", config=False, port=port)
    wait_until_up(server)
    return server, env


def _me_statuses(base: str, access_token: str, count: int) -> list[int]:
    """``count`` GET /api/me, each on a new connection, four at a time."""

    def call(_: int) -> int:
        headers = {"Authorization": f"Bearer {access_token}", "Connection": "close"}
        return requests.get(f"{base}/api/me", headers=headers, timeout=10).status_code

    with ThreadPoolExecutor(max_workers=4) as pool:
        return list(pool.map(call, range(count)))


@pytest.mark.processes
def test_revocation_is_seen_by_every_gunicorn_worker(gunicorn_server) -> None:
    server, env = gunicorn_server
    base = server.base
    run_cli(env, "users", "create", "alice", "--role", "viewer", stdin=f"{PASSWORD}\n")
    created = json.loads(
        run_cli(
            env,
            "clients",
            "create",
            "app",
            "--grant-type",
            "password",
            "--grant-type",
            "refresh_token",
        ).stdout
    )
    auth = (created["client_id"], created["client_secret"])
    tokens = requests.post(
        f"{base}/oauth/token",
        data={"grant_type": "password", "username": "alice", "password": PASSWORD},
        auth=auth,
        timeout=10,
    ).json()
    access_token = tokens["access_token"]
    # Both workers first accept the token (so any per-process cache would hold it as good).
    statuses: list[int] = []
    while len(server.answering_pids("/api/me", 200)) < 2 and len(statuses) < 200:
        statuses += _me_statuses(base, access_token, 20)
    assert set(statuses) == {200}
    assert len(server.answering_pids("/api/me", 200)) == 2

    response = requests.post(f"{base}/oauth/revoke", data={"token": access_token}, auth=auth)
    assert response.status_code == 200
    # SPEC §12: the worker that revoked refuses at once, every other one within 1 second
    # (tests/test_live_propagation.py measures how soon); from then on, nobody accepts it.
    time.sleep(1.0)

    statuses = []
    while (
        len(statuses) < 20
        or len(server.answering_pids("/api/me", 401)) < 2
        and len(statuses) < 200
    ):
        statuses += _me_statuses(base, access_token, 20)
    assert set(statuses) == {401}
    assert len(server.answering_pids("/api/me", 401)) == 2
