"""RFC 7662 token introspection at POST /oauth/introspect.

An active token answers its claims; anything else (expired, revoked, rotated, unknown, or a
token the caller may not see) answers exactly ``{"active": false}`` (RFC 7662 §2.2), so the
answer never tells a caller more than "not for you". Expired tokens are made by signing with
the app's real key, and refresh families are aged in the database: nothing is mocked.
"""

from __future__ import annotations

import time
from datetime import timedelta

import jwt as pyjwt
import pytest
from joserfc import jwt
from sqlalchemy import create_engine, text, update

from authserver.database import database_uri
from authserver.extensions import db
from authserver.models import RefreshFamily
from authserver.models.base import utcnow
from authserver.services import clients, users
from authserver.state import state
from tests.conftest import PASSWORD, basic_auth

INACTIVE = {"active": False}
REQUIRED = ("active", "scope", "client_id", "sub", "username", "exp", "iat", "token_type")


def introspect(client, caller, token: str, **extra):
    """POST /oauth/introspect as ``caller`` (client_secret_basic)."""
    return client.post(
        "/oauth/introspect",
        data={"token": token, **extra},
        headers=basic_auth(caller.client_id, caller.secret),
    )


def claims_of(access_token: str) -> dict:
    return pyjwt.decode(access_token, options={"verify_signature": False})


@pytest.fixture
def other_client(app):
    client, secret = clients.create("other client", ["password", "refresh_token"])
    client.secret = secret
    return client


@pytest.fixture
def resource_server(app):
    """A client registered with --introspect: it may introspect any client's tokens."""
    client, secret = clients.create("resource server", introspect=True)
    client.secret = secret
    return client


# --- active tokens ------------------------------------------------------------------------------


def test_active_access_token_has_the_rfc7662_members(
    app, client, oauth_client, make_token
) -> None:
    tokens = make_token("alice", ["editor"])
    claims = claims_of(tokens["access_token"])
    user = users.find("alice")

    response = introspect(client, oauth_client, tokens["access_token"])

    assert response.status_code == 200
    body = response.get_json()
    assert set(REQUIRED) <= set(body)
    assert body["active"] is True
    assert body["scope"] == tokens["scope"]
    assert body["client_id"] == oauth_client.client_id
    assert body["sub"] == str(user.id)
    assert body["username"] == "alice"
    assert body["token_type"] == "Bearer"
    assert body["exp"] == claims["exp"]
    assert body["iat"] == claims["iat"]
    assert body["exp"] - body["iat"] == app.config["ACCESS_TOKEN_TTL"]
    assert isinstance(body["exp"], int) and isinstance(body["iat"], int)
    for name in ("iss", "aud", "jti"):  # optional members, when present, are the token's
        if name in body:
            assert body[name] == claims[name]


def test_active_refresh_token_has_scope_and_no_token_type(client, oauth_client, make_token):
    """Issue 10 item 19: ``token_type`` names an RFC 6749 §5.1 access-token type; a refresh
    token has none, so the member is left out rather than say "refresh_token"."""
    tokens = make_token("alice", ["editor"])

    body = introspect(client, oauth_client, tokens["refresh_token"]).get_json()

    assert body["active"] is True
    assert "token_type" not in body
    assert body["scope"] == tokens["scope"]
    assert body["client_id"] == oauth_client.client_id
    assert body["username"] == "alice"
    assert body["sub"] == str(users.find("alice").id)
    assert body["exp"] > time.time() and body["iat"] <= time.time() + 1


def test_rotated_refresh_token_has_the_narrowed_scope(
    client, oauth_client, make_token, token_request
) -> None:
    first = make_token("alice", ["editor"])["refresh_token"]
    second = token_request(
        grant_type="refresh_token", refresh_token=first, scope="documents:read"
    ).get_json()

    body = introspect(client, oauth_client, second["refresh_token"]).get_json()

    assert body["active"] is True
    assert body["scope"] == "documents:read"


@pytest.mark.parametrize(
    ("kind", "hint"),
    [("access_token", "refresh_token"), ("refresh_token", "access_token"), ("access_token", "x")],
)
def test_token_type_hint_does_not_hide_a_token(
    client, oauth_client, make_token, kind, hint
) -> None:
    token = make_token()[kind]

    body = introspect(client, oauth_client, token, token_type_hint=hint).get_json()

    assert body["active"] is True


# --- inactive: exactly {"active": false} ---------------------------------------------------------


def _expired_access_token(app, valid_access_token: str) -> str:
    """The same claims, signed with the app's real key, but expired a minute ago."""
    keys = state(app).keys
    claims = claims_of(valid_access_token)
    claims["iat"], claims["exp"] = int(time.time()) - 960, int(time.time()) - 60
    header = {"alg": keys.alg, "kid": keys.signing_kid, "typ": "at+jwt"}
    return jwt.encode(header, claims, keys.signing_key_set())


