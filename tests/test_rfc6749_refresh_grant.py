"""The refresh_token grant (RFC 6749 §6) with rotation and reuse detection (RFC 9700 §4.14.2).

SPEC §6: every use rotates the token; a rotated token that comes back revokes its whole
family; a refresh re-checks the present (user enabled, roles and policy now, client scopes)
under the ceiling of the login's scope; a family expires at an absolute time.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections import Counter
from datetime import timedelta

import jwt
import pytest
import requests
from sqlalchemy import func, select, update

from authserver.extensions import db
from authserver.models import AuditEvent, PolicyVersion, RefreshFamily, RefreshToken
from authserver.models.base import utcnow
from authserver.services import clients, policy_store, users
from tests.conftest import PASSWORD, basic_auth
from tests.support.live import BOUND_SECONDS

EDITOR_SCOPE = "profile documents:read documents:write"


@pytest.fixture
def refresh(token_request):
    """POST a refresh_token grant as ``oauth_client``; returns the response."""

    def post(refresh_token: str, scope: str | None = None):
        params = {"grant_type": "refresh_token", "refresh_token": refresh_token}
        if scope is not None:
            params["scope"] = scope
        return token_request(**params)

    return post


def error_of(response) -> tuple[int, str]:
    return response.status_code, response.get_json()["error"]


def claims_of(access_token: str) -> dict:
    """The claims, unverified: signatures are the password-grant tests' business."""
    return jwt.decode(access_token, options={"verify_signature": False})


def family_of(refresh_token: str) -> RefreshFamily:
    db.session.expire_all()
    digest = hashlib.sha256(refresh_token.encode()).hexdigest()
    row = db.session.execute(
        select(RefreshToken).where(RefreshToken.token_digest == digest)
    ).scalar_one()
    return row.family


def set_viewer_scopes(scopes: str) -> None:
    """Apply a new policy version: the seeded policy, except the viewer role grants ``scopes``."""
    source = db.session.get(PolicyVersion, 1).source
    old = "scopes: [profile, documents:read]"
    assert old in source
    policy_store.save_version(source.replace(old, f"scopes: [{scopes}]"), actor="test")


# --- rotation ---------------------------------------------------------------------------------


def test_refresh_returns_new_tokens_with_no_store(app, make_token, refresh) -> None:
    login = make_token("alice", ["viewer"])

    response = refresh(login["refresh_token"])

    assert response.status_code == 200, response.get_json()
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["Pragma"] == "no-cache"
    body = response.get_json()
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == app.config["ACCESS_TOKEN_TTL"]
    assert body["scope"] == login["scope"] == "profile documents:read"
    assert body["refresh_token"] != login["refresh_token"]
    assert body["access_token"] != login["access_token"]
    old, new = claims_of(login["access_token"]), claims_of(body["access_token"])
    assert new["jti"] != old["jti"]
    assert (new["sub"], new["username"], new["client_id"]) == (
        old["sub"],
        "alice",
        old["client_id"],
    )


def test_refresh_rotates_on_every_use(make_token, refresh) -> None:
    value = make_token()["refresh_token"]
    seen = {value}

    for _ in range(3):
        response = refresh(value)
        assert response.status_code == 200, response.get_json()
        value = response.get_json()["refresh_token"]
        seen.add(value)

    assert len(seen) == 4
    assert family_of(value).revoked_at is None


def test_refresh_tokens_are_stored_only_as_sha256_digests(make_token, refresh) -> None:
    first = make_token()["refresh_token"]
    second = refresh(first).get_json()["refresh_token"]

    digests = set(db.session.execute(select(RefreshToken.token_digest)).scalars())
    assert digests == {hashlib.sha256(v.encode()).hexdigest() for v in (first, second)}
    for table in db.metadata.sorted_tables:
        dump = repr(db.session.execute(select(table)).all())
        assert first not in dump and second not in dump, table.name


def test_refresh_rotated_token_is_reuse_and_revokes_the_family(make_token, refresh) -> None:
    first = make_token()["refresh_token"]
    second = refresh(first).get_json()["refresh_token"]

    reuse = refresh(first)

    assert error_of(reuse) == (400, "invalid_grant")
    family = family_of(second)
    assert family.revoked_at is not None
    assert family.revoked_reason == "reuse"
    assert error_of(refresh(second)) == (400, "invalid_grant")
    events = db.session.execute(
        select(AuditEvent).where(AuditEvent.subject == f"family:{family.id}")
    ).scalars()
    assert any("reuse" in event.kind for event in events)


