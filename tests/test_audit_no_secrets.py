"""No password, client secret, refresh token or access token in the audit trail or any log.

One test drives every flow that records an event, with every logger at DEBUG, then looks
for each credential it used in every stored event and every captured log line.
"""

from __future__ import annotations

import json
import logging

import pytest

from authserver.extensions import db
from authserver.models import AuditEvent
from authserver.services import clients, policy_store, users
from tests.conftest import PASSWORD, basic_auth

WRONG_PASSWORD = "Tr0ub4dor&3-wrong"
TYPED_AS_USERNAME = "Hunter2.secret"  # a password typed into the username field


@pytest.fixture
def debug_logs(caplog):
    """Everything at DEBUG, set before the app is built (so the app sees it at start).

    SQL echo stays off, as SQLAlchemy keeps its loggers at WARNING whatever the root says:
    turned on, it logs every bound parameter, such as a presented username that may be a
    mistyped password (the engine's ``hide_parameters`` would hide those).
    """
    caplog.set_level(logging.DEBUG)
    return caplog


def test_no_credential_reaches_an_audit_event_or_a_log_line(debug_logs, client, make_user):
    caplog = debug_logs
    caplog.set_level(logging.DEBUG, logger="authserver")  # create_app set the app's own level
    secrets: list[str] = [PASSWORD, WRONG_PASSWORD, TYPED_AS_USERNAME]
    oauth, secret = clients.create("app", ["password", "refresh_token"])
    secrets.append(secret)
    auth = basic_auth(oauth.client_id, secret)

    def token(**form):
        return client.post("/oauth/token", data=form, headers=auth).get_json()

    make_user("alice", ["viewer"])
    make_user("root", ["admin"])
    bad = token(grant_type="password", username="alice", password=WRONG_PASSWORD)
    assert bad["error"] == "invalid_grant"
    slip = token(grant_type="password", username=TYPED_AS_USERNAME, password=TYPED_AS_USERNAME)
    assert slip["error"] == "invalid_grant"
    alice = token(grant_type="password", username="alice", password=PASSWORD)
    root = token(grant_type="password", username="root", password=PASSWORD)
    fresh = token(grant_type="refresh_token", refresh_token=alice["refresh_token"])
    reused = token(grant_type="refresh_token", refresh_token=alice["refresh_token"])
    assert reused["error"] == "invalid_grant"
    other = token(grant_type="password", username="alice", password=PASSWORD)
    for value in (other["access_token"], other["refresh_token"]):
        client.post("/oauth/revoke", data={"token": value}, headers=auth)
    admin = {"Authorization": f"Bearer {root['access_token']}"}
    client.put("/admin/users/alice/roles", headers=admin, json={"roles": ["editor"]})
    client.post("/admin/users/alice/disable", headers=admin)
    client.post("/admin/users/alice/enable", headers=admin)
    client.post("/admin/users/alice/revoke-tokens", headers=admin)
    users.set_password("alice", "a brand new passphrase")
    secrets.append("a brand new passphrase")
    policy_store.save_version(policy_store.live_source(), actor="root")
    assert client.get("/admin/audit?limit=500", headers=admin).status_code == 200
    for tokens in (alice, root, fresh, other):
        secrets += [tokens["access_token"], tokens["refresh_token"]]

    stored = [e.to_dict() for e in db.session.query(AuditEvent).order_by(AuditEvent.id)]
    kinds = {event["kind"] for event in stored}
    assert {
        "login.success",
        "login.failure",
        "token.refresh",
        "token.reuse_detected",
        "token.revoked",
        "user.roles_changed",
        "user.disabled",
        "user.enabled",
        "user.tokens_revoked",
        "user.password_changed",
        "client.created",
        "policy.version",
    } <= kinds
    trail = json.dumps(stored)
    logged = caplog.text + "\n".join(str(r.args) for r in caplog.records)
    logged_ids = {
        json.loads(r.getMessage())["id"] for r in caplog.records if r.name == "authserver.audit"
    }
    # Every event of the test was logged (the seed's line came before, while building the app).
    assert logged_ids == {event["id"] for event in stored if event["subject"] != "policy:v1"}
    for value in secrets:
        assert value not in trail
        assert value not in logged
