"""Benchmark the policy impact preview (SPEC §14) on PostgreSQL.

Run: ``AUTHSERVER_TEST_DATABASE_URL=postgresql://... .venv/bin/python bench/bench_preview.py``
(the database is emptied and migrated: give it a throwaway one). Without the variable it
says so in one line and exits 0.

1. 100,000 users spread over 50 role sets (each holds ``base`` and a combination of
   ``r0``...``r5``), seeded with ``INSERT ... SELECT generate_series`` (no ORM).
2. The candidate takes ``reports:export`` from ``base``: every one of the 50 sets loses it.
   The preview (validation, tests, diff and the impact counted in the database) is timed,
   median of 7 after a warm-up; the target is under 1 s.
3. The plan of the grouping query (EXPLAIN ANALYZE), to show its shape: one pass over the
   role rows, aggregation by user, a sort by role set, no per-user round trip.
4. Memory: tracemalloc's peak during one preview at 10,000 users and at 100,000 users;
   the ratio should stay near 1, since Python only sees 20 names per role set.
"""

from __future__ import annotations

import os
import statistics
import sys
import time
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

SETS = 50
FLAGS = 6  # r0..r5: 64 combinations, the first 50 used
REPEAT = 7


def policy_yaml(base_scopes: str) -> str:
    roles = "".join(f"  r{b}:\n    scopes: [extra{b}:use]\n" for b in range(FLAGS))
    scopes = "".join(f"  extra{b}:use: Extra {b}\n" for b in range(FLAGS))
    return (
        "version: 1\nscopes:\n  profile: Read your own profile\n"
        "  reports:read: Read reports\n  reports:export: Export reports\n"
        "  policies:read: Read role policies\n  policies:write: Change role policies\n"
        f"{scopes}roles:\n  base:\n    scopes: [{base_scopes}]\n{roles}"
        "  admin:\n    scopes: ['policies:*']\n"
        "tests:\n  - name: base reads reports\n    roles: [base]\n    grants: [reports:read]\n"
    )


LIVE = policy_yaml("profile, reports:read, reports:export")
CANDIDATE = policy_yaml("profile, reports:read")


def seed(users: int) -> None:
    """``users`` users, user i holding base and the roles of set i % 50's bits."""
    from sqlalchemy import text

    from authserver.extensions import db

    db.session.execute(text("TRUNCATE users RESTART IDENTITY CASCADE"))
    db.session.execute(
        text(
            "INSERT INTO users (username, password_hash, disabled, created_at) "
            "SELECT 'user' || lpad(g::text, 7, '0'), 'x', false, now() "
            "FROM generate_series(1, :n) AS g"
        ),
        {"n": users},
    )
    db.session.execute(text("INSERT INTO user_roles (user_id, role) SELECT id, 'base' FROM users"))
    db.session.execute(
        text(
            "INSERT INTO user_roles (user_id, role) SELECT u.id, 'r' || b "
            "FROM users AS u CROSS JOIN generate_series(0, :flags - 1) AS b "
            "WHERE ((u.id % :sets) >> b) & 1 = 1"
        ),
        {"flags": FLAGS, "sets": SETS},
    )
    db.session.commit()
    # What autovacuum does soon after a bulk load: statistics, and a visibility map that
    # lets the role index be read without the table.
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.execute(text("VACUUM ANALYZE users"))
        connection.execute(text("VACUUM ANALYZE user_roles"))


def run_preview() -> dict:
    from authserver.services import policy_preview

    body = policy_preview.preview(CANDIDATE, "yaml").to_dict()
    db_rollback()
    return body


def db_rollback() -> None:
    from authserver.extensions import db

    db.session.rollback()


def timed(repeat: int) -> tuple[float, float, dict]:
    times, body = [], {}
    run_preview()  # warm-up: the live policy is parsed and cached, the plan warmed
    for _ in range(repeat):
        start = time.perf_counter()
        body = run_preview()
        times.append(time.perf_counter() - start)
    return statistics.median(times), min(times), body


def peak_memory() -> int:
    """tracemalloc's peak over one preview, after a first one (caches, the parsed policy)."""
    run_preview()
    tracemalloc.start()
    tracemalloc.reset_peak()
    run_preview()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak


def plan_shape() -> str:
    from authserver.policy import load_policy_yaml
    from authserver.policy.impact import changed_roles
    from authserver.services import impact, policy_store

    _, live = policy_store.live_policy()
    candidate = load_policy_yaml(CANDIDATE).policy
    assert candidate is not None
    plan = impact.explain_plan(impact.user_holders(), changed_roles(live, candidate))
    db_rollback()
    return plan


def main() -> int:
    url = os.environ.get("AUTHSERVER_TEST_DATABASE_URL")
    if not url:
        print("bench_preview: skipped, AUTHSERVER_TEST_DATABASE_URL is not set (PostgreSQL)")
        return 0
    import flask_migrate
    from sqlalchemy import text

    from authserver.app import create_app
    from authserver.extensions import db
    from authserver.services import policy_store
    from tests.conftest import close_app, reset_postgres

    reset_postgres(url)
    app = create_app("testing", {"DATABASE_URL": url, "POLICY_FILE": os.devnull})
    with app.app_context():
        flask_migrate.upgrade()
        db.session.execute(text("TRUNCATE policy_versions"))
        db.session.commit()
        policy_store.save_version(LIVE, actor="bench", expected=0)
        peaks = {}
        for users in (10_000, 100_000):
            seed(users)
            peaks[users] = peak_memory()
        median, best, body = timed(REPEAT)
        groups = body["impact"]["groups"]
        assert len(groups) == SETS and sum(g["count"] for g in groups) == 100_000, groups
        assert all(g["loses"] == ["reports:export"] for g in groups)
        load = os.getloadavg()[0]
        print(
            f"preview of 100,000 users in {SETS} role sets: median {median * 1000:.0f} ms, "
            f"best {best * 1000:.0f} ms over {REPEAT} runs (target < 1000 ms; "
            f"load average {load:.1f} on {os.cpu_count()} CPUs)"
        )
        print(
            f"tracemalloc peak per preview: 10,000 users {peaks[10_000] / 1024:.0f} KiB, "
            f"100,000 users {peaks[100_000] / 1024:.0f} KiB "
            f"(ratio {peaks[100_000] / peaks[10_000]:.2f})"
        )
        print("plan of the grouping query (EXPLAIN ANALYZE, COSTS OFF):")
        print(plan_shape())
        close_app(app)
    return 0


if __name__ == "__main__":
    sys.exit(main())