def test_refresh_reuse_revokes_only_that_family(make_token, refresh) -> None:
    laptop = make_token("alice")["refresh_token"]
    phone = make_token("alice")["refresh_token"]
    refresh(laptop)

    refresh(laptop)  # reuse of the laptop's rotated token

    assert refresh(phone).status_code == 200


def test_refresh_reuse_is_logged(make_token, refresh, caplog) -> None:
    first = make_token()["refresh_token"]
    refresh(first)

    with caplog.at_level("WARNING", logger="authserver"):
        refresh(first)

    assert "refresh token reuse" in caplog.text
    assert first not in caplog.text


@pytest.mark.parametrize(
    "value",
    ["", "not-a-token", "x" * 10_000, "nul\x00byte", "ünïcödé"],
    ids=["empty", "unknown", "very-long", "nul-byte", "non-ascii"],
)
def test_refresh_with_unknown_token_is_invalid_grant(make_token, refresh, value) -> None:
    make_token()

    assert error_of(refresh(value)) == (400, "invalid_grant")


def test_refresh_without_refresh_token_parameter_is_invalid_request(token_request) -> None:
    response = token_request(grant_type="refresh_token")

    assert error_of(response) == (400, "invalid_request")


# --- scope: ceiling, narrowing, widening (SPEC §6) ------------------------------------------


def test_refresh_narrowing_then_omitting_scope_restores_the_ceiling(make_token, refresh) -> None:
    login = make_token("alice", ["editor"])
    assert login["scope"] == EDITOR_SCOPE

    narrow = refresh(login["refresh_token"], scope="documents:read")
    assert narrow.status_code == 200, narrow.get_json()
    assert narrow.get_json()["scope"] == "documents:read"
    assert claims_of(narrow.get_json()["access_token"])["scope"] == "documents:read"

    again = refresh(narrow.get_json()["refresh_token"])

    assert again.status_code == 200, again.get_json()
    assert again.get_json()["scope"] == EDITOR_SCOPE


def test_refresh_with_empty_scope_parameter_means_the_ceiling(make_token, refresh) -> None:
    login = make_token("alice", ["editor"])

    response = refresh(login["refresh_token"], scope="")

    assert response.status_code == 200, response.get_json()
    assert response.get_json()["scope"] == EDITOR_SCOPE


def test_refresh_narrowed_token_may_ask_again_for_the_ceiling(make_token, refresh) -> None:
    login = make_token("alice", ["editor"])
    narrow = refresh(login["refresh_token"], scope="profile").get_json()

    response = refresh(narrow["refresh_token"], scope="documents:write")

    assert response.status_code == 200, response.get_json()
    assert response.get_json()["scope"] == "documents:write"


@pytest.mark.parametrize(
    "scope",
    ["profile documents:write", "documents:write", "audit:read", "reports:read", 'bad"scope'],
    ids=["wider", "outside", "held-by-nobody-here", "undeclared", "malformed"],
)
def test_refresh_beyond_the_login_scope_is_invalid_scope_and_keeps_the_token(
    make_token, refresh, scope
) -> None:
    login = make_token("alice", ["editor"], scope="profile documents:read")

    response = refresh(login["refresh_token"], scope=scope)

    assert error_of(response) == (400, "invalid_scope")
    assert refresh(login["refresh_token"]).status_code == 200


def test_refresh_ceiling_is_the_login_scope_even_if_the_user_gained_roles(
    make_token, refresh
) -> None:
    login = make_token("alice", ["viewer"])
    users.set_roles("alice", ["editor"])

    response = refresh(login["refresh_token"])
    wider = refresh(response.get_json()["refresh_token"], scope="documents:write")

    assert response.get_json()["scope"] == "profile documents:read"
    assert error_of(wider) == (400, "invalid_scope")


# --- the present is re-checked at every refresh -----------------------------------------------


def test_refresh_applies_a_policy_change(make_token, refresh) -> None:
    login = make_token("alice", ["viewer"])
    set_viewer_scopes("profile")

    shrunk = refresh(login["refresh_token"])
    assert shrunk.status_code == 200, shrunk.get_json()
    assert shrunk.get_json()["scope"] == "profile"
    assert claims_of(shrunk.get_json()["access_token"])["scope"] == "profile"

    set_viewer_scopes("profile, documents:read")
    restored = refresh(shrunk.get_json()["refresh_token"])

    assert restored.get_json()["scope"] == "profile documents:read"


