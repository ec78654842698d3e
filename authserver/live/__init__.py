"""Live authorization (SPEC §12): every protected request decides on the present state.

An access token is a snapshot; the decision is not. Resource routes, the admin API and
introspection all ask :func:`decide`, which answers from this process's memory:

- **Refused** (401 ``invalid_token``; introspection ``{"active": false}``) when the ``jti``
  is revoked, or the token's user or client was cut off at or after its ``iat`` (user
  disabled, deleted, revoke-tokens, password changed, a role taken away; client deleted,
  disabled, secret rotated). ``iat`` is whole seconds, so a token issued in the same second
  as a cut-off is refused too (conservative).
- **Narrowed** otherwise: the scopes a request may use are the token's ``scope`` ∩ what its
  ``roles`` grant under the live policy ∩ the client's allowed scopes now. Never wider.

The parts:

- ``log`` — the durable truth, table ``live_changes``: one append-only row per change
  ("jti", "user", "client", "policy", "clients"), with ``until``, after which the row can
  no longer matter (``tokens purge`` deletes it, processes prune it). Writers call
  :func:`record` (or a helper below) inside their transaction; the row is written at
  commit, under a PostgreSQL advisory lock so seq order is commit order, with a
  ``pg_notify`` delivered at commit. Sound only because the verifier refuses tokens with
  ``exp - iat`` > ACCESS_TOKEN_TTL + skew (SPEC §13): a pruned cut-off cannot let an old
  long-lived token back in.
- ``state`` — :class:`LiveState`, pure Python: dictionaries of revoked ``jti``s and
  cut-offs, the live policy, and the decision function.
- ``feeds`` — what tells a process "re-read the log": SQLite ``PRAGMA data_version``
  (looked at on the request path at most every 50 ms, local), PostgreSQL LISTEN/NOTIFY
  or Redis pub/sub (a daemon thread per worker, started after the fork, with a heartbeat every
  ``AUTHSERVER_LIVE_HEARTBEAT_MS``; a heartbeat answered means "nothing missed up to when
  it was sent"; the Redis feed's heartbeat also reads the log's newest seq, since a PUBLISH
  is not part of the writer's transaction).
- ``sync`` — :class:`LiveSync`, the request path's entry: if the feed confirmed the state
  within ``AUTHSERVER_LIVE_STALE_MS`` (default 500 ms), decide from memory (no round
  trip); else sync from the database first (the fallback), so no decision is ever staler
  than the bound. ``/readyz`` details say ``"live_feed": "lost"`` (still 200: the process
  is correct, only slower) and the gauge ``authserver_live_feed_up`` drops to 0; the
  counter ``authserver_live_fallback_syncs`` counts the database syncs. The thread
  reconnects with backoff and re-reads the log on every (re)connect.

- ``clients`` — client records for introspection's client authentication, dropped by
  the log's client rows (no ``clients`` read in the steady state).

The process that made a change applies it right after its commit, so there it holds
before the response; every other process learns of it within the bound (1 s; p50/p100
measured under gunicorn per backend, and with the feed lost, in docs/deploy.md).

Each app's LiveSync lives in ``app.extensions["authserver.live"]``, made on first use
(:func:`live_sync`); nothing starts in the gunicorn master, which builds an app but serves
no request. Writers: :func:`user_cut_off`, :func:`client_cut_off` (deleted today; the call
for a disable or a secret rotation), :func:`jti_revoked`, :func:`policy_changed`,
:func:`client_scopes_changed`, inside the writer's transaction. Token issue calls
:func:`wait_past_cutoffs`, so a token issued just after a cut-off is not refused with the
old ones. Settings: ``AUTHSERVER_LIVE_STALE_MS``, ``AUTHSERVER_LIVE_HEARTBEAT_MS``,
``AUTHSERVER_LIVE_FEED_URL`` (and ``AUTHSERVER_REDIS_URL`` selects the Redis feed on
PostgreSQL; SQLite always uses data_version, one host).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from flask import Flask, current_app, has_app_context
from flask_sqlalchemy.session import Session

from authserver.extensions import db
from authserver.live import log
from authserver.live.state import CLIENT, CLIENTS, JTI, POLICY, USER, Change, LiveState, Refused
from authserver.live.sync import LiveSettings, LiveSync
from authserver.models.base import utcnow
from authserver.security.access_tokens import CLOCK_SKEW, AccessToken

__all__ = [
    "Change",
    "LiveState",
    "LiveSync",
    "Refused",
    "apply_decision",
    "client_cut_off",
    "client_scopes_changed",
    "close",
    "current",
    "decide",
    "feed_status",
    "init_app",
    "jti_revoked",
    "policy_changed",
    "record",
    "user_cut_off",
    "wait_past_cutoffs",
]

_EXTENSION = "authserver.live"
_CREATING = threading.Lock()


def _load_policy(source: str):
    from authserver.policy import load_policy_yaml

    return load_policy_yaml(source).policy


def init_app(app: Flask) -> LiveSync:
    """Give ``app`` a (new) LiveSync: no connection, no thread yet; those start on first use
    in the process that serves requests (a gunicorn worker, after the fork)."""
    config = app.config
    settings = LiveSettings(
        stale_after=config.get("LIVE_STALE_MS", 500) / 1000,
        heartbeat=config.get("LIVE_HEARTBEAT_MS", 200) / 1000,
        feed_url=config.get("LIVE_FEED_URL"),
        redis_url=config.get("REDIS_URL"),
    )
    with app.app_context():
        engine = db.engine
    sync = LiveSync(engine, settings, _load_policy)
    app.extensions[_EXTENSION] = sync
    return sync


def live_sync(app: Flask | None = None) -> LiveSync:
    """The LiveSync of ``app`` (default: the current app), made on first use."""
    # current_app is typed as the Flask it proxies; _get_current_object is the proxy's own.
    app = app or current_app._get_current_object()  # type: ignore[attr-defined]
    sync = app.extensions.get(_EXTENSION)
    if sync is None:
        with _CREATING:
            sync = app.extensions.get(_EXTENSION) or init_app(app)
    return sync


def current() -> LiveState:
    """The current app's live state, fresh within the bound."""
    return live_sync().current()


