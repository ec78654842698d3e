"""``authserver policies check|test|apply|export``.

Announcements (the new live version, roles stripped from users, warnings) go to standard
error, on every policy command alike; standard output carries only what a command is
asked for (the policy YAML of ``apply`` and ``export``, a history, a diff).
"""

from __future__ import annotations

import click
from flask import current_app

from authserver.cli.common import service_command
from authserver.policy import PolicyDiff, load_policy_yaml, undeclared_required_scopes
from authserver.policy.cases import failures, run_tests
from authserver.resource import required_scope_names
from authserver.services import policy_admin, policy_preview, policy_store
from authserver.services.policy_admin import YAML, WriteOptions
from authserver.services.policy_errors import PolicyInvalid, RolesInUse

group = click.Group("policies", help="Validate, test, apply and export role policies.")
#: names of a group's holders a dry run shows (the admin API's preview gives 20)
NAMES_SHOWN = 5


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


@service_command(group, "test")
@click.argument("path", metavar="FILE")
def test(path: str) -> None:
    """Run FILE's policy tests: each failure as FILE:LINE:COLUMN: test 'name': ...; exit 1
    if one fails (or FILE has errors)."""
    result = load_policy_yaml(_read(path))
    if result.policy is None:
        _print_issues(path, result.errors, ())
        raise click.exceptions.Exit(1)
    results = run_tests(result.policy)
    for issue in failures(results):
        click.echo(issue.format(path), err=True)
    failed = sum(not r.passed for r in results)
    click.echo(f"{path}: {len(results) - failed} passed, {failed} failed")
    if failed:
        raise click.exceptions.Exit(1)


@service_command(group, "apply")
@click.argument("path", metavar="FILE")
@click.option("--strip-removed-roles", is_flag=True, help="Take removed roles from their users.")
@click.option("--comment", help="Why: kept with the version (see `policies history`).")
@click.option(
    "--dry-run", is_flag=True, help="Print who would gain and lose what; change nothing."
)
def apply(path: str, strip_removed_roles: bool, comment: str | None, dry_run: bool) -> None:
    """Make FILE the live policy (a new version) and print it; with --dry-run, print what
    it would change (diff, who gains and loses which scopes, tests) and store nothing.

    Exit 1 when the policy would be refused (errors, failing tests, or removed roles still
    held without --strip-removed-roles)."""
    if dry_run:
        dry_run_apply(path, _read(path), strip_removed_roles)
        return
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


def dry_run_apply(path: str, source: str, strip_removed_roles: bool) -> None:
    """``apply --dry-run``: the preview (SPEC §14) as text on standard output."""
    preview = policy_preview.preview(source, YAML, required_scope_names(current_app))
    for line in preview_lines(path, preview):
        click.echo(line)
    held = preview.impact.roles_removed_held if preview.impact is not None else {}
    refused = not preview.valid or (held and not strip_removed_roles)
    click.echo(f"dry run: nothing stored; apply would {'refuse' if refused else 'store'} it")
    if refused:
        raise click.exceptions.Exit(1)


def preview_lines(path: str, preview: policy_preview.Preview) -> list[str]:
    """The preview for a person in a terminal: issues, diff, impact, tests."""
    lines = [issue.format(path) for issue in preview.errors if not _is_test(issue)]
    lines += [issue.format(path).replace(": ", ": warning: ", 1) for issue in preview.warnings]
    if preview.diff is None or preview.impact is None:
        return lines
    lines.append(f"changes from the live version {preview.live_version}: {preview.diff.summary()}")
    lines += [f"  {line}" for line in diff_lines(preview.diff)]
    lines += impact_lines(preview.impact)
    passed = sum(result.passed for result in preview.tests)
    lines.append(f"tests: {passed} passed, {len(preview.tests) - passed} failed")
    lines += [f"  {issue.format(path)}" for r in preview.tests for issue in r.failures]
    return lines


def _is_test(issue) -> bool:
    return issue.path.startswith("tests[") and issue.message.startswith("test ")


def impact_lines(impact) -> list[str]:
    """``12 users holding [editor] lose documents:write (alice, bob, ...)``, one per group."""
    if not impact.groups:
        lines = ["impact: no user or client gains or loses a scope"]
    else:
        lines = ["impact:"]
    for found in impact.groups:
        group = found.group
        noun = group.kind if group.count == 1 else f"{group.kind}s"
        ending = "s" if group.count == 1 else ""  # 1 user loses, 2 users lose
        changes = []
        if found.loses:
            changes.append(f"lose{ending} {', '.join(found.loses)}")
        if found.gains:
            changes.append(f"gain{ending} {', '.join(found.gains)}")
        shown = group.sample[:NAMES_SHOWN]
        names = ", ".join(shown) + (", ..." if group.count > len(shown) else "")
        roles = ", ".join(group.roles)
        lines.append(f"  {group.count} {noun} holding [{roles}] {' and '.join(changes)} ({names})")
    for role, count in impact.roles_removed_held.items():
        lines.append(f"removed role still held: {role} ({count} holder(s))")
    return lines


def diff_lines(changes: PolicyDiff) -> list[str]:
    """Readable lines for a diff, one change per line."""
    if changes.empty:
        return ["no changes"]
    lines = [f"scope added: {name}" for name in changes.scopes_added]
    lines += [f"scope removed: {name}" for name in changes.scopes_removed]
    lines += [f"scope description changed: {name}" for name in changes.scopes_changed]
    lines += [f"role added: {name}" for name in changes.roles_added]
    lines += [f"role removed: {name}" for name in changes.roles_removed]
    for name, change in changes.roles_changed.items():
        if "description" in change:
            old, new = change["description"]
            lines.append(f"role {name}: description {old!r} -> {new!r}")
        for part, label in (
            ("inherits", "inherits"),
            ("scopes", "scopes"),
            ("effective_scopes", "effective scopes"),
        ):
            if part in change:
                lines.append(f"role {name}: {label} {_delta(change[part])}")
    lines += [f"test added: {name}" for name in changes.tests_added]
    lines += [f"test removed: {name}" for name in changes.tests_removed]
    lines += [f"test changed: {name}" for name in changes.tests_changed]
    return lines


def _delta(delta: dict) -> str:
    return " ".join([*(f"+{x}" for x in delta["added"]), *(f"-{x}" for x in delta["removed"])])
