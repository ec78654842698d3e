"""The resource-server kit (SPEC §18): what it costs the service, and what its feed costs
the server. Prints ratios, all measured in one run.

1. **The kit app's protected route vs a bare route served the same way**: tests/kit_app
   under gunicorn (2 sync workers), ``GET /reports`` (a JWT checked against the JWKS, the
   live decision from the feed-kept state, the Flask-Principal identity) against ``GET
   /bare`` of the same app, alternating, wrk -c4 (target: at least 0.85x in the steady
   state). The ratio of the workers' CPU time per request is printed too.
2. **The feed's cost on the server**: requests/s of the server's protected ``GET /api/me``
   with 100 idle subscribers of ``/oauth/changes`` (held requests, a newline every 0.15 s
   each) against none, alternating. The server runs threaded workers (gthread, 2 workers
   x 64 threads), as docs/deploy.md says a server with feed subscribers must; the
   subscribers are the kit's own follower threads, in a process of their own.

SQLite by default; PostgreSQL when AUTHSERVER_TEST_DATABASE_URL is set (a fresh database
``authserver_bench_kit`` next to it). Needs wrk.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import shutil
import statistics
import sys
import time
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import (  # noqa: E402
    BIN,
    ROOT,
    Server,
    free_port,
    login,
    prepare,
    worker_cpu_seconds,
    wrk,
)

SUBSCRIBERS = 100
DATABASE = "authserver_bench_kit"  # its own: other benches use authserver_bench


def bench_database_url() -> str:
    """SQLite (empty: a temporary file), or a fresh PostgreSQL database of this bench's own
    next to AUTHSERVER_TEST_DATABASE_URL."""
    url = os.environ.get("AUTHSERVER_TEST_DATABASE_URL")
    if not url:
        return ""
    import psycopg

    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute(f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)")
        connection.execute(f"CREATE DATABASE {DATABASE}")
    return url.rsplit("/", 1)[0] + "/" + DATABASE


SERVER_THREADS = "--worker-class gthread --threads 64"


def kit_server(fixture, issuer: str) -> Server:
    port = free_port()
    command = [
        str(BIN / "gunicorn"), "--no-control-socket", "-w", "2", "-k", "sync",
        "-b", f"127.0.0.1:{port}", "--chdir", str(ROOT), "tests.kit_app.app:app",
    ]  # fmt: skip
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AUTHSERVER_", "GUNICORN_"))}
    env.update(
        KIT_ISSUER=issuer,
        KIT_CLIENT_ID=fixture.introspector_id,
        KIT_CLIENT_SECRET=fixture.introspector_secret,
    )
    return Server(command, env, f"http://127.0.0.1:{port}", fixture.workdir / "kit.log")


def _subscribe(changes_url: str, authorization: str, count: int, stop) -> None:
    """A process of ``count`` kit followers, held on the feed until ``stop`` is set."""
    import logging

    from authserver.resource.feed import Follower

    logging.getLogger("authserver.resource").setLevel(logging.ERROR)  # lost/back lines
    followers = [Follower(changes_url, authorization) for _ in range(count)]
    for follower in followers:
        follower.start()
    stop.wait()
    for follower in followers:
        follower.stop()


def _until_kit_ok(kit: Server, token: str) -> None:
    """Both kit workers decide from their feed (the steady state)."""
    deadline = time.monotonic() + 60
    seen: dict[int, str] = {}
    while time.monotonic() < deadline:
        requests.get(kit.url + "/reports", headers={"Authorization": f"Bearer {token}"}, timeout=5)
        health = requests.get(kit.url + "/kit", headers={"Connection": "close"}, timeout=5).json()
        seen[health["pid"]] = health["feed"]
        if len(seen) == 2 and set(seen.values()) == {"ok"}:
            return
        time.sleep(0.1)
    raise SystemExit(f"the kit's feed never came up: {seen}; see {kit.log}")


def _alternate(rounds: int, first, second) -> tuple[list[float], list[float]]:
    ones, twos = [], []
    for _ in range(rounds):
        twos.append(second())
        ones.append(first())
    return ones, twos


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--duration", type=int, default=10, help="seconds per wrk run")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--connections", type=int, default=4)
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("bench_kit needs wrk (Debian: apt-get install wrk)")
    database_url = bench_database_url()
    print(f"database: {'PostgreSQL' if database_url.startswith('postgres') else 'SQLite'}")
    with prepare(database_url) as fixture:
        fixture.env["GUNICORN_CMD_ARGS"] = SERVER_THREADS
        # The bench user is a viewer: documents:read, what /reports needs.
        with Server.authserver(fixture) as server, kit_server(fixture, server.url) as kit:
            token = login(server.url, fixture)["access_token"]
            auth = [f"Authorization: Bearer {token}"]
            _until_kit_ok(kit, token)
            kit_ratio = _kit_case(kit, auth, args)
            feed = _feed_case(server, fixture, auth, args)
            health = requests.get(kit.url + "/kit", timeout=5).json()
    print()
    print(
        f"medians of {args.rounds} alternating runs of {args.duration} s, wrk -c{args.connections}"
    )
    ours, base, cpu = kit_ratio
    print(
        f"kit: protected GET /reports {ours:,.0f}/s vs bare GET /bare {base:,.0f}/s: "
        f"{ours / base:.3f}x (target 0.85x); CPU per request ratio {cpu:.3f}x"
    )
    print(
        f"     (a kit worker after the run: feed {health['feed']}, "
        f"{health['introspections']} introspections)"
    )
    with_subs, without, cpu_feed = feed
    print(
        f"server: GET /api/me with {SUBSCRIBERS} idle feed subscribers {with_subs:,.0f}/s vs "
        f"none {without:,.0f}/s: {with_subs / without:.3f}x; CPU per request ratio {cpu_feed:.3f}x"
    )


def _kit_case(kit: Server, auth: list[str], args) -> tuple[float, float, float]:
    cpu_ratios: list[float] = []

    def run(path: str, headers: list[str]) -> tuple[float, float]:
        before = worker_cpu_seconds(kit)
        rate = wrk(kit.url, path, args.duration, args.connections, headers=headers)
        return rate, (worker_cpu_seconds(kit) - before) / (rate * args.duration)

    ours, base = [], []
    for _ in range(args.rounds):
        bare_rate, bare_cpu = run("/bare", auth)
        rate, cpu = run("/reports", auth)
        base.append(bare_rate)
        ours.append(rate)
        cpu_ratios.append(bare_cpu / cpu)
    spread = ", ".join(f"{o / b:.3f}" for o, b in zip(ours, base, strict=True))
    print(f"  kit /reports vs /bare per round: {spread}", flush=True)
    return statistics.median(ours), statistics.median(base), statistics.median(cpu_ratios)


def _feed_case(server: Server, fixture, auth: list[str], args) -> tuple[float, float, float]:
    from authserver.resource.remote import basic_auth

    authorization = basic_auth(fixture.introspector_id, fixture.introspector_secret)
    context = multiprocessing.get_context("spawn")
    with_subs, without, cpu_ratios = [], [], []

    def run() -> tuple[float, float]:
        before = worker_cpu_seconds(server)
        rate = wrk(server.url, "/api/me", args.duration, args.connections, headers=auth)
        return rate, (worker_cpu_seconds(server) - before) / (rate * args.duration)

    for _ in range(args.rounds):
        alone, alone_cpu = run()
        stop = context.Event()
        subscribers = context.Process(
            target=_subscribe,
            args=(server.url + "/oauth/changes", authorization, SUBSCRIBERS, stop),
        )
        subscribers.start()
        time.sleep(3)  # every follower has its snapshot and is held
        loaded, loaded_cpu = run()
        stop.set()
        subscribers.join(timeout=30)
        without.append(alone)
        with_subs.append(loaded)
        cpu_ratios.append(alone_cpu / loaded_cpu)
    spread = ", ".join(f"{w / o:.3f}" for w, o in zip(with_subs, without, strict=True))
    print(f"  server /api/me with {SUBSCRIBERS} subscribers vs none per round: {spread}")
    return statistics.median(with_subs), statistics.median(without), statistics.median(cpu_ratios)


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main()
