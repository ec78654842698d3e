"""Where the token endpoint's CPU goes: the password grant beside raw argon2, and the
refresh grant.

Run: ``.venv/bin/python bench/profile_grants.py [--grants N]`` (SQLite; PostgreSQL when
AUTHSERVER_TEST_DATABASE_URL is set, as ``make bench``).

In-process, through the WSGI callable: CPU µs per grant (``thread_time``; the database
server's own work on PostgreSQL is not in it), and cProfile's share of the main parts:
argon2, RS256 signing, SQLAlchemy (statements, flush, commit), the audit event, the live
log, Authlib, Flask/Werkzeug. Shares come from cProfile (which inflates Python-heavy parts
more than C calls: read them as an order, the CPU µs as the measure).
"""

from __future__ import annotations

import argparse
import cProfile
import io
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
    ("audit event", ("authserver/services/audit.py", "record")),
    ("policy: scopes for roles", ("authserver/", "scopes_for")),
]


def _post(app, body: str, auth: str | None = None) -> dict:
    environ = {
        "REQUEST_METHOD": "POST",
        "PATH_INFO": "/oauth/token",
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "8000",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1",
        "CONTENT_TYPE": "application/x-www-form-urlencoded",
        "CONTENT_LENGTH": str(len(body)),
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(body.encode()),
        "wsgi.errors": sys.stderr,
    }
    status = []
    chunks = app(environ, lambda s, h, e=None: status.append(s))
    data = b"".join(chunks)
    assert status[0].startswith("200"), (status, data[:300])
    import json

    return json.loads(data)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--grants", type=int, default=200)
    args = parser.parse_args()
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="authserver-metrics-")
    with prepare(bench_database_url()) as fixture:
        os.environ.update(fixture.env)
        os.environ["AUTHSERVER_LOG_LEVEL"] = "WARNING"  # grant lines would flood the output
        from authserver.app import create_app

        app = create_app()
        client = {"client_id": fixture.client_id, "client_secret": fixture.client_secret}
        password = urlencode(
            {"grant_type": "password", "username": fixture.username,
             "password": fixture.password, **client}
        )  # fmt: skip
        refresh = [_post(app, password)["refresh_token"]]

        def refresh_once() -> None:
            body = urlencode(
                {"grant_type": "refresh_token", "refresh_token": refresh[0], **client}
            )
            refresh[0] = _post(app, body)["refresh_token"]

        cases = {
            "password grant": (lambda: _post(app, password), max(args.grants // 10, 10)),
            "refresh grant": (refresh_once, args.grants),
            "argon2 verify alone": (_argon2(app), max(args.grants // 10, 10)),
        }
        for name, (function, count) in cases.items():
            _measure(name, function, count)


def _argon2(app):
    from authserver.state import state

    passwords = state(app).passwords
    stored = passwords.hash("bench-password-0123456789")
    return lambda: passwords.verify(stored, "bench-password-0123456789")


def _measure(name: str, function, count: int) -> None:
    for _ in range(3):
        function()
    blocks = []
    for _ in range(5):
        started = time.thread_time_ns()
        for _ in range(count):
            function()
        blocks.append((time.thread_time_ns() - started) / count / 1000)
    profile = cProfile.Profile()
    profile.enable()
    for _ in range(count):
        function()
    profile.disable()
    print(
        f"{name}: {statistics.median(blocks):,.0f} µs CPU per call "
        f"(median of 5 blocks of {count}; {min(blocks):,.0f}-{max(blocks):,.0f})"
    )
    if name.endswith("alone"):
        return
    stats = pstats.Stats(profile, stream=io.StringIO())
    total = max(row[3] for row in stats.stats.values())
    for part, (file_part, function_name) in PARTS:
        cumulative = max(
            (
                row[3]
                for (filename, _line, function), row in stats.stats.items()
                if file_part in filename and function_name in function
            ),
            default=0.0,
        )
        print(f"  {part:<32}{cumulative / total:>6.0%} of the profiled time")


if __name__ == "__main__":
    main()
