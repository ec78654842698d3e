"""``authserver policies history|diff|explain|restore``: the admin API's policy views, in text."""

from __future__ import annotations

import click

from authserver.cli.common import service_command
from authserver.cli.policies import announce, diff_lines, group, roles_in_use, write_options
from authserver.services import policy_admin, policy_store
from authserver.services.policy_errors import PolicyInvalid, RolesInUse

REASONS = {
    "undeclared": "the policy does not declare it",
    "no_role_grants": "no role of the user grants it",
    "client_not_allowed": "the client may not ask for it",
    "user_disabled": "the user is disabled",
    "client_disabled": "the client is disabled",
    "client_grant_type": "the client may not use the grant",
    "client_public": "a public client cannot authenticate for client_credentials",
    "request_invalid": "another requested scope makes the whole request invalid_scope",
}


@service_command(group, "history")
@click.option("--limit", type=click.IntRange(1, 10_000), default=50, show_default=True)
def history(limit: int) -> None:
    """One line per policy version, newest first: version, time, author, comment."""
    rows = policy_store.list_versions(limit)
    for index, row in enumerate(rows):
        live = " (live)" if index == 0 else ""
        when = row.created_at.isoformat(timespec="seconds")
        click.echo(f"v{row.version}{live}  {when}  {row.created_by or '-'}  {row.comment or ''}")


@service_command(group, "diff")
@click.argument("old", type=click.IntRange(1))
@click.argument("new", type=click.IntRange(1))
def diff(old: int, new: int) -> None:
    """What changed from version OLD to version NEW."""
    changes = policy_admin.diff_versions(old, new)
    click.echo(f"v{old} -> v{new}: {changes.summary()}")
    for line in diff_lines(changes):
        click.echo(line)


@service_command(group, "explain")
@click.argument("username")
@click.argument("scopes", nargs=-1, metavar="SCOPE...")
@click.option("--client", "client_id", metavar="CLIENT_ID", help="Apply this client's scopes.")
def explain(username: str, scopes: tuple[str, ...], client_id: str | None) -> None:
    """Which roles give USERNAME each SCOPE, or why not (no SCOPE: every declared scope)."""
    result = policy_admin.explain(username, " ".join(scopes) or None, client_id)
    for line in explain_lines(result):
        click.echo(line)


@service_command(group, "explain-client")
@click.argument("client_id", metavar="CLIENT_ID")
@click.argument("scopes", nargs=-1, metavar="SCOPE...")
def explain_client(client_id: str, scopes: tuple[str, ...]) -> None:
    """Which of CLIENT_ID's own roles give it each SCOPE at client_credentials, or why not."""
    result = policy_admin.explain(None, " ".join(scopes) or None, client_id)
    for line in explain_lines(result):
        click.echo(line)


def explain_lines(result: dict) -> list[str]:
    """Readable lines for an explanation from :func:`policy_admin.explain`."""
    if "user" in result:
        who = f"user {result['user']} (roles: {', '.join(result['user_roles']) or 'none'})"
        if "client" in result:
            who += f", client {result['client']}"
    else:
        roles = ", ".join(result["client_roles"]) or "none"
        who = f"client {result['client']} (roles: {roles}), its own grant (client_credentials)"
    lines = [who, f"requested: {' '.join(result['requested']) or '(no scope parameter)'}"]
    lines.append(f"granted: {result['granted'] if result['granted'] is not None else 'nothing'}")
    if "error" in result:
        lines.append(f"error: {result['outcome']}: {result['error']}")
    for scope, verdict in result["scopes"].items():
        chains = "; ".join(_chain(grant) for grant in verdict["roles"])
        if verdict["granted"]:
            lines.append(f"  {scope}: granted by {chains}")
            continue
        line = f"  {scope}: refused: {REASONS.get(verdict.get('reason'), 'refused')}"
        lines.append(f"{line} (roles granting it: {chains})" if chains else line)
    return lines


def _chain(grant: dict) -> str:
    chain = " -> ".join(grant["path"])
    return f"{chain} (via {grant['via']})" if "via" in grant else chain


@service_command(group, "restore")
@click.argument("version", type=click.IntRange(1))
@click.option("--strip-removed-roles", is_flag=True, help="Take removed roles from their users.")
@click.option("--comment", help="Why: kept with the version (default: restored version N).")
def restore(version: int, strip_removed_roles: bool, comment: str | None) -> None:
    """Make VERSION's policy live again, as a new version (the live one: nothing to do)."""
    live = policy_store.newest_version()
    if version == live:
        click.echo(f"policy version {version} is already live; nothing stored", err=True)
        return
    try:
        saved = policy_admin.restore(version, write_options(strip_removed_roles, comment))
    except RolesInUse as exc:
        raise roles_in_use(exc) from None
    except PolicyInvalid as exc:  # its tests fail (SPEC §14): each at its place in VERSION
        for issue in exc.result.errors:
            click.echo(issue.format(f"version {version}"), err=True)
        raise click.ClickException(exc.detail) from None
    for issue in saved.warnings:
        click.echo(f"warning: {issue.path}: {issue.message}", err=True)
    announce(saved, f" (restored version {version})")