def test_refresh_at_another_instance_applies_a_policy_change_made_elsewhere(
    live_server, make_user, oauth_client
) -> None:
    """Two apps on one database are two instances: the newest version wins there too, once
    SPEC §12's bound has passed (the grant takes the policy from the live state)."""
    make_user("alice", ["viewer"])
    url, auth = f"{live_server.url}/oauth/token", (oauth_client.client_id, oauth_client.secret)
    form = {"grant_type": "password", "username": "alice", "password": PASSWORD}
    login = requests.post(url, data=form, auth=auth, timeout=30).json()
    assert login["scope"] == "profile documents:read"

    set_viewer_scopes("profile")  # through this test's app, not the live server's
    time.sleep(BOUND_SECONDS)
    response = requests.post(
        url,
        data={"grant_type": "refresh_token", "refresh_token": login["refresh_token"]},
        auth=auth,
        timeout=30,
    )

    assert response.status_code == 200, response.json()
    assert response.json()["scope"] == "profile"


def test_refresh_after_policy_removes_every_granted_scope_is_invalid_scope(
    make_token, refresh
) -> None:
    login = make_token("alice", ["viewer"], scope="documents:read")
    set_viewer_scopes("profile")

    assert error_of(refresh(login["refresh_token"])) == (400, "invalid_scope")


def test_refresh_applies_changed_roles(make_token, refresh) -> None:
    login = make_token("alice", ["editor"])
    users.set_roles("alice", ["viewer"])

    response = refresh(login["refresh_token"])

    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["scope"] == "profile documents:read"
    assert claims_of(body["access_token"])["roles"] == ["viewer"]


def test_refresh_with_no_roles_left_is_invalid_scope_until_roles_return(
    make_token, refresh
) -> None:
    login = make_token("alice", ["editor"])
    users.set_roles("alice", [])

    assert error_of(refresh(login["refresh_token"])) == (400, "invalid_scope")

    users.set_roles("alice", ["editor"])
    assert refresh(login["refresh_token"]).get_json()["scope"] == EDITOR_SCOPE


def test_refresh_applies_the_client_scope_restriction(client, make_user) -> None:
    make_user("alice", ["editor"])
    app_client, secret = clients.create(
        "docs app", ["password", "refresh_token"], scope="documents:read documents:write"
    )
    auth = basic_auth(app_client.client_id, secret)
    login = client.post(
        "/oauth/token",
        data={"grant_type": "password", "username": "alice", "password": PASSWORD},
        headers=auth,
    ).get_json()

    response = client.post(
        "/oauth/token",
        data={"grant_type": "refresh_token", "refresh_token": login["refresh_token"]},
        headers=auth,
    )

    assert login["scope"] == response.get_json()["scope"] == "documents:read documents:write"


@pytest.mark.parametrize("how", ["service", "column-only"])
def test_refresh_for_a_disabled_user_is_invalid_grant(make_token, refresh, how) -> None:
    login = make_token("alice")
    if how == "service":
        users.set_disabled("alice", True)  # also revokes the user's families
    else:
        users.get("alice").disabled = True  # the grant's own check, families untouched
        db.session.commit()

    assert error_of(refresh(login["refresh_token"])) == (400, "invalid_grant")


def test_refresh_after_disable_and_enable_stays_invalid(make_token, refresh) -> None:
    login = make_token("alice")
    users.set_disabled("alice", True)
    users.set_disabled("alice", False)

    assert error_of(refresh(login["refresh_token"])) == (400, "invalid_grant")


def test_refresh_token_of_another_client_is_invalid_grant(client, make_token, refresh) -> None:
    login = make_token("alice")
    other, secret = clients.create("other", ["password", "refresh_token"])

    stolen = client.post(
        "/oauth/token",
        data={"grant_type": "refresh_token", "refresh_token": login["refresh_token"]},
        headers=basic_auth(other.client_id, secret),
    )

    assert error_of(stolen) == (400, "invalid_grant")
    assert refresh(login["refresh_token"]).status_code == 200


def test_refresh_by_client_without_refresh_grant_is_unauthorized_client(
    client, make_token
) -> None:
    login = make_token("alice")
    password_only, secret = clients.create("password only", ["password"])

    response = client.post(
        "/oauth/token",
        data={"grant_type": "refresh_token", "refresh_token": login["refresh_token"]},
        headers=basic_auth(password_only.client_id, secret),
    )

    assert error_of(response) == (400, "unauthorized_client")


