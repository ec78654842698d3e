"""LiveState: what one process knows of the change log, and the decision it makes from it.

Pure Python (no Flask, no database): the request path asks :meth:`LiveState.decide`,
which costs a few dictionary lookups. Writers of the state (the feed thread, a fallback
sync, the process that made a change) hold ``lock``; readers never wait for it, since
every update replaces or inserts single dictionary entries (atomic under the GIL) and
pruning swaps whole dictionaries.
"""

from __future__ import annotations

import heapq
import math
import threading
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple, Protocol

JTI, USER, CLIENT, POLICY, CLIENTS = "jti", "user", "client", "policy", "clients"
KINDS = (JTI, USER, CLIENT, POLICY, CLIENTS)
#: The state's tables whose entries expire (each with its ExpiryIndex).
_TABLES = ("revoked", "user_cutoffs", "client_cutoffs", "client_scopes")
#: Narrowed scope sets remembered per (policy, client scopes, token scope, roles).
MAX_NARROWINGS = 4096


class ScopePolicy(Protocol):
    """What the decision needs of a policy: the scopes some roles grant."""

    def scopes_for_roles(self, roles: Iterable[str]) -> frozenset[str]: ...


class Change(NamedTuple):
    """One row of the log; ``at`` and ``until`` as Unix times (``until`` None: no end).
    A named tuple: a new worker's first read makes a million of them."""

    seq: int
    kind: str
    key: str
    at: float
    until: float | None


@dataclass(frozen=True)
class Refused:
    """The token may not be used at all (SPEC §12 "refused outright"); ``reason`` is for
    logs and tests, never for the client."""

    reason: str


class ExpiryIndex:
    """The keys of one table by the whole second after which their entry stops mattering,
    so pruning costs what it removes (a heap of seconds, a list of keys per second), not a
    walk of every entry. A key whose ``until`` was pushed later is listed twice; pruning
    looks at the table's current ``until`` before it drops anything."""

    def __init__(self) -> None:
        self.buckets: dict[int, list[str]] = {}
        self.seconds: list[int] = []  # heap of the buckets' seconds

    def add(self, key: str, until: float) -> None:
        if until == math.inf:
            return
        second = math.ceil(until)  # taken out once now >= second >= until
        bucket = self.buckets.get(second)
        if bucket is None:
            bucket = self.buckets[second] = []
            heapq.heappush(self.seconds, second)
        bucket.append(key)

    def due(self, now: float) -> Iterator[str]:
        """Take out the keys of every second up to ``now``."""
        while self.seconds and self.seconds[0] <= now:
            yield from self.buckets.pop(heapq.heappop(self.seconds))


