"""Growth of the live state (issue 9 item 5): memory per worker and the cost of a decision
with 1,000,000 revoked ``jti``s and cut-offs for 100,000 users, and that entries leave.

Run: ``.venv/bin/python bench/bench_live_growth.py [--jtis N] [--users N]``

1. :class:`~authserver.live.state.LiveState` alone (what each worker holds): resident
   memory before and after applying the changes; ``decide`` on an empty and on the full
   state (CPU µs per call, medians of blocks); applying the changes (what a worker's first
   read costs in Python); ``prune`` with nothing expired (runs every 30 s inside a sync)
   and once every entry's ``until`` has passed (the state must then be empty).
2. The database side, on SQLite: the same rows in ``live_changes``, and a new worker's
   first read (``log.read_all``) of them.
"""

from __future__ import annotations

import argparse
import gc
import re
import secrets
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from authserver.live.state import JTI, USER, Change, LiveState  # noqa: E402

TTL = 3600 + 30  # ACCESS_TOKEN_TTL (default) + CLOCK_SKEW: how long a cut-off is kept


def rss_mb() -> float:
    status = Path("/proc/self/status").read_text()
    return int(re.search(r"VmRSS:\s+(\d+) kB", status)[1]) / 1024


def changes(jtis: int, users: int, now: float) -> list[Change]:
    """Rows as the log holds them: a revoked jti lives until its exp (up to TTL ahead), a
    user cut-off for TTL + skew."""
    rows = []
    for seq in range(1, jtis + 1):
        until = now + (seq % TTL) + 1
        rows.append(Change(seq, JTI, secrets.token_urlsafe(16), now - 1, until))
    for number in range(users):
        rows.append(Change(jtis + number + 1, USER, str(100_000 + number), now - 1, now + TTL))
    return rows


def retained_mb(state: LiveState) -> float:
    """What the state's dictionaries hold: the tables, their keys and values."""
    total = 0
    for table in (state.revoked, state.user_cutoffs, state.client_cutoffs):
        total += sys.getsizeof(table)
        for key, value in table.items():
            total += sys.getsizeof(key) + sys.getsizeof(value)
            if isinstance(value, tuple):
                total += sum(sys.getsizeof(item) for item in value)
    return total / 2**20


def cpu_us(function, calls: int = 20000, blocks: int = 7) -> tuple[float, float, float]:
    """Median, min and max CPU µs per call of ``function`` over ``blocks`` blocks."""
    results = []
    for _ in range(blocks):
        started = time.thread_time_ns()
        for _ in range(calls):
            function()
        results.append((time.thread_time_ns() - started) / calls / 1000)
    return statistics.median(results), min(results), max(results)


def timed(function) -> tuple[float, object]:
    """CPU seconds of this thread for ``function()`` (a busy machine's waits not counted),
    and its result."""
    started = time.thread_time()
    result = function()
    return time.thread_time() - started, result


def index_mb(state: LiveState) -> float:
    """What the expiry index adds (lists of keys per second, the heap): the keys themselves
    are the tables' own strings."""
    total = 0
    for index in getattr(state, "_expiry", {}).values():
        total += sys.getsizeof(index.buckets) + sys.getsizeof(index.seconds)
        total += sum(sys.getsizeof(keys) for keys in index.buckets.values())
    return total / 2**20


