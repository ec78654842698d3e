"""``authserver tokens purge``."""

from __future__ import annotations

import click
from flask import current_app

from authserver.cli.common import service_command
from authserver.services import purge as purge_service

group = click.Group("tokens", help="Token housekeeping.")


@service_command(group, "purge")
@click.option(
    "--revoked-grace",
    default=86_400,
    show_default=True,
    help="Seconds to keep revoked refresh-token families (to recognise late reuse).",
)
def purge(revoked_grace: int) -> None:
    """Delete expired families, old revoked ones and expired revocation entries."""
    result = purge_service.purge(revoked_grace, current_app.config["LOCKOUT_RESET_SECONDS"])
    click.echo(
        f"purged {result.families} refresh-token families, "
        f"{result.revoked_tokens} revocation entries, {result.login_failures} login counters"
    )