class LiveState:
    """Revoked ``jti``s, user and client cut-offs, the live policy, changed client scopes.

    ``last_seq``: every row up to it is applied. ``confirmed_at`` (``time.monotonic()``):
    every change committed before it is applied; the request path trusts the state only
    while that is recent (see :mod:`authserver.live.sync`).
    """

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.revoked: dict[str, float] = {}  # jti -> until (its exp)
        self.user_cutoffs: dict[str, tuple[int, float]] = {}  # sub -> (second, until)
        self.client_cutoffs: dict[str, tuple[int, float]] = {}  # client_id -> (second, until)
        self.client_scopes: dict[str, tuple[frozenset[str] | None, float]] = {}
        self.policy: tuple[int, ScopePolicy] | None = None  # (version, policy), swapped whole
        self.last_seq = 0
        self.confirmed_at = float("-inf")
        self.policy_changed = False  # a "policy" row arrived: the caller reloads the policy
        self.clients_changed: dict[str, float] = {}  # client_id -> until: re-read its scopes
        #: Bumped by every "client" or "clients" row applied: a client record read from the
        #: database before a bump may be stale (see :mod:`authserver.live.clients`).
        self.clients_generation = 0
        #: Called with the client_id of every "client" or "clients" row applied.
        self.client_listeners: list = []
        self._narrowed: dict[tuple, frozenset[str]] = {}
        self._expiry = {name: ExpiryIndex() for name in _TABLES}

    # -- applying the log -------------------------------------------------------------
    def apply(self, changes: Iterable[Change], advance: bool = True) -> None:
        """Apply rows of the log. ``advance=False`` for a process's own rows applied right
        after its commit: earlier rows may still be unread, so ``last_seq`` stays."""
        with self.lock:
            for change in changes:
                self._apply_one(change)
                if advance and change.seq > self.last_seq:
                    self.last_seq = change.seq

    def _apply_one(self, change: Change) -> None:
        until = math.inf if change.until is None else change.until
        key = change.key
        if change.kind == JTI:
            self.revoked[key] = until = max(until, self.revoked.get(key, until))
            self._expiry["revoked"].add(key, until)
        elif change.kind in (USER, CLIENT):
            name = "user_cutoffs" if change.kind == USER else "client_cutoffs"
            table = getattr(self, name)
            second = int(change.at)  # iat is whole seconds: refuse iat <= this second
            old = table.get(key)
            if old is None or old[0] <= second:
                table[key] = entry = (second, max(until, old[1]) if old else until)
                self._expiry[name].add(key, entry[1])
        elif change.kind == POLICY:
            self.policy_changed = True
        elif change.kind == CLIENTS:
            self.clients_changed[key] = max(until, self.clients_changed.get(key, 0))
        if change.kind in (CLIENT, CLIENTS):
            self.clients_generation += 1
            for listener in self.client_listeners:
                listener(key)

    def set_policy(self, version: int, policy: ScopePolicy) -> None:
        """Make ``policy`` (version ``version``) the one narrowing decides with."""
        with self.lock:
            if self.policy is None or self.policy[0] != version:
                self.policy = (version, policy)
                self._narrowed = {}
            self.policy_changed = False

    def set_client_scopes(self, scopes: Mapping[str, str | None]) -> None:
        """The allowed scopes now (None: unrestricted) of the clients "clients" rows named;
        one missing from ``scopes`` is gone (its "client" cut-off refuses its tokens)."""
        with self.lock:
            for client_id, until in self.clients_changed.items():
                scope = scopes.get(client_id)
                allowed = None if scope is None else frozenset(scope.split())
                self.client_scopes[client_id] = (allowed, until)
                self._expiry["client_scopes"].add(client_id, until)
            self.clients_changed = {}
            self._narrowed = {}

    def confirm(self, at: float) -> None:
        """Every change committed before monotonic time ``at`` is applied."""
        with self.lock:
            if at > self.confirmed_at:
                self.confirmed_at = at

    def prune(self, now: float) -> int:
        """Drop entries whose ``until`` passed (their tokens can no longer be valid);
        returns how many. Costs what it drops, not the state's size: entries are indexed
        by expiry. Each leaves by one dictionary delete, so a reader sees it or not."""
        dropped = 0
        with self.lock:
            for name in _TABLES:
                table = getattr(self, name)
                for key in self._expiry[name].due(now):
                    value = table.get(key)
                    if value is None:
                        continue  # already dropped (listed twice)
                    until = value if name == "revoked" else value[1]
                    if until <= now:
                        del table[key]
                        dropped += 1
        return dropped

    def size(self) -> int:
        return (
            len(self.revoked)
            + len(self.user_cutoffs)
            + len(self.client_cutoffs)
            + len(self.client_scopes)
        )

    # -- deciding ---------------------------------------------------------------------
    def decide(self, claims: Mapping[str, Any]) -> Refused | frozenset[str]:
        """SPEC §12 for verified ``claims``: Refused, or the scopes the request may use
        (the token's scope ∩ what its roles grant under the live policy ∩ the client's
        allowed scopes now). Never wider than the token's own scope."""
        if claims["jti"] in self.revoked:
            return Refused("revoked")
        iat, client_id = claims["iat"], claims["client_id"]
        # A client_credentials token's sub is its client_id (no username, SPEC §16): not a
        # user, so no user's cut-off applies to it; its client's cut-offs below do.
        sub = str(claims["sub"])
        cut = None if sub == client_id and "username" not in claims else self.user_cutoffs.get(sub)
        if cut is not None and iat <= cut[0]:
            return Refused("user cut off")
        cut = self.client_cutoffs.get(client_id)
        if cut is not None and iat <= cut[0]:
            return Refused("client cut off")
        return self.narrow(claims.get("scope") or "", claims.get("roles") or (), client_id)

    def narrow(self, scope: str, roles: Iterable[str], client_id: str) -> frozenset[str]:
        """The token's ``scope`` narrowed by the live policy and the client's scopes now."""
        policy, client = self.policy, self.client_scopes.get(client_id)
        roles = tuple(roles)
        key = (policy[0] if policy else None, client, scope, roles)
        narrowed = self._narrowed.get(key)
        if narrowed is None:
            narrowed = frozenset(scope.split())
            if policy is not None:
                narrowed = narrowed & policy[1].scopes_for_roles(roles)
            if client is not None and client[0] is not None:
                narrowed = narrowed & client[0]
            if len(self._narrowed) >= MAX_NARROWINGS:
                self._narrowed = {}
            self._narrowed[key] = narrowed
        return narrowed
