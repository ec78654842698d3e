"""Issue 10 item 3, SPEC §6: AUTHSERVER_REFRESH_REUSE_GRACE. A refresh whose answer was lost
(a worker killed after its commit, a dropped connection) may be repeated by the same client
within the grace of the token's first use, while the token that use produced is unused:
it gets a new pair, the unused child is revoked and the family lives on. Outside that, and
with the default 0, a repeat is reuse and the family ends."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from authserver.config import ConfigError, load_settings
from authserver.extensions import db
from authserver.models import AuditEvent, RefreshFamily, RefreshToken
from authserver.security.digests import digest
from authserver.services import clients
from tests.conftest import basic_auth

GRACE = 10


@pytest.fixture
def grace(settings) -> None:
    settings["REFRESH_REUSE_GRACE"] = GRACE


@pytest.fixture
def refresh(token_request):
    def post(refresh_token: str):
        return token_request(grant_type="refresh_token", refresh_token=refresh_token)

    return post


def _family_revoked(value: str) -> bool:
    token = db.session.execute(
        select(RefreshToken).where(RefreshToken.token_digest == digest(value))
    ).scalar_one()
    db.session.refresh(token.family)
    return token.family.revoked_at is not None


def _introspect(client, oauth_client, value: str) -> dict:
    headers = basic_auth(oauth_client.client_id, oauth_client.secret)
    return client.post("/oauth/introspect", data={"token": value}, headers=headers).get_json()


def test_repeat_within_the_grace_gets_a_new_pair_and_the_family_lives_on(
    grace, client, oauth_client, make_token, refresh
) -> None:
    first = make_token()["refresh_token"]
    lost = refresh(first).get_json()  # answered, but the client never read it

    again = refresh(first)

    assert again.status_code == 200, again.get_json()
    body = again.get_json()
    assert body["refresh_token"] not in (first, lost["refresh_token"])
    assert _introspect(client, oauth_client, lost["refresh_token"]) == {"active": False}
    assert not _family_revoked(first)
    assert refresh(body["refresh_token"]).status_code == 200  # the family goes on


def test_repeat_within_the_grace_is_audited_as_a_repeat_not_reuse(
    grace, make_token, refresh
) -> None:
    first = make_token()["refresh_token"]
    refresh(first)

    assert refresh(first).status_code == 200

    kinds = db.session.execute(select(AuditEvent.kind, AuditEvent.details)).all()
    assert "token.reuse_detected" not in [action for action, _ in kinds]
    assert any(
        action == "token.refresh" and (details or {}).get("repeat") is True
        for action, details in kinds
    )


def test_two_repeats_within_the_grace_both_succeed(grace, make_token, refresh) -> None:
    first = make_token()["refresh_token"]
    refresh(first)
    assert refresh(first).status_code == 200  # lost again

    third = refresh(first)

    assert third.status_code == 200
    assert refresh(third.get_json()["refresh_token"]).status_code == 200


def test_the_revoked_child_of_a_repeat_coming_back_is_reuse(grace, make_token, refresh) -> None:
    first = make_token()["refresh_token"]
    lost = refresh(first).get_json()["refresh_token"]
    kept = refresh(first).get_json()["refresh_token"]

    response = refresh(lost)

    assert response.get_json()["error"] == "invalid_grant"
    assert _family_revoked(first)
    assert refresh(kept).status_code == 400


def test_repeat_after_the_grace_is_reuse(grace, make_token, refresh) -> None:
    first = make_token()["refresh_token"]
    child = refresh(first).get_json()["refresh_token"]
    used = select(RefreshToken).where(RefreshToken.token_digest == digest(first))
    token = db.session.execute(used).scalar_one()
    token.used_at -= timedelta(seconds=GRACE + 1)
    db.session.commit()

    response = refresh(first)

    assert response.get_json()["error"] == "invalid_grant"
    assert _family_revoked(first)
    assert refresh(child).status_code == 400


def test_repeat_after_the_child_was_used_is_reuse(grace, make_token, refresh) -> None:
    first = make_token()["refresh_token"]
    child = refresh(first).get_json()["refresh_token"]
    assert refresh(child).status_code == 200  # the answer was not lost after all

    response = refresh(first)

    assert response.get_json()["error"] == "invalid_grant"
    assert _family_revoked(first)


def test_repeat_by_another_client_is_reuse(grace, client, make_token, refresh) -> None:
    other, secret = clients.create("other", ["password", "refresh_token"])
    first = make_token()["refresh_token"]
    refresh(first)

    response = client.post(
        "/oauth/token",
        data={"grant_type": "refresh_token", "refresh_token": first},
        headers=basic_auth(other.client_id, secret),
    )

    assert response.get_json()["error"] == "invalid_grant"
    assert _family_revoked(first)


def test_without_a_grace_every_repeat_is_reuse(app, make_token, refresh) -> None:
    assert app.config["REFRESH_REUSE_GRACE"] == 0
    first = make_token()["refresh_token"]
    refresh(first)

    assert refresh(first).get_json()["error"] == "invalid_grant"
    assert _family_revoked(first)
    assert db.session.execute(select(RefreshFamily.revoked_reason)).scalar() == "reuse"


@pytest.mark.parametrize("value", ["-1", "61", "2.5", "soon"])
def test_refresh_reuse_grace_outside_0_to_60_stops_the_start(value: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings("testing", environ={"AUTHSERVER_REFRESH_REUSE_GRACE": value})

    message = str(caught.value)
    assert message.startswith("AUTHSERVER_REFRESH_REUSE_GRACE") and "\n" not in message


def test_refresh_reuse_grace_is_0_by_default_and_at_most_60() -> None:
    assert load_settings("testing", environ={})["REFRESH_REUSE_GRACE"] == 0
    environ = {"AUTHSERVER_REFRESH_REUSE_GRACE": "60"}
    assert load_settings("testing", environ=environ)["REFRESH_REUSE_GRACE"] == 60
