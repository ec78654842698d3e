"""Security headers on every response: this is a JSON API, never a page to frame or sniff.

Added as WSGI middleware, so they reach every answer (error handlers, Werkzeug's own
errors, the rate limiter's 429) with plain list operations instead of Werkzeug's Headers
methods on each response. A header a route set itself is left alone.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from flask import Flask

SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Resource-Policy": "same-origin",
    # Answers depend on the bearer token or carry tokens: no shared cache may keep them.
    "Cache-Control": "no-store",
}
_DEFAULTS = tuple(SECURITY_HEADERS.items())
_NAMES = frozenset(name.lower() for name in SECURITY_HEADERS)


class SecurityHeaders:
    """WSGI middleware adding each of SECURITY_HEADERS the response does not already have."""

    def __init__(self, wsgi_app: Callable) -> None:
        self.wsgi_app = wsgi_app

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        def start(status: str, headers: list[tuple[str, str]], exc_info=None):
            present = {name.lower() for name, _ in headers}
            if present.isdisjoint(_NAMES):  # the usual case: add them all at once
                headers.extend(_DEFAULTS)
            else:
                headers.extend(item for item in _DEFAULTS if item[0].lower() not in present)
            return start_response(status, headers, exc_info)

        return self.wsgi_app(environ, start)


def init_app(app: Flask) -> None:
    """Wrap the app's WSGI callable, Flask's documented way to add middleware."""
    # mypy: wsgi_app is a method of Flask; replacing it on the instance is the documented way.
    app.wsgi_app = SecurityHeaders(app.wsgi_app)  # type: ignore[method-assign]
