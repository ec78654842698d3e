"""Issue 10 item 4 (SPEC §10): a wrong password for an existing user must not take longer
than one for an unknown name. Before the fix it was ~1 ms slower, in 122 of 140 interleaved
pairs: the user's row and its roles were loaded (twice) where an unknown name loaded nothing.

Measured as the finding was: interleaved pairs of token requests, each pair in a random
order; the count of pairs in which each kind was the slower one. A statistical test, not a
wall-clock bound: with the same work on both paths either kind is slower in about half the
pairs (300 pairs: a standard deviation of 2.9 %), so neither may be slower in over 60 %.
"""

from __future__ import annotations

import random
import time
import uuid

import pytest

from tests.conftest import basic_auth

PAIRS = 300
MAX_SHARE = 0.60
ROTATION = 10  # accounts of each kind, taken in turn: none reaches the lockout threshold


@pytest.fixture
def timing_settings(settings) -> None:
    """The server's own argon2 parameters (SPEC §10), not the tests' cheap ones: with a
    verify of a few microseconds, any microsecond of difference would decide every pair,
    while what an attacker measures is a request whose time argon2 dominates."""
    settings.update(
        LOCKOUT_THRESHOLD=30,
        TOKEN_RATE_LIMIT="100000/minute",
        ARGON2_TIME_COST=2,
        ARGON2_MEMORY_COST=19456,
        ARGON2_PARALLELISM=1,
    )


def test_wrong_password_and_unknown_user_are_slower_equally_often(
    timing_settings, client, oauth_client, make_user
) -> None:
    existing = [f"user-{uuid.uuid4().hex[:10]}" for _ in range(ROTATION)]
    for name in existing:
        make_user(name)
    unknown = [f"ghost-{uuid.uuid4().hex[:10]}" for _ in range(ROTATION)]
    headers = basic_auth(oauth_client.client_id, oauth_client.secret)

    def elapsed(username: str) -> float:
        form = {"grant_type": "password", "username": username, "password": "wrong password"}
        start = time.perf_counter()
        response = client.post("/oauth/token", data=form, headers=headers)
        took = time.perf_counter() - start
        assert response.status_code == 400, response.get_json()
        return took

    for index in range(ROTATION):  # warm up both paths: connections, caches, first INSERTs
        elapsed(existing[index])
        elapsed(unknown[index])
    existing_slower = 0
    for pair in range(PAIRS):
        kinds = [("existing", existing[pair % ROTATION]), ("unknown", unknown[pair % ROTATION])]
        random.shuffle(kinds)
        times = {kind: elapsed(name) for kind, name in kinds}
        existing_slower += times["existing"] > times["unknown"]

    share = existing_slower / PAIRS
    print(f"existing slower in {existing_slower} of {PAIRS} pairs")  # shown with -s
    assert 1 - MAX_SHARE <= share <= MAX_SHARE, f"existing slower in {existing_slower}/{PAIRS}"
