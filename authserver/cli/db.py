"""``authserver db ...``: Flask-Migrate's commands, with ``upgrade`` also seeding the policy
and making the console's client."""

from __future__ import annotations

import click
import flask_migrate
from flask import current_app
from flask_migrate.cli import db as migrate_group

from authserver.cli.common import service_command
from authserver.console import client as console_client
from authserver.services import policy_store

group = click.Group(
    "db",
    help="Create or migrate the schema (Flask-Migrate).",
    params=migrate_group.params,
    callback=migrate_group.callback,
    commands={name: cmd for name, cmd in migrate_group.commands.items() if name != "upgrade"},
)


@service_command(group, "upgrade")
@click.argument("revision", default="head")
def upgrade(revision: str) -> None:
    """Create or migrate the schema, seed an empty policy store, and create the admin
    console's built-in client (SPEC §15) unless AUTHSERVER_CONSOLE is false."""
    flask_migrate.upgrade(revision=revision)
    version = policy_store.seed_if_empty()
    if version is not None:
        click.echo(f"policy version {version} seeded from {policy_store.policy_file(current_app)}")
    if current_app.config["CONSOLE"]:
        outcome = console_client.ensure()
        if outcome is not None:
            click.echo(outcome)
