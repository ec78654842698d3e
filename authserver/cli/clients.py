"""``authserver clients create|list``."""

from __future__ import annotations

import json

import click

from authserver.cli.common import service_command
from authserver.models.client import GRANT_TYPES
from authserver.services import clients

group = click.Group("clients", help="Register and list OAuth clients.")


@service_command(group, "create")
@click.argument("name")
@click.option(
    "--grant-type", "grant_types", multiple=True, help=f"Repeatable: {', '.join(GRANT_TYPES)}."
)
@click.option("--scope", default=None, help='Allowed scopes, e.g. "profile documents:read".')
@click.option("--public", is_flag=True, help="A public client: no secret (auth method none).")
@click.option("--introspect", is_flag=True, help="May introspect any token (resource server).")
def create(name: str, grant_types: tuple[str, ...], scope, public: bool, introspect) -> None:
    """Register a client; prints its id and secret (shown once, stored hashed)."""
    if scope is not None and not scope.strip():
        raise click.ClickException("--scope is empty; leave it out to not restrict the client")
    client, secret = clients.create(name, grant_types, scope, public, introspect)
    click.echo(json.dumps({"client_id": client.client_id, "client_secret": secret}))


@service_command(group, "list")
def list_clients() -> None:
    """One line per client: id, name, grant types, scope, flags."""
    for client in clients.list_all():
        flags = ["public" if client.is_public else "confidential"]
        if client.can_introspect:
            flags.append("introspect")
        scope = client.scope if client.scope is not None else "(any)"
        grants = client.grant_types or "(none)"
        click.echo(f"{client.client_id}\t{client.name}\t{grants}\t{scope}\t{','.join(flags)}")
