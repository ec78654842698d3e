"""Per-IP rate limit on the OAuth endpoints, counted with ``limits`` (Flask-Limiter's engine).

Only failures count: a credential-stuffing or spraying client runs into the limit, while a
busy but honest client that refreshes at a high rate does not. What counts (SPEC §6, §10):
a failed token request, except a refresh that presented a refresh token we issued (it lost
a race or was a repeat: bad luck, not a guess); and a failed client authentication at the
revocation and introspection endpoints too, where client ids and secrets could otherwise be
probed without limit. Once the limit is reached every request to the three endpoints from
that address gets 429 until the window ends. Counters are in Redis when configured (shared
by all instances), else per process.

Why not Flask-Limiter itself: its public API always installs app-wide before/after/teardown
hooks, which cost every request (resource routes included) 20-35 µs to find that no limit
applies; keeping them to the token route meant editing its private hook lists. Two Flask
hooks of our own that return at once off the token route do the same job with public APIs
only (Flask's and ``limits``'), so an upgrade of either cannot silently drop the limit. They
are the oauth blueprint's hooks, so no other route runs them.

With Redis down the limit falls back to per-process counters whatever REDIS_FAILURE says:
``closed`` is about the lockout counters (password logins answer 503, see
services/lockout.py). Without the fallback every token request would wait out Redis's socket
timeout before its 503, refresh grants included, which need no lockout counter.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from flask import Flask, Response, request
from limits import RateLimitItem, parse_many
from limits.errors import StorageError
from limits.storage import MemoryStorage, storage_from_string
from limits.strategies import FixedWindowRateLimiter

from authserver.oauth2.outcomes import CLIENT_AUTH_FAILED, NOT_A_GUESS, marked
from authserver.web.errors import oauth_error_response

TOKEN_ENDPOINT = "oauth.token"
#: The endpoints the limit guards: one counter for all three (a prober switches endpoints).
LIMITED_ENDPOINTS = frozenset({TOKEN_ENDPOINT, "oauth.revocation", "oauth.introspection"})
KEY_PREFIX = "authserver"  # keys: LIMITS:LIMITER/authserver/<address>/oauth.token/<limit>

log = logging.getLogger(__name__)
T = TypeVar("T")
Operation = Callable[[FixedWindowRateLimiter, RateLimitItem, tuple[str, ...]], T]


class TokenRateLimit:
    """TOKEN_RATE_LIMIT failed token requests per client address and fixed window.

    After a Redis error, Redis is left alone for ``retry_seconds`` and this process counts
    in memory meanwhile (as services.lockout.FailoverCounters does): a Redis that hangs
    rather than refuses would otherwise cost every token request a socket timeout.
    """

    def __init__(
        self, limit: str, redis_url: str | None = None, retry_seconds: float = 5.0
    ) -> None:
        self.items: list[RateLimitItem] = parse_many(limit)  # "30/minute;100/hour": both
        self.retry_seconds = retry_seconds
        self._local = FixedWindowRateLimiter(MemoryStorage())
        self._shared: FixedWindowRateLimiter | None = None
        if redis_url:
            storage = storage_from_string(
                redis_url, socket_timeout=0.5, socket_connect_timeout=0.5, wrap_exceptions=True
            )
            self._shared = FixedWindowRateLimiter(storage)
        self._skip_until = 0.0  # monotonic time; per process, like the connection pool
        #: address -> monotonic time after which none of its in-process counters can
        #: still hold a count (its last failure plus the longest window). An address not
        #: here has no in-process counter: it is under the limit without asking storage.
        self._failed: dict[str, float] = {}
        self._longest = max(item.get_expiry() for item in self.items)

    def retry_after(self, address: str) -> int | None:
        """Seconds until ``address`` may try again, or None while it is under the limit."""
        if self._counting_locally() and not self._failed_recently(address):
            return None  # no in-process counter holds a count for it: nothing to look up
        key = (KEY_PREFIX, address, TOKEN_ENDPOINT)
        waits = [self._call(_seconds_to_wait, item, key) for item in self.items]
        return max((wait for wait in waits if wait is not None), default=None)

    def _counting_locally(self) -> bool:
        """Whether the counters asked now are this process's (no Redis, or Redis skipped)."""
        return self._shared is None or time.monotonic() < self._skip_until

    def _failed_recently(self, address: str) -> bool:
        until = self._failed.get(address)
        if until is None:
            return False
        if until > time.monotonic():
            return True
        del self._failed[address]
        return False

    def count_failure(self, address: str) -> None:
        """Count one failed token request from ``address``."""
        key = (KEY_PREFIX, address, TOKEN_ENDPOINT)
        if len(self._failed) > 100_000:  # many addresses: forget those whose windows ended
            now = time.monotonic()
            self._failed = {a: until for a, until in self._failed.items() if until > now}
        # Before counting (a fallback to memory inside _call counts here too), by the
        # longest window, a second over for the window's rounding.
        self._failed[address] = time.monotonic() + self._longest + 1
        for item in self.items:
            self._call(_hit, item, key)

    def _call(self, operation: Operation[T], item: RateLimitItem, key: tuple[str, ...]) -> T:
        if self._shared is not None and time.monotonic() >= self._skip_until:
            try:
                return operation(self._shared, item, key)
            except StorageError as exc:
                self._skip_until = time.monotonic() + self.retry_seconds
                log.warning(
                    "redis unavailable for the rate limit (%s); counting in process for %.0f s",
                    type(exc.storage_error).__name__,
                    self.retry_seconds,
                )
        return operation(self._local, item, key)


