"""GET /admin/audit: filters (since, until, actor, kind, subject) and cursor pagination."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from authserver.extensions import db
from authserver.models import AuditEvent
from authserver.services import audit
from tests.support.http import bearer

PROBLEM = "application/problem+json"
T0 = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def admin(make_token) -> dict[str, str]:
    return bearer(make_token("root", ["admin"]))


@pytest.fixture
def dated(app):
    """Five events an hour apart from T0, by two actors, of two kinds."""
    rows = [
        ("user.disabled", "root", "user:alice"),
        ("user.enabled", "root", "user:alice"),
        ("user.disabled", "ops", "user:bob"),
        ("user.roles_changed", "ops", "user:alice"),
        ("user.disabled", "root", "user:carol"),
    ]
    for hour, (kind, actor, subject) in enumerate(rows):
        db.session.add(
            AuditEvent(
                occurred_at=T0 + timedelta(hours=hour),
                kind=kind,
                actor=actor,
                subject=subject,
                details={"n": hour},
            )
        )
    db.session.commit()


def get(client, headers, query: str = ""):
    return client.get(f"/admin/audit{query}", headers=headers)


def ns(response) -> list[int]:
    """The ``n`` of each dated event in the answer, in order."""
    return [e["details"]["n"] for e in response.get_json()["events"] if "n" in e["details"]]


# --- status codes ----------------------------------------------------------------------------


def test_audit_without_token_is_401(client) -> None:
    response = get(client, {})

    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Bearer"


def test_audit_without_audit_read_is_403(client, make_token) -> None:
    for token in (
        make_token("eve", ["editor"]),
        make_token("root", ["admin"], scope="users:read"),
    ):
        response = get(client, bearer(token))

        assert response.status_code == 403
        assert 'scope="audit:read"' in response.headers["WWW-Authenticate"]


def test_audit_is_200_newest_first_with_every_field(client, admin) -> None:
    response = get(client, admin)

    assert response.status_code == 200
    body = response.get_json()
    assert set(body) == {"events", "next_cursor"}
    assert body["next_cursor"] is None
    ids = [e["id"] for e in body["events"]]
    assert ids == sorted(ids, reverse=True)
    event = body["events"][0]
    assert set(event) == {
        "id",
        "occurred_at",
        "kind",
        "actor",
        "subject",
        "client_id",
        "ip",
        "details",
    }
    assert event["kind"] == "login.success" and event["actor"] == "root"
    assert event["occurred_at"].endswith("Z")
    assert event["ip"] == "127.0.0.1"


@pytest.mark.parametrize(
    ("query", "name"),
    [
        ("?since=yesterday", "since"),
        ("?until=2030-13-01", "until"),
        ("?since=9999-12-31T23:59:59-05:00", "since"),
        ("?limit=0", "limit"),
        ("?limit=501", "limit"),
        ("?limit=-1", "limit"),
        ("?limit=ten", "limit"),
        ("?cursor=abc", "cursor"),
        ("?cursor=99999999999999999999999", "cursor"),
        ("?actor=a%00b", "actor"),
        ("?kind=%0a", "kind"),
        ("?subject=user:%00", "subject"),
    ],
)
def test_audit_bad_query_is_400_problem_naming_the_parameter(client, admin, query, name) -> None:
    response = get(client, admin, query)

    assert response.status_code == 400
    assert response.mimetype == PROBLEM
    body = response.get_json()
    assert body["status"] == 400
    assert body["invalid_params"][0]["name"] == name


# --- filters ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("?since=2030-01-01T14:00:00Z", [4, 3, 2]),
        ("?since=2030-01-01T14:00:00%2B00:00", [4, 3, 2]),
        ("?since=2030-01-01T15:00:00%2B01:00", [4, 3, 2]),  # the same instant
        ("?since=2030-01-01T14:00:00", [4, 3, 2]),  # no offset: UTC
        ("?until=2030-01-01T14:00:00Z", [1, 0]),  # until is exclusive
        ("?since=2030-01-01T13:00:00Z&until=2030-01-01T15:00:00Z", [2, 1]),
        ("?until=2030-01-01", []),
        ("?since=2030-01-02", []),
        ("?actor=ops", [3, 2]),
        ("?kind=user.disabled", [4, 2, 0]),
        ("?subject=user:alice", [3, 1, 0]),
        ("?kind=user.disabled&actor=root", [4, 0]),
        ("?kind=user.disabled&actor=root&subject=user:carol", [4]),
        ("?actor=nobody", []),
    ],
)
def test_audit_filters(client, admin, dated, query, expected) -> None:
    response = get(client, admin, query)

    assert response.status_code == 200
    assert ns(response) == expected


def test_audit_since_filters_real_events_by_time(client, admin) -> None:
    later = (datetime.now(UTC) + timedelta(minutes=5)).isoformat()
    earlier = (datetime.now(UTC) - timedelta(minutes=5)).isoformat()

    assert get(client, admin, f"?since={later.replace('+', '%2B')}").get_json()["events"] == []
    recent = get(client, admin, f"?since={earlier.replace('+', '%2B')}").get_json()["events"]
    assert {e["kind"] for e in recent} >= {"policy.version", "user.created", "login.success"}


# --- pagination ------------------------------------------------------------------------------


def test_audit_limit_and_cursor_walk_every_event_once(client, admin, dated) -> None:
    everything = [e["id"] for e in get(client, admin, "?limit=500").get_json()["events"]]

    seen, cursor = [], None
    while True:
        query = "?limit=2" + (f"&cursor={cursor}" if cursor else "")
        body = get(client, admin, query).get_json()
        assert len(body["events"]) <= 2
        seen += [e["id"] for e in body["events"]]
        cursor = body["next_cursor"]
        if cursor is None:
            break

    assert seen == everything
    assert len(everything) > 4


def test_audit_pages_are_stable_while_events_are_appended(client, admin, dated) -> None:
    first = get(client, admin, "?kind=user.disabled&limit=2").get_json()
    audit.record("user.disabled", "root", "user:dave")  # newer than every event listed
    second = get(client, admin, f"?kind=user.disabled&limit=2&cursor={first['next_cursor']}")

    assert [e["details"]["n"] for e in first["events"]] == [4, 2]
    assert ns(second) == [0]
    assert second.get_json()["next_cursor"] is None


def test_audit_default_limit_is_50(client, admin) -> None:
    for n in range(60):
        audit.record("test.bulk", "root", f"thing:{n}", commit=False)
    db.session.commit()

    body = get(client, admin, "?kind=test.bulk").get_json()

    assert len(body["events"]) == 50
    assert body["next_cursor"] is not None
    rest = get(client, admin, f"?kind=test.bulk&cursor={body['next_cursor']}").get_json()
    assert len(rest["events"]) == 10 and rest["next_cursor"] is None
