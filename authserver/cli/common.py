"""Helpers shared by the command groups."""

from __future__ import annotations

import functools
from collections.abc import Callable

import click
from flask.cli import with_appcontext

from authserver.services.errors import ServiceError


def service_command(group: click.Group, name: str, **kwargs) -> Callable:
    """A command in ``group`` that runs in the app context and prints ServiceError as one line."""

    def decorator(function: Callable) -> Callable:
        @functools.wraps(function)
        def wrapper(*args, **kw):
            try:
                return function(*args, **kw)
            except ServiceError as exc:
                raise click.ClickException(str(exc)) from None

        return group.command(name, **kwargs)(with_appcontext(wrapper))

    return decorator
