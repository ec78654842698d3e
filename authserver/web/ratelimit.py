"""Per-IP rate limit on the token endpoint (Flask-Limiter), one Limiter per app.

Only failed token requests count (``deduct_when``): a credential-stuffing or spraying client
runs into the limit, while a busy but honest client that refreshes at a high rate does not.
Once the limit is reached every token request from that address gets 429 until the window
ends. Counters are in Redis when configured (shared by all instances), else per process.

With Redis down the limit falls back to per-process counters whatever REDIS_FAILURE says:
``closed`` is about the lockout counters (password logins answer 503, see
services/lockout.py). Without the fallback every token request would wait out Redis's socket
timeout before its 503, refresh grants included, which need no lockout counter.
"""

from __future__ import annotations

import math
import time

from flask import Flask, Response, request
from flask_limiter import Limiter, RateLimitExceeded, RequestLimit
from flask_limiter.util import get_remote_address

from authserver.web.errors import oauth_error_response

TOKEN_ENDPOINT = "oauth.token"


def _rate_limited(retry_after: int) -> Response:
    response = oauth_error_response(
        429, "rate_limited", f"Too many failed token requests; retry in {retry_after} s."
    )
    response.headers["Retry-After"] = str(retry_after)
    return response


def _breach(limit: RequestLimit) -> Response:
    """429 with the seconds left in the window (``reset_at`` is rounded up a whole second
    more, which made Retry-After 61 on a one-minute window)."""
    seconds_left = math.ceil(limit.window[0] - time.time())
    return _rate_limited(max(1, min(seconds_left, limit.limit.get_expiry())))


def _handle_rate_limit_exceeded(exc: RateLimitExceeded) -> Response:
    """The answer ``_breach`` built. Without this handler the app's generic HTTPException
    handler would answer 429 ``invalid_request`` with neither ``rate_limited`` nor
    ``Retry-After``: Flask picks the handler by exception class, not ``exc.response``."""
    if isinstance(exc.response, Response):
        return exc.response
    return _rate_limited(max(1, int(exc.limit.limit.get_expiry())))


def _failed(response: Response) -> bool:
    """A client's failed attempt: 4xx. Not a 429 (nothing was attempted), nor a 5xx (our
    fault; with Redis down, counting it would only fail again after the answer was made)."""
    return 400 <= response.status_code < 500 and response.status_code != 429


def _limit_hooks_to_token_endpoint(app: Flask, limiter: Limiter) -> None:
    """Run Flask-Limiter's after-request (conditional deductions) and teardown hooks only
    where a limit applies, instead of on every request of the app."""

    def guarded(hook):
        def run_for_token_endpoint(value):
            return hook(value) if request.endpoint == TOKEN_ENDPOINT else value

        return run_for_token_endpoint

    for hooks in (app.after_request_funcs[None], app.teardown_request_funcs[None]):
        for index, hook in enumerate(hooks):
            owner = getattr(hook, "__self__", None) or (getattr(hook, "args", None) or [None])[0]
            if owner is limiter:
                hooks[index] = guarded(hook)


def init_app(app: Flask) -> Limiter:
    redis_url = app.config["REDIS_URL"]
    limiter = Limiter(
        key_func=get_remote_address,
        storage_uri=redis_url or "memory://",
        storage_options={"socket_timeout": 0.5, "socket_connect_timeout": 0.5}
        if redis_url
        else {},
        strategy="fixed-window",
        headers_enabled=False,  # else Retry-After appears on successful answers too
        in_memory_fallback_enabled=True,  # see the module docstring
        on_breach=_breach,
        key_prefix="authserver",
    )
    limiter.init_app(app)
    # No default limits: only the decorated token view is limited, and it checks its limit
    # itself. Flask-Limiter's app-wide before_request hook would only cost every other
    # request (resource routes included) the time to find that nothing applies.
    app.before_request_funcs[None].remove(limiter._check_request_limit)
    _limit_hooks_to_token_endpoint(app, limiter)
    app.register_error_handler(RateLimitExceeded, _handle_rate_limit_exceeded)
    view = app.view_functions[TOKEN_ENDPOINT]
    app.view_functions[TOKEN_ENDPOINT] = limiter.limit(
        app.config["TOKEN_RATE_LIMIT"], deduct_when=_failed
    )(view)
    return limiter
