"""``authserver demo``: demo users and clients for a laptop, with fresh credentials each run."""

from __future__ import annotations

import click
from flask import current_app

from authserver.cli.common import service_command
from authserver.models.client import GRANT_TYPES, PUBLIC_GRANT_TYPES
from authserver.production import DEMO_CLIENT_IDS
from authserver.security.digests import new_secret
from authserver.services import clients, users

group = click.Group("demo", help="Demo data for trying the server (not in production).")

DEMO_USERS = (("alice", "admin"), ("bob", "editor"), ("carol", "viewer"))
DEMO_CLIENT, DEMO_PUBLIC_CLIENT = DEMO_CLIENT_IDS


@service_command(group, "setup")
def setup() -> None:
    """Create (or reset) demo users and clients and print their credentials."""
    if current_app.config["ENV"] == "production":
        raise click.ClickException("demo data is refused when AUTHSERVER_ENV=production")
    passwords = {}
    for username, role in DEMO_USERS:
        passwords[username] = new_secret(9)
        if users.find(username) is None:
            users.create(username, passwords[username], [role])
        else:
            users.set_password(username, passwords[username])
            users.set_roles(username, [role])
            users.set_disabled(username, False)
    for client_id in (DEMO_CLIENT, DEMO_PUBLIC_CLIENT):
        clients.delete(client_id)
    _, secret = clients.create("Demo client", GRANT_TYPES, client_id=DEMO_CLIENT)
    assert secret is not None  # a confidential client is made with one
    clients.create(
        "Demo public client", PUBLIC_GRANT_TYPES, public=True, client_id=DEMO_PUBLIC_CLIENT
    )
    _print(passwords, secret)


def _print(passwords: dict[str, str], secret: str) -> None:
    issuer = current_app.config["ISSUER"]
    click.echo("Demo credentials (new each run; development only):")
    for username, role in DEMO_USERS:
        click.echo(f"  user {username:<6} password {passwords[username]}  role {role}")
    click.echo(f"  confidential client {DEMO_CLIENT}  secret {secret}")
    click.echo(f"  public client       {DEMO_PUBLIC_CLIENT}  (no secret)")
    click.echo("Try it:")
    click.echo(
        f"  curl -s -u {DEMO_CLIENT}:{secret} -d grant_type=password -d username=alice \\\n"
        f"       --data-urlencode password={passwords['alice']} {issuer}/oauth/token"
    )
    click.echo(f'  curl -s -H "Authorization: Bearer $ACCESS_TOKEN" {issuer}/api/me')
