"""Per-account lockout (SPEC §10): failures in a row lock an account for a growing while.

Every test runs on the database counters and on real Redis (AUTHSERVER_TEST_REDIS_URL;
skipped when unset). Usernames are unique per test and their Redis keys are deleted after
it, so runs sharing one Redis never see each other's counters.
"""

from __future__ import annotations

import random
import statistics
import time
import uuid
from collections.abc import Callable, Iterator

import pytest
import redis
from flask import Flask
from sqlalchemy import select

from authserver.app import create_app
from authserver.extensions import db
from authserver.models import LoginFailure
from authserver.security.digests import digest
from authserver.services.lockout import RedisCounters
from authserver.state import state
from tests.conftest import PASSWORD, REDIS_URL, basic_auth, close_app

THRESHOLD = 3


@pytest.fixture(params=["database", "redis"], autouse=True)
def counters(request, settings) -> str:
    """Where the counters live; set before the app is built."""
    if request.param == "redis":
        if not REDIS_URL:
            pytest.skip("AUTHSERVER_TEST_REDIS_URL is not set")
        settings["REDIS_URL"] = REDIS_URL
    settings["LOCKOUT_THRESHOLD"] = THRESHOLD
    return request.param


@pytest.fixture
def redis_db() -> Iterator[redis.Redis | None]:
    """A connection to the test Redis (None when unset), to look at what the app stored."""
    if not REDIS_URL:
        yield None
        return
    connection = redis.Redis.from_url(REDIS_URL)
    yield connection
    connection.close()


@pytest.fixture
def names(redis_db) -> Iterator[Callable[[str], str]]:
    """Unique usernames for this test; their Redis lockout keys are removed afterwards."""
    made: list[str] = []

    def unique(prefix: str = "user") -> str:
        made.append(f"{prefix}-{uuid.uuid4().hex[:12]}")
        return made[-1]

    yield unique
    if redis_db is not None and made:
        redis_db.delete(*[RedisCounters.PREFIX + digest(name) for name in made])


@pytest.fixture
def another_app(settings) -> Iterator[Callable[[], Flask]]:
    """Build another instance from ``settings``; its connections are closed after the test."""
    made: list[Flask] = []

    def build() -> Flask:
        made.append(create_app("testing", settings))
        return made[-1]

    yield build
    for other in made:
        with other.app_context():
            close_app(other)  # its live feed's connection too, not only the pool


@pytest.fixture
def login(token_request) -> Callable:
    def attempt(username: str, password: str = PASSWORD):
        return token_request(grant_type="password", username=username, password=password)

    return attempt


def fail(login, username: str, times: int) -> None:
    for _ in range(times):
        response = login(username, "wrong password")
        assert response.status_code == 400
        assert response.get_json()["error"] == "invalid_grant"


def locked_until(app, username: str) -> float:
    return state(app).lockout.locked_until(digest(username))


def answer(response) -> tuple:
    """Everything a client can see of an answer, to compare answers byte for byte (but the
    request id, which is new for every request)."""
    headers = sorted((k, v) for k, v in response.headers.items() if k != "X-Request-ID")
    return response.status_code, tuple(headers), response.get_data()


# --- locking -----------------------------------------------------------------------------------


def test_threshold_failures_lock_the_account_even_for_the_right_password(
    app, make_user, login, names
) -> None:
    name = names()
    make_user(name)
    wrong = login(name, "wrong password")
    fail(login, name, THRESHOLD - 1)

    assert locked_until(app, name) > time.time()
    locked = login(name)
    assert locked.status_code == 400
    assert answer(locked) == answer(wrong)


def test_failures_below_threshold_do_not_lock(app, make_user, login, names) -> None:
    name = names()
    make_user(name)
    fail(login, name, THRESHOLD - 1)

    assert locked_until(app, name) == 0
    assert login(name).status_code == 200


def test_success_resets_the_count(make_user, login, names) -> None:
    name = names()
    make_user(name)
    fail(login, name, THRESHOLD - 1)
    assert login(name).status_code == 200

    fail(login, name, THRESHOLD - 1)

    assert login(name).status_code == 200


def test_locked_attempts_with_the_right_password_do_not_reset(
    app, make_user, login, names
) -> None:
    name = names()
    make_user(name)
    fail(login, name, THRESHOLD)
    until = locked_until(app, name)

    assert login(name).status_code == 400
    assert login(name).status_code == 400
    assert locked_until(app, name) == pytest.approx(until)


def test_unknown_account_is_counted_and_locked_the_same_way(app, login, names) -> None:
    ghost = names("ghost")
    fail(login, ghost, THRESHOLD - 1)
    assert locked_until(app, ghost) == 0

    fail(login, ghost, 1)

    assert locked_until(app, ghost) > time.time()


def test_wrong_password_locked_and_unknown_answers_are_identical(make_user, login, names) -> None:
    name, locked_name, ghost = names(), names(), names("ghost")
    make_user(name)
    make_user(locked_name)
    fail(login, locked_name, THRESHOLD)

    answers = {
        "wrong password": answer(login(name, "wrong password")),
        "locked, right password": answer(login(locked_name)),
        "locked, wrong password": answer(login(locked_name, "wrong password")),
        "unknown": answer(login(ghost, "wrong password")),
    }

    assert len(set(answers.values())) == 1, answers
    assert answers["unknown"][0] == 400


