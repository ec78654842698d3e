"""Security headers on every response: this is a JSON API, never a page to frame or sniff.

Added by the one WSGI layer (``web/edge.py``), so they reach every answer (error handlers,
Werkzeug's own errors, the rate limiter's 429) with plain list operations instead of
Werkzeug's Headers methods on each response. A header a route set itself is left alone.
"""

from __future__ import annotations

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
#: Lower-case names of the headers added here, the request id's too.
_NAMES = frozenset(name.lower() for name in SECURITY_HEADERS) | {"x-request-id"}


def add_to(headers: list[tuple[str, str]], request_id: str | None) -> None:
    """Add to a response's ``headers`` each of SECURITY_HEADERS it does not have, and
    ``X-Request-ID`` (when ``request_id`` is given and the route set none)."""
    for name, _ in headers:
        if name.lower() in _NAMES:
            break
    else:  # the usual case: the route set none of them
        headers.extend(_DEFAULTS)
        if request_id is not None:
            headers.append(("X-Request-ID", request_id))
        return
    present = {name.lower() for name, _ in headers}
    headers.extend(item for item in _DEFAULTS if item[0].lower() not in present)
    if request_id is not None and "x-request-id" not in present:
        headers.append(("X-Request-ID", request_id))
