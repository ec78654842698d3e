"""``authserver clients create|list|set-roles|delete|disable|enable|rotate-secret``
(SPEC §4, §16).

Deleting, disabling and rotating the secret of a client end its refresh families and cut
off its access tokens (SPEC §12), and so does taking a role from it; an unknown id is
refused with one line.
"""

from __future__ import annotations

import json

import click

from authserver.cli.common import service_command
from authserver.models.client import GRANT_TYPES
from authserver.services import clients

group = click.Group(
    "clients", help="Register, list, give roles to, disable and delete OAuth clients."
)


@service_command(group, "create")
@click.argument("name")
@click.option(
    "--grant-type", "grant_types", multiple=True, help=f"Repeatable: {', '.join(GRANT_TYPES)}."
)
@click.option("--scope", default=None, help='Allowed scopes, e.g. "profile documents:read".')
@click.option("--public", is_flag=True, help="A public client: no secret (auth method none).")
@click.option("--introspect", is_flag=True, help="May introspect any token (resource server).")
@click.option(
    "--role", "roles", multiple=True, help="Repeatable: a policy role for client_credentials."
)
@click.option("--dpop", is_flag=True, help="Must prove a DPoP key (RFC 9449) for its tokens.")
def create(
    name: str,
    grant_types: tuple[str, ...],
    scope: str | None,
    public: bool,
    introspect: bool,
    roles: tuple[str, ...],
    dpop: bool,
) -> None:
    """Register a client; prints its id and secret (shown once, stored hashed)."""
    if scope is not None and not scope.strip():
        raise click.ClickException("--scope is empty; leave it out to not restrict the client")
    if public and not grant_types:  # no secret, so it cannot introspect either
        raise click.ClickException(
            "a public client with no grant type can do nothing: add --grant-type password "
            "(and --grant-type refresh_token)"
        )
    client, secret = clients.create(
        name, grant_types, scope, public, introspect, roles=roles, dpop=dpop
    )
    click.echo(json.dumps({"client_id": client.client_id, "client_secret": secret}))


@service_command(group, "list")
def list_clients() -> None:
    """One line per client: id, name, grant types, scope, flags, roles."""
    for client in clients.list_all():
        flags = ["public" if client.is_public else "confidential"]
        if client.can_introspect:
            flags.append("introspect")
        if client.dpop_bound:
            flags.append("dpop")
        if client.disabled:
            flags.append("disabled")
        scope = client.scope if client.scope is not None else "(any)"
        grants = client.grant_types or "(none)"
        roles = " ".join(client.roles) or "(none)"
        fields = (client.client_id, client.name, grants, scope, ",".join(flags), roles)
        click.echo("\t".join(fields))


@service_command(group, "set-roles")
@click.argument("client_id")
@click.argument("roles", nargs=-1)
def set_roles(client_id: str, roles: tuple[str, ...]) -> None:
    """Replace the client's roles (none: take them all); a role taken away ends its tokens."""
    client = clients.set_roles(client_id, roles)
    click.echo(f"client {client_id} roles: {' '.join(client.roles) or '(none)'}")


@service_command(group, "delete")
@click.argument("client_id")
def delete(client_id: str) -> None:
    """Delete a client; its tokens end (a client made later with the same id gets none)."""
    if not clients.delete(client_id):
        raise click.ClickException(f"no client with id {client_id!r}")
    click.echo(f"client {client_id} deleted; its tokens are revoked")


@service_command(group, "disable")
@click.argument("client_id")
def disable(client_id: str) -> None:
    """Disable a client: it cannot authenticate, so it gets no tokens; its tokens end."""
    clients.set_disabled(client_id, True)
    click.echo(f"client {client_id} disabled; its tokens are revoked")


@service_command(group, "enable")
@click.argument("client_id")
def enable(client_id: str) -> None:
    """Enable a disabled client again (the tokens its disable ended stay ended)."""
    clients.set_disabled(client_id, False)
    click.echo(f"client {client_id} enabled")


@service_command(group, "rotate-secret")
@click.argument("client_id")
def rotate_secret(client_id: str) -> None:
    """A new secret, printed once as JSON; the old one stops working and the tokens end."""
    secret = clients.rotate_secret(client_id)
    click.echo(json.dumps({"client_id": client_id, "client_secret": secret}))
