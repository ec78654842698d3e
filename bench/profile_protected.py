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
import base64
import functools
import io
import os
import socket
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


def _environ(path: str, headers: dict[str, str], errors, body: bytes = b"") -> dict:
    environ = {
        "REQUEST_METHOD": "POST" if body else "GET",
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
        "wsgi.input": body,  # a fresh BytesIO of it per call (_call)
        "wsgi.errors": errors,
        "wsgi.multithread": False,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
    }
    for name, value in headers.items():
        environ["HTTP_" + name.upper().replace("-", "_")] = value
    if body:
        environ["CONTENT_TYPE"] = "application/x-www-form-urlencoded"
        environ["CONTENT_LENGTH"] = str(len(body))
    return environ


def _call(app: Callable, environ: dict) -> int:
    status = []

    def start_response(code, headers, exc_info=None):
        status.append(code)

    body = app({**environ, "wsgi.input": io.BytesIO(environ["wsgi.input"])}, start_response)
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
    _instrument_edge()
    bare.wsgi_app = timed("bare: Werkzeug/Flask dispatch", bare.wsgi_app)
    bare.view_functions["index"] = timed(
        "bare: view + JSON response", bare.view_functions["index"]
    )
    return {"bare": bare.wsgi_app, "protected": outer}


MIDDLEWARE = {
    "Edge": "edge layer (one WSGI middleware)",
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


def _instrument_edge() -> None:
    """The concerns the edge layer calls by module attribute: each its own component."""
    from authserver.web import headers, metrics, request_log

    headers.add_to = timed("security headers", headers.add_to)
    request_log.request_id_of = timed("request log line", request_log.request_id_of)
    request_log.record = timed("request log line", request_log.record)
    metrics.time_request = timed("metrics timer", metrics.time_request)


def _instrument_token_checks(app) -> None:
    from authserver.state import state

    app_state = state(app)
    verifier = app_state.token_verifier
    verifier.verify = timed("JWT verify (cached)", verifier.verify)
    from authserver import live

    if hasattr(live, "apply_decision"):  # SPEC §12: the live state's decision
        live.apply_decision = timed("live state check", live.apply_decision)
    validator = sys.modules.get("authserver.resource.validator")  # before the kit (SPEC §18)
    for name in (
        ("revocation", "tokens") if validator is not None else ()
    ):  # before authserver.live: the revocation list
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
    parser.add_argument(
        "--gunicorn",
        action="store_true",
        help="also time whole requests through gunicorn's sync worker code (in-process, "
        "over a socket pair: parsing, headers, socket writes, the graceful close)",
    )
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
        introspect = _environ(
            "/oauth/introspect",
            {"Authorization": _basic(fixture.introspector_id, fixture.introspector_secret)},
            log,
            f"token={token}".encode(),
        )
        calls = {
            "bare": (bare.wsgi_app, root),
            "protected": (app.wsgi_app, me),
            "introspection": (app.wsgi_app, introspect),
        }
        for function, environ in calls.values():
            assert _call(function, environ) == 200
        totals = _run_plain(calls, args)
        if args.gunicorn:
            totals.update(_run_gunicorn(calls, log, args))
        blocks = _run(_instrument(app, bare), me, root, args)
        os.unlink(log.name)
    _report(totals, blocks, args)


def _basic(client_id: str, secret: str) -> str:
    return "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()


def _run_plain(calls, args) -> dict[str, list[float]]:
    """Whole requests, no timers inside: µs per request of each case, block by block."""
    totals: dict[str, list[float]] = {name: [] for name in calls}
    for _ in range(args.repeats):
        for name, (function, environ) in calls.items():
            started = time.thread_time_ns()
            for _ in range(args.requests):
                _call(function, environ)
            totals[name].append((time.thread_time_ns() - started) / args.requests / 1000)
    return totals


def _run_gunicorn(calls, log, args) -> dict[str, list[float]]:
    """Whole requests through gunicorn's sync worker (``SyncWorker.handle``: the parser,
    the WSGI environ, the app, the response headers, the socket writes, the graceful
    close), each over a fresh socket pair, the client's side written and read in the same
    thread (a few µs of the figure). What a worker spends per request under ``make
    bench``, less the kernel's TCP path; ``wsgi.errors`` is gunicorn's, writing to
    stderr, here the log file."""
    from gunicorn.config import Config
    from gunicorn.glogging import Logger
    from gunicorn.workers.sync import SyncWorker

    class Listener:
        def getsockname(self):
            return ("127.0.0.1", 8000)

    saved_stderr, sys.stderr = sys.stderr, log
    try:
        config = Config()
        config.set("errorlog", "-")
        logger = Logger(config)
        workers, raw = {}, {}
        for name, (function, environ) in calls.items():
            worker = object.__new__(SyncWorker)  # its request handling, without a process
            worker.cfg, worker.log, worker.wsgi, worker.nr = config, logger, function, 0
            worker.max_requests, worker.alive = 2**62, True
            workers[name], raw[name] = worker, _http_request(environ)

        def once(name: str) -> None:
            ours, theirs = socket.socketpair()
            ours.sendall(raw[name])
            ours.shutdown(socket.SHUT_WR)
            workers[name].handle(Listener(), theirs, ("127.0.0.1", 40000))
            answer = ours.recv(65536)
            ours.close()
            assert answer.startswith(b"HTTP/1.1 200 "), answer[:200]

        totals: dict[str, list[float]] = {f"gunicorn: {name}": [] for name in calls}
        for _ in range(args.repeats):
            for name in calls:
                started = time.thread_time_ns()
                for _ in range(args.requests):
                    once(name)
                elapsed = time.thread_time_ns() - started
                totals[f"gunicorn: {name}"].append(elapsed / args.requests / 1000)
        return totals
    finally:
        sys.stderr = saved_stderr


def _http_request(environ: dict) -> bytes:
    """The HTTP/1.1 request wrk would send for ``environ``."""
    lines = [f"{environ['REQUEST_METHOD']} {environ['PATH_INFO']} HTTP/1.1", "Host: 127.0.0.1"]
    for key, value in environ.items():
        if key.startswith("HTTP_") and key != "HTTP_HOST":
            lines.append(f"{key[5:].replace('_', '-').title()}: {value}")
    body = environ["wsgi.input"]
    if body:
        lines += [f"Content-Type: {environ['CONTENT_TYPE']}", f"Content-Length: {len(body)}"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


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
    bare = {name: statistics.median(values) for name, values in totals.items() if "bare" in name}
    for name, values in totals.items():
        base = bare.get("gunicorn: bare" if name.startswith("gunicorn") else "bare")
        ratio = f"   bare/this {base / statistics.median(values):.3f}" if base else ""
        print(
            f"{'whole request, untimed: ' + name:<40}{statistics.median(values):>8.1f}"
            f"   ({min(values):.1f}-{max(values):.1f}){ratio}"
        )
    print("components of the protected request (timers on):")
    for name in names:
        values = [block.get(name, 0.0) for block in blocks]
        print(
            f"{name:<40}{statistics.median(values):>8.1f}   ({min(values):.1f}-{max(values):.1f})"
        )


if __name__ == "__main__":
    main()
