"""authserver.services.tokens: families, digests, the atomic claim, reuse, revocation."""

from __future__ import annotations

import hashlib
import time
from datetime import timedelta

import pytest
from sqlalchemy import select

from authserver.extensions import db
from authserver.models import AuditEvent, RefreshFamily, RefreshToken
from authserver.models.base import utcnow
from authserver.security.digests import new_secret
from authserver.services import clients, tokens


@pytest.fixture
def login(make_user, oauth_client):
    """A committed family for alice with one token; returns (value, family)."""
    user = make_user("alice")
    value = new_secret(32)
    family = tokens.start_family(
        user.id, oauth_client.client_id, "profile documents:read", value, ttl=3600
    )
    db.session.commit()
    return value, family


def test_start_family_stores_only_the_digest(login) -> None:
    value, family = login

    row = db.session.execute(select(RefreshToken)).scalar_one()

    assert row.token_digest == hashlib.sha256(value.encode()).hexdigest()
    assert row.family_id == family.id
    assert row.scope == family.scope == "profile documents:read"
    assert row.used_at is None


def test_start_family_expires_after_ttl(login) -> None:
    _, family = login

    remaining = family.expires_at - utcnow()

    assert timedelta(seconds=3590) < remaining <= timedelta(seconds=3600)


def test_find_returns_the_row_for_its_value_only(login) -> None:
    value, family = login

    assert tokens.find(value).family_id == family.id
    assert tokens.find(value + "x") is None
    assert tokens.find("") is None


def test_claim_succeeds_once(login) -> None:
    value, _ = login
    token = tokens.find(value)

    first = tokens.claim(token)
    db.session.commit()
    second = tokens.claim(token)

    assert (first, second) == (True, False)
    db.session.expire_all()
    assert tokens.find(value).used_at is not None


def test_claim_rolled_back_leaves_the_token_unused(login) -> None:
    value, _ = login

    assert tokens.claim(tokens.find(value))
    db.session.rollback()

    assert tokens.find(value).used_at is None


def test_add_to_family_keeps_the_family_ceiling(login) -> None:
    _, family = login
    value = new_secret(32)

    tokens.add_to_family(family, value, "profile")
    db.session.commit()

    token = tokens.find(value)
    assert token.scope == "profile"
    assert token.get_scope() == family.scope == "profile documents:read"


def test_is_usable_until_revoked(login) -> None:
    value, family = login
    assert tokens.is_usable(tokens.find(value))

    tokens.revoke_family(family.id, reason="reuse")
    db.session.commit()
    db.session.expire_all()

    token = tokens.find(value)
    assert not tokens.is_usable(token)
    assert token.family.revoked_reason == "reuse"


def test_is_usable_false_after_expiry(login) -> None:
    value, family = login
    family.expires_at = utcnow() - timedelta(seconds=1)
    db.session.commit()

    assert not tokens.is_usable(tokens.find(value))


def test_revoke_family_twice_keeps_the_first_reason_and_time(login) -> None:
    _, family = login
    tokens.revoke_family(family.id, reason="reuse")
    db.session.commit()
    db.session.refresh(family)
    first = family.revoked_at

    tokens.revoke_family(family.id, reason="user_disabled")
    db.session.commit()
    db.session.refresh(family)

    assert (family.revoked_at, family.revoked_reason) == (first, "reuse")


def test_check_client_matches_the_family_client(login, oauth_client) -> None:
    value, _ = login
    token = tokens.find(value)

    assert token.check_client(oauth_client)

    class Other:
        def get_client_id(self) -> str:
            return "someone-else"

    assert not token.check_client(Other())


def test_claim_fails_when_the_family_was_revoked_after_validation(app, make_token):
    value = make_token()["refresh_token"]
    token = tokens.find(value)
    tokens.revoke_family(token.family_id, reason="user_disabled")
    db.session.commit()
    assert tokens.claim(token) is False
    db.session.rollback()
    assert tokens.find(value).used_at is None


def _events(kind: str) -> list[AuditEvent]:
    return list(db.session.execute(select(AuditEvent).where(AuditEvent.kind == kind)).scalars())


