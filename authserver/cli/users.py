"""``authserver users create|set-password|set-roles|disable|enable|unlock|revoke-tokens|list``."""

from __future__ import annotations

import sys

import click

from authserver.cli.common import service_command
from authserver.services import users

group = click.Group("users", help="Manage users and their roles.")


def read_password() -> str:
    """From a hidden prompt with confirmation, or the first line of piped standard input.

    A second piped line, if present, is a confirmation and must match.
    """
    if sys.stdin.isatty():
        return click.prompt("Password", hide_input=True, confirmation_prompt=True)
    lines = sys.stdin.read().splitlines()
    if not lines or not lines[0]:
        raise click.ClickException("no password on standard input")
    if len(lines) > 1 and lines[1] != lines[0]:
        raise click.ClickException("the two passwords on standard input differ")
    return lines[0]


@service_command(group, "create")
@click.argument("username")
@click.option("--role", "roles", multiple=True, help="A role from the live policy (repeatable).")
def create(username: str, roles: tuple[str, ...]) -> None:
    """Create a user; the password comes from a hidden prompt or standard input."""
    user = users.create(username, read_password(), roles)
    click.echo(f"created user {user.username} with roles: {', '.join(user.roles) or '(none)'}")


@service_command(group, "set-password")
@click.argument("username")
def set_password(username: str) -> None:
    """Give a user a new password (hidden prompt or standard input, as for create); the
    user's refresh-token families end and its access tokens are cut off."""
    users.set_password(username, read_password())
    click.echo(f"{username}: password changed; every earlier token of the user is ended")


@service_command(group, "unlock")
@click.argument("username")
def unlock(username: str) -> None:
    """Clear a user's failed-login count and any lockout."""
    users.unlock(username)
    click.echo(f"{username} unlocked")


@service_command(group, "set-roles")
@click.argument("username")
@click.argument("roles", nargs=-1)
def set_roles(username: str, roles: tuple[str, ...]) -> None:
    """Replace the user's roles (none given: no roles)."""
    user = users.set_roles(username, roles)
    click.echo(f"{user.username}: {', '.join(user.roles) or '(no roles)'}")


@service_command(group, "disable")
@click.argument("username")
def disable(username: str) -> None:
    """Disable a user: no new tokens, and refresh-token families end now."""
    users.set_disabled(username, True)
    click.echo(f"{username} disabled")


@service_command(group, "enable")
@click.argument("username")
def enable(username: str) -> None:
    """Enable a disabled user."""
    users.set_disabled(username, False)
    click.echo(f"{username} enabled")


@service_command(group, "revoke-tokens")
@click.argument("username")
def revoke_tokens(username: str) -> None:
    """End every token of a user: refresh-token families, and access tokens already issued
    (refused everywhere within a second)."""
    families = users.revoke_tokens(username)
    click.echo(f"{username}: tokens revoked ({len(families)} refresh-token families ended)")


@service_command(group, "list")
def list_users() -> None:
    """One line per user: username, state (a locked account: ``locked until <time>``), roles."""
    for user in users.list_all():
        status = "disabled" if user.disabled else "enabled"
        until = users.locked_until(user)
        if until is not None:
            status += f",locked until {until.isoformat(timespec='seconds')}"
        click.echo(f"{user.username}\t{status}\t{' '.join(user.roles) or '-'}")
