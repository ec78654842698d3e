"""The admin console (SPEC §15): plain ES modules and CSS served at ``/console/``.

The page is a client of the public admin API and of the token endpoints, with a bearer
token like any other: it has no route of its own beyond these static files. Assets are
served under a path naming a digest of their contents (``static/<digest>/app.js``), so
they can be cached for a year (``immutable``) and a new release is fetched at once; the
page itself is revalidated on every load. Every answer carries the console's
Content-Security-Policy (the global security headers leave a header a route set alone).
"""

from __future__ import annotations

import hashlib
import html
import re
from functools import cache
from pathlib import Path

from flask import Blueprint, Flask, Response, abort, request, send_from_directory
from werkzeug.wrappers import Response as ResponseBase

STATIC = Path(__file__).parent / "static"
ASSET_TYPES = {".js", ".css", ".svg", ".png"}
STATIC_IMPORT = re.compile(r'^import [^;]+ from "\./([\w/.-]+\.js)";$', re.MULTILINE)

#: No inline script or style, nothing from another origin, no framing, no <base>, forms
#: post only here; ``require-trusted-types-for 'script'`` makes the browser refuse any
#: string-to-HTML sink (innerHTML and friends), so data can only ever land as text.
CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "object-src 'none'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "require-trusted-types-for 'script'",
        "trusted-types 'none'",
    ]
)
INDEX_CACHE = "no-cache"  # revalidate the page each load: it names the assets' digest
ASSET_CACHE = "public, max-age=31536000, immutable"


def _assets() -> list[Path]:
    """Every file the page may load, in a stable order."""
    return sorted(p for p in STATIC.rglob("*") if p.is_file() and p.suffix in ASSET_TYPES)


@cache
def digest() -> str:
    """A short digest of the page's and every asset's name and bytes: the cache-busting
    path segment, and the page's ETag."""
    hasher = hashlib.sha256()
    for path in [STATIC / "index.html", *_assets()]:
        hasher.update(path.relative_to(STATIC).as_posix().encode() + b"\0")
        hasher.update(path.read_bytes())
    return hasher.hexdigest()[:16]


@cache
def index_html() -> bytes:
    """index.html with the asset digest filled in, and a modulepreload for each module the
    entry module imports, so the browser fetches them with it rather than after it. Page
    modules are imported when first shown: the sign-in form needs none of them."""
    tag = digest()
    entry = (STATIC / "app.js").read_text(encoding="utf-8")
    preloads = "\n".join(
        f'    <link rel="modulepreload" href="static/{tag}/{html.escape(name)}">'
        for name in STATIC_IMPORT.findall(entry)
    )
    text = (STATIC / "index.html").read_text(encoding="utf-8")
    return text.replace("{{digest}}", tag).replace("{{preloads}}", preloads).encode()


def build() -> Blueprint:
    """The blueprint: the page at ``/console/`` and its assets."""
    bp = Blueprint("console", __name__, url_prefix="/console")

    @bp.get("/")
    def index() -> ResponseBase:
        """The console page."""
        response = Response(index_html(), mimetype="text/html")
        response.headers["Cache-Control"] = INDEX_CACHE
        response.set_etag(digest())
        return response.make_conditional(request)

    @bp.get("/static/<tag>/<path:name>")
    def asset(tag: str, name: str) -> ResponseBase:
        """A script, style sheet or image, cached for good under its digest."""
        if tag != digest() or Path(name).suffix not in ASSET_TYPES:
            abort(404)
        response = send_from_directory(STATIC, name, max_age=None, conditional=True)
        response.headers["Cache-Control"] = ASSET_CACHE
        return response

    @bp.after_request
    def secure(response: Response) -> Response:
        response.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
        return response

    return bp


def init_app(app: Flask) -> None:
    """Serve the console unless AUTHSERVER_CONSOLE is false."""
    if app.config["CONSOLE"]:
        app.register_blueprint(build())
