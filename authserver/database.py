"""Engine settings per backend: psycopg 3 for PostgreSQL, WAL and a busy timeout for SQLite."""

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

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record):
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()
