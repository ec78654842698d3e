"""``authserver tokens purge``: deletes what can no longer matter, keeps everything else.

Gone: expired refresh-token families (with their tokens), revoked families older than the
grace period (with their tokens), revocation-list entries past the token's own expiry, and
lockout counters older than the reset window that lock nothing. Kept: live families (used
tokens too: they recognise reuse), recently revoked ones, live revocation entries, counters
that still count or lock, and users, clients, policy versions and the audit trail.
"""

from __future__ import annotations

import secrets
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from authserver.cli import cli
from authserver.extensions import db
from authserver.models import (
    AuditEvent,
    Client,
    LiveChange,
    LoginFailure,
    PolicyVersion,
    RefreshFamily,
    RefreshToken,
    User,
)
from authserver.models.base import utcnow
from authserver.services import purge as purge_service
from tests.support.cli import assert_one_line_error, console_env, run_console

DAY = timedelta(days=1)
HOUR = timedelta(hours=1)


def add_family(user_id: int, expires_in: timedelta, revoked_ago=None, tokens: int = 2) -> str:
    """A family expiring ``expires_in`` from now (negative: expired), revoked ``revoked_ago``
    (if given), with ``tokens`` tokens, all but the newest used."""
    now = utcnow()
    family = RefreshFamily(
        id=secrets.token_hex(16),
        user_id=user_id,
        client_id="some-client",
        scope="profile",
        expires_at=now + expires_in,
        revoked_at=now - revoked_ago if revoked_ago is not None else None,
        revoked_reason="test" if revoked_ago is not None else None,
    )
    db.session.add(family)
    for i in range(tokens):
        used = now - HOUR if i < tokens - 1 else None
        db.session.add(
            RefreshToken(
                token_digest=secrets.token_hex(32), family=family, scope="profile", used_at=used
            )
        )
    db.session.commit()
    return family.id


def add_revoked_jti(expires_in: timedelta) -> str:
    jti = secrets.token_urlsafe(12)
    now = utcnow()
    db.session.add(LiveChange(kind="jti", key=jti, at=now, until=now + expires_in))
    db.session.commit()
    return jti


def add_counter(updated_ago: timedelta, locked_for=None) -> str:
    key = secrets.token_hex(32)
    now = utcnow()
    locked_until = now + locked_for if locked_for is not None else None
    db.session.add(
        LoginFailure(
            account_digest=key, failures=5, locked_until=locked_until, updated_at=now - updated_ago
        )
    )
    db.session.commit()
    return key


def ids(model, column) -> set:
    return set(db.session.execute(select(column)).scalars())


def count(model) -> int:
    return db.session.execute(select(func.count()).select_from(model)).scalar_one()


@pytest.fixture
def rows(app, make_user, oauth_client, make_token) -> dict:
    """One row of every kind, each to be purged or kept (lockout reset: 12 h by default)."""
    make_token("alice")  # a real login: a live family, an audit trail
    user_id = make_user("bob").id
    return {
        "purged_families": {
            add_family(user_id, -HOUR),  # expired
            add_family(user_id, -DAY, revoked_ago=2 * DAY),  # expired and revoked long ago
            add_family(user_id, DAY, revoked_ago=2 * DAY),  # revoked before the grace period
        },
        "kept_families": {
            add_family(user_id, DAY),  # live, with a used token (reuse detection)
            add_family(user_id, DAY, revoked_ago=HOUR),  # revoked within the grace period
        },
        "purged_jtis": {add_revoked_jti(-timedelta(seconds=1)), add_revoked_jti(-DAY)},
        "kept_jtis": {add_revoked_jti(timedelta(minutes=10))},
        "purged_counters": {
            add_counter(13 * HOUR),  # stale, locks nothing
            add_counter(13 * HOUR, locked_for=-HOUR),  # stale, its lock is over
        },
        "kept_counters": {
            add_counter(HOUR),  # still counting
            add_counter(13 * HOUR, locked_for=HOUR),  # stale but still locking
        },
    }