def test_find_for_refresh_of_a_used_token_revokes_the_family_and_audits(login, oauth_client):
    value, family = login
    assert tokens.rotate(tokens.find(value), new_secret(32), "profile", "c", "alice")

    assert tokens.find_for_refresh(value, oauth_client.client_id) is None

    db.session.refresh(family)
    assert family.revoked_reason == "reuse"
    [event] = _events("token.reuse_detected")
    assert (event.actor, event.details["how"]) == ("system", "reused")


def test_rotate_commits_the_claim_the_new_token_and_the_event_together(login) -> None:
    value, family = login
    new = new_secret(32)

    assert tokens.rotate(tokens.find(value), new, "profile", "web", "alice")
    db.session.rollback()  # nothing left to lose: it is committed

    assert tokens.find(value).used_at is not None
    assert tokens.find(new).family_id == family.id
    [event] = _events("token.refresh")
    assert (event.actor, event.subject, event.client_id) == ("alice", f"family:{family.id}", "web")


def test_rotate_that_loses_the_claim_is_reuse(login) -> None:
    value, family = login
    token = tokens.find(value)
    assert tokens.claim(token)
    db.session.commit()
    new = new_secret(32)

    assert tokens.rotate(token, new, "profile", "web", "alice") is False

    assert tokens.find(new) is None
    db.session.refresh(family)
    assert family.revoked_reason == "reuse"
    assert [e.details["how"] for e in _events("token.reuse_detected")] == ["concurrent_use"]
    assert _events("token.refresh") == []


def test_revoke_access_is_audited_once(app) -> None:
    exp = int(time.time()) + 60

    first = tokens.revoke_access("jti-1", exp, actor="web", client_id="web", username="alice")
    second = tokens.revoke_access("jti-1", exp, actor="web", client_id="web", username="alice")

    assert (first, second) == (True, False)
    assert tokens.is_revoked("jti-1")
    [event] = _events("token.revoked")
    assert (event.subject, event.details) == (
        "jti:jti-1",
        {"token_type": "access_token", "user": "alice"},
    )


def test_revoke_refresh_ends_the_family_once(login) -> None:
    value, family = login

    first = tokens.revoke_refresh(tokens.find(value), actor="web", client_id="web")
    second = tokens.revoke_refresh(tokens.find(value), actor="web", client_id="web")

    assert (first, second) == (True, False)
    db.session.refresh(family)
    assert family.revoked_reason == "revoked"
    [event] = _events("token.revoked")
    assert event.details == {"token_type": "refresh_token", "user": "alice"}


def _families(user_id: int, client_id: str, count: int) -> list[str]:
    made = [
        tokens.start_family(user_id, client_id, "profile", new_secret(32), ttl=3600).id
        for _ in range(count)
    ]
    db.session.commit()
    return made


def test_revoke_user_families_ends_only_that_users_live_families(make_user, oauth_client):
    alice, bob = make_user("alice"), make_user("bob")
    mine, theirs = _families(alice.id, "web", 3), _families(bob.id, "web", 1)
    expired = _families(alice.id, "web", 1)
    db.session.get(RefreshFamily, expired[0]).expires_at = utcnow() - timedelta(seconds=1)
    tokens.revoke_family(mine[0], reason="reuse")
    db.session.commit()

    ended = tokens.revoke_user_families(alice.id, "admin_revoked")
    db.session.commit()

    assert sorted(ended) == sorted(mine[1:])
    reasons = {f.id: f.revoked_reason for f in db.session.execute(select(RefreshFamily)).scalars()}
    assert reasons == {
        mine[0]: "reuse",
        mine[1]: "admin_revoked",
        mine[2]: "admin_revoked",
        theirs[0]: None,
        expired[0]: None,
    }


def test_revoke_client_families_ends_only_that_clients_families(make_user) -> None:
    alice = make_user("alice")
    web, mobile = _families(alice.id, "web", 2), _families(alice.id, "mobile", 1)

    ended = tokens.revoke_client_families("web", "client_deleted")
    db.session.commit()

    assert sorted(ended) == sorted(web)
    assert db.session.get(RefreshFamily, mobile[0]).revoked_at is None


def test_deleting_a_client_ends_its_families(make_token, oauth_client) -> None:
    value = make_token()["refresh_token"]

    assert clients.delete(oauth_client.client_id)

    assert not tokens.is_usable(tokens.find(value))
    assert tokens.find(value).family.revoked_reason == "client_deleted"
