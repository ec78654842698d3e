"""Refuse to run AUTHSERVER_ENV=production with development secrets.

Development creates a signing key in the instance folder and demo accounts with printed
credentials; neither may reach production. Each refusal is one line naming what to fix.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Mapping
from typing import Any

from flask import Flask
from sqlalchemy import inspect
from sqlalchemy.exc import OperationalError

from authserver.config import ConfigError
from authserver.database import sqlite_files
from authserver.extensions import db
from authserver.services import clients


def check_settings(settings: Mapping[str, Any]) -> None:
    """Checks that need no database: called before anything is created."""
    if settings["ENV"] != "production":
        return
    if not settings["SIGNING_KEYS"]:
        raise ConfigError(
            "AUTHSERVER_SIGNING_KEYS: set it in production (the development default creates "
            "a key in the instance folder)"
        )
    if not settings["ISSUER"].startswith("https://"):
        raise ConfigError("AUTHSERVER_ISSUER: production needs an https:// issuer")
    path = settings["SIGNING_KEYS"]
    if os.path.exists(path) and stat.S_IMODE(os.stat(path).st_mode) & 0o077:
        raise ConfigError(f"AUTHSERVER_SIGNING_KEYS: {path} is readable by others (chmod 600)")


DEMO_CLIENT_IDS = ("demo-client", "demo-public")  # what `authserver demo setup` creates


def check_database_files(app: Flask) -> None:
    """A SQLite database, and its -wal/-shm, readable by others is refused in production:
    they hold password hashes and the audit trail (SPEC §10)."""
    if app.config["ENV"] != "production" or db.engine.dialect.name != "sqlite":
        return
    for path in sqlite_files(db.engine.url.database):
        if path.exists() and stat.S_IMODE(path.stat().st_mode) & 0o077:
            raise ConfigError(
                f"AUTHSERVER_DATABASE_URL: {path} is readable by others "
                "(chmod 600 the database and its -wal/-shm files)"
            )


def check_demo_data(app: Flask) -> None:
    """No demo client (its secret was printed on a terminal) may exist in production; nor
    a database file others can read (checked first, before a connection opens)."""
    if app.config["ENV"] != "production":
        return
    with app.app_context():
        check_database_files(app)
    with app.app_context():
        try:
            if not inspect(db.engine).has_table("clients"):
                return
            found = [client_id for client_id in DEMO_CLIENT_IDS if clients.find(client_id)]
        except OperationalError:
            return  # the database is down: requests answer 503 until it is back
        finally:
            db.session.remove()
        if found:
            db.engine.dispose()  # the app is refused: close its pool now, not at GC
    if found:
        raise ConfigError(
            f"AUTHSERVER_ENV=production: demo credentials exist ({', '.join(found)}); "
            "delete them before starting"
        )
