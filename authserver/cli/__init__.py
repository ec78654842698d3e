"""The ``authserver`` command: a FlaskGroup around the app factory.

Each command is a thin wrapper over a service function; service errors become one-line
messages and a non-zero exit, never a traceback.
"""

from __future__ import annotations

import sys

import click
from flask.cli import FlaskGroup

from authserver.app import create_app
from authserver.cli import clients, db, demo, keys, policies, users
from authserver.config import ConfigError


def _create_app():
    try:
        return create_app()
    except ConfigError as exc:
        click.echo(f"Error: {exc}", err=True)
        sys.exit(2)


@click.group(cls=FlaskGroup, create_app=_create_app, add_version_option=False)
def cli() -> None:
    """authserver: an OAuth 2.0 authorization server with role-based access control."""


for module in (db, policies, users, clients, keys, demo):
    cli.add_command(module.group)


def main() -> None:
    cli.main(prog_name="authserver")
