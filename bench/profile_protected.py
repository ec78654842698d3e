"""Where a protected request's time goes, component by component, against the bare route.

Run: ``.venv/bin/python bench/profile_protected.py [--requests N]`` (SQLite; PostgreSQL when
AUTHSERVER_TEST_DATABASE_URL is set, as ``make bench``).

Both apps are called in-process through their WSGI callables (no gunicorn, no sockets), the
request log written to a line-buffered file as under gunicorn. Each component's function is
wrapped by a timer (``thread_time_ns``: CPU time, so other processes on a busy machine
do not count; the wrapper's own cost, measured on an empty
function, is taken off every call), and a component's figure is its time less that of the
components inside it. What is left of the whole request is "Werkzeug/Flask dispatch":
request context, routing, the response object and its finalisation. Medians over
``--repeats`` blocks of ``--requests`` requests, bare and protected blocks alternating.
"""

from __future__ import annotations

import argparse
import functools
import io
import os
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from harness import bench_database_url, prepare  # noqa: E402

TOTALS: dict[str, int] = defaultdict(int)
STACK: list[list[int]] = []  # per open timer: [child time]


def timed(name: str, function: Callable) -> Callable:
    """``function`` recording its exclusive time (less its timed children) under ``name``."""

    @functools.wraps(function)
    def wrapper(*args, **kwargs):
        STACK.append([0])
        started = time.thread_time_ns()
        try:
            return function(*args, **kwargs)
        finally:
            elapsed = time.thread_time_ns() - started
            (children,) = STACK.pop()
            TOTALS[name] += elapsed - children
            if STACK:
                STACK[-1][0] += elapsed

    return wrapper


def _environ(path: str, headers: dict[str, str], errors) -> dict:
    environ = {
        "REQUEST_METHOD": "GET",
        "SCRIPT_NAME": "",
        "PATH_INFO": path,
        "QUERY_STRING": "",
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "8000",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1",
        "REMOTE_PORT": "40000",
        "HTTP_HOST": "127.0.0.1:8000",
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(b""),
        "wsgi.errors": errors,
        "wsgi.multithread": False,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
    }
    for name, value in headers.items():
        environ["HTTP_" + name.upper().replace("-", "_")] = value
    return environ


def _call(app: Callable, environ: dict) -> int:
    status = []

    def start_response(code, headers, exc_info=None):
        status.append(code)

    body = app(dict(environ), start_response)
    b"".join(body)
    if hasattr(body, "close"):
        body.close()
    return int(status[0][:3])


def _instrument(app, bare) -> dict[str, Callable]:
    """Wrap each component of both apps in a timer; the outer callables to time."""
    from authserver.resource import decorator

    app.view_functions["examples.me"] = timed(
        "the view + JSON response", app.view_functions["examples.me"]
    )
    outer = app.wsgi_app = _instrument_middleware(app.wsgi_app)
    for functions in (app.before_request_funcs, app.after_request_funcs):
        for key, chain in functions.items():
            functions[key] = [timed(_name(f), f) for f in chain]
    # Inside require_scopes' wrapper: the pieces it calls by module-level name.
    decorator.authenticate = timed("ResourceProtector/Authlib", decorator.authenticate)
    decorator.set_identity = timed("Flask-Principal identity", decorator.set_identity)
    _instrument_token_checks(app)
    bare.wsgi_app = timed("bare: Werkzeug/Flask dispatch", bare.wsgi_app)
    bare.view_functions["index"] = timed(
        "bare: view + JSON response", bare.view_functions["index"]
    )
    return {"bare": bare.wsgi_app, "protected": outer}


MIDDLEWARE = {
    "SecurityHeaders": "security headers middleware",
    "RequestLog": "request log line",
    "RequestTimer": "metrics timer",
    "ProxyFix": "ProxyFix",
}


def _instrument_middleware(layer: Callable) -> Callable:
    """Time each WSGI middleware around Flask's ``wsgi_app``, and Flask's itself."""
    inner = getattr(layer, "wsgi_app", None)
    if inner is None:  # Flask.wsgi_app, the innermost
        return timed("Werkzeug/Flask dispatch", layer)
    name = MIDDLEWARE.get(type(layer).__name__, type(layer).__name__)
    inner = _instrument_middleware(inner)

    def inner_call(environ, start_response):  # the layer's own start_response is its work too
        return inner(environ, timed(name, start_response))

    layer.wsgi_app = inner_call
    return timed(name, layer)