def decide(claims: Mapping[str, Any]) -> Refused | frozenset[str]:
    """Refused, or the scopes the request may use (see the module docstring)."""
    return current().decide(claims)


def apply_decision(token: AccessToken) -> None:
    """Mark a verified ``token`` revoked (Authlib answers 401 ``invalid_token``;
    introspection ``active: false``), or narrow its scope, as :func:`decide` says now."""
    decision = decide(token)
    if isinstance(decision, Refused):
        token.revoked = True
    elif decision != token.scopes:
        token.narrow_to(decision)


def wait_past_cutoffs(sub: str, client_id: str) -> None:
    """Before issuing a token: if ``sub`` or ``client_id`` was cut off in this very second,
    wait for the next one, so the new token's ``iat`` (whole seconds) is after the cut-off
    and not refused with the old tokens (a user whose roles just changed logs in again at
    once). Costs nothing unless a cut-off happened less than a second ago."""
    state = current()
    cuts = (state.user_cutoffs.get(str(sub)), state.client_cutoffs.get(client_id))
    latest = max((cut[0] for cut in cuts if cut is not None), default=None)
    if latest is not None:
        delay = latest + 1 - time.time()
        if delay > 0:
            time.sleep(delay)


def feed_status() -> str:
    """The current app's feed, for /readyz: "ok", "local", "starting" or "lost"."""
    sync = live_sync()
    sync.current()  # starts the feed in this process if nothing has yet
    return sync.feed_status()


def close(app: Flask) -> None:
    """Stop ``app``'s feed thread and close its connections (tests, shutdown)."""
    sync = app.extensions.get(_EXTENSION)
    if sync is not None:
        sync.close()


def _committed(_session, changes: list[Change]) -> None:
    if has_app_context():
        live_sync().committed(changes)


# Every commit of db.session writes the changes recorded in it (see ``log``).
log.install(Session, _committed)


# -- writers: call inside the transaction that makes the change ---------------------------
def record(kind: str, key: str, at: datetime | None = None, until: datetime | None = None):
    """Add a change to the current transaction (written at its commit)."""
    log.record(db.session(), kind, key, at or utcnow(), until)


def _cutoff(kind: str, key: str) -> None:
    at = utcnow()
    horizon = current_app.config["ACCESS_TOKEN_TTL"] + CLOCK_SKEW
    record(kind, key, at, at + timedelta(seconds=horizon))


def user_cut_off(sub: str | int) -> None:
    """Refuse every token of user ``sub`` issued up to now (disable, delete, revoke-tokens,
    password change, a role taken away)."""
    _cutoff(USER, str(sub))


def client_cut_off(client_id: str) -> None:
    """Refuse every token of ``client_id`` issued up to now (deleted, disabled, secret
    rotated)."""
    _cutoff(CLIENT, client_id)


def jti_revoked(jti: str, exp: int) -> None:
    """Refuse the access token ``jti`` until its ``exp`` (RFC 7009)."""
    record(JTI, jti, utcnow(), datetime.fromtimestamp(exp, UTC))


def policy_changed(version: int) -> None:
    """A new live policy version: every process narrows by it."""
    _cutoff(POLICY, str(version))


def client_scopes_changed(client_id: str) -> None:
    """A client's allowed scopes changed: every process narrows its tokens by them."""
    _cutoff(CLIENTS, client_id)