def state_part(jtis: int, users: int) -> list[Change]:
    now = time.time()
    rows = changes(jtis, users, now)
    claims = {
        "jti": secrets.token_urlsafe(16),
        "sub": "42",
        "iat": int(now),
        "client_id": "bench",
        "scope": "profile documents:read",
        "roles": ["viewer"],
    }
    empty = LiveState()
    empty_cost = cpu_us(lambda: empty.decide(claims))
    gc.collect()
    before = rss_mb()
    state = LiveState()
    seconds, _ = timed(lambda: state.apply(rows))
    gc.collect()
    after = rss_mb()
    full_cost = cpu_us(lambda: state.decide(claims))
    held, index = retained_mb(state), index_mb(state)
    revoked = rows[jtis // 2]
    assert state.decide({**claims, "jti": revoked.key}).__class__.__name__ == "Refused"
    prune_none, dropped_none = timed(lambda: state.prune(time.time()))
    prune_all, dropped_all = timed(lambda: state.prune(now + TTL + 2))
    print(f"LiveState with {jtis:,} revoked jtis and {users:,} user cut-offs")
    print(
        f"  held by the state: {held:,.0f} MB (dictionaries, keys, values) and {index:,.0f} MB "
        f"(expiry index); resident memory +{after - before:,.0f} MB for both"
    )
    print(f"  applying the {len(rows):,} changes: {seconds:.2f} s CPU")
    print(
        f"  decide(): empty state {empty_cost[0]:.2f} µs, full state {full_cost[0]:.2f} µs "
        f"per call (CPU, median of 7 blocks; range {full_cost[1]:.2f}-{full_cost[2]:.2f})"
    )
    print(
        f"  prune() with nothing expired: {prune_none * 1000:,.1f} ms CPU, dropped {dropped_none}"
        " (the bench's own minutes let the first few expire)"
    )
    print(
        f"  prune() after every until: {prune_all * 1000:,.0f} ms CPU, dropped {dropped_all:,}, "
        f"left {state.size()}"
    )
    assert state.size() == 0, "entries must leave once their tokens can no longer be valid"
    return rows


def database_part(rows: list[Change]) -> None:
    from sqlalchemy import create_engine, insert

    from authserver.live import log
    from authserver.models import LiveChange

    folder = tempfile.mkdtemp(prefix="authserver-growth-")
    engine = create_engine(f"sqlite:///{folder}/growth.db")
    LiveChange.__table__.create(engine)
    stamp = lambda t: datetime.fromtimestamp(t, UTC)  # noqa: E731
    with engine.begin() as connection:
        for start in range(0, len(rows), 50_000):
            connection.execute(
                insert(LiveChange),
                [
                    {"seq": r.seq, "kind": r.kind, "key": r.key, "at": stamp(r.at),
                     "until": stamp(r.until)}
                    for r in rows[start : start + 50_000]
                ],
            )  # fmt: skip
    size = Path(f"{folder}/growth.db").stat().st_size / 2**20
    with engine.connect() as connection:
        seconds, (_, read) = timed(lambda: log.read_all(connection, datetime.now(UTC)))
        since, _ = timed(lambda: log.read_since(connection, len(rows)))
    state = LiveState()
    applying, _ = timed(lambda: state.apply(read))
    print(f"SQLite live_changes with {len(rows):,} rows ({size:,.0f} MB file)")
    print(f"  a worker's first read (read_all): {seconds:.2f} s CPU, then apply {applying:.2f} s")
    print(f"  an incremental read with nothing new (read_since): {since * 1000:.2f} ms CPU")
    _ = timedelta  # the horizon is TTL above


def request_part(rows: list[Change], requests: int) -> None:
    """A protected request in-process (as bench/profile_protected.py) with an empty live
    state and with ``rows`` applied to it."""
    import os

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from harness import bench_database_url, prepare
    from profile_protected import _call, _environ, _login

    os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="authserver-metrics-")
    with prepare(bench_database_url()) as fixture:
        os.environ.update(fixture.env)
        from authserver import live
        from authserver.app import create_app

        app = create_app()
        token = _login(app, fixture)
        errors = open(os.devnull, "w")  # noqa: SIM115 - the request log, as under gunicorn
        me = _environ("/api/me", {"Authorization": f"Bearer {token}"}, errors)
        assert _call(app.wsgi_app, me) == 200
        empty = cpu_us(lambda: _call(app.wsgi_app, me), calls=requests)
        before = rss_mb()
        live.live_sync(app).state.apply(rows, advance=False)
        gc.collect()
        after = rss_mb()
        assert _call(app.wsgi_app, me) == 200
        full = cpu_us(lambda: _call(app.wsgi_app, me), calls=requests)
    print(f"A protected request in-process (CPU µs, median of 7 blocks of {requests}):")
    print(f"  empty live state {empty[0]:.1f} µs ({empty[1]:.1f}-{empty[2]:.1f})")
    print(
        f"  with {len(rows):,} entries {full[0]:.1f} µs ({full[1]:.1f}-{full[2]:.1f}); "
        f"the worker's resident memory +{after - before:,.0f} MB"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--jtis", type=int, default=1_000_000)
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--no-database", action="store_true")
    parser.add_argument("--requests", type=int, default=1000, help="0: no request part")
    args = parser.parse_args()
    rows = state_part(args.jtis, args.users)
    if args.requests:
        request_part(rows, args.requests)
    if not args.no_database:
        database_part(rows)


if __name__ == "__main__":
    main()
