"""``make bench``: authserver under gunicorn against a bare Flask route, loaded by wrk.

Both apps run under the same gunicorn command (2 sync workers); each case alternates with
its baseline in the same run (the bare route; for the password grant, raw argon2 verifies
at the server's parameters on both cores), and every figure is printed as a ratio to the
baseline measured beside it (medians of ``--rounds``, with each round's ratio for the
spread), plus the ratio of the workers' CPU time per request. SQLite by default; PostgreSQL when
AUTHSERVER_TEST_DATABASE_URL is set (a database ``authserver_bench`` is created next to it).
"""

from __future__ import annotations

import argparse
import base64
import os
import shutil
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import (  # noqa: E402
    Server,
    argon2_ceiling,
    bench_database_url,
    login,
    prepare,
    resident_memory_mb,
    worker_cpu_seconds,
    wrk,
)

HERE = Path(__file__).resolve().parent


def _cases(fixture, url: str) -> dict[str, dict]:
    basic = (
        "Basic "
        + base64.b64encode(
            f"{fixture.introspector_id}:{fixture.introspector_secret}".encode()
        ).decode()
    )
    password_body = (
        f"grant_type=password&username={fixture.username}&password={fixture.password}"
        f"&client_id={fixture.client_id}&client_secret={fixture.client_secret}"
    )
    return {
        "protected GET /api/me": {
            "path": "/api/me",
            "headers": [f"Authorization: Bearer {fixture.access_token}"],
        },
        "introspection": {
            "path": "/oauth/introspect",
            "script": HERE / "post.lua",
            "env": {"BENCH_BODY": f"token={fixture.access_token}", "BENCH_AUTH": basic},
        },
        "refresh_token grant": {
            "path": "/oauth/token",
            "script": HERE / "refresh.lua",
            "threads": 4,
            "env": {
                "BENCH_CLIENT_ID": fixture.client_id,
                "BENCH_CLIENT_SECRET": fixture.client_secret,
            },
            # Fresh tokens for every run: a token used in an earlier run would be reuse.
            "prepare": lambda: {
                "BENCH_REFRESH_TOKENS": ",".join(
                    login(url, fixture)["refresh_token"] for _ in range(4)
                )
            },
        },
        "password grant": {
            "path": "/oauth/token",
            "script": HERE / "post.lua",
            "env": {"BENCH_BODY": password_body, "BENCH_AUTH": ""},
            # Its baseline is argon2 itself: raw verifies on both cores, alternating too.
            "baseline": "argon2",
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--duration", type=int, default=10, help="seconds per wrk run")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--connections", type=int, default=4)
    parser.add_argument("--only", help="run only the cases whose name contains this")
    parser.add_argument(
        "--cases",
        help="comma-separated: run only the cases whose name contains one of these "
        "(protected, introspection, refresh, password, 'no request log'; 'protected' alone "
        "leaves out the run without the request log)",
    )
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("make bench needs wrk (Debian: apt-get install wrk)")

    database_url = bench_database_url()
    print(f"database: {'PostgreSQL' if database_url.startswith('postgres') else 'SQLite'}")
    with prepare(database_url) as fixture:
        with Server.authserver(fixture) as server, Server.bare() as bare:
            fixture.access_token = login(server.url, fixture)["access_token"]
            cases = _cases(fixture, server.url)
            if args.only:
                cases = {k: v for k, v in cases.items() if args.only in k}
            wanted = [part.strip() for part in (args.cases or "").split(",") if part.strip()]
            if wanted:
                cases = {k: v for k, v in cases.items() if any(w in k for w in wanted)}
            results = {
                name: _measure(name, case, server, bare, args) for name, case in cases.items()
            }
            memory = resident_memory_mb(server)
        no_log = "protected, no request log"
        if "protected GET /api/me" in cases and (
            not wanted or any(w in no_log and w not in "protected GET /api/me" for w in wanted)
        ):
            # The same route without the per-request JSON log line: what that line costs.
            fixture.env["AUTHSERVER_REQUEST_LOG"] = "false"
            with Server.authserver(fixture) as server, Server.bare() as bare:
                name = no_log
                case = cases["protected GET /api/me"]
                results[name] = _measure(name, case, server, bare, args)
    _report(results, memory, args)


def _measure(name: str, case: dict, server, bare, args) -> tuple[float, float, float]:
    """Medians of ``args.rounds`` runs of the case, each right after a run of its baseline
    (the bare route, or raw argon2 verifies for the password grant): requests/s of both,
    and the ratio of the workers' CPU time per request (bare's over ours; from /proc: on a
    shared machine it moves less than requests/s, as waiting for a core is not counted)."""
    case = dict(case)
    baseline = case.pop("baseline", "bare")
    ours, base, cpu_ratios = [], [], []
    for _ in range(args.rounds):
        if baseline == "argon2":
            base.append(argon2_ceiling(args.duration))
        else:
            cpu = worker_cpu_seconds(bare)
            base.append(wrk(bare.url, "/", args.duration, args.connections))
            bare_cpu = (worker_cpu_seconds(bare) - cpu) / (base[-1] * args.duration)
        cpu = worker_cpu_seconds(server)
        ours.append(wrk(server.url, **case, duration=args.duration, connections=args.connections))
        if baseline != "argon2":
            our_cpu = (worker_cpu_seconds(server) - cpu) / (ours[-1] * args.duration)
            cpu_ratios.append(bare_cpu / our_cpu)
    result = (
        statistics.median(ours),
        statistics.median(base),
        statistics.median(cpu_ratios) if cpu_ratios else float("nan"),
    )
    spread = ", ".join(f"{o / b:.3f}" for o, b in zip(ours, base, strict=True))
    print(
        f"  {name}: {result[0]:,.0f}/s vs {baseline} {result[1]:,.1f}/s "
        f"(ratio per round: {spread})",
        flush=True,
    )
    return result


def _report(results, memory: list[float], args) -> None:
    print()
    print(
        f"medians of {args.rounds} runs of {args.duration} s, wrk -c{args.connections}, "
        "gunicorn 2 sync workers; baseline: the bare route (password grant: raw argon2 "
        "verifies/s on both cores), each run right after its baseline"
    )
    print(f"{'case':<27}{'authserver':>12}{'baseline':>12}{'ratio':>8}{'CPU ratio':>11}")
    for name, (ours, base, cpu_ratio) in results.items():
        cpu = "" if cpu_ratio != cpu_ratio else f"{cpu_ratio:.3f}x"  # NaN: no CPU figure
        print(f"{name:<27}{ours:>10,.1f}/s{base:>10,.1f}/s{ours / base:>7.3f}x{cpu:>11}")
    if memory:
        print(
            "resident memory per worker after the run: "
            + ", ".join(f"{mb:.1f} MB" for mb in memory)
        )


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main()
