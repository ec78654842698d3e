"""Helpers shared by the command groups."""

from __future__ import annotations

import functools
from collections.abc import Callable

import click
from flask.cli import with_appcontext
from sqlalchemy.exc import SQLAlchemyError

from authserver.extensions import db
from authserver.services.errors import ServiceError


def database_message(exc: SQLAlchemyError) -> str:
    """One line for a database failure: the driver's first line and what to try."""
    cause = str(getattr(exc, "orig", None) or exc).strip().splitlines()
    first = cause[0] if cause else type(exc).__name__
    hint = "is AUTHSERVER_DATABASE_URL right, and has `authserver db upgrade` run?"
    return f"database error: {first} ({hint})"


def service_command(group: click.Group, name: str, **kwargs) -> Callable:
    """A command in ``group`` that runs in the app context; a ServiceError or a database
    failure becomes one line on stderr and exit status 1, never a traceback."""

    def decorator(function: Callable) -> Callable:
        @functools.wraps(function)
        def wrapper(*args, **kw):
            try:
                return function(*args, **kw)
            except ServiceError as exc:
                db.session.rollback()
                raise click.ClickException(str(exc)) from None
            except SQLAlchemyError as exc:
                db.session.rollback()
                raise click.ClickException(database_message(exc)) from None

        return group.command(name, **kwargs)(with_appcontext(wrapper))

    return decorator
