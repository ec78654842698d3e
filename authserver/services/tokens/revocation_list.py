"""The read path of the access-token revocation list: "is this ``jti`` revoked?".

Asked on every protected request, so it avoids the ORM (see RevocationList). The writes are
in ``revocation.py``.
"""

from __future__ import annotations

import sqlite3
import threading
import urllib.parse
import weakref

from sqlalchemy import select
from sqlalchemy.engine import Engine

from authserver.extensions import db
from authserver.models import RevokedToken
from authserver.services.errors import Unavailable
from authserver.state import state


class RevocationList:
    """Answers "is this ``jti`` revoked?" on every protected request, as cheaply as it can.

    SQLite: a read-only connection of its own, reused (a few microseconds; each SELECT runs
    outside any transaction, so it sees every committed revocation at once). Other
    databases: one Core statement on a pooled connection, no ORM session.
    """

    QUERY = "SELECT 1 FROM revoked_tokens WHERE jti = ?"

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        database = engine.url.database if engine.dialect.name == "sqlite" else None
        self._path = database if database and database != ":memory:" else None
        self._connection: sqlite3.Connection | None = None
        self._lock = threading.Lock()
        weakref.finalize(self, RevocationList._close_connection, self.__dict__)

    def is_revoked(self, jti: str) -> bool:
        if self._path is None:
            statement = select(RevokedToken.jti).where(RevokedToken.jti == jti)
            with self.engine.connect() as connection:
                return connection.execute(statement).first() is not None
        with self._lock:
            try:
                if self._connection is None:
                    uri = f"file:{urllib.parse.quote(self._path)}?mode=ro"
                    self._connection = sqlite3.connect(
                        uri, uri=True, timeout=30, check_same_thread=False
                    )
                return self._connection.execute(self.QUERY, (jti,)).fetchone() is not None
            except sqlite3.Error as exc:
                self.close()
                raise Unavailable(f"revocation list unreadable ({type(exc).__name__})") from None

    def close(self) -> None:
        with self._lock:
            RevocationList._close_connection(self.__dict__)

    @staticmethod
    def _close_connection(attributes: dict) -> None:
        connection = attributes.get("_connection")
        attributes["_connection"] = None
        if connection is not None:
            connection.close()


def revocation_list() -> RevocationList:
    """The current app's RevocationList, made on first use."""
    app_state = state()
    if app_state.revocations is None:
        app_state.revocations = RevocationList(db.engine)
    return app_state.revocations


def is_revoked(jti: str) -> bool:
    """Whether the access token ``jti`` is on the revocation list (RFC 7009, SPEC §6)."""
    return revocation_list().is_revoked(jti)