# --- growing wait and expiry (LOCKOUT_BASE_SECONDS = 1) ------------------------------------------


@pytest.fixture
def one_second_base(settings) -> None:
    settings["LOCKOUT_BASE_SECONDS"] = 1


def _sleep_until(moment: float) -> None:
    time.sleep(max(0.0, moment - time.time()) + 0.05)


def test_lock_grows_with_each_failure_after_it_ends(
    one_second_base, app, make_user, login, names
) -> None:
    name = names()
    make_user(name)
    fail(login, name, THRESHOLD)
    first = locked_until(app, name) - time.time()
    _sleep_until(locked_until(app, name))

    fail(login, name, 1)
    second = locked_until(app, name) - time.time()

    assert 0 < first <= 1
    assert 1.5 < second <= 2  # base * 2 ** (failures - threshold)
    assert login(name).status_code == 400


def test_lock_ends_and_a_success_then_clears_the_count(
    one_second_base, app, make_user, login, names
) -> None:
    name = names()
    make_user(name)
    fail(login, name, THRESHOLD)
    _sleep_until(locked_until(app, name))

    assert login(name).status_code == 200
    fail(login, name, THRESHOLD - 1)
    assert login(name).status_code == 200


def test_lock_is_capped_at_max_seconds(settings, another_app, names) -> None:
    settings.update(LOCKOUT_BASE_SECONDS=60, LOCKOUT_MAX_SECONDS=90)
    app = another_app()
    name = names()
    with app.app_context():
        for _ in range(THRESHOLD + 5):
            until = state(app).lockout.record_failure(digest(name))
    assert until - time.time() == pytest.approx(90, abs=2)


# --- where the counters live ---------------------------------------------------------------------


def test_counters_live_where_configured(app, counters, login, names, redis_db) -> None:
    ghost = names("ghost")
    fail(login, ghost, 2)

    rows = db.session.execute(
        select(LoginFailure.failures).where(LoginFailure.account_digest == digest(ghost))
    ).scalars()
    if counters == "redis":
        stored = redis_db.hget(RedisCounters.PREFIX + digest(ghost), "failures")
        assert stored == b"2"
        assert list(rows) == []
    else:
        assert list(rows) == [2]


def test_redis_lock_outlives_a_short_reset_window(
    settings, counters, another_app, names, redis_db
) -> None:
    """The Redis key's TTL is the reset window; a lock longer than that must not vanish."""
    if counters != "redis":
        pytest.skip("Redis only")
    settings.update(LOCKOUT_RESET_SECONDS=60, LOCKOUT_BASE_SECONDS=600, LOCKOUT_MAX_SECONDS=900)
    app = another_app()
    name = names()
    with app.app_context():
        for _ in range(THRESHOLD):
            until = state(app).lockout.record_failure(digest(name))
        assert redis_db.ttl(RedisCounters.PREFIX + digest(name)) >= until - time.time() - 1
        state(app).lockout.touch(digest(name))  # an attempt while locked
    ttl = redis_db.ttl(RedisCounters.PREFIX + digest(name))
    assert until - time.time() > 590
    assert ttl >= until - time.time() - 1


def test_two_app_instances_count_failures_together(
    app, another_app, oauth_client, make_user, login, names
) -> None:
    """Two instances on one database (and one Redis, when configured) share the count."""
    name = names()
    make_user(name)
    other = another_app()
    fail(login, name, THRESHOLD - 1)

    response = other.test_client().post(
        "/oauth/token",
        data={"grant_type": "password", "username": name, "password": "wrong password"},
        headers=basic_auth(oauth_client.client_id, oauth_client.secret),
    )

    assert response.status_code == 400
    with other.app_context():
        assert locked_until(other, name) > time.time()
    assert locked_until(app, name) > time.time()
    assert login(name).status_code == 400


# --- timing --------------------------------------------------------------------------------------

SAMPLES = 15


@pytest.fixture
def production_argon2(settings) -> None:
    settings.update(ARGON2_TIME_COST=2, ARGON2_MEMORY_COST=19_456, LOCKOUT_THRESHOLD=20)


def test_wrong_password_unknown_and_locked_take_the_same_time(
    production_argon2, app, make_user, login, names
) -> None:
    """Medians of SAMPLES interleaved requests each; ratios only, never absolute times."""
    name, locked_name, ghost = names(), names(), names("ghost")
    make_user(name)
    make_user(locked_name)
    fail(login, locked_name, 20)
    assert locked_until(app, locked_name) > time.time()
    kinds = {
        "wrong password": lambda: login(name, "wrong password"),
        "unknown": lambda: login(ghost, "wrong password"),
        "locked": lambda: login(locked_name, "wrong password"),
    }
    for request in kinds.values():  # warm up: connections, caches
        request()
    times: dict[str, list[float]] = {kind: [] for kind in kinds}
    order = list(kinds)
    for _ in range(SAMPLES):
        random.shuffle(order)
        for kind in order:
            start = time.perf_counter()
            assert kinds[kind]().status_code == 400
            times[kind].append(time.perf_counter() - start)

    medians = {kind: statistics.median(values) for kind, values in times.items()}
    print("median seconds:", medians)  # shown with -s or on failure
    for a in kinds:
        for b in kinds:
            assert 0.67 <= medians[a] / medians[b] <= 1.5, medians