def test_public_client_refreshes_with_none_auth(client, make_user) -> None:
    make_user("alice")
    spa, _ = clients.create("spa", ["password", "refresh_token"], public=True)
    login = client.post(
        "/oauth/token",
        data={
            "grant_type": "password",
            "username": "alice",
            "password": PASSWORD,
            "client_id": spa.client_id,
        },
    ).get_json()

    response = client.post(
        "/oauth/token",
        data={
            "grant_type": "refresh_token",
            "refresh_token": login["refresh_token"],
            "client_id": spa.client_id,
        },
    )

    assert response.status_code == 200, response.get_json()


def test_refresh_with_wrong_client_secret_is_invalid_client_and_keeps_the_token(
    client, make_token, oauth_client, refresh
) -> None:
    login = make_token("alice")

    response = client.post(
        "/oauth/token",
        data={"grant_type": "refresh_token", "refresh_token": login["refresh_token"]},
        headers=basic_auth(oauth_client.client_id, "wrong"),
    )

    assert error_of(response) == (401, "invalid_client")
    assert refresh(login["refresh_token"]).status_code == 200


# --- absolute family expiry -----------------------------------------------------------------


@pytest.fixture
def short_refresh_ttl(settings) -> int:
    """Asked for before ``app``, so the app is built with it."""
    settings["REFRESH_TOKEN_TTL"] = 60
    return 60


def test_family_expiry_is_set_from_refresh_token_ttl_at_login(
    short_refresh_ttl, app, make_token
) -> None:
    before = utcnow()
    family = family_of(make_token()["refresh_token"])

    lifetime = family.expires_at - before
    assert timedelta(seconds=59) < lifetime <= timedelta(seconds=61)


def test_refresh_does_not_extend_the_family_expiry(make_token, refresh) -> None:
    first = make_token()["refresh_token"]
    expires = family_of(first).expires_at

    second = refresh(first).get_json()["refresh_token"]

    assert family_of(second).expires_at == expires


def test_refresh_of_an_expired_family_is_invalid_grant(make_token, refresh) -> None:
    first = make_token()["refresh_token"]
    second = refresh(first).get_json()["refresh_token"]
    db.session.execute(update(RefreshFamily).values(expires_at=utcnow() - timedelta(seconds=1)))
    db.session.commit()

    assert error_of(refresh(second)) == (400, "invalid_grant")


# --- concurrent use of one refresh token (SPEC §6) ------------------------------------------

RACERS = 8


def race(url: str, form: dict, auth: tuple[str, str]) -> list[requests.Response]:
    """POST ``form`` from RACERS threads released at the same moment."""
    barrier = threading.Barrier(RACERS)
    responses: list[requests.Response | None] = [None] * RACERS

    def run(i: int) -> None:
        with requests.Session() as session:
            barrier.wait()
            responses[i] = session.post(url, data=form, auth=auth, timeout=60)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(RACERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=90)
    assert all(r is not None for r in responses), "a racer did not finish"
    return responses


def test_concurrent_refreshes_of_one_token_have_one_winner_and_revoke_the_family(
    live_server, make_token, oauth_client
) -> None:
    login = make_token("alice")
    form = {"grant_type": "refresh_token", "refresh_token": login["refresh_token"]}

    responses = race(
        f"{live_server.url}/oauth/token", form, (oauth_client.client_id, oauth_client.secret)
    )

    outcomes = Counter((r.status_code, r.json().get("error")) for r in responses)
    assert outcomes == {(200, None): 1, (400, "invalid_grant"): RACERS - 1}
    db.session.rollback()
    family = family_of(login["refresh_token"])
    minted = db.session.execute(
        select(func.count()).where(RefreshToken.family_id == family.id)
    ).scalar()
    assert minted == 2  # the login's token and the winner's, nothing more
    assert family.revoked_at is not None
    winner = next(r.json() for r in responses if r.status_code == 200)
    again = requests.post(
        f"{live_server.url}/oauth/token",
        data={"grant_type": "refresh_token", "refresh_token": winner["refresh_token"]},
        auth=(oauth_client.client_id, oauth_client.secret),
        timeout=30,
    )
    assert (again.status_code, again.json()["error"]) == (400, "invalid_grant")
