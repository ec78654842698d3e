"""The change log (authserver.live.log): rows written at commit, in commit order, read back.

On SQLite and PostgreSQL; the advisory lock and the in-transaction NOTIFY on PostgreSQL.
"""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import psycopg
import pytest
from sqlalchemy import text

from authserver import live
from authserver.extensions import db
from authserver.live import log
from authserver.models.base import utcnow
from tests.conftest import PG_URL


@pytest.fixture
def committed(app, monkeypatch) -> list:
    """Every batch of rows the app's LiveSync was handed after a commit; the log starts
    empty (without the row of the policy seeded at start)."""
    db.session.execute(text("DELETE FROM live_changes"))
    db.session.commit()
    sync = live.init_app(app)
    batches: list = []
    monkeypatch.setattr(sync, "committed", batches.append)
    return batches


def read(after: int = 0):
    with db.engine.connect() as connection:
        return log.read_since(connection, after)


def test_rows_are_written_at_commit_and_handed_over_after_it(app, committed) -> None:
    live.record("jti", "j1", until=utcnow() + timedelta(minutes=5))
    live.user_cut_off(7)
    assert read() == []  # nothing before the commit

    db.session.commit()

    rows = read()
    assert [(r.kind, r.key) for r in rows] == [("jti", "j1"), ("user", "7")]
    assert rows[0].seq < rows[1].seq
    assert committed == [rows]
    ttl = app.config["ACCESS_TOKEN_TTL"]
    assert rows[1].until - rows[1].at == pytest.approx(ttl + 30)


def test_a_rollback_drops_pending_rows(app, committed) -> None:
    live.jti_revoked("j1", int(time.time()) + 60)
    db.session.rollback()
    db.session.commit()

    assert read() == []
    assert committed == []


def test_read_since_and_read_all(app, committed) -> None:
    now = utcnow()
    live.record("jti", "gone", now, now - timedelta(seconds=1))
    live.record("jti", "kept", now, now + timedelta(seconds=60))
    live.policy_changed(2)
    db.session.commit()
    first, *rest = read()

    with db.engine.connect() as connection:
        newest, rows = log.read_all(connection, utcnow())
        since = log.read_since(connection, first.seq)

    assert newest == rest[-1].seq
    assert [r.key for r in rows] == ["kept", "2"]
    assert since == rest


def test_seq_is_never_reused_after_the_last_row_is_deleted(app, committed) -> None:
    live.jti_revoked("a", int(time.time()) + 60)
    db.session.commit()
    (first,) = read()
    db.session.execute(text("DELETE FROM live_changes"))
    db.session.commit()

    live.jti_revoked("b", int(time.time()) + 60)
    db.session.commit()

    assert read(first.seq)[0].key == "b"


def test_client_scopes_and_newest_policy(app, oauth_client) -> None:
    with db.engine.connect() as connection:
        version, source = log.newest_policy(connection)
        scopes = log.client_scopes(connection, {oauth_client.client_id, "nobody"})

    assert version == 1 and "roles:" in source
    assert scopes == {oauth_client.client_id: None}


def test_unknown_kinds_are_refused(app) -> None:
    with pytest.raises(ValueError):
        live.record("users", "7")


@pytest.fixture
def postgres_app(app):
    if db.engine.dialect.name != "postgresql":
        pytest.skip("PostgreSQL only")
    return app


def test_postgresql_notifies_at_commit_and_not_before(postgres_app, committed) -> None:
    with psycopg.connect(PG_URL, autocommit=True) as listener:
        listener.execute(f"LISTEN {log.CHANNEL}")
        live.user_cut_off(7)
        db.session.flush()
        assert list(listener.notifies(timeout=0.2)) == []

        db.session.commit()

        (notice,) = list(listener.notifies(timeout=2, stop_after=1))
    assert notice.payload == str(read()[-1].seq)


def test_postgresql_writers_wait_for_the_log_lock(postgres_app, committed) -> None:
    """A writer that holds the lock delays the next one, so seq order is commit order."""
    done = threading.Event()
    with psycopg.connect(PG_URL) as holder:
        holder.execute("SELECT pg_advisory_xact_lock(%s)", (log.ADVISORY_LOCK,))
        app = postgres_app

        def write() -> None:
            with app.app_context():
                live.user_cut_off(8)
                db.session.commit()
                db.session.remove()
            done.set()

        thread = threading.Thread(target=write)
        thread.start()
        assert not done.wait(0.5)
        holder.rollback()  # releases the lock
        assert done.wait(5)
        thread.join()
    assert [r.key for r in read()] == ["8"]
