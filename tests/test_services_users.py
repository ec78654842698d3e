"""authserver.services.users: names, passwords, roles, disabling and authentication."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from authserver.extensions import db
from authserver.models import RefreshFamily
from authserver.security.digests import new_secret
from authserver.services import tokens, users
from authserver.services.errors import Conflict, Invalid, NotFound
from tests.conftest import PASSWORD


@pytest.mark.parametrize(
    "username",
    ["a", "carol.smith+test@example.com", "9-lives_x", "x" * 150],
)
def test_create_accepts_valid_usernames(app, username) -> None:
    user = users.create(username, PASSWORD)

    assert users.find(username).id == user.id


@pytest.mark.parametrize(
    "username",
    ["", "alice\n", "alice ", " alice", ".alice", "al\x00ice", "ålice", "x" * 151, "a/b"],
    ids=[
        "empty",
        "trailing-newline",
        "trailing-space",
        "leading-space",
        "leading-dot",
        "nul",
        "non-ascii",
        "too-long",
        "slash",
    ],
)
def test_create_refuses_invalid_usernames(app, username) -> None:
    with pytest.raises(Invalid):
        users.create(username, PASSWORD)


@pytest.mark.parametrize("username", ["al\x00ice", "alice\n", "x" * 5000, ""])
def test_find_returns_none_for_names_no_user_can_have(make_user, username) -> None:
    make_user("alice")

    assert users.find(username) is None


def test_create_refuses_a_taken_username(make_user) -> None:
    make_user("alice")

    with pytest.raises(Conflict):
        users.create("alice", PASSWORD)


@pytest.mark.parametrize("password", ["", "p" * (users.MAX_PASSWORD_LENGTH + 1)])
def test_create_refuses_empty_or_oversize_passwords(app, password) -> None:
    with pytest.raises(Invalid):
        users.create("alice", password)


def test_create_stores_an_argon2id_hash(make_user) -> None:
    user = make_user("alice")

    assert user.password_hash.startswith("$argon2id$")
    assert PASSWORD not in user.password_hash


def test_create_refuses_unknown_roles(app) -> None:
    with pytest.raises(Invalid, match="superuser"):
        users.create("alice", PASSWORD, ["viewer", "superuser"])


def test_set_roles_replaces_and_deduplicates(make_user) -> None:
    make_user("alice", ["viewer"])

    user = users.set_roles("alice", ["editor", "admin", "editor"])

    assert user.roles == ["admin", "editor"]


def test_set_roles_of_unknown_user_is_not_found(app) -> None:
    with pytest.raises(NotFound):
        users.set_roles("nobody", ["viewer"])


def test_authenticate_returns_the_user_for_the_right_password(make_user) -> None:
    user = make_user("alice")

    assert users.authenticate("alice", PASSWORD).id == user.id


@pytest.mark.parametrize(
    "username, password",
    [
        ("alice", "wrong"),
        ("nobody", PASSWORD),
        ("alice", PASSWORD + "x"),
        ("ALICE", PASSWORD),
        ("al\x00ice", PASSWORD),
        ("alice", "p" * 100_000),
    ],
    ids=["wrong", "unknown", "suffix", "case", "nul", "oversize"],
)
def test_authenticate_returns_none_on_any_mismatch(make_user, username, password) -> None:
    make_user("alice")

    assert users.authenticate(username, password) is None


def test_authenticate_disabled_user_is_none(make_user) -> None:
    make_user("alice")
    users.set_disabled("alice", True)

    assert users.authenticate("alice", PASSWORD) is None


def test_set_password_replaces_the_old_one(make_user) -> None:
    make_user("alice")

    users.set_password("alice", "a new password")

    assert users.authenticate("alice", PASSWORD) is None
    assert users.authenticate("alice", "a new password") is not None


def test_disable_revokes_every_live_family_and_enable_does_not_revive(
    make_user, oauth_client
) -> None:
    user = make_user("alice")
    for _ in range(2):
        tokens.start_family(user.id, oauth_client.client_id, "profile", new_secret(), 60)
    db.session.commit()

    users.set_disabled("alice", True)
    users.set_disabled("alice", False)

    families = db.session.execute(select(RefreshFamily)).scalars().all()
    assert len(families) == 2
    assert {f.revoked_reason for f in families} == {"user_disabled"}
    assert not users.get("alice").disabled
