"""``authserver tokens purge``."""

from __future__ import annotations

import click
from flask import current_app

from authserver.cli.common import service_command
from authserver.services import purge as purge_service

group = click.Group("tokens", help="Token housekeeping.")


#: Ten years: more would overflow the date arithmetic, and means "never" anyway.
MAX_GRACE_SECONDS = 315_360_000


@service_command(group, "purge")
@click.option(
    "--revoked-grace",
    type=click.IntRange(0, MAX_GRACE_SECONDS),
    default=86_400,
    show_default=True,
    help="Seconds to keep revoked refresh-token families (to recognise late reuse).",
)
def purge(revoked_grace: int) -> None:
    """Delete expired families, old revoked ones, live-authorization entries that can no
    longer matter (revoked jtis, cut-offs) and stale lockout counters (safe to run from
    cron on any one instance)."""
    result = purge_service.purge(revoked_grace, current_app.config["LOCKOUT_RESET_SECONDS"])
    click.echo(
        f"purged {result.families} refresh-token families, "
        f"{result.live_changes} live-authorization entries, "
        f"{result.login_failures} login counters"
    )
