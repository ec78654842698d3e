"""The audit trail: each event kind, recorded by the real flow that causes it.

Every event has a kind, an actor, a subject and a UTC time; events of a request also have the
client's IP, and of a client's request the client id.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import DBAPIError

from authserver.extensions import db
from authserver.models import AuditEvent, RefreshFamily
from authserver.services import audit, clients, policy_store, users
from tests.conftest import PASSWORD, basic_auth
from tests.support.cli import PROJECT, invoke
from tests.support.policy_text import without_tests

SHIPPED = (PROJECT / "policies" / "roles.yaml").read_text(encoding="utf-8")
WITH_REPORTS = SHIPPED.replace(
    "  audit:read: Read the audit trail\n",
    "  audit:read: Read the audit trail\n  reports:read: Read reports\n",
)


def events(kind: str | None = None, **filters) -> list[AuditEvent]:
    return audit.search(audit.AuditQuery(kind=kind, **filters), 500)[0]


def only(kind: str, **filters) -> AuditEvent:
    found = events(kind, **filters)
    assert len(found) == 1, [e.to_dict() for e in events()]
    return found[0]


def assert_recent(event: AuditEvent) -> None:
    assert event.occurred_at.tzinfo is not None
    assert abs(datetime.now(UTC) - event.occurred_at) < timedelta(minutes=1)


def login(token_request, username: str = "alice", password: str = PASSWORD):
    return token_request(grant_type="password", username=username, password=password)


def refresh(token_request, refresh_token: str):
    return token_request(grant_type="refresh_token", refresh_token=refresh_token)


def revoke(client, oauth_client, token: str):
    return client.post(
        "/oauth/revoke",
        data={"token": token},
        headers=basic_auth(oauth_client.client_id, oauth_client.secret),
    )


# --- logins ----------------------------------------------------------------------------------


def test_login_success_records_user_client_ip_and_time(make_user, oauth_client, token_request):
    make_user("alice")

    assert login(token_request).status_code == 200

    event = only("login.success")
    assert (event.actor, event.subject) == ("alice", "user:alice")
    assert event.client_id == oauth_client.client_id
    assert event.ip == "127.0.0.1"
    assert_recent(event)


def test_login_whose_grant_is_then_refused_is_still_recorded(make_user, token_request):
    """The login.success event commits with the grant's tokens; a grant refused after the
    password was checked (no scope left) still commits the event, and no family."""
    make_user("alice", roles=["viewer"])

    response = token_request(
        grant_type="password", username="alice", password=PASSWORD, scope="audit:read"
    )

    assert response.get_json()["error"] == "invalid_scope"
    db.session.rollback()  # the test shares the request's session: keep what was committed
    assert only("login.success").subject == "user:alice"
    assert db.session.execute(select(func.count()).select_from(RefreshFamily)).scalar() == 0


def test_login_of_a_client_without_refresh_tokens_is_recorded(app, client, make_user):
    """No refresh family to commit the event with: it commits alone."""
    make_user("alice")
    no_refresh, secret = clients.create("no refresh", ["password"])

    response = client.post(
        "/oauth/token",
        data={"grant_type": "password", "username": "alice", "password": PASSWORD},
        headers=basic_auth(no_refresh.client_id, secret),
    )

    assert response.status_code == 200 and "refresh_token" not in response.get_json()
    db.session.rollback()  # the test shares the request's session: keep what was committed
    assert only("login.success").client_id == no_refresh.client_id


@pytest.mark.parametrize(
    ("username", "password", "subject", "reason"),
    [
        ("alice", "wrong password", "user:alice", "bad_credentials"),
        ("nobody", PASSWORD, "user:(unknown)", "bad_credentials"),
        ("not a name", PASSWORD, "user:(unknown)", "bad_credentials"),
        (PASSWORD, PASSWORD, "user:(unknown)", "bad_credentials"),  # the classic slip
    ],
)
def test_login_failure_records_reason_the_client_is_not_told(
    make_user, oauth_client, token_request, username, password, subject, reason
):
    make_user("alice")

    response = login(token_request, username, password)

    assert response.get_json()["error"] == "invalid_grant"
    assert "reason" not in response.get_data(as_text=True)
    event = only("login.failure")
    assert password not in json.dumps(event.to_dict())
    assert (event.actor, event.subject) == ("anonymous", subject)
    assert event.details == {"reason": reason, "lockout_started": False}
    assert event.client_id == oauth_client.client_id
    assert_recent(event)


def test_login_failure_of_a_disabled_user_says_disabled(make_user, token_request):
    make_user("alice")
    users.set_disabled("alice", True)

    assert login(token_request).status_code == 400

    assert only("login.failure").details["reason"] == "disabled"


def test_login_failure_of_a_locked_account_says_locked(settings, request):
    settings["LOCKOUT_THRESHOLD"] = 3
    make_user, token_request = (request.getfixturevalue(n) for n in ("make_user", "token_request"))
    make_user("alice")

    for _ in range(3):
        login(token_request, password="wrong")
    response = login(token_request)  # the right password, but locked

    assert response.get_json()["error"] == "invalid_grant"
    failures = events("login.failure")
    assert [e.details["reason"] for e in failures] == ["locked"] + ["bad_credentials"] * 3
    assert failures[1].details["lockout_started"] is True
    assert failures[2].details["lockout_started"] is False


# --- refresh tokens --------------------------------------------------------------------------


def test_refresh_records_family_user_and_scope(make_token, oauth_client, token_request):
    tokens = make_token("alice")

    assert refresh(token_request, tokens["refresh_token"]).status_code == 200

    event = only("token.refresh")
    family = event.subject.removeprefix("family:")
    assert event.subject == f"family:{family}" and len(family) == 32
    assert event.actor == "alice"
    assert event.client_id == oauth_client.client_id
    assert event.details == {"scope": tokens["scope"]}
    assert_recent(event)


def test_reuse_records_revoked_family(make_token, oauth_client, token_request):
    tokens = make_token("alice")
    refresh(token_request, tokens["refresh_token"])

    assert refresh(token_request, tokens["refresh_token"]).get_json()["error"] == "invalid_grant"

    event = only("token.reuse_detected")
    assert event.actor == "system"
    assert event.subject == only("token.refresh").subject
    assert event.details == {"how": "reused", "user": "alice"}
    assert event.client_id == oauth_client.client_id
    assert_recent(event)


def test_revoking_an_access_token_records_its_jti_and_the_client_once(
    client, make_token, oauth_client
):
    import jwt

    tokens = make_token("alice")
    jti = jwt.decode(tokens["access_token"], options={"verify_signature": False})["jti"]

    revoke(client, oauth_client, tokens["access_token"])
    revoke(client, oauth_client, tokens["access_token"])

    event = only("token.revoked")
    assert (event.actor, event.subject) == (oauth_client.client_id, f"jti:{jti}")
    assert event.details == {"token_type": "access_token", "user": "alice"}
    assert event.client_id == oauth_client.client_id
    assert_recent(event)


def test_revoking_a_refresh_token_records_its_family_once(client, make_token, oauth_client):
    tokens = make_token("alice")

    revoke(client, oauth_client, tokens["refresh_token"])
    revoke(client, oauth_client, tokens["refresh_token"])

    event = only("token.revoked")
    assert event.subject.startswith("family:")
    assert event.actor == oauth_client.client_id
    assert event.details == {"token_type": "refresh_token", "user": "alice"}


# --- policy versions -------------------------------------------------------------------------


def test_seeded_policy_is_version_1_by_system(app):
    event = only("policy.version")

    assert (event.actor, event.subject) == ("system", "policy:v1")
    assert event.details["version"] == 1 and event.details["previous"] is None
    assert event.ip is None and event.client_id is None


def test_cli_apply_records_version_with_diff(runner, tmp_path):
    path = tmp_path / "roles.yaml"
    path.write_text(WITH_REPORTS, encoding="utf-8")

    result = invoke(runner, "policies", "apply", str(path))

    assert result.exit_code == 0, result.output
    event = only("policy.version", subject="policy:v2")
    assert event.actor == "cli"
    assert event.details["previous"] == 1
    assert event.details["summary"].endswith("scopes +1 -0 ~0")
    assert event.details["diff"]["scopes_added"] == ["reports:read"]
    assert_recent(event)


def test_service_save_version_records_actor_and_stripped_roles(make_user):
    make_user("alice", ["viewer"])
    # the shipped tests (SPEC §14) name viewer: removing it removes them too
    without_viewer = (
        without_tests(SHIPPED)
        .replace("    inherits: [viewer]\n", "")
        .replace(
            "  viewer:\n    description: Reads documents\n    scopes: [profile, documents:read]\n",
            "",
        )
    )

    policy_store.save_version(without_viewer, actor="carol", strip_roles=True, comment="no viewer")

    event = only("policy.version", subject="policy:v2")
    assert event.actor == "carol"
    assert event.details["stripped_roles"] == {"viewer": 1}
    assert event.details["comment"] == "no viewer"
    assert event.details["diff"]["roles_removed"] == ["viewer"]


def test_refused_version_records_nothing(app):
    with pytest.raises(policy_store.PolicyInvalid):
        policy_store.save_version("version: 1\nroles: [", actor="carol")

    assert [e.subject for e in events("policy.version")] == ["policy:v1"]


# --- users and clients -----------------------------------------------------------------------


def test_user_created_records_roles_never_the_password(app):
    users.create("alice", PASSWORD, ["viewer"], actor="root")

    event = only("user.created")
    assert (event.actor, event.subject) == ("root", "user:alice")
    assert event.details == {"roles": ["viewer"]}
    assert_recent(event)


def test_user_created_from_the_cli_is_by_cli(runner):
    result = invoke(runner, "users", "create", "alice", "--role", "viewer", input=PASSWORD)

    assert result.exit_code == 0, result.output
    assert only("user.created").actor == "cli"


def test_roles_changed_records_old_and_new(make_user):
    make_user("alice", ["viewer"])

    users.set_roles("alice", ["editor", "viewer"], actor="root")

    event = only("user.roles_changed")
    assert (event.actor, event.subject) == ("root", "user:alice")
    assert event.details == {"old": ["viewer"], "new": ["editor", "viewer"]}


def test_disable_and_enable_are_recorded_once_each(make_token):
    make_token("alice")

    users.set_disabled("alice", True, actor="root")
    users.set_disabled("alice", True, actor="root")  # no change: nothing to record
    users.set_disabled("alice", False, actor="root")

    disabled, enabled = only("user.disabled"), only("user.enabled")
    assert (disabled.actor, disabled.subject) == ("root", "user:alice")
    assert disabled.details["families_revoked"] == 1
    assert len(disabled.details["family_ids"]) == 1
    assert (enabled.actor, enabled.subject) == ("root", "user:alice")
    assert enabled.id > disabled.id


def test_tokens_revoked_records_families(make_token):
    make_token("alice")
    make_token("alice")

    families = users.revoke_tokens("alice", actor="root")

    event = only("user.tokens_revoked")
    assert (event.actor, event.subject) == ("root", "user:alice")
    assert event.details == {"families_revoked": 2, "family_ids": families}


def test_client_created_records_settings_never_the_secret(app):
    client, secret = clients.create("svc", ["password"], scope="profile", actor="root")

    event = only("client.created")
    assert (event.actor, event.subject) == ("root", f"client:{client.client_id}")
    assert event.details == {
        "name": "svc",
        "grant_types": ["password"],
        "scope": "profile",
        "public": False,
        "introspect": False,
        "roles": [],
        "dpop_bound": False,
    }
    assert secret not in json.dumps(event.to_dict())


def test_client_created_from_the_cli_is_by_cli(runner):
    result = invoke(runner, "clients", "create", "svc", "--public", "--grant-type", "password")

    assert result.exit_code == 0, result.output
    event = only("client.created")
    assert event.actor == "cli" and event.details["public"] is True


def test_admin_api_change_records_ip_and_token_client(client, make_token, make_user, oauth_client):
    admin = make_token("root", ["admin"])
    make_user("alice", ["viewer"])

    client.post(
        "/admin/users/alice/disable",
        headers={"Authorization": f"Bearer {admin['access_token']}"},
        environ_base={"REMOTE_ADDR": "203.0.113.9"},
    )

    event = only("user.disabled")
    assert event.actor == "root"
    assert event.ip == "203.0.113.9"
    assert event.client_id == oauth_client.client_id


# --- the record itself -----------------------------------------------------------------------


def test_each_committed_event_is_one_json_log_line(app, caplog):
    caplog.set_level(logging.INFO, logger="authserver")

    entry = audit.record("test.kind", "root", "user:alice", {"n": 1})

    lines = [r for r in caplog.records if r.name == "authserver.audit"]
    assert len(lines) == 1
    assert lines[0].levelno == logging.INFO
    assert json.loads(lines[0].getMessage()) == entry.to_dict()


def test_event_rolled_back_with_its_transaction_is_neither_stored_nor_logged(app, caplog):
    caplog.set_level(logging.INFO, logger="authserver")

    audit.record("test.kind", "root", "user:alice", commit=False)
    db.session.flush()
    db.session.rollback()
    db.session.commit()

    assert events("test.kind") == []
    assert not [r for r in caplog.records if r.name == "authserver.audit"]


def test_appended_event_is_logged_at_commit_as_stored_and_not_after_a_rollback(app, caplog):
    """audit.append (the grants' path, no ORM object) logs what record logs, at commit."""
    caplog.set_level(logging.INFO, logger="authserver")

    audit.append("test.kind", "root", "user:alice", {"n": 1}, client_id="c1")
    audit.append("test.gone", "root", "user:bob")
    assert not [r for r in caplog.records if r.name == "authserver.audit"]  # not yet
    db.session.commit()
    audit.append("test.gone", "root", "user:bob")
    db.session.rollback()

    lines = [json.loads(r.getMessage()) for r in caplog.records if r.name == "authserver.audit"]
    stored = events("test.kind") + events("test.gone")
    assert lines == [event.to_dict() for event in sorted(stored, key=lambda e: e.id)]
    assert len(lines) == 2 and lines[0]["details"] == {"n": 1} and lines[0]["client_id"] == "c1"


def test_appended_details_that_name_a_credential_are_refused(app):
    with pytest.raises(ValueError, match="credentials"):
        audit.append("test.kind", "root", "user:alice", {"password": "x"})


@pytest.mark.parametrize("key", sorted(audit.SECRET_KEYS))
def test_details_that_name_a_credential_are_refused(app, key):
    with pytest.raises(ValueError, match=key):
        audit.record("test.kind", "root", "user:alice", {key: "x"})


@pytest.mark.parametrize(
    "statement",
    [
        update(AuditEvent).values(actor="someone else"),
        delete(AuditEvent),
    ],
    ids=["update", "delete"],
)
def test_audit_events_are_append_only_in_the_database(app, statement):
    with pytest.raises(DBAPIError):
        db.session.execute(statement)
        db.session.flush()
    db.session.rollback()

    assert only("policy.version").actor == "system"
