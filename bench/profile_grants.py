"""Where the token endpoint's CPU goes: the password grant beside raw argon2, and the
refresh grant.

Run: ``.venv/bin/python bench/profile_grants.py [--grants N] [--top N] [--sql] [--parts]``
(SQLite; PostgreSQL when AUTHSERVER_TEST_DATABASE_URL is set, as ``make bench``).

In-process, through the WSGI callable, the request log on (written to a line-buffered
file, as under gunicorn): CPU µs per grant (``thread_time``; the database server's own
work on PostgreSQL is not in it). The password grant's blocks alternate with blocks of
raw argon2 verifies at the server's parameters, and "beyond argon2" is the median of each
pair's difference: on a shared machine the load moves both of a pair alike. Then the SQL
statements one grant sends (``--sql`` prints them), and cProfile's share of the main
parts (``--top N``: the N functions with the most own time). Shares come from cProfile,
which inflates Python-heavy parts more than C calls: read them as an order, the CPU µs as
the measure. ``--parts`` prints a table of where a password grant's CPU goes, part by part
in ms beside its own argon2 verify, each part timed with ``thread_time`` around the
function that does it (exclusive of the parts inside it), in grants served as usual (each
runs on the caches its own argon2 verify has just emptied); "the rest" is what no timed
function covers: Flask, the request log, the security headers and the metrics timer.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import pstats
import statistics
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlencode

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from harness import bench_database_url, prepare  # noqa: E402

#: (part, substrings of "file:line(function)") looked up in cProfile's cumulative times.
PARTS = [
    ("argon2 verify", ("argon2/_password_hasher.py", "verify")),
    ("RS256 signature (joserfc)", ("joserfc/jws.py", "serialize_compact")),
    ("session.commit (incl. flush)", ("sqlalchemy/orm/session.py", "commit")),
    ("SQL statements (execute)", ("sqlalchemy/engine/base.py", "_execute_context")),
    ("audit event", ("authserver/services/audit.py", "append")),
    ("request log line", ("authserver/web/request_log.py", "start")),
]


def _post(app, body: str, errors) -> dict:
    environ = {
        "REQUEST_METHOD": "POST",
        "SCRIPT_NAME": "",
        "PATH_INFO": "/oauth/token",
        "QUERY_STRING": "",
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "8000",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1",
        "HTTP_HOST": "127.0.0.1:8000",
        "CONTENT_TYPE": "application/x-www-form-urlencoded",
        "CONTENT_LENGTH": str(len(body)),
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(body.encode()),
        "wsgi.errors": errors,
        "wsgi.multithread": False,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
    }
    status = []
    chunks = app(environ, lambda s, h, e=None: status.append(s))
    data = b"".join(chunks)
    assert status[0].startswith("200"), (status, data[:300])
    return json.loads(data)


class Statements:
    """The SQL statements the app's engine sends, counted (and kept) while ``on``."""

    def __init__(self, app) -> None:
        from sqlalchemy import event

        from authserver.extensions import db

        self.on, self.seen = False, []
        with app.app_context():
            event.listen(db.engine, "before_cursor_execute", self._seen)

    def _seen(self, _conn, _cursor, statement, _params, _context, _many) -> None:
        if self.on:
            self.seen.append(" ".join(statement.split()))

    def of(self, function) -> list[str]:
        self.seen, self.on = [], True
        try:
            function()
        finally:
            self.on = False
        return self.seen


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--grants", type=int, default=200, help="refresh grants per block")
    parser.add_argument("--blocks", type=int, default=7)
    parser.add_argument("--top", type=int, default=0, help="print the N costliest functions")
    parser.add_argument("--sort", default="tottime", help="--top's order (cumulative, ...)")
    parser.add_argument("--sql", action="store_true", help="print each grant's statements")
    parser.add_argument(
        "--parts", action="store_true", help="only the password grant's CPU, part by part"
    )
    args = parser.parse_args()
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="authserver-metrics-")
    with prepare(bench_database_url()) as fixture:
        os.environ.update(fixture.env)
        os.environ["AUTHSERVER_LOG_LEVEL"] = "INFO"  # as served: the grants log lines too
        from authserver.app import create_app

        app = create_app()
        # The request log's lines go where gunicorn would send them: a file, line-buffered.
        errors = open(fixture.workdir / "requests.log", "w", buffering=1)  # noqa: SIM115
        client = {"client_id": fixture.client_id, "client_secret": fixture.client_secret}
        password = urlencode(
            {"grant_type": "password", "username": fixture.username,
             "password": fixture.password, **client}
        )  # fmt: skip
        refresh = [_post(app, password, errors)["refresh_token"]]

        def password_once() -> None:
            _post(app, password, errors)

        def refresh_once() -> None:
            body = urlencode(
                {"grant_type": "refresh_token", "refresh_token": refresh[0], **client}
            )
            refresh[0] = _post(app, body, errors)["refresh_token"]

        logins = max(args.grants // 10, 10)
        if args.parts:
            _parts(app, password_once, logins * 2, args.blocks)
            return
        argon2 = _argon2(app)
        _paired(app, "password grant", password_once, argon2, logins, args.blocks)
        _measure("refresh grant", refresh_once, args.grants, args.blocks)
        _after_argon2("refresh grant", refresh_once, argon2, logins, args.blocks)
        statements = Statements(app)
        for name, function in (("password grant", password_once), ("refresh grant", refresh_once)):
            function()  # once before: a first call may read what later ones have cached
            seen = statements.of(function)
            print(f"{name}: {len(seen)} SQL statements")
            for statement in seen if args.sql else ():
                print(f"    {statement[:160]}")
        _profile("password grant", password_once, logins, args.top, args.sort)
        _profile("refresh grant", refresh_once, args.grants, args.top, args.sort)


def _argon2(app):
    from authserver.state import state

    passwords = state(app).passwords
    stored = passwords.hash("bench-password-0123456789")
    return lambda: passwords.verify(stored, "bench-password-0123456789")


def _block(function, count: int) -> float:
    """CPU µs per call over ``count`` calls."""
    started = time.thread_time_ns()
    for _ in range(count):
        function()
    return (time.thread_time_ns() - started) / count / 1000


def _measure(name: str, function, count: int, blocks: int) -> None:
    for _ in range(3):
        function()
    times = [_block(function, count) for _ in range(blocks)]
    print(
        f"{name}: {statistics.median(times):,.0f} µs CPU per call "
        f"(median of {blocks} blocks of {count}; {min(times):,.0f}-{max(times):,.0f})"
    )


def _after_argon2(name: str, function, argon2, count: int, blocks: int) -> None:
    """``function`` timed right after an (untimed) argon2 verify, as a password grant's
    code runs: argon2 walks 19 MiB, which leaves the CPU caches cold for what follows."""
    times = []
    for _ in range(blocks):
        total = 0
        for _ in range(count):
            argon2()
            started = time.thread_time_ns()
            function()
            total += time.thread_time_ns() - started
        times.append(total / count / 1000)
    print(
        f"{name} right after an argon2 verify: {statistics.median(times):,.0f} µs CPU per "
        f"call (median of {blocks} blocks of {count}; {min(times):,.0f}-{max(times):,.0f})"
    )


def _paired(app, name: str, function, argon2, count: int, blocks: int) -> None:
    """Blocks of ``function`` and of raw argon2 verifies, alternating. "Beyond argon2" is
    the grant's CPU less the CPU spent inside its own argon2 verify (timed around the
    server's ``Passwords.verify``): both from the same calls, so the machine's load, which
    moves argon2 (memory-bound) and Python code differently, does not widen it."""
    from authserver.state import state

    passwords = state(app).passwords
    verify, inside = passwords.verify, [0]

    def timed_verify(*args):
        started = time.thread_time_ns()
        try:
            return verify(*args)
        finally:
            inside[0] += time.thread_time_ns() - started

    passwords.verify = timed_verify  # type: ignore[method-assign]
    for _ in range(3):
        function()
        argon2()
    ours, theirs, beyond = [], [], []
    for _ in range(blocks):
        inside[0] = 0
        ours.append(_block(function, count))
        beyond.append(ours[-1] - inside[0] / count / 1000)
        theirs.append(_block(argon2, count))
    passwords.verify = verify  # type: ignore[method-assign]
    print(
        f"{name}: {statistics.median(ours):,.0f} µs CPU per call, argon2 verify alone "
        f"{statistics.median(theirs):,.0f} µs (medians of {blocks} alternating blocks of "
        f"{count}); beyond its argon2 verify {statistics.median(beyond):,.0f} µs "
        f"({min(beyond):,.0f}-{max(beyond):,.0f}); argon2 alone / grant "
        f"{statistics.median(t / o for o, t in zip(ours, theirs, strict=True)):.3f}"
    )


class _Parts:
    """CPU ns per named part, exclusive: a timed call inside another is not counted twice."""

    def __init__(self) -> None:
        self.spent: dict[str, int] = {}
        self._inner: list[int] = []
        self._undo: list[tuple[object, str, object]] = []

    def time(self, owner: object, attribute: str, name: str) -> None:
        """Wrap ``owner.attribute`` (a module function, method or instance attribute)."""
        function = getattr(owner, attribute, None)
        if function is None:  # not in this version of the code
            return
        spent, inner = self.spent, self._inner

        def timed(*args, **kwargs):
            started = time.thread_time_ns()
            inner.append(0)
            try:
                return function(*args, **kwargs)
            finally:
                elapsed = time.thread_time_ns() - started
                spent[name] = spent.get(name, 0) + elapsed - inner.pop()
                if inner:
                    inner[-1] += elapsed

        self._undo.append((owner, attribute, function))
        setattr(owner, attribute, timed)

    def undo(self) -> None:
        for owner, attribute, function in reversed(self._undo):
            setattr(owner, attribute, function)


def _parts(app, password_once, count: int, blocks: int) -> None:
    """Print the password grant's CPU, part by part (see the module docstring)."""
    import joserfc._rfc7518.jws_algs as jws_algs
    from sqlalchemy.orm import Session

    import authserver.oauth2.grants as grants_module
    import authserver.oauth2.server as server_module
    from authserver import live
    from authserver.services import audit, clients, login, tokens
    from authserver.services.tokens import owners
    from authserver.state import state

    app_state = state(app)
    parts = _Parts()
    grant_clients = getattr(tokens, "grant_clients", None)
    if grant_clients is not None:
        parts.time(grant_clients, "find", "client: SELECT clients (query_client)")
    else:
        parts.time(clients, "find", "client: SELECT clients (query_client)")
    parts.time(app_state.passwords, "verify", "argon2 verify")
    parts.time(login, "_account", "login: SELECT users (account)")
    parts.time(app_state.lockout, "lookup", "login: lockout lookup")
    parts.time(owners, "logged_in", "login: SELECT user_roles")  # before beb45b6
    parts.time(owners, "enabled", "login: SELECT users + user_roles (after argon2)")
    parts.time(login, "login", "login: its own code")
    parts.time(audit, "append", "login.success: audit INSERT")
    parts.time(grants_module, "_granted_scope", "granting rule (live policy, live sync)")
    parts.time(live, "wait_past_cutoffs", "live cut-off check")
    parts.time(jws_algs._RSAAlgModel, "sign", "RS256 signature (RSA-2048 private key op)")
    parts.time(tokens, "issue", "refresh family + token INSERTs")
    parts.time(Session, "commit", "COMMIT (+ audit log line, live apply)")
    parts.time(
        server_module.TokenServer,
        "create_token_response",
        "Authlib: request, grant flow, JWT claims/encoding, JSON answer",
    )
    parts.time(sys.modules[__name__], "_post", "the rest: Flask, request log, headers, metrics")
    try:
        for _ in range(3):
            password_once()
        totals: list[dict[str, int]] = []
        for _ in range(blocks):
            parts.spent.clear()
            for _ in range(count):
                password_once()
            totals.append(dict(parts.spent))
    finally:
        parts.undo()

    def ms(values) -> float:
        return statistics.median(values) / count / 1e6

    names = sorted(totals[-1], key=lambda name: -ms(t.get(name, 0) for t in totals))
    argon2 = ms(t.get("argon2 verify", 0) for t in totals)
    print(f"password grant, CPU per grant in ms (medians of {blocks} blocks of {count}):")
    print(f"| {'part':<62} | {'ms':>6} |")
    for name in names:
        print(f"| {name:<62} | {ms(t.get(name, 0) for t in totals):>6.3f} |")
    total = ms(sum(t.values()) for t in totals)
    beyond = ms(sum(v for k, v in t.items() if k != "argon2 verify") for t in totals)
    print(f"| {'total':<62} | {total:>6.3f} |")
    print(f"| {'beyond its argon2 verify':<62} | {beyond:>6.3f} |")
    print(f"argon2 verify / grant: {argon2 / total:.3f}")


def _profile(name: str, function, count: int, top: int, sort: str) -> None:
    profile = cProfile.Profile()
    profile.enable()
    for _ in range(count):
        function()
    profile.disable()
    stats = pstats.Stats(profile, stream=io.StringIO())
    total = max(row[3] for row in stats.stats.values())
    print(f"{name}, cProfile:")
    for part, (file_part, function_name) in PARTS:
        cumulative = max(
            (
                row[3]
                for (filename, _line, function_), row in stats.stats.items()
                if file_part in filename and function_name in function_
            ),
            default=0.0,
        )
        print(f"  {part:<32}{cumulative / total:>6.0%} of the profiled time")
    if top:
        out = io.StringIO()
        pstats.Stats(profile, stream=out).sort_stats(sort).print_stats(top)
        print(out.getvalue())


if __name__ == "__main__":
    main()
