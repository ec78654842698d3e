"""GET /oauth/changes (SPEC §18): the live-authorization change feed for other services.

In process: who may read it, a snapshot, the rows after a seq (a disable, a revocation, a
policy edit, a client's scopes), a snapshot for a seq too old or unknown, and a request
that cannot be held (the test client, like a sync worker, is not multithreaded). Held
answers (long-polling, heartbeats) are exercised under gunicorn in tests/test_kit_app.py.
"""

from __future__ import annotations

import json
import time

import pytest
from sqlalchemy import delete

from authserver import live
from authserver.extensions import db
from authserver.models import LiveChange
from authserver.services import clients, users
from authserver.state import state
from tests.conftest import basic_auth


@pytest.fixture
def resource_server(app):
    """A client made with --introspect: it may read the feed."""
    client, secret = clients.create("reports api", introspect=True)
    client.secret = secret
    return client


def feed(client, caller, **params):
    return client.get(
        "/oauth/changes", query_string=params, headers=basic_auth(caller.client_id, caller.secret)
    )


def test_only_an_introspect_client_reads_the_feed(client, resource_server, oauth_client) -> None:
    anonymous = client.get("/oauth/changes")
    wrong = client.get("/oauth/changes", headers=basic_auth(resource_server.client_id, "nope"))
    other = feed(client, oauth_client)

    assert anonymous.status_code == 401
    assert anonymous.get_json()["error"] == "invalid_client"
    assert wrong.status_code == 401
    assert wrong.get_json()["error"] == "invalid_client"
    assert "Basic" in wrong.headers["WWW-Authenticate"]
    assert other.status_code == 403
    assert other.get_json()["error"] == "unauthorized_client"
    assert feed(client, resource_server).status_code == 200


@pytest.mark.parametrize("params", [{"since": "x"}, {"since": "-1"}, {"wait": "nan"}])
def test_a_bad_parameter_is_invalid_request(client, resource_server, params) -> None:
    response = feed(client, resource_server, **params)

    assert response.status_code == 400
    assert response.get_json()["error"] == "invalid_request"


def test_a_snapshot_carries_the_live_policy_as_role_scopes(client, resource_server) -> None:
    response = feed(client, resource_server)

    body = response.get_json()
    assert response.headers["Cache-Control"] == "no-store"
    assert body["snapshot"] is True
    assert body["policy"]["version"] >= 1
    assert "documents:write" in body["policy"]["roles"]["editor"]
    assert "documents:write" not in body["policy"]["roles"]["viewer"]
    kid = state(client.application).keys.signing_kid
    assert body["keys"][kid]["activates"] <= time.time()
    assert body["keys"][kid]["retires"] is None
    assert body["max_token_lifetime"] > 0


def test_the_changes_after_a_seq(app, client, resource_server, make_token) -> None:
    tokens = make_token("alice", ["editor"])
    seq = feed(client, resource_server).get_json()["seq"]
    claims = json.loads(_payload(tokens["access_token"]))
    revoked = client.post(
        "/oauth/revoke",
        data={"token": tokens["access_token"]},
        headers=basic_auth(resource_server.client_id, resource_server.secret),
    )
    assert revoked.status_code == 200
    users.set_disabled("alice", True)

    body = feed(client, resource_server, since=seq).get_json()

    assert body["snapshot"] is False
    kinds = {(row["kind"], row["key"]) for row in body["changes"]}
    assert ("user", claims["sub"]) in kinds
    assert body["seq"] == max(row["seq"] for row in body["changes"]) > seq
    user_row = next(row for row in body["changes"] if row["kind"] == "user")
    assert user_row["at"] >= claims["iat"]
    assert user_row["until"] > user_row["at"]
    # Nothing after the newest: an empty answer at once (no wait asked).
    again = feed(client, resource_server, since=body["seq"]).get_json()
    assert again["changes"] == [] and again["seq"] == body["seq"] and not again["snapshot"]


def test_a_clients_scopes_change_names_their_scopes_now(client, resource_server) -> None:
    made, _secret = clients.create("narrowed", ["password"], scope="profile documents:read")
    client_id = made.client_id
    seq = feed(client, resource_server).get_json()["seq"]
    live.client_scopes_changed(client_id)
    db.session.commit()

    body = feed(client, resource_server, since=seq).get_json()

    assert ("clients", client_id) in {(r["kind"], r["key"]) for r in body["changes"]}
    assert body["clients"] == {client_id: "profile documents:read"}


def test_a_seq_too_old_or_unknown_gets_a_snapshot(app, client, resource_server) -> None:
    users.create("bob", "correct horse battery", ["viewer"])
    users.set_disabled("bob", True)
    users.set_disabled("bob", False)
    newest = feed(client, resource_server).get_json()["seq"]
    with app.app_context():  # tokens purge: the oldest rows went
        db.session.execute(delete(LiveChange).where(LiveChange.seq < newest))
        db.session.commit()

    pruned = feed(client, resource_server, since=max(newest - 2, 0)).get_json()
    unknown = feed(client, resource_server, since=newest + 1000).get_json()

    assert pruned["snapshot"] is True and pruned["seq"] == newest
    assert unknown["snapshot"] is True and unknown["seq"] == newest
    assert [row["seq"] for row in pruned["changes"]] == [newest]


def test_a_request_that_cannot_be_held_says_when_to_ask_again(client, resource_server) -> None:
    seq = feed(client, resource_server).get_json()["seq"]

    body = feed(client, resource_server, since=seq, wait=5).get_json()

    assert body["changes"] == []
    assert body["poll_after"] > 0


def _payload(token: str) -> str:
    import base64

    part = token.split(".")[1]
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)).decode()


def test_the_metadata_names_the_feed(app, client) -> None:
    """The kit finds the feed where the RFC 8414 metadata says (an extension member)."""
    document = client.get("/.well-known/oauth-authorization-server").get_json()

    assert document["changes_endpoint"] == app.config["ISSUER"] + "/oauth/changes"
