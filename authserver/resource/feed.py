"""The kit's follower of the server's change feed (``GET /oauth/changes``, SPEC §18).

One daemon thread per process (started on the first protected request, again after a
fork: a gunicorn worker follows the feed itself). It asks for a snapshot, then for the
changes after the newest seq it holds, with ``wait``: the server holds the request until
something changes and meanwhile sends a newline every 0.15 s while its own state holds
every change committed more than 0.3 s ago. Each newline and each answer *confirms* the
state: nothing was committed more than 0.3 s before it that the kit has not applied. The
request path trusts the state while the last confirmation is at most ``stale_after``
(0.4 s) old: 0.7 s in all, within SPEC §12's 1 s; past that the feed is lost and the
verifier asks introspection instead (the arithmetic: :mod:`authserver.resource.kit`).
The request path notices a lost feed by that age alone: the thread's ``read_timeout``
and its retries only say when it is logged and when the feed comes back.

A lost feed (a refused or broken connection, no newline within ``read_timeout``, an
unusable answer) is logged once, retried with backoff (0.1 s doubling to 2 s; 30 s after
a refusal of our credentials), and logged again when it is back.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from http.client import HTTPException
from typing import Any

from authserver.resource.live_rules import Change, LiveState, RoleScopes

logger = logging.getLogger("authserver.resource")

STARTING, OK, LOST = "starting", "ok", "lost"
BACKOFF_FIRST, BACKOFF_MAX, BACKOFF_REFUSED = 0.1, 2.0, 30.0
#: An answer without changes that came back within QUICK seconds was not held (the keys
#: changed, or a server that cannot hold): wait QUICK_PAUSE before asking again.
QUICK, QUICK_PAUSE = 0.1, 0.25
#: Prune entries whose tokens expired at most this often (seconds).
PRUNE_EVERY = 30.0


class _Stopped(Exception):
    """The follower was told to stop while a request was open."""


class FeedRefused(Exception):
    """The server refused our credentials (401/403): a configuration error."""


class Follower:
    """Holds the kit's :class:`LiveState` and keeps it current from the feed."""

    def __init__(
        self,
        changes_url: str,
        authorization: str,
        wait: float = 20.0,
        stale_after: float = 0.4,
        read_timeout: float = 1.0,
        on_answer: Callable[[dict[str, Any]], None] | None = None,
    ) -> None:
        self.changes_url, self.authorization = changes_url, authorization
        self.wait, self.stale_after, self.read_timeout = wait, stale_after, read_timeout
        self.on_answer = on_answer
        self.state = LiveState()
        self.status = STARTING
        self.problem: str | None = None
        self.answers = 0
        self._confirmed_at = float("-inf")
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._pruned_at = time.monotonic()
        self._keys_version: str | None = None

    # -- the request path -------------------------------------------------------------
    def fresh(self) -> bool:
        """Whether the state may decide now: confirmed within ``stale_after``."""
        return time.monotonic() - self._confirmed_at <= self.stale_after

    def age(self) -> float:
        return time.monotonic() - self._confirmed_at

    # -- the thread -------------------------------------------------------------------
    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="authserver-kit-feed")
        self._thread.daemon = True
        self._thread.start()

    def stop(self, timeout: float = 2.0) -> None:
        """Stop the thread: its request is closed at the next newline (within 0.25 s)."""
        self._stop.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)

    def _run(self) -> None:
        since: int | None = None
        backoff = BACKOFF_FIRST
        while not self._stop.is_set():
            try:
                since, pause = self._poll(since)
                backoff = BACKOFF_FIRST
                if pause:
                    self._stop.wait(pause)
            except _Stopped:
                return
            except FeedRefused as exc:
                if self._stop.is_set():
                    return
                self._lost(str(exc))
                self._stop.wait(BACKOFF_REFUSED)
            except (OSError, HTTPException, ValueError, TypeError, KeyError) as exc:
                if self._stop.is_set():
                    return
                self._lost(_reason(exc))
                self._stop.wait(backoff)
                backoff = min(backoff * 2, BACKOFF_MAX)

    def _poll(self, since: int | None) -> tuple[int, float]:
        """One request: heartbeats confirm, the answer is applied; (new since, pause)."""
        query = {} if since is None else {"since": str(since), "wait": f"{self.wait:g}"}
        if since is not None and self._keys_version:
            query["keys"] = self._keys_version  # answered at once if the keys changed
        url = self.changes_url + ("?" + urllib.parse.urlencode(query) if query else "")
        request = urllib.request.Request(
            url, headers={"Authorization": self.authorization, "Accept": "application/json"}
        )
        sent = time.monotonic()
        try:
            response = urllib.request.urlopen(request, timeout=self.read_timeout)
        except urllib.error.HTTPError as exc:
            exc.close()
            if exc.code in (400, 401, 403):
                raise FeedRefused(f"the change feed refused us (HTTP {exc.code})") from None
            raise
        with response:
            while True:
                line = response.readline(1 << 24)
                if not line:
                    raise ValueError("the feed closed before its answer")
                if self._stop.is_set():
                    raise _Stopped
                if not line.strip():
                    self._confirm(time.monotonic())
                    continue
                received = time.monotonic()
                body = json.loads(line)
                self._apply(body)
                self._confirm(received)
                pause = float(body.get("poll_after") or 0)
                if not body["changes"] and received - sent < QUICK:
                    pause = max(pause, QUICK_PAUSE)  # never a busy loop of empty answers
                return int(body["seq"]), pause

    # -- applying ---------------------------------------------------------------------
    def _apply(self, body: dict[str, Any]) -> None:
        """Apply an answer: rows (a snapshot replaces the state whole), the live policy,
        clients' scopes; then prune what can no longer matter."""
        state = LiveState() if body["snapshot"] else self.state
        changes = [
            Change(
                int(row["seq"]),
                str(row["kind"]),
                str(row["key"]),
                float(row["at"]),
                None if row["until"] is None else float(row["until"]),
            )
            for row in body["changes"]
        ]
        state.apply(changes)
        with state.lock:
            state.last_seq = max(state.last_seq, int(body["seq"]))
        policy = body.get("policy")
        if isinstance(policy, dict):
            version = int(policy["version"])
            if state.policy is None or state.policy[0] != version:
                state.set_policy(version, RoleScopes(policy["roles"]))
            state.policy_changed = False
        if state.clients_changed:
            state.set_client_scopes(body.get("clients") or {})
        if self.on_answer is not None:
            self.on_answer(body)
        keys_version = body.get("keys_version")
        self._keys_version = keys_version if isinstance(keys_version, str) else None
        now = time.monotonic()
        if now - self._pruned_at > PRUNE_EVERY:
            self._pruned_at = now
            state.prune(time.time())
        self.state = state  # one reference, swapped whole: readers see one or the other
        self.answers += 1

    def _confirm(self, at: float) -> None:
        if self.status != OK:
            if self.status == LOST:
                logger.warning("change feed is back: deciding from the live state again")
            self.status, self.problem = OK, None
        if at > self._confirmed_at:
            self._confirmed_at = at

    def _lost(self, reason: str) -> None:
        if self.status != LOST:
            logger.warning(
                "change feed lost (%s): deciding by introspection until it is back", reason
            )
        self.status, self.problem = LOST, reason


def _reason(exc: Exception) -> str:
    code = getattr(exc, "code", None)
    if isinstance(code, int):
        return f"HTTP {code}"
    reason = getattr(exc, "reason", None)
    return str(reason or exc) or type(exc).__name__
