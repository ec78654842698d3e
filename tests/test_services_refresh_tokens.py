"""authserver.services.refresh_tokens: families, digests, the atomic claim, revocation."""

from __future__ import annotations

import hashlib
from datetime import timedelta

import pytest
from sqlalchemy import select

from authserver.extensions import db
from authserver.models import RefreshToken
from authserver.models.base import utcnow
from authserver.security.digests import new_secret
from authserver.services import refresh_tokens


@pytest.fixture
def login(make_user, oauth_client):
    """A committed family for alice with one token; returns (value, family)."""
    user = make_user("alice")
    value = new_secret(32)
    family = refresh_tokens.start_family(
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

    assert refresh_tokens.find(value).family_id == family.id
    assert refresh_tokens.find(value + "x") is None
    assert refresh_tokens.find("") is None


def test_claim_succeeds_once(login) -> None:
    value, _ = login
    token = refresh_tokens.find(value)

    first = refresh_tokens.claim(token)
    db.session.commit()
    second = refresh_tokens.claim(token)

    assert (first, second) == (True, False)
    db.session.expire_all()
    assert refresh_tokens.find(value).used_at is not None


def test_claim_rolled_back_leaves_the_token_unused(login) -> None:
    value, _ = login

    assert refresh_tokens.claim(refresh_tokens.find(value))
    db.session.rollback()

    assert refresh_tokens.find(value).used_at is None


def test_add_to_family_keeps_the_family_ceiling(login) -> None:
    _, family = login
    value = new_secret(32)

    refresh_tokens.add_to_family(family, value, "profile")
    db.session.commit()

    token = refresh_tokens.find(value)
    assert token.scope == "profile"
    assert token.get_scope() == family.scope == "profile documents:read"


def test_is_usable_until_revoked(login) -> None:
    value, family = login
    assert refresh_tokens.is_usable(refresh_tokens.find(value))

    refresh_tokens.revoke_family(family.id, reason="reuse")
    db.session.commit()
    db.session.expire_all()

    token = refresh_tokens.find(value)
    assert not refresh_tokens.is_usable(token)
    assert token.family.revoked_reason == "reuse"


def test_is_usable_false_after_expiry(login) -> None:
    value, family = login
    family.expires_at = utcnow() - timedelta(seconds=1)
    db.session.commit()

    assert not refresh_tokens.is_usable(refresh_tokens.find(value))


def test_revoke_family_twice_keeps_the_first_reason_and_time(login) -> None:
    _, family = login
    refresh_tokens.revoke_family(family.id, reason="reuse")
    db.session.commit()
    db.session.refresh(family)
    first = family.revoked_at

    refresh_tokens.revoke_family(family.id, reason="user_disabled")
    db.session.commit()
    db.session.refresh(family)

    assert (family.revoked_at, family.revoked_reason) == (first, "reuse")


def test_check_client_matches_the_family_client(login, oauth_client) -> None:
    value, _ = login
    token = refresh_tokens.find(value)

    assert token.check_client(oauth_client)

    class Other:
        def get_client_id(self) -> str:
            return "someone-else"

    assert not token.check_client(Other())


def test_claim_fails_when_the_family_was_revoked_after_validation(app, make_token):
    value = make_token()["refresh_token"]
    token = refresh_tokens.find(value)
    refresh_tokens.revoke_family(token.family_id, reason="user_disabled")
    db.session.commit()
    assert refresh_tokens.claim(token) is False
    db.session.rollback()
    assert refresh_tokens.find(value).used_at is None
