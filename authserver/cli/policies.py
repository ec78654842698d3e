"""``authserver policies check|apply|export``.

Announcements (the new live version, roles stripped from users, warnings) go to standard
error, on every policy command alike; standard output carries only what a command is
asked for (the policy YAML of ``apply`` and ``export``, a history, a diff).
"""

from __future__ import annotations

import click
from flask import current_app

from authserver.cli.common import service_command
from authserver.policy import load_policy_yaml, undeclared_required_scopes
from authserver.resource import required_scope_names
from authserver.services import policy_admin, policy_store
from authserver.services.policy_admin import YAML, WriteOptions
from authserver.services.policy_errors import PolicyInvalid, RolesInUse

group = click.Group("policies", help="Validate, apply and export role policies.")


def _read(path: str) -> str:
    try:
        with open(path, encoding="utf-8") as handle:
            return handle.read()
    except (OSError, UnicodeDecodeError) as exc:
        raise click.ClickException(f"{path}: cannot read: {exc}") from None


def _print_issues(path: str, errors, warnings) -> None:
    for issue in errors:
        click.echo(issue.format(path), err=True)
    for issue in warnings:
        click.echo(issue.format(path).replace(": ", ": warning: ", 1), err=True)


def _warnings(result) -> list:
    """The policy's own warnings, and scopes that routes of this app need but it lacks."""
    warnings = list(result.warnings)
    if result.policy is not None:
        warnings += undeclared_required_scopes(result.policy, required_scope_names(current_app))
    return warnings


@service_command(group, "check")
@click.argument("path", metavar="FILE")
def check(path: str) -> None:
    """Validate FILE: every error as FILE:LINE:COLUMN: message; exit 1 if any."""
    result = load_policy_yaml(_read(path))
    warnings = _warnings(result)
    _print_issues(path, result.errors, warnings)
    if result.errors:
        raise click.exceptions.Exit(1)
    click.echo(f"{path}: ok ({len(warnings)} warning(s))")


@service_command(group, "apply")
@click.argument("path", metavar="FILE")
@click.option("--strip-removed-roles", is_flag=True, help="Take removed roles from their users.")
@click.option("--comment", help="Why: kept with the version (see `policies history`).")
def apply(path: str, strip_removed_roles: bool, comment: str | None) -> None:
    """Make FILE the live policy (a new version) and print it."""
    options = write_options(strip_removed_roles, comment)
    try:
        saved = policy_admin.replace_policy(_read(path), YAML, options)
    except PolicyInvalid as exc:
        _print_issues(path, exc.result.errors, ())
        raise click.exceptions.Exit(1) from None
    except RolesInUse as exc:
        raise roles_in_use(exc) from None
    _print_issues(path, (), saved.warnings)
    announce(saved)
    click.echo(saved.policy.to_yaml(), nl=False)


def announce(saved: policy_admin.Saved, note: str = "") -> None:
    """The new live version, and which removed roles were taken from how many users (as
    the admin API's ``stripped_roles`` says), on standard error."""
    click.echo(f"policy version {saved.version} is live{note}", err=True)
    if saved.stripped:
        held = ", ".join(
            f"{role} ({count} user(s))" for role, count in sorted(saved.stripped.items())
        )
        click.echo(f"stripped removed roles from their users: {held}", err=True)


def write_options(strip_removed_roles: bool, comment: str | None) -> WriteOptions:
    """A CLI write: by "cli", on whatever version is live, warned of scopes routes need."""
    return WriteOptions(
        actor="cli",
        comment=comment or None,
        strip_roles=strip_removed_roles,
        required=frozenset(required_scope_names(current_app)),
    )


def roles_in_use(exc: RolesInUse) -> click.ClickException:
    """The CLI's one line for a refused removal of held roles, naming its flag."""
    return click.ClickException(f"{exc.held} (use --strip-removed-roles)")


@service_command(group, "export")
def export() -> None:
    """Print the live policy as YAML (round-trips through apply)."""
    click.echo(policy_store.live_source(), nl=False)
