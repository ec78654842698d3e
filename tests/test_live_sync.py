"""LiveSync: the request path's live state, fresh within the bound on every backend.

The steady state makes no database round trip (the fallback counter stays still); a
lost feed makes every decision sync from the database instead.
"""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from prometheus_client import REGISTRY
from sqlalchemy import create_engine, text

from authserver import live
from authserver.database import database_uri
from authserver.extensions import db
from authserver.live.state import Refused
from authserver.models.base import utcnow
from authserver.services import policy_store
from tests.conftest import REDIS_URL

FALLBACKS = "authserver_live_fallback_syncs_total"


def fallbacks() -> float:
    return REGISTRY.get_sample_value(FALLBACKS) or 0.0


def claims(jti: str = "j1", sub: str = "7", roles=("editor",)) -> dict:
    now = int(time.time()) - 5
    scope = "documents:read documents:write"
    return {"jti": jti, "sub": sub, "client_id": "app", "iat": now, "exp": now + 900,
            "scope": scope, "roles": list(roles)}  # fmt: skip


@pytest.fixture
def make_sync(app):
    made = []

    def make(**config):
        app.config.update(config)
        sync = live.init_app(app)
        made.append(sync)
        return sync

    yield make
    for sync in made:
        sync.close()


def write_elsewhere(app, statement: str, notify: bool = False) -> None:
    """A change committed by another process (its own engine), optionally announced."""
    engine = create_engine(database_uri(app.config["DATABASE_URL"], "."))
    with engine.begin() as connection:
        connection.execute(text(statement), {"at": utcnow(), "until": utcnow() + timedelta(60)})
        if notify:
            connection.execute(text("SELECT pg_notify('authserver_live', '0')"))
    engine.dispose()


REVOKE_J1 = "INSERT INTO live_changes (kind, key, at, until) VALUES ('jti', 'j1', :at, :until)"


def wait_until(predicate, timeout: float = 3.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.01)
    return False


def test_first_use_loads_the_policy_and_decides(make_sync) -> None:
    sync = make_sync()

    assert sync.current().decide(claims()) == {"documents:read", "documents:write"}
    assert sync.current().decide(claims(roles=["viewer"])) == {"documents:read"}


def test_own_changes_hold_before_the_response(app, make_sync) -> None:
    sync = make_sync()
    sync.current()

    live.user_cut_off(7)
    db.session.commit()

    assert sync.state.decide(claims()) == Refused("user cut off")


def test_a_change_from_another_process_reaches_this_one_without_a_fallback(app, make_sync):
    sync = make_sync()
    sync.current()
    postgres = sync.backend == "postgresql"
    if postgres:
        assert wait_until(lambda: sync.feed_status() == "ok")
    before = fallbacks()

    write_elsewhere(app, REVOKE_J1, notify=postgres)

    if postgres:  # the feed thread re-reads; the request path only looks
        assert wait_until(lambda: "j1" in sync.state.revoked, timeout=1.0)
    else:  # the request path looks at data_version at most every LOCAL_CHECK_EVERY
        assert wait_until(lambda: "j1" in sync.current().revoked, timeout=1.0)
    assert sync.current().decide(claims()) == Refused("revoked")
    for _ in range(100):
        sync.current()
    assert fallbacks() == before


def test_a_policy_edit_narrows_on_the_next_decision(app, make_sync) -> None:
    sync = make_sync()
    sync.current()
    source = policy_store.live_source().replace("    scopes: [documents:write]", "    scopes: []")
    assert source != policy_store.live_source()

    version, _ = policy_store.save_version(source, actor="test")
    live.policy_changed(version)
    db.session.commit()

    assert sync.state.policy[0] == version
    assert sync.current().decide(claims()) == {"documents:read"}


@pytest.fixture
def postgres(app):
    if db.engine.dialect.name != "postgresql":
        pytest.skip("PostgreSQL only")


def test_a_lost_feed_falls_back_to_the_database_and_says_so(app, postgres, make_sync) -> None:
    import socket

    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))  # bound, never listening: connections are refused
    port = closed.getsockname()[1]
    try:
        sync = make_sync(LIVE_FEED_URL=f"postgresql://x@127.0.0.1:{port}/x")
        sync.current()
        assert wait_until(lambda: sync.feed_error not in (None, "starting"))
        assert sync.feed_status() == "lost"
        before = fallbacks()

        write_elsewhere(app, REVOKE_J1)  # not announced, and no feed to hear it anyway
        time.sleep(sync.settings.stale_after)

        assert sync.current().decide(claims()) == Refused("revoked")
        assert fallbacks() == before + 1
    finally:
        closed.close()


def test_the_redis_feed(app, postgres, make_sync) -> None:
    if not REDIS_URL:
        pytest.skip("AUTHSERVER_TEST_REDIS_URL is not set")
    sync = make_sync(REDIS_URL=REDIS_URL)
    sync.current()
    assert wait_until(lambda: sync.feed_status() == "ok")
    import redis

    write_elsewhere(app, REVOKE_J1)
    redis.Redis.from_url(REDIS_URL).publish("authserver:live", "0")

    assert wait_until(lambda: "j1" in sync.state.revoked, timeout=1.0)