def test_expired_access_token_is_inactive(app, client, oauth_client, make_token) -> None:
    expired = _expired_access_token(app, make_token()["access_token"])
    assert client.get("/api/me", headers={"Authorization": f"Bearer {expired}"}).status_code == 401

    response = introspect(client, oauth_client, expired)

    assert response.status_code == 200
    assert response.get_json() == INACTIVE


def test_expired_refresh_token_is_inactive(client, oauth_client, make_token) -> None:
    refresh_token = make_token()["refresh_token"]
    db.session.execute(update(RefreshFamily).values(expires_at=utcnow() - timedelta(seconds=1)))
    db.session.commit()

    assert introspect(client, oauth_client, refresh_token).get_json() == INACTIVE


@pytest.mark.parametrize("kind", ["access_token", "refresh_token"])
def test_revoked_token_is_inactive(client, oauth_client, make_token, kind) -> None:
    token = make_token()[kind]
    revoked = client.post(
        "/oauth/revoke",
        data={"token": token},
        headers=basic_auth(oauth_client.client_id, oauth_client.secret),
    )
    assert revoked.status_code == 200

    assert introspect(client, oauth_client, token).get_json() == INACTIVE


def test_used_refresh_token_is_inactive_and_its_successor_active(
    client, oauth_client, make_token, token_request
) -> None:
    used = make_token()["refresh_token"]
    successor = token_request(grant_type="refresh_token", refresh_token=used).get_json()

    assert introspect(client, oauth_client, used).get_json() == INACTIVE
    assert introspect(client, oauth_client, successor["refresh_token"]).get_json()["active"]


def test_refresh_tokens_of_a_disabled_user_are_inactive(client, oauth_client, make_token) -> None:
    refresh_token = make_token()["refresh_token"]
    users.set_disabled("alice", True)

    assert introspect(client, oauth_client, refresh_token).get_json() == INACTIVE


@pytest.mark.parametrize(
    "token",
    ["garbage", "a" * 43, "eyJhbGciOiJub25lIn0.eyJzdWIiOiIxIn0.", "x" * 20_000, "\u00e9\u00fc"],
)
def test_unknown_or_garbage_token_is_inactive(client, oauth_client, token) -> None:
    response = introspect(client, oauth_client, token)

    assert response.status_code == 200
    assert response.get_json() == INACTIVE


@pytest.mark.parametrize("kind", ["access_token", "refresh_token"])
def test_another_clients_token_is_inactive_without_introspect_right(
    client, other_client, make_token, kind
) -> None:
    token = make_token()[kind]

    response = introspect(client, other_client, token)

    assert response.status_code == 200
    assert response.get_json() == INACTIVE


@pytest.mark.parametrize("kind", ["access_token", "refresh_token"])
def test_introspect_client_sees_any_clients_token(
    client, oauth_client, resource_server, make_token, kind
) -> None:
    token = make_token()[kind]

    body = introspect(client, resource_server, token).get_json()

    assert body["active"] is True
    assert body["client_id"] == oauth_client.client_id
    assert body["username"] == "alice"


def test_introspect_client_still_sees_revoked_as_inactive(
    client, oauth_client, resource_server, make_token
) -> None:
    access_token = make_token()["access_token"]
    client.post(
        "/oauth/revoke",
        data={"token": access_token},
        headers=basic_auth(oauth_client.client_id, oauth_client.secret),
    )

    assert introspect(client, resource_server, access_token).get_json() == INACTIVE


# --- requests and client authentication ----------------------------------------------------------


@pytest.mark.parametrize("form", [{}, {"token": ""}, {"token_type_hint": "access_token"}])
def test_introspect_without_token_is_invalid_request(client, oauth_client, form) -> None:
    response = client.post(
        "/oauth/introspect",
        data=form,
        headers=basic_auth(oauth_client.client_id, oauth_client.secret),
    )

    assert response.status_code == 400
    assert response.get_json()["error"] == "invalid_request"


def test_introspect_without_client_auth_is_401_invalid_client(client, make_token) -> None:
    response = client.post("/oauth/introspect", data={"token": make_token()["access_token"]})

    assert response.status_code == 401
    assert response.get_json()["error"] == "invalid_client"


def test_introspect_with_wrong_secret_is_401_invalid_client(
    client, resource_server, make_token
) -> None:
    response = client.post(
        "/oauth/introspect",
        data={"token": make_token()["access_token"]},
        headers=basic_auth(resource_server.client_id, "not-the-secret"),
    )

    assert response.status_code == 401
    assert response.get_json()["error"] == "invalid_client"
    assert "Basic" in response.headers["WWW-Authenticate"]


def test_confidential_client_cannot_introspect_with_client_id_alone(
    client, resource_server, make_token
) -> None:
    response = client.post(
        "/oauth/introspect",
        data={"token": make_token()["access_token"], "client_id": resource_server.client_id},
    )

    assert response.status_code == 401
    assert response.get_json()["error"] == "invalid_client"


