"""The ``authserver`` command: a FlaskGroup around the app factory.

Each command is a thin wrapper over a service function; service errors become one-line
messages and a non-zero exit, never a traceback.
"""

from __future__ import annotations

import logging
import os
import sys

import click
from flask import Flask
from flask.cli import FlaskGroup, shell_command

import authserver.cli.policy_admin  # noqa: F401 (adds its commands to `policies`)
from authserver.app import create_app
from authserver.cli import clients, db, demo, keys, policies, routes, tokens, users
from authserver.config import ConfigError
from authserver.services.errors import ServiceError


def _create_app():
    """The app, or one line on stderr and exit status 2 when the configuration is bad.

    A ServiceError here is AUTHSERVER_POLICY_FILE failing to seed an empty store at start.
    """
    try:
        app = create_app()
    except (ConfigError, ServiceError) as exc:
        click.echo(f"Error: {exc}", err=True)
        sys.exit(2)
    if "AUTHSERVER_LOG_LEVEL" not in os.environ:
        # A command's own output is the answer; its audit events are in the database.
        app.logger.setLevel(logging.WARNING)
    return app


class Group(FlaskGroup):
    """Flask's group without its development server: Flask's default commands are left
    out (``run`` serves with Werkzeug, not gunicorn; ``routes`` shows no scopes) and
    ``shell`` is added back. Flask-Limiter's ``limiter`` plugin still works but is not
    listed: it manages that extension's storage, which this server does not use."""

    UNLISTED = frozenset({"limiter"})

    def list_commands(self, ctx: click.Context) -> list[str]:
        return [name for name in super().list_commands(ctx) if name not in self.UNLISTED]


@click.group(
    cls=Group, create_app=_create_app, add_version_option=False, add_default_commands=False
)
def cli() -> None:
    """authserver: an OAuth 2.0 authorization server with role-based access control.

    Serve it with gunicorn (`make run`, or `gunicorn -c config/gunicorn.conf.py wsgi:app`).
    """


GROUPS = tuple(module.group for module in (db, policies, users, clients, keys, tokens, demo))
for command_group in GROUPS:
    cli.add_command(command_group)
cli.add_command(routes.command)  # instead of Flask's own `routes`: this one shows the scopes
cli.add_command(shell_command)  # Flask's: a Python shell in the app context


def init_app(app: Flask) -> None:
    """Give ``flask --app ...`` the same commands (our ``db`` replaces Flask-Migrate's, so
    that ``db upgrade`` seeds the policy there too)."""
    for command_group in GROUPS:
        app.cli.add_command(command_group)


def main() -> None:
    cli.main(prog_name="authserver")
