"""``authserver keys rotate|list|remove``: the signing-key lifecycle (SPEC §13).

These commands need only the settings and the key file, not the app: they work where the
app cannot start, which is how production gets its first key (``keys rotate`` creates a
missing file) and how a broken file is looked at (``keys list``).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click
from flask import current_app, has_app_context

from authserver import production
from authserver.config import JWKS_MAX_AGE, PROJECT_ROOT, ConfigError, load_settings
from authserver.security.access_tokens import CLOCK_SKEW
from authserver.security.keys import SigningKeyError, SigningKeys, Timing

group = click.Group("keys", help="Manage the signing keys (SPEC §13).")


def _settings() -> Mapping[str, Any]:
    """The app's settings when one is running the command (``flask --app``, the tests),
    else the environment's, checked as at start (production needs a key-file path)."""
    if has_app_context():
        return current_app.config
    try:
        settings = load_settings()
        production.check_settings(settings)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None
    return settings


def _path(settings: Mapping[str, Any]) -> Path:
    return Path(settings["SIGNING_KEYS"] or PROJECT_ROOT / "instance" / "signing-keys.json")


def _retain(settings: Mapping[str, Any]) -> int:
    """How long a retired key stays trusted: the last token it signed may live that long."""
    return int(settings["ACCESS_TOKEN_TTL"]) + CLOCK_SKEW


def _run(action: Callable[[], Any]) -> Any:
    try:
        return action()
    except (SigningKeyError, OSError) as exc:
        raise click.ClickException(str(exc)) from None


def _when(seconds: float | None) -> str:
    if seconds is None or seconds <= 0:
        return "-"
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@group.command("rotate")
@click.option(
    "--now",
    "at_once",
    is_flag=True,
    help="Sign with the new key at once (a compromise): resource servers that cached the "
    "JWKS refuse new tokens until they fetch it again.",
)
def rotate(at_once: bool) -> None:
    """Add a new signing key: published in the JWKS at once, it signs after
    AUTHSERVER_KEY_PUBLISH_SECONDS; the key signing until then retires at that moment."""
    settings = _settings()
    publish = 0 if at_once else int(settings["KEY_PUBLISH_SECONDS"])
    path, alg = _path(settings), settings["SIGNING_ALG"]
    keys = _run(lambda: SigningKeys.rotate(path, alg, _retain(settings), publish))
    new = _run(lambda: SigningKeys.timings(path))[-1]
    if new.kid == keys.signing_kid:  # --now, or a new file: its one key signs at once
        click.echo(f"signing with key {keys.signing_kid} ({keys.alg})")
        return
    click.echo(
        f"publishing key {new.kid} ({new.alg}): it signs from {_when(new.activates)}, "
        f"in {publish} s; key {keys.signing_kid} signs until then"
    )
    if publish < JWKS_MAX_AGE:
        click.echo(
            f"note: AUTHSERVER_KEY_PUBLISH_SECONDS={publish} is shorter than the JWKS max-age "
            f"({JWKS_MAX_AGE} s): a resource server may meet the new kid before it refetches",
            err=True,
        )


@group.command("list")
def list_keys() -> None:
    """Every key of the file: kid, algorithm, state (next, active, retired) and its times;
    a retired key is trusted until its "trusted until" time, then leaves the JWKS."""
    settings = _settings()
    timings = _run(lambda: SigningKeys.timings(_path(settings)))
    now, retain = time.time(), _retain(settings)
    header = ("KID", "ALG", "STATE", "CREATED", "SIGNS FROM", "RETIRES", "TRUSTED UNTIL")
    rows: list[tuple[str, ...]] = [header]
    rows += [_row(timing, now, retain) for timing in reversed(timings)]
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    for row in rows:
        cells = (cell.ljust(width) for cell, width in zip(row, widths, strict=True))
        click.echo("  ".join(cells).rstrip())


def _row(timing: Timing, now: float, retain: int) -> tuple[str, ...]:
    leaves = timing.leaves_at(retain)
    return (
        timing.kid,
        timing.alg,
        timing.state(now),
        _when(timing.created),
        _when(timing.activates),
        _when(timing.retires),
        _when(leaves) if leaves != float("inf") else "-",
    )


# A kid is an RFC 7638 thumbprint (base64url): one in 64 starts with "-", which click would
# otherwise take for an option.
@group.command("remove", context_settings={"ignore_unknown_options": True})
@click.argument("kid")
def remove(kid: str) -> None:
    """Drop key KID from the file now: every instance refuses the tokens it signed from its
    next request on, and the JWKS no longer lists it. The active key cannot go: run
    `keys rotate --now` first."""
    settings = _settings()
    _run(lambda: SigningKeys.remove(_path(settings), kid, _retain(settings)))
    click.echo(f"removed key {kid}; tokens it signed are refused from now on")
