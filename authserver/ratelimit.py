"""Per-IP rate limit on the token endpoint (Flask-Limiter), one Limiter per app.

Only failed token requests count (``deduct_when``): a credential-stuffing or spraying client
runs into the limit, while a busy but honest client that refreshes at a high rate does not.
Once the limit is reached every token request from that address gets 429 until the window
ends. Counters are in Redis when configured (shared by all instances), else per process.
"""

from __future__ import annotations

import math
import time

from flask import Flask, Response
from flask_limiter import Limiter, RequestLimit
from flask_limiter.util import get_remote_address

from authserver.errors import oauth_error_response

TOKEN_ENDPOINT = "oauth.token"


def _breach(limit: RequestLimit) -> Response:
    retry_after = max(1, math.ceil(limit.reset_at - time.time()))
    response = oauth_error_response(
        429, "rate_limited", f"Too many failed token requests; retry in {retry_after} s."
    )
    response.headers["Retry-After"] = str(retry_after)
    return response


def _failed(response: Response) -> bool:
    return response.status_code >= 400


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
        in_memory_fallback_enabled=app.config["REDIS_FAILURE"] == "fallback",
        on_breach=_breach,
        key_prefix="authserver",
    )
    limiter.init_app(app)
    view = app.view_functions[TOKEN_ENDPOINT]
    app.view_functions[TOKEN_ENDPOINT] = limiter.limit(
        app.config["TOKEN_RATE_LIMIT"], deduct_when=_failed
    )(view)
    return limiter
