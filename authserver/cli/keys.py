"""``authserver keys rotate``."""

from __future__ import annotations

import click
from flask import current_app

from authserver.cli.common import service_command
from authserver.security.keys import SigningKeyError, SigningKeys

group = click.Group("keys", help="Manage the signing keys.")


@service_command(group, "rotate")
def rotate() -> None:
    """Add a new signing key; old public keys stay in the JWKS until their tokens expire."""
    config = current_app.config
    try:
        keys = SigningKeys.rotate(
            config["SIGNING_KEYS"],
            config["SIGNING_ALG"],
            retain_seconds=config["ACCESS_TOKEN_TTL"],
        )
    except (SigningKeyError, OSError) as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"signing with key {keys.signing_kid} ({keys.alg})")
