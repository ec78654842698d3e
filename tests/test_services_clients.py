"""authserver.services.clients: registration, secrets as digests, lookups of odd ids."""

from __future__ import annotations

import base64
import hashlib

import pytest
from sqlalchemy import func, select

from authserver.extensions import db
from authserver.models.client import ClientRole
from authserver.services import audit, clients
from authserver.services.errors import Invalid, NotFound


def test_create_confidential_returns_the_secret_once_and_stores_its_digest(app) -> None:
    client, secret = clients.create("backend", ["password"])

    assert len(base64.urlsafe_b64decode(secret + "=" * (-len(secret) % 4))) * 8 >= 256
    assert client.secret_digest == hashlib.sha256(secret.encode()).hexdigest()
    assert secret not in repr(vars(client))
    assert client.check_client_secret(secret)


@pytest.mark.parametrize(
    "attempt",
    [lambda s: "", lambda s: None, lambda s: s[:-1], lambda s: s + "x", lambda s: s.swapcase()],
    ids=["empty", "none", "prefix", "longer", "case"],
)
def test_check_client_secret_refuses_anything_else(app, attempt) -> None:
    client, secret = clients.create("backend", ["password"])

    assert not client.check_client_secret(attempt(secret))


def test_create_public_client_has_no_secret(app) -> None:
    client, secret = clients.create("spa", ["password"], public=True)

    assert secret is None
    assert client.secret_digest is None
    assert client.is_public
    assert not client.check_client_secret("")


@pytest.mark.parametrize(
    "public, method, allowed",
    [
        (False, "client_secret_basic", True),
        (False, "client_secret_post", True),
        (False, "none", False),
        (True, "client_secret_basic", False),
        (True, "client_secret_post", False),
        (True, "none", True),
    ],
)
def test_endpoint_auth_methods_follow_the_client_type(app, public, method, allowed) -> None:
    client, _ = clients.create("c", ["password"], public=public)

    assert client.check_endpoint_auth_method(method, "token") is allowed


def test_create_grants_no_grant_type_unless_named(app) -> None:
    client, _ = clients.create("nothing")

    assert client.grant_type_list == []
    assert not client.check_grant_type("password")


def test_create_deduplicates_grant_types(app) -> None:
    client, _ = clients.create("c", ["password", "refresh_token", "password"])

    assert client.grant_type_list == ["password", "refresh_token"]


@pytest.mark.parametrize("grant_type", ["implicit", "authorization_code", ""])
def test_create_refuses_unsupported_grant_types(app, grant_type) -> None:
    with pytest.raises(Invalid):
        clients.create("c", [grant_type])


def test_create_normalises_a_declared_scope(app) -> None:
    client, _ = clients.create("c", ["password"], scope="documents:read  profile")

    assert client.scope_list == ["documents:read", "profile"]


@pytest.mark.parametrize("scope", ["reports:read", "profile reports:read", 'bad"scope'])
def test_create_refuses_undeclared_or_malformed_scopes(app, scope) -> None:
    with pytest.raises(Invalid):
        clients.create("c", ["password"], scope=scope)


def test_unrestricted_client_scope_list_is_none(app) -> None:
    client, _ = clients.create("c", ["password"])

    assert client.scope_list is None


@pytest.mark.parametrize("name", ["", "   ", "n" * 201])
def test_create_refuses_bad_names(app, name) -> None:
    with pytest.raises(Invalid):
        clients.create(name, ["password"])


@pytest.mark.parametrize("client_id", ["", "x" * 65, "nul\x00", "tab\there", "ünï"])
def test_create_refuses_client_ids_outside_rfc6749_vschar(app, client_id) -> None:
    with pytest.raises(Invalid):
        clients.create("c", ["password"], client_id=client_id)


def test_create_accepts_a_chosen_client_id(app) -> None:
    clients.create("c", ["password"], client_id="my-app.example:1")

    assert clients.find("my-app.example:1").name == "c"


@pytest.mark.parametrize("client_id", ["unknown", "", "x" * 5000, "nul\x00byte", "ünï", None])
def test_find_returns_none_for_unknown_or_impossible_ids(app, client_id) -> None:
    clients.create("c", ["password"])

    assert clients.find(client_id) is None


def test_delete_removes_the_client(app) -> None:
    client, _ = clients.create("c", ["password"])

    assert clients.delete(client.client_id)
    assert clients.find(client.client_id) is None
    assert not clients.delete(client.client_id)


# --- roles and DPoP binding (SPEC §16, §17) ------------------------------------------------


def test_create_gives_roles_defined_by_the_live_policy(app) -> None:
    client, _ = clients.create("svc", ["client_credentials"], roles=["viewer", "editor", "viewer"])

    assert client.roles == ["editor", "viewer"]  # stored once each, in name order
    assert clients.get(client.client_id).roles == ["editor", "viewer"]


def test_create_refuses_an_unknown_role_and_stores_nothing(app) -> None:
    with pytest.raises(Invalid, match="nobody"):
        clients.create("svc", ["client_credentials"], roles=["viewer", "nobody"])

    assert clients.list_all() == []


def test_a_public_client_cannot_be_given_client_credentials(app) -> None:
    with pytest.raises(Invalid, match="public"):
        clients.create("spa", ["password", "client_credentials"], public=True)


def test_dpop_flag_is_stored(app) -> None:
    bound, _ = clients.create("bound", ["client_credentials"], dpop=True)
    free, _ = clients.create("free", ["client_credentials"])

    assert (bound.dpop_bound, free.dpop_bound) == (True, False)


def test_set_roles_replaces_them_and_audits_the_change(app) -> None:
    client, _ = clients.create("svc", ["client_credentials"], roles=["viewer"])

    clients.set_roles(client.client_id, ["editor"], actor="root")

    assert clients.get(client.client_id).roles == ["editor"]
    event = audit.search(audit.AuditQuery(kind="client.roles_changed"), 10)[0][0]
    assert event.actor == "root" and event.subject == f"client:{client.client_id}"
    assert event.details == {"old": ["viewer"], "new": ["editor"]}


def test_set_roles_refuses_unknown_roles_and_keeps_the_old_ones(app) -> None:
    client, _ = clients.create("svc", ["client_credentials"], roles=["viewer"])

    with pytest.raises(Invalid):
        clients.set_roles(client.client_id, ["nobody"])

    assert clients.get(client.client_id).roles == ["viewer"]


def test_set_roles_of_an_unknown_client_is_not_found(app) -> None:
    with pytest.raises(NotFound):
        clients.set_roles("no-such-client", ["viewer"])


def test_deleting_a_client_deletes_its_roles(app) -> None:
    client, _ = clients.create("svc", ["client_credentials"], roles=["viewer", "editor"])

    clients.delete(client.client_id)

    assert db.session.execute(select(func.count()).select_from(ClientRole)).scalar() == 0


def test_generated_client_ids_never_start_with_a_dash() -> None:
    """A leading "-" made `authserver clients disable ID` read the id as an option; without
    the rule, about 30 of 2000 ids would start with one."""
    ids = [clients.new_client_id() for _ in range(2000)]

    assert not [client_id for client_id in ids if client_id.startswith("-")]
    assert len(set(ids)) == 2000 and all(clients.CLIENT_ID.fullmatch(i) for i in ids)
