"""Engine settings per backend: psycopg 3 for PostgreSQL, WAL and a busy timeout for SQLite."""

import contextlib
import os
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine, make_url


def database_uri(url: str | None, instance_path: str) -> str:
    """The SQLAlchemy URL: a plain ``postgresql://`` URL uses psycopg 3."""
    if not url:
        return "sqlite:///" + str(Path(instance_path) / "authserver.db")
    if url.startswith("postgres://"):
        url = "postgresql://" + url.removeprefix("postgres://")
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    make_url(url)  # raises ArgumentError on garbage, reported as a config error
    return url


CONNECT_TIMEOUT_SECONDS = 3
#: The SQLite files: the database and the two SQLite makes beside it in WAL mode.
SQLITE_SUFFIXES = ("", "-wal", "-shm")
OWNER_ONLY = 0o600


def sqlite_files(database: str | None) -> list[Path]:
    """The database file of a SQLite URL's path and its -wal/-shm (existing or not); none
    for an in-memory database."""
    if not database or database == ":memory:" or database.startswith("file:"):
        return []
    return [Path(database + suffix) for suffix in SQLITE_SUFFIXES]


def restrict_sqlite_files(database: str | None) -> None:
    """Make the SQLite files owner-only (SPEC §10: they hold password hashes and the audit
    trail). SQLite gives the -wal and -shm it creates the database file's mode, so doing
    this as a connection opens, before WAL is switched on, covers the files made later."""
    for path in sqlite_files(database):
        with contextlib.suppress(FileNotFoundError, PermissionError):
            if path.stat().st_mode & 0o077:
                os.chmod(path, OWNER_ONLY)


def engine_options(uri: str) -> dict[str, Any]:
    if uri.startswith("sqlite"):
        return {"connect_args": {"timeout": 30}}
    # A database that accepts TCP but never answers must cost seconds (then a 503), not hang
    # every worker; the pool's pre-ping notices connections a restart has killed.
    return {
        "pool_pre_ping": True,
        "pool_size": 5,
        "max_overflow": 5,
        "connect_args": {"connect_timeout": CONNECT_TIMEOUT_SECONDS},
    }


def tune_sqlite(engine: Engine) -> None:
    """WAL lets readers run beside one writer across gunicorn workers; wait, don't fail, on locks.

    synchronous=NORMAL in WAL mode can lose the last commits on power loss, never corrupt the
    file: the trade-off SQLite recommends for WAL, documented in the README.
    """
    if engine.dialect.name != "sqlite":
        return
    database = engine.url.database

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record):
        restrict_sqlite_files(database)
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()
