"""``authserver routes``: every route, its methods and the scopes it needs.

It replaces Flask's own ``routes`` command, adding the scopes ``require_scopes`` recorded.
"""

from __future__ import annotations

import json

import click
from flask import Flask, current_app
from flask.cli import with_appcontext

from authserver.resource import RequiredScopes, route_scopes

PUBLIC = "-"  # no bearer token (the /oauth endpoints authenticate clients instead)
ANY_TOKEN = "(any valid token)"
IMPLICIT_METHODS = frozenset({"HEAD", "OPTIONS"})


def describe(required: RequiredScopes | None) -> str:
    """``-`` (no token), ``(any valid token)``, ``a b`` (all of) or ``a, one of: b | c``."""
    if required is None:
        return PUBLIC
    parts = [" ".join(required.all_of)] if required.all_of else []
    if required.any_of:
        parts.append("one of: " + " | ".join(required.any_of))
    return ", ".join(parts) or ANY_TOKEN


def route_table(app: Flask) -> list[dict]:
    """One row per rule: rule, methods, endpoint, and what ``route_scopes`` says it needs."""
    needs = {
        (rule, method): required
        for rule, methods, required in route_scopes(app)
        for method in methods
    }
    rows = []
    rules = (
        (rule, sorted((rule.methods or set()) - IMPLICIT_METHODS))
        for rule in app.url_map.iter_rules()
    )
    for rule, methods in sorted(rules, key=lambda item: (item[0].rule, item[1])):
        required = next((needs[(rule.rule, m)] for m in methods if (rule.rule, m) in needs), None)
        rows.append(
            {
                "rule": rule.rule,
                "methods": methods,
                "endpoint": rule.endpoint,
                "scopes": describe(required),
                "required": _as_dict(required),
            }
        )
    return rows


def _as_dict(required: RequiredScopes | None) -> dict | None:
    if required is None:
        return None
    return {"all_of": list(required.all_of), "any_of": list(required.any_of)}


def format_table(rows: list[dict]) -> str:
    header = ("Rule", "Methods", "Scopes")
    lines = [(row["rule"], ", ".join(row["methods"]), row["scopes"]) for row in rows]
    widths = [max(len(line[i]) for line in (header, *lines)) for i in range(2)]
    return "\n".join(
        f"{rule:<{widths[0]}}  {methods:<{widths[1]}}  {scopes}".rstrip()
        for rule, methods, scopes in (header, *lines)
    )


@click.command("routes")
@click.option(
    "--format",
    "output",
    type=click.Choice(["table", "json"]),
    default="table",
    help="A table for people (default) or JSON for tools.",
)
@with_appcontext
def command(output: str) -> None:
    """Show every route, its methods and the scopes it needs ("-": no bearer token)."""
    rows = route_table(current_app)
    if output == "json":
        click.echo(json.dumps(rows, indent=2))
    else:
        click.echo(format_table(rows))
