"""What DPoP costs a protected request (SPEC §17): GET /api/me with a DPoP-bound token and a
fresh proof per request, against the same request with a bearer token and the bare route.

Under gunicorn (2 sync workers) loaded by wrk, as ``bench/run.py``: the three cases
alternate in every round and each figure is printed as a ratio to the ones measured beside
it (medians of ``--rounds``), with the ratio of the workers' CPU time per request. The
proofs (ES256, joserfc) are made before each DPoP run, more than it can use; their ``jti``s
go to the replay state: the database (SQLite by default, PostgreSQL when
AUTHSERVER_TEST_DATABASE_URL is set), or Redis with ``--redis`` (AUTHSERVER_TEST_REDIS_URL).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import time
import uuid
from pathlib import Path

import requests
from joserfc import jwt
from joserfc.jwk import ECKey

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from harness import Server, prepare, worker_cpu_seconds, wrk  # noqa: E402

from authserver.resource.dpop import b64_sha256  # noqa: E402

HERE = Path(__file__).resolve().parent
THREADS = 2


def bench_database_url() -> str:
    """SQLite in the fixture's folder, or a fresh PostgreSQL database of its own
    (``authserver_bench_dpop``: run.py's may be in use by another bench at the time)."""
    url = os.environ.get("AUTHSERVER_TEST_DATABASE_URL")
    if not url:
        return ""
    import psycopg

    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute("DROP DATABASE IF EXISTS authserver_bench_dpop WITH (FORCE)")
        connection.execute("CREATE DATABASE authserver_bench_dpop")
    return url.rsplit("/", 1)[0] + "/authserver_bench_dpop"


def make_proof(key: ECKey, htm: str, htu: str, token: str | None = None) -> str:
    claims = {"jti": uuid.uuid4().hex, "htm": htm, "htu": htu, "iat": int(time.time())}
    if token is not None:
        claims["ath"] = b64_sha256(token)
    header = {"typ": "dpop+jwt", "alg": "ES256", "jwk": key.as_dict(private=False)}
    return jwt.encode(header, claims, key, algorithms=["ES256"])


def dpop_login(url: str, fixture, key: ECKey) -> str:
    """A DPoP-bound access token for the bench user."""
    response = requests.post(
        f"{url}/oauth/token",
        data={
            "grant_type": "password",
            "username": fixture.username,
            "password": fixture.password,
        },
        auth=(fixture.client_id, fixture.client_secret),
        headers={"DPoP": make_proof(key, "POST", f"{url}/oauth/token")},
        timeout=10,
    )
    response.raise_for_status()
    assert response.json()["token_type"] == "DPoP", response.json()
    return response.json()["access_token"]


def _run(server: Server, case: dict, args) -> tuple[float, float]:
    """Requests/s of one wrk run and the workers' CPU seconds per request."""
    cpu = worker_cpu_seconds(server)
    rate = wrk(server.url, **case, duration=args.duration, connections=args.connections)
    return rate, (worker_cpu_seconds(server) - cpu) / max(rate * args.duration, 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--duration", type=int, default=10, help="seconds per wrk run")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--connections", type=int, default=4)
    parser.add_argument("--redis", action="store_true", help="replay state in Redis")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("the bench needs wrk (Debian: apt-get install wrk)")
    database_url = bench_database_url()
    backend = "PostgreSQL" if database_url.startswith("postgres") else "SQLite"
    with prepare(database_url) as fixture:
        if args.redis:
            fixture.env["AUTHSERVER_REDIS_URL"] = os.environ["AUTHSERVER_TEST_REDIS_URL"]
        print(f"database: {backend}; replay state: {'Redis' if args.redis else backend}")
        proofs_file = fixture.workdir / "proofs.txt"
        with Server.authserver(fixture) as server, Server.bare() as bare:
            key = ECKey.generate_key("P-256")
            token = dpop_login(server.url, fixture, key)
            bearer_token = requests.post(
                f"{server.url}/oauth/token",
                data={"grant_type": "password", "username": fixture.username,
                      "password": fixture.password},
                auth=(fixture.client_id, fixture.client_secret),
                timeout=10,
            ).json()["access_token"]  # fmt: skip
            bearer = {"path": "/api/me", "headers": [f"Authorization: Bearer {bearer_token}"]}
            htu = f"{server.url}/api/me"
            figures: dict[str, list[tuple[float, float]]] = {"bare": [], "bearer": [], "dpop": []}
            for _ in range(args.rounds):
                cpu = worker_cpu_seconds(bare)
                rate = wrk(bare.url, "/", args.duration, args.connections)
                figures["bare"].append(
                    (rate, (worker_cpu_seconds(bare) - cpu) / (rate * args.duration))
                )
                figures["bearer"].append(_run(server, bearer, args))
                count = int(figures["bearer"][-1][0] * args.duration * 1.5) + 2000
                proofs_file.write_text(
                    "\n".join(make_proof(key, "GET", htu, token) for _ in range(count)) + "\n"
                )
                dpop = {
                    "path": "/api/me",
                    "script": HERE / "dpop.lua",
                    "threads": THREADS,
                    "env": {
                        "BENCH_TOKEN": token,
                        "BENCH_PROOFS": str(proofs_file),
                        "BENCH_THREADS": str(min(THREADS, args.connections)),
                    },
                }
                figures["dpop"].append(_run(server, dpop, args))
    _report(figures, args)


def _report(figures: dict[str, list[tuple[float, float]]], args) -> None:
    def median(name: str, index: int) -> float:
        return statistics.median(run[index] for run in figures[name])

    print(
        f"medians of {args.rounds} runs of {args.duration} s, wrk -c{args.connections}, "
        "gunicorn 2 sync workers"
    )
    for name in ("bare", "bearer", "dpop"):
        rates = ", ".join(f"{run[0]:.0f}" for run in figures[name])
        print(
            f"  {name:<7} {median(name, 0):>8.0f} req/s ({rates}), "
            f"{median(name, 1) * 1e6:>6.0f} us CPU per request"
        )
    for base in ("bearer", "bare"):
        ratios = [d[0] / b[0] for d, b in zip(figures["dpop"], figures[base], strict=True)]
        cpu = [b[1] / d[1] for d, b in zip(figures["dpop"], figures[base], strict=True)]
        spread = ", ".join(f"{r:.3f}" for r in ratios)
        print(
            f"DPoP / {base:<6}: throughput {statistics.median(ratios):.3f}x ({spread}); "
            f"CPU per request ratio {statistics.median(cpu):.3f}x"
        )


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main()