def _seconds_to_wait(
    counter: FixedWindowRateLimiter, item: RateLimitItem, key: tuple[str, ...]
) -> int | None:
    """None under the limit, else the seconds left in the window: ceil, where ``reset_at``
    is rounded up a whole second more (which made Retry-After 61 on a one-minute window)."""
    if counter.test(item, *key):
        return None
    reset_at = counter.get_window_stats(item, *key).reset_time
    return max(1, min(math.ceil(reset_at - time.time()), item.get_expiry()))


def _hit(counter: FixedWindowRateLimiter, item: RateLimitItem, key: tuple[str, ...]) -> bool:
    return counter.hit(item, *key)


def build(config: Mapping[str, Any]) -> TokenRateLimit:
    """The app's rate limit from its settings (TOKEN_RATE_LIMIT, REDIS_URL)."""
    return TokenRateLimit(config["TOKEN_RATE_LIMIT"], config["REDIS_URL"])


def _rate_limited(retry_after: int) -> Response:
    response = oauth_error_response(
        429, "rate_limited", f"Too many failed token requests; retry in {retry_after} s."
    )
    response.headers["Retry-After"] = str(retry_after)
    return response


def _failed(response: Response) -> bool:
    """A client's failed attempt: 4xx. Not a 429 (nothing was attempted), nor a 5xx (our
    fault; with Redis down, counting it would only fail again after the answer was made),
    nor a refresh that presented a token we issued (see the module docstring). Off the
    token endpoint only a failed client authentication counts (401: HTTP Basic or a
    malformed Authorization header; else the mark the token server leaves)."""
    status = response.status_code
    if not 400 <= status < 500 or status == 429:
        return False
    if request.endpoint == TOKEN_ENDPOINT:
        return not marked(NOT_A_GUESS)
    return status == 401 or marked(CLIENT_AUTH_FAILED)


def _client_address() -> str:
    return request.remote_addr or "127.0.0.1"


def init_app(app: Flask, limit: TokenRateLimit) -> None:
    """Check ``limit`` before the three OAuth views and count their failed answers after.

    The hooks are the oauth blueprint's (registered by name: the blueprint comes later),
    not the app's: every other route (the resource routes, the admin API) runs neither,
    where app-wide hooks cost each request two calls, two ``request.endpoint`` lookups and
    Flask's per-hook coroutine checks."""
    blueprint = TOKEN_ENDPOINT.split(".")[0]
    assert all(name.split(".")[0] == blueprint for name in LIMITED_ENDPOINTS)

    def check_limit() -> Response | None:
        if request.endpoint not in LIMITED_ENDPOINTS:
            return None
        retry_after = limit.retry_after(_client_address())
        return None if retry_after is None else _rate_limited(retry_after)

    def count_failure(response: Response) -> Response:
        if request.endpoint in LIMITED_ENDPOINTS and _failed(response):
            limit.count_failure(_client_address())
        return response

    app.before_request_funcs.setdefault(blueprint, []).append(check_limit)
    app.after_request_funcs.setdefault(blueprint, []).append(count_failure)
