"""The token endpoint's client: its row read fresh on every request, with one Core
statement, into a snapshot (services/tokens/grant_clients.py), never an ORM object."""

from __future__ import annotations

from sqlalchemy import event, update

from authserver.extensions import db
from authserver.models import Client
from authserver.services import clients
from authserver.services.tokens import grant_clients
from tests.conftest import basic_auth
from tests.test_rfc6749_password_grant import password_form


def test_a_grant_loads_no_client_object(app, client, make_user, oauth_client) -> None:
    make_user("alice", ["viewer"])
    auth = basic_auth(oauth_client.client_id, oauth_client.secret)
    db.session.remove()  # a fresh session, as a served request has
    loaded = []

    def on_load(target, _context) -> None:
        loaded.append(target)

    event.listen(Client, "load", on_load)
    try:
        response = client.post("/oauth/token", data=password_form(), headers=auth)
    finally:
        event.remove(Client, "load", on_load)

    assert response.status_code == 200
    assert loaded == []


def test_each_request_reads_the_row_as_it_is_now(app, make_user, token_request, oauth_client):
    """No copy outlives its request: grant types, the secret and disabling take effect at
    the next request, also when changed behind the services' back."""
    make_user("alice", ["viewer"])
    assert token_request(**password_form()).status_code == 200
    table = Client.__table__
    where = table.c.client_id == oauth_client.client_id

    db.session.execute(update(table).where(where).values(grant_types="refresh_token"))
    db.session.commit()
    response = token_request(**password_form())
    assert response.status_code == 400
    assert response.get_json()["error"] == "unauthorized_client"

    db.session.execute(update(table).where(where).values(grant_types="password refresh_token"))
    db.session.commit()
    assert token_request(**password_form()).status_code == 200

    db.session.execute(update(table).where(where).values(disabled=True))
    db.session.commit()
    assert token_request(**password_form()).status_code == 401


def test_find_answers_as_the_services_do(app, oauth_client) -> None:
    record = grant_clients.find(oauth_client.client_id)

    assert record is not None
    assert record.client_id == oauth_client.client_id
    assert record.check_client_secret(oauth_client.secret)
    assert not record.check_client_secret(oauth_client.secret + "x")
    assert record.check_grant_type("password") and not record.check_grant_type("other")
    assert grant_clients.find("no such client") is None
    assert grant_clients.find("\x00") is None  # no query for an id no client can have
    clients.set_disabled(oauth_client.client_id, True)
    assert grant_clients.find(oauth_client.client_id) is None


def test_client_credentials_read_the_roles_now(app, client) -> None:
    machine, secret = clients.create("machine", ["client_credentials"], roles=["viewer"])
    record = grant_clients.find(machine.client_id)
    assert record is not None and record.roles == ["viewer"]

    clients.set_roles(machine.client_id, ["editor", "viewer"])

    assert record.roles == ["editor", "viewer"]
    response = client.post(
        "/oauth/token",
        data={"grant_type": "client_credentials"},
        headers=basic_auth(machine.client_id, secret),
    )
    assert response.status_code == 200, response.get_json()
