"""One list of grant types (``models.client.GRANT_TYPES``, SPEC §16) drives the rest: the
RFC 8414 metadata, the grants the token endpoint serves, client registration (services and
CLI help), the demo clients, the client model and the metrics' ``grant_type`` label. A
public client may hold all of them but client_credentials (RFC 6749 §4.4)."""

from __future__ import annotations

import secrets

import pytest
from prometheus_client import REGISTRY

from authserver.cli import cli
from authserver.models import Client
from authserver.models.client import GRANT_TYPES, PUBLIC_GRANT_TYPES
from authserver.services import clients
from authserver.services.errors import Invalid
from authserver.state import state


def test_the_metadata_lists_exactly_the_grant_types(client) -> None:
    metadata = client.get("/.well-known/oauth-authorization-server").get_json()

    assert metadata["grant_types_supported"] == list(GRANT_TYPES)


def test_the_token_endpoint_serves_exactly_the_grant_types(app) -> None:
    server = state(app).authorization_server
    served = [grant.GRANT_TYPE for grant, _ in server._token_grants]

    assert sorted(served) == sorted(GRANT_TYPES)


def test_the_cli_help_names_every_grant_type(runner) -> None:
    result = runner.invoke(cli, ["clients", "create", "--help"])

    assert result.exit_code == 0, result.output
    assert f"Repeatable: {', '.join(GRANT_TYPES)}." in " ".join(result.output.split())


def test_registration_accepts_each_grant_type_and_nothing_else(app) -> None:
    client, _ = clients.create("all", GRANT_TYPES)
    assert client.grant_type_list == list(GRANT_TYPES)

    with pytest.raises(Invalid):
        clients.create("other", ["implicit"])
    with pytest.raises(Invalid):
        clients.create("other", ["authorization_code"])


def test_a_public_client_may_hold_every_grant_type_but_those_needing_a_secret(app) -> None:
    client, _ = clients.create("spa", PUBLIC_GRANT_TYPES, public=True)
    assert client.grant_type_list == [g for g in GRANT_TYPES if g != "client_credentials"]

    with pytest.raises(Invalid, match="client_credentials"):
        clients.create("other", ["client_credentials"], public=True)


def test_the_client_model_allows_no_grant_type_outside_the_list() -> None:
    client = Client(grant_types=" ".join((*GRANT_TYPES, "implicit")))

    assert all(client.check_grant_type(grant) for grant in GRANT_TYPES)
    assert not client.check_grant_type("implicit")


def test_the_demo_clients_get_every_grant_type_their_kind_may_hold(runner) -> None:
    from authserver.cli.demo import DEMO_CLIENT, DEMO_PUBLIC_CLIENT

    result = runner.invoke(cli, ["demo", "setup"])

    assert result.exit_code == 0, result.output
    assert clients.find(DEMO_CLIENT).grant_type_list == list(GRANT_TYPES)
    assert clients.find(DEMO_PUBLIC_CLIENT).grant_type_list == list(PUBLIC_GRANT_TYPES)


def _requests(grant_type: str) -> float:
    """Token requests counted under this ``grant_type`` label, whatever their outcome."""
    return sum(
        sample.value
        for metric in REGISTRY.collect()
        for sample in metric.samples
        if sample.name == "authserver_token_requests_total"
        and sample.labels["grant_type"] == grant_type
    )


def test_the_metrics_label_each_grant_type_and_fold_the_rest_into_other(client) -> None:
    names = [*GRANT_TYPES, f"made-up-{secrets.token_hex(4)}"]
    before = {name: _requests(name) for name in [*GRANT_TYPES, "other"]}

    for name in names:
        client.post("/oauth/token", data={"grant_type": name, "client_id": "nobody"})

    for name in GRANT_TYPES:
        assert _requests(name) == before[name] + 1
    assert _requests("other") == before["other"] + 1
