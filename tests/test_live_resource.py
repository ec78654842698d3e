"""SPEC §12 at the routes: each writer refuses or narrows the tokens already issued, at once.

Resource routes, the admin API and introspection decide alike; the process that made the
change holds it before its response. Also SPEC §13's lifetime rule, /readyz and purge.
"""

from __future__ import annotations

import socket
import time
from datetime import timedelta

import pytest
from sqlalchemy import select

from authserver.extensions import db
from authserver.models import LiveChange
from authserver.models.base import utcnow
from authserver.services import clients, policy_store, users
from authserver.services import purge as purge_service
from tests.conftest import basic_auth
from tests.support.http import bearer
from tests.support.tokens import make_claims, private_key, sign

NO_WRITE = "    scopes: [documents:write]"


@pytest.fixture
def admin(make_token) -> dict[str, str]:
    return bearer(make_token("root", ["admin"]))


def me(client, token) -> tuple[int, str | None]:
    response = client.get("/api/me", headers=bearer(token))
    body = response.get_json() or {}
    return response.status_code, body.get("scope")


def introspect(client, oauth_client, token: dict) -> dict:
    oauth_client.can_introspect = True
    db.session.commit()
    auth = basic_auth(oauth_client.client_id, oauth_client.secret)
    form = {"token": token["access_token"]}
    return client.post("/oauth/introspect", data=form, headers=auth).get_json()


def edit_policy_taking_write_from_editor() -> int:
    source = policy_store.live_source()
    assert NO_WRITE in source
    version, _ = policy_store.save_version(source.replace(NO_WRITE, "    scopes: []"))
    return version


# -- refusals -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "change",
    [
        lambda: users.set_disabled("alice", True),
        lambda: users.revoke_tokens("alice"),
        lambda: users.set_password("alice", "another passphrase"),
        lambda: users.set_roles("alice", []),
    ],
    ids=["disable", "revoke-tokens", "set-password", "role taken"],
)
def test_a_user_change_refuses_tokens_already_issued(client, make_token, change) -> None:
    token = make_token("alice", ["editor"])
    assert me(client, token)[0] == 200

    change()

    assert me(client, token)[0] == 401


def test_a_role_added_refuses_nothing_and_widens_nothing(client, make_token) -> None:
    token = make_token("alice", ["viewer"])

    users.set_roles("alice", ["viewer", "editor"])

    assert me(client, token) == (200, "profile documents:read")


def test_after_a_cut_off_a_new_login_works_at_once(client, make_token) -> None:
    make_token("alice", ["editor"])
    users.revoke_tokens("alice")

    token = make_token("alice")

    assert me(client, token)[0] == 200


def test_a_deleted_client_s_tokens_are_refused(client, make_token, oauth_client) -> None:
    token = make_token("alice")

    assert clients.delete(oauth_client.client_id)

    assert me(client, token)[0] == 401


def test_rfc7009_revocation_refuses_the_access_token_at_once(
    client, make_token, oauth_client
) -> None:
    token = make_token("alice")
    auth = basic_auth(oauth_client.client_id, oauth_client.secret)

    answer = client.post("/oauth/revoke", data={"token": token["access_token"]}, headers=auth)

    assert answer.status_code == 200
    assert me(client, token)[0] == 401
    assert introspect(client, oauth_client, token) == {"active": False}


def test_admin_routes_follow_the_same_rule(client, make_token) -> None:
    token = make_token("bob", ["admin"])
    assert client.get("/admin/users", headers=bearer(token)).status_code == 200

    users.set_disabled("bob", True)

    assert client.get("/admin/users", headers=bearer(token)).status_code == 401


# -- narrowing ------------------------------------------------------------------------------


def test_a_policy_edit_narrows_editor_tokens_without_logging_anyone_out(
    client, make_token, oauth_client, token_request
) -> None:
    token = make_token("alice", ["editor"])
    document = {"title": "t", "body": "b"}
    assert client.post("/api/documents", headers=bearer(token), json=document).status_code == 201

    edit_policy_taking_write_from_editor()

    response = client.post("/api/documents", headers=bearer(token), json=document)
    assert response.status_code == 403
    assert 'error="insufficient_scope"' in response.headers["WWW-Authenticate"]
    assert client.get("/api/documents", headers=bearer(token)).status_code == 200
    assert me(client, token) == (200, "profile documents:read")
    assert introspect(client, oauth_client, token)["scope"] == "profile documents:read"
    refreshed = token_request(grant_type="refresh_token", refresh_token=token["refresh_token"])
    assert refreshed.get_json()["scope"] == "profile documents:read"


def test_the_policy_write_is_logged_with_its_version(app) -> None:
    version = edit_policy_taking_write_from_editor()

    rows = db.session.execute(select(LiveChange).where(LiveChange.kind == "policy")).scalars()
    assert [row.key for row in rows] == [str(version - 1), str(version)]  # the seed, the edit


# -- SPEC §13: no token lives longer than ACCESS_TOKEN_TTL + skew ---------------------------


@pytest.mark.parametrize(("lifetime", "status"), [(0, 200), (30, 200), (31, 401)])
def test_tokens_living_longer_than_the_ttl_are_refused(
    app, client, signing_keys_file, lifetime, status
) -> None:
    now = int(time.time())
    ttl = app.config["ACCESS_TOKEN_TTL"]
    claims = make_claims(
        app.config["ISSUER"], app.config["AUDIENCE"], iat=now, exp=now + ttl + lifetime
    )

    token = sign(claims, private_key(signing_keys_file))

    assert client.get("/api/me", headers=bearer(token)).status_code == status


# -- operations -----------------------------------------------------------------------------


def test_readyz_names_the_feed(client) -> None:
    body = client.get("/readyz").get_json()

    assert body["checks"]["live_feed"] in {"local", "ok", "starting"}


def test_purge_drops_live_changes_that_can_no_longer_matter(app) -> None:
    now = utcnow()
    db.session.add_all(
        [
            LiveChange(kind="jti", key="old", at=now, until=now - timedelta(seconds=1)),
            LiveChange(kind="jti", key="new", at=now, until=now + timedelta(seconds=60)),
        ]
    )
    db.session.commit()

    result = purge_service.purge(86_400, app.config["LOCKOUT_RESET_SECONDS"])

    assert result.live_changes == 1
    left = db.session.execute(select(LiveChange.key).where(LiveChange.kind == "jti")).scalars()
    assert list(left) == ["new"]


@pytest.fixture
def lost_feed(settings, database_url):
    """A PostgreSQL app whose feed connects to a port nobody listens on."""
    if not database_url.startswith("postgresql"):
        pytest.skip("PostgreSQL only (SQLite has no feed to lose)")
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))  # bound, never listening: connections are refused
    settings["LIVE_FEED_URL"] = f"postgresql://x@127.0.0.1:{closed.getsockname()[1]}/x"
    yield
    closed.close()


def feed_says(client) -> str:
    response = client.get("/readyz")
    assert response.status_code == 200  # a lost feed is slower, not unready
    return response.get_json()["checks"]["live_feed"]


def test_a_lost_feed_keeps_decisions_live_and_says_so(lost_feed, client, make_token) -> None:
    token = make_token("alice", ["editor"])
    assert me(client, token)[0] == 200

    deadline = time.monotonic() + 5
    while feed_says(client) != "lost" and time.monotonic() < deadline:
        time.sleep(0.05)

    assert feed_says(client) == "lost"
    metrics = client.get("/metrics").get_data(as_text=True)
    assert "authserver_live_feed_up 0.0" in metrics
    users.set_disabled("alice", True)
    assert me(client, token)[0] == 401