def template_rows_due(rows: dict) -> int:
    """Log rows the test did not add that are already past their ``until``: the seeded
    policy version's row (a cut-off, until = its time + the token lifetime) comes from the
    session's database template, so in a long run it is due by the time this test runs."""
    ours = rows["purged_jtis"] | rows["kept_jtis"]
    due = select(func.count()).where(LiveChange.until <= utcnow(), LiveChange.key.not_in(ours))
    return db.session.execute(due).scalar_one()


def assert_purged_exactly(rows: dict) -> None:
    db.session.expire_all()
    families = ids(RefreshFamily, RefreshFamily.id)
    assert families.isdisjoint(rows["purged_families"])
    assert rows["kept_families"] <= families
    token_families = ids(RefreshToken, RefreshToken.family_id)
    assert token_families.isdisjoint(rows["purged_families"])
    assert rows["kept_families"] <= token_families
    jtis = ids(LiveChange, LiveChange.key)
    assert jtis.isdisjoint(rows["purged_jtis"]) and rows["kept_jtis"] <= jtis
    counters = ids(LoginFailure, LoginFailure.account_digest)
    assert counters.isdisjoint(rows["purged_counters"]) and rows["kept_counters"] <= counters


def test_purge_deletes_only_what_can_no_longer_matter(app, rows) -> None:
    totals = {model: count(model) for model in (User, Client, PolicyVersion, AuditEvent)}
    families_before = count(RefreshFamily)
    tokens_in_purged = db.session.execute(
        select(func.count()).where(RefreshToken.family_id.in_(rows["purged_families"]))
    ).scalar_one()

    template_due = template_rows_due(rows)
    result = purge_service.purge(86_400, app.config["LOCKOUT_RESET_SECONDS"])

    expected_live = 2 + template_due
    assert result == purge_service.Purged(families=3, live_changes=expected_live, login_failures=2)
    assert tokens_in_purged == 6
    assert count(RefreshFamily) == families_before - 3
    assert_purged_exactly(rows)
    assert {model: count(model) for model in totals} == totals


def test_purge_twice_deletes_nothing_more(app, rows) -> None:
    purge_service.purge(86_400, app.config["LOCKOUT_RESET_SECONDS"])

    again = purge_service.purge(86_400, app.config["LOCKOUT_RESET_SECONDS"])

    assert again == purge_service.Purged(0, 0, 0)


def test_a_live_family_still_refreshes_after_a_purge(app, make_token, token_request) -> None:
    tokens = make_token("carol")
    purge_service.purge(0, app.config["LOCKOUT_RESET_SECONDS"])

    response = token_request(grant_type="refresh_token", refresh_token=tokens["refresh_token"])

    assert response.status_code == 200


def test_cli_purge_prints_what_it_deleted(app, runner, rows) -> None:
    template_due = template_rows_due(rows)
    result = runner.invoke(cli, ["tokens", "purge"])

    assert result.exit_code == 0, result.output
    assert result.output.strip() == (
        f"purged 3 refresh-token families, {2 + template_due} live-authorization entries,"
        " 2 login counters"
    )
    assert_purged_exactly(rows)


def test_cli_purge_revoked_grace_zero_drops_every_revoked_family(app, runner, rows) -> None:
    result = runner.invoke(cli, ["tokens", "purge", "--revoked-grace", "0"])

    assert result.exit_code == 0, result.output
    assert result.output.startswith("purged 4 refresh-token families")
    assert ids(RefreshFamily, RefreshFamily.id).isdisjoint(rows["purged_families"])


@pytest.mark.parametrize("grace", ["-1", "soon", "99999999999999999"])
def test_cli_purge_refuses_a_bad_grace_period(app, runner, grace) -> None:
    result = runner.invoke(cli, ["tokens", "purge", "--revoked-grace", grace])

    assert result.exit_code != 0
    assert "--revoked-grace" in result.output


@pytest.mark.processes
def test_console_purge_on_a_database_without_schema_is_one_line(tmp_path) -> None:
    result = run_console(console_env(tmp_path), "tokens", "purge")

    assert_one_line_error(result, "database error")