def _instrument_token_checks(app) -> None:
    from authserver.state import state

    app_state = state(app)
    verifier = app_state.token_verifier
    verifier.verify = timed("JWT verify (cached)", verifier.verify)
    from authserver import live

    if hasattr(live, "apply_decision"):  # SPEC §12: the live state's decision
        live.apply_decision = timed("live state check", live.apply_decision)
    from authserver.resource import validator

    for name in ("revocation", "tokens"):  # before authserver.live: the revocation list
        module = getattr(validator, name, None)
        if module is not None and hasattr(module, "is_revoked"):
            module.is_revoked = timed("revocation check", module.is_revoked)


def _name(function: Callable) -> str:
    module = getattr(function, "__module__", "")
    return {
        "authserver.web.request_log": "request log line",
        "authserver.web.metrics": "metrics timer",
        "flask_principal": "Flask-Principal before_request",
        "authserver.web.ratelimit": "rate limiter hook",
    }.get(module, f"{module}.{function.__name__}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    database_url = bench_database_url()
    # Multiprocess metrics, as config/gunicorn.conf.py sets them up (before the import).
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="authserver-metrics-")
    with prepare(database_url) as fixture:
        os.environ.update(fixture.env)
        from flask import Flask, jsonify

        from authserver.app import create_app

        app = create_app()
        bare = Flask("bare")
        bare.add_url_rule("/", "index", lambda: jsonify(ok=True))
        token = _login(app, fixture)
        log = tempfile.NamedTemporaryFile("w", buffering=1, suffix=".log", delete=False)
        me = _environ("/api/me", {"Authorization": f"Bearer {token}"}, log)
        root = _environ("/", {}, log)
        plain = {"bare": bare.wsgi_app, "protected": app.wsgi_app}
        assert _call(plain["protected"], me) == 200 and _call(plain["bare"], root) == 200
        totals = _run_plain(plain, me, root, args)
        blocks = _run(_instrument(app, bare), me, root, args)
        os.unlink(log.name)
    _report(totals, blocks, args)


def _run_plain(calls, me, root, args) -> dict[str, list[float]]:
    """Whole requests, no timers inside: µs per request of each app, block by block."""
    totals: dict[str, list[float]] = {"bare": [], "protected": []}
    for _ in range(args.repeats):
        for name, environ in (("bare", root), ("protected", me)):
            started = time.thread_time_ns()
            for _ in range(args.requests):
                _call(calls[name], environ)
            totals[name].append((time.thread_time_ns() - started) / args.requests / 1000)
    return totals


def _login(app, fixture) -> str:
    response = app.test_client().post(
        "/oauth/token",
        data={
            "grant_type": "password",
            "username": fixture.username,
            "password": fixture.password,
        },
        auth=(fixture.client_id, fixture.client_secret),
    )
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()["access_token"]


def _run(calls, me, root, args) -> list[dict[str, float]]:
    overhead = _wrapper_cost()
    blocks = []
    for _ in range(args.repeats):
        TOTALS.clear()
        for _ in range(args.requests):
            _call(calls["bare"], root)
        for _ in range(args.requests):
            _call(calls["protected"], me)
        counts = dict(TOTALS)
        block = {}
        for name, nanoseconds in counts.items():
            block[name] = max(nanoseconds / args.requests / 1000 - overhead, 0.0)
        blocks.append(block)
    return blocks


def _wrapper_cost() -> float:
    """Microseconds a timer adds to one call (charged to its parent)."""
    empty = timed("empty", lambda: None)
    outer = timed("outer", empty)
    count = 20000
    TOTALS.clear()
    for _ in range(count):
        outer()
    cost = (TOTALS["outer"]) / count / 1000
    TOTALS.clear()
    return cost


def _report(totals, blocks: list[dict[str, float]], args) -> None:
    names = sorted({name for block in blocks for name in block})
    print(f"µs per request, medians (min-max) of {args.repeats} blocks of {args.requests}")
    for name, values in totals.items():
        print(
            f"{'whole request, untimed: ' + name:<40}{statistics.median(values):>8.1f}"
            f"   ({min(values):.1f}-{max(values):.1f})"
        )
    print("components (timers on):")
    for name in names:
        values = [block.get(name, 0.0) for block in blocks]
        print(
            f"{name:<40}{statistics.median(values):>8.1f}   ({min(values):.1f}-{max(values):.1f})"
        )


if __name__ == "__main__":
    main()