def test_introspect_with_client_secret_post(client, resource_server, make_token) -> None:
    response = client.post(
        "/oauth/introspect",
        data={
            "token": make_token()["access_token"],
            "client_id": resource_server.client_id,
            "client_secret": resource_server.secret,
        },
    )

    assert response.status_code == 200
    assert response.get_json()["active"] is True


def test_public_client_introspects_its_own_token_with_none(client, make_user) -> None:
    public, _ = clients.create("public", ["password"], public=True)
    make_user("alice")
    access_token = client.post(
        "/oauth/token",
        data={
            "grant_type": "password",
            "username": "alice",
            "password": PASSWORD,
            "client_id": public.client_id,
        },
    ).get_json()["access_token"]

    response = client.post(
        "/oauth/introspect", data={"token": access_token, "client_id": public.client_id}
    )

    assert response.status_code == 200
    assert response.get_json()["active"] is True


@pytest.mark.parametrize("kind", ["active", "inactive", "no_auth"])
def test_introspect_responses_are_no_store(client, oauth_client, make_token, kind) -> None:
    token = make_token()["access_token"] if kind == "active" else "unknown"
    if kind == "no_auth":
        response = client.post("/oauth/introspect", data={"token": token})
    else:
        response = introspect(client, oauth_client, token)

    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["Pragma"] == "no-cache"
    assert response.mimetype == "application/json"


# --- the introspecting client, from the live state (SPEC §12) -----------------------------------


def _client_reads(app, run) -> int:
    """How many statements reading the clients table ``run()`` made."""
    from sqlalchemy import event

    seen = []

    def before(_conn, _cursor, statement, *_args) -> None:
        if "FROM clients" in statement:
            seen.append(statement)

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", before)
    try:
        run()
    finally:
        event.remove(engine, "before_cursor_execute", before)
    return len(seen)


def test_introspection_reads_no_client_row_in_the_steady_state(
    app, client, resource_server, make_token
) -> None:
    token = make_token()["access_token"]
    assert introspect(client, resource_server, token).get_json()["active"] is True

    def calls() -> None:
        for _ in range(5):
            assert introspect(client, resource_server, token).get_json()["active"] is True

    assert _client_reads(app, calls) == 0


@pytest.mark.parametrize("change", ["disable", "rotate", "delete"])
def test_a_client_record_in_process_ends_with_the_client(
    app, client, resource_server, make_token, change
) -> None:
    token = make_token()["access_token"]
    assert introspect(client, resource_server, token).status_code == 200  # now held in process

    if change == "disable":
        clients.set_disabled(resource_server.client_id, True)
    elif change == "rotate":
        new_secret = clients.rotate_secret(resource_server.client_id)
    else:
        clients.delete(resource_server.client_id)

    response = introspect(client, resource_server, token)
    assert response.status_code == 401
    assert response.get_json()["error"] == "invalid_client"
    if change == "rotate":
        resource_server.secret = new_secret
        assert introspect(client, resource_server, token).status_code == 200


def test_a_wrong_secret_is_refused_when_the_client_is_held_in_process(
    client, resource_server, make_token
) -> None:
    token = make_token()["access_token"]
    assert introspect(client, resource_server, token).status_code == 200
    resource_server.secret = resource_server.secret[:-1] + (
        "A" if resource_server.secret[-1] != "A" else "B"
    )

    response = introspect(client, resource_server, token)
    assert response.status_code == 401
    assert response.get_json()["error"] == "invalid_client"


def test_a_client_disabled_by_another_process_is_refused_within_the_bound(
    app, client, resource_server, make_token
) -> None:
    """The change is committed by another engine, as another process would (the row and
    its log entry, announced on PostgreSQL): this process's record of the client goes
    within SPEC §12's bound, and the client is refused."""
    token = make_token()["access_token"]
    assert introspect(client, resource_server, token).status_code == 200
    engine = create_engine(database_uri(app.config["DATABASE_URL"], "."))
    client_id = resource_server.client_id
    with engine.begin() as connection:
        connection.execute(
            text("UPDATE clients SET disabled = :yes WHERE client_id = :id"),
            {"yes": True, "id": client_id},
        )
        connection.execute(
            text(
                "INSERT INTO live_changes (kind, key, at, until)"
                " VALUES ('client', :id, :at, :until)"
            ),
            {"id": client_id, "at": utcnow(), "until": utcnow() + timedelta(hours=1)},
        )
        if engine.dialect.name == "postgresql":
            connection.execute(text("SELECT pg_notify('authserver_live', '0')"))
    engine.dispose()
    db.session.expire_all()  # this test's own session held the client row (not a server's)

    deadline = time.monotonic() + 5  # generous on a loaded machine; the bound is 1 s
    while introspect(client, resource_server, token).status_code == 200:
        assert time.monotonic() < deadline, "the disabled client is still accepted"
        time.sleep(0.05)
    assert introspect(client, resource_server, token).get_json()["error"] == "invalid_client"
