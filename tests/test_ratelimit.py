"""Per-IP rate limit on the token endpoint (SPEC §10): failed requests count, successes don't.

Each test uses its own client address (REMOTE_ADDR) and deletes its Redis keys afterwards,
so runs sharing one Redis never see each other's counters. "Redis down" is a closed port.
"""

from __future__ import annotations

import contextlib
import random
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator

import pytest
import redis
from sqlalchemy import select

from authserver.app import create_app
from authserver.extensions import db
from authserver.models import LoginFailure
from authserver.security.digests import digest
from authserver.services.lockout import RedisCounters
from authserver.state import state
from authserver.web.ratelimit import TokenRateLimit
from tests.conftest import PASSWORD, REDIS_URL, basic_auth, close_app

LIMIT = 5
DEAD_REDIS = "redis://127.0.0.1:1/0"


@pytest.fixture
def address() -> str:
    return f"10.{random.randrange(256)}.{random.randrange(256)}.{random.randrange(1, 255)}"


@pytest.fixture
def limited(settings) -> None:
    settings["TOKEN_RATE_LIMIT"] = f"{LIMIT}/minute"


@pytest.fixture
def on_redis(settings, address) -> Iterator[redis.Redis]:
    """Counters in the test Redis; this address's rate-limit keys are deleted afterwards."""
    if not REDIS_URL:
        pytest.skip("AUTHSERVER_TEST_REDIS_URL is not set")
    settings["REDIS_URL"] = REDIS_URL
    connection = redis.Redis.from_url(REDIS_URL)
    yield connection
    keys = list(connection.scan_iter(match=f"*/{address}/*"))
    if keys:
        connection.delete(*keys)
    connection.close()


@pytest.fixture
def names() -> Iterator[Callable[[str], str]]:
    """Unique usernames; their Redis lockout keys (if any) are deleted afterwards."""
    made: list[str] = []

    def unique(prefix: str = "user") -> str:
        made.append(f"{prefix}-{uuid.uuid4().hex[:12]}")
        return made[-1]

    yield unique
    if REDIS_URL and made:
        connection = redis.Redis.from_url(REDIS_URL)
        connection.delete(*[RedisCounters.PREFIX + digest(name) for name in made])
        connection.close()


def form(username: str, password: str = PASSWORD) -> dict:
    return {"grant_type": "password", "username": username, "password": password}


def post_token(test_client, oauth_client, address: str, data: dict):
    return test_client.post(
        "/oauth/token",
        data=data,
        headers=basic_auth(oauth_client.client_id, oauth_client.secret),
        environ_base={"REMOTE_ADDR": address},
    )


def assert_rate_limited(response) -> None:
    assert response.status_code == 429
    assert response.mimetype == "application/json"
    body = response.get_json()
    assert body["error"] == "rate_limited"
    assert set(body) <= {"error", "error_description"}
    retry_after = response.headers["Retry-After"]
    assert retry_after.isdigit() and 1 <= int(retry_after) <= 60
    assert response.headers["Cache-Control"] == "no-store"


# --- in process ---------------------------------------------------------------------------------


def test_failed_requests_from_one_address_reach_429(
    limited, client, oauth_client, address, names
) -> None:
    for _ in range(LIMIT):
        response = post_token(client, oauth_client, address, form(names("ghost"), "wrong"))
        assert response.status_code == 400

    assert_rate_limited(post_token(client, oauth_client, address, form(names(), "wrong")))


def test_once_limited_even_a_right_password_gets_429(
    limited, client, oauth_client, make_user, address, names
) -> None:
    name = names()
    make_user(name)
    for _ in range(LIMIT):
        post_token(client, oauth_client, address, form(names("ghost"), "wrong"))

    assert_rate_limited(post_token(client, oauth_client, address, form(name)))


def test_other_addresses_are_not_limited(
    limited, client, oauth_client, make_user, address, names
) -> None:
    name = names()
    make_user(name)
    for _ in range(LIMIT + 1):
        post_token(client, oauth_client, address, form(names("ghost"), "wrong"))

    assert post_token(client, oauth_client, "192.0.2.7", form(name)).status_code == 200


def test_successful_requests_are_not_counted(
    limited, client, oauth_client, make_user, address, names
) -> None:
    name = names()
    make_user(name)
    for _ in range(4 * LIMIT):
        assert post_token(client, oauth_client, address, form(name)).status_code == 200

    for _ in range(LIMIT):
        response = post_token(client, oauth_client, address, form(name, "wrong"))
        assert response.status_code == 400
    assert_rate_limited(post_token(client, oauth_client, address, form(name)))


def test_successful_responses_carry_no_retry_after(
    limited, client, oauth_client, make_user, address, names
) -> None:
    name = names()
    make_user(name)

    response = post_token(client, oauth_client, address, form(name))

    assert response.status_code == 200
    assert "Retry-After" not in response.headers
    assert not any(h.lower().startswith("x-ratelimit") for h in response.headers.keys())


def test_bad_client_credentials_count_too(limited, client, oauth_client, address) -> None:
    for _ in range(LIMIT):
        response = client.post(
            "/oauth/token",
            data=form("anyone"),
            headers=basic_auth(oauth_client.client_id, "wrong secret"),
            environ_base={"REMOTE_ADDR": address},
        )
        assert response.status_code == 401

    assert_rate_limited(post_token(client, oauth_client, address, form("anyone")))


# --- on Redis ------------------------------------------------------------------------------------


def test_redis_count_is_shared_by_two_app_instances(
    limited, on_redis, settings, client, oauth_client, address, names
) -> None:
    other = create_app("testing", settings)
    other_client = other.test_client()
    try:
        _fail_on_both(client, other_client, oauth_client, address, names)
    finally:
        with other.app_context():
            close_app(other)  # its live feed's connection too, not only the pool
    assert list(on_redis.scan_iter(match=f"*/{address}/*"))


def _fail_on_both(client, other_client, oauth_client, address: str, names) -> None:
    for turn in range(LIMIT):
        test_client = client if turn % 2 else other_client
        response = post_token(test_client, oauth_client, address, form(names("ghost"), "wrong"))
        assert response.status_code == 400

    assert_rate_limited(post_token(client, oauth_client, address, form(names())))
    assert_rate_limited(post_token(other_client, oauth_client, address, form(names())))


# --- Redis down ----------------------------------------------------------------------------------


@pytest.fixture
def dead_redis(settings) -> None:
    settings["REDIS_URL"] = DEAD_REDIS
    settings["LOCKOUT_THRESHOLD"] = 3


def _failure_count(name: str) -> int | None:
    return db.session.execute(
        select(LoginFailure.failures).where(LoginFailure.account_digest == digest(name))
    ).scalar()


def test_redis_down_fallback_logins_still_work(
    dead_redis, client, oauth_client, make_user, address, names
) -> None:
    name = names()
    make_user(name)

    response = post_token(client, oauth_client, address, form(name))

    assert response.status_code == 200
    assert response.get_json()["access_token"]


def test_redis_down_fallback_lockout_counts_in_the_database(
    dead_redis, client, oauth_client, make_user, address, names
) -> None:
    name = names()
    make_user(name)
    for _ in range(3):
        assert post_token(client, oauth_client, address, form(name, "wrong")).status_code == 400

    assert _failure_count(name) == 3
    locked = post_token(client, oauth_client, address, form(name))
    assert locked.status_code == 400
    assert locked.get_json()["error"] == "invalid_grant"


def test_redis_down_fallback_still_rate_limits_in_process(
    dead_redis, limited, client, oauth_client, address, names
) -> None:
    for _ in range(LIMIT):
        response = post_token(client, oauth_client, address, form(names("ghost"), "wrong"))
        assert response.status_code == 400

    assert_rate_limited(post_token(client, oauth_client, address, form(names())))


@pytest.fixture
def closed_on_failure(dead_redis, settings) -> None:
    settings["REDIS_FAILURE"] = "closed"


@pytest.mark.parametrize("password", [PASSWORD, "wrong"])
def test_redis_down_closed_password_grant_is_json_503(
    closed_on_failure, client, oauth_client, make_user, address, password, names
) -> None:
    name = names()
    make_user(name)

    for _ in range(3):  # the same answer every time, never a 500
        response = post_token(client, oauth_client, address, form(name, password))
        assert response.status_code == 503
        assert response.mimetype == "application/json"
        assert response.get_json()["error"] == "temporarily_unavailable"
        assert response.headers["Retry-After"].isdigit()
        assert int(response.headers["Retry-After"]) >= 1
        assert response.headers["Cache-Control"] == "no-store"
    assert _failure_count(name) is None  # nothing was counted behind Redis's back


def test_redis_down_closed_other_endpoints_still_work(
    closed_on_failure, client, oauth_client
) -> None:
    """Only the token endpoint depends on the counters."""
    response = client.post(
        "/oauth/introspect",
        data={"token": "unknown"},
        headers=basic_auth(oauth_client.client_id, oauth_client.secret),
    )

    assert response.status_code == 200
    assert response.get_json() == {"active": False}
    assert client.get("/.well-known/jwks.json").status_code == 200


@pytest.fixture
def hung_redis(settings) -> Iterator[None]:
    """A "Redis" that accepts connections and never answers: a host that hangs, the worst
    kind of down (a refused connection fails at once, this one costs a timeout)."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.1)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                held.append(listener.accept()[0])

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    settings.update(
        REDIS_URL=f"redis://127.0.0.1:{listener.getsockname()[1]}/0", LOCKOUT_THRESHOLD=3
    )
    yield
    stop.set()
    thread.join(timeout=5)
    listener.close()
    for connection in held:
        connection.close()


def test_hung_redis_costs_one_timeout_not_one_per_login(
    hung_redis, client, oauth_client, make_user, address, names
) -> None:
    """Regression: every lockout call waited out the socket timeout (1-1.5 s a login)."""
    name = names()
    make_user(name)
    post_token(client, oauth_client, address, form(name))  # finds Redis hung: one timeout
    start = time.perf_counter()
    for password in [PASSWORD, "wrong", "wrong", PASSWORD, "wrong"]:
        response = post_token(client, oauth_client, address, form(name, password))
        assert response.status_code == (200 if password == PASSWORD else 400)
    assert time.perf_counter() - start < 1.0  # five logins; was about 6 s
    assert _failure_count(name) == 1  # counted in the database, and reset by a success


@pytest.fixture
def hung_redis_closed(hung_redis, settings) -> None:
    settings["REDIS_FAILURE"] = "closed"


def test_hung_redis_closed_answers_503_at_once(
    hung_redis_closed, client, oauth_client, make_user, address, names
) -> None:
    """Regression: each token request waited out Redis's timeouts before its 503."""
    name = names()
    make_user(name)
    assert post_token(client, oauth_client, address, form(name)).status_code == 503
    start = time.perf_counter()
    for _ in range(5):
        response = post_token(client, oauth_client, address, form(name))
        assert response.status_code == 503
        assert response.get_json()["error"] == "temporarily_unavailable"
    assert time.perf_counter() - start < 1.0


@pytest.mark.parametrize("refused_first", [0, LIMIT + 1])
def test_redis_down_closed_refresh_grant_still_works(
    closed_on_failure,
    limited,
    settings,
    client,
    oauth_client,
    make_user,
    address,
    names,
    refused_first,
) -> None:
    """closed refuses password logins (the lockout counters are gone); a refresh needs none.
    Our own 503s are not the client's failures: they don't count towards its rate limit."""
    name = names()
    make_user(name)
    for _ in range(refused_first):
        assert post_token(client, oauth_client, address, form(name)).status_code == 503
    without_redis = create_app("testing", {**settings, "REDIS_URL": None})
    try:
        tokens = post_token(without_redis.test_client(), oauth_client, address, form(name))
    finally:
        with without_redis.app_context():
            close_app(without_redis)
    refresh_token = tokens.get_json()["refresh_token"]

    response = post_token(
        client,
        oauth_client,
        address,
        {"grant_type": "refresh_token", "refresh_token": refresh_token},
    )

    assert response.status_code == 200
    assert post_token(client, oauth_client, address, form(name)).status_code == 503


def test_redis_down_fallback_is_fast(dead_redis, client, oauth_client, make_user, address, names):
    """A refused connection costs no timeout: a few logins stay well under a second each."""
    name = names()
    make_user(name)
    start = time.perf_counter()
    for _ in range(3):
        assert post_token(client, oauth_client, address, form(name)).status_code == 200
    assert time.perf_counter() - start < 3


# --- the counter and its hooks -------------------------------------------------------------------


def test_each_limit_of_a_multi_limit_setting_applies() -> None:
    limit = TokenRateLimit("2/minute;3/hour")
    for _ in range(3):  # the third in a later minute, as a client waiting out the 429 would
        limit.count_failure("192.0.2.1")

    retry_after = limit.retry_after("192.0.2.1")
    assert retry_after is not None and retry_after > 60  # the hour's limit, not the minute's
    assert limit.retry_after("192.0.2.2") is None


def test_only_the_oauth_routes_consult_the_rate_limit(app, client, oauth_client, monkeypatch):
    def unreachable(*args: object) -> None:
        raise AssertionError("the rate limit was consulted")

    monkeypatch.setattr(state(app).rate_limit, "retry_after", unreachable)
    monkeypatch.setattr(state(app).rate_limit, "count_failure", unreachable)

    assert client.get("/.well-known/jwks.json").status_code == 200
    assert client.get("/api/me").status_code == 401  # a failure, yet not an OAuth request


# --- what counts (issue 10 items 3 and 5) --------------------------------------------------------


def _endpoint_post(client, path: str, client_id: str, secret: str, address: str):
    return client.post(
        path,
        data={"token": "anything"},
        headers=basic_auth(client_id, secret),
        environ_base={"REMOTE_ADDR": address},
    )


@pytest.mark.parametrize("path", ["/oauth/revoke", "/oauth/introspect"])
@pytest.mark.parametrize("who", ["wrong secret", "unknown client"])
def test_failed_client_authentication_counts_at_revocation_and_introspection(
    limited, client, oauth_client, address, path, who
) -> None:
    client_id = oauth_client.client_id if who == "wrong secret" else "no-such-client"
    for _ in range(LIMIT):
        assert _endpoint_post(client, path, client_id, "wrong", address).status_code == 401

    assert_rate_limited(
        _endpoint_post(client, path, oauth_client.client_id, oauth_client.secret, address)
    )
    assert_rate_limited(post_token(client, oauth_client, address, form("anyone")))


@pytest.mark.parametrize("path", ["/oauth/revoke", "/oauth/introspect"])
def test_revocation_and_introspection_of_unknown_tokens_are_not_counted(
    limited, client, oauth_client, address, path
) -> None:
    for _ in range(LIMIT * 2):
        response = _endpoint_post(
            client, path, oauth_client.client_id, oauth_client.secret, address
        )
        assert response.status_code == 200


def _refresh(client, oauth_client, address: str, refresh_token: str):
    data = {"grant_type": "refresh_token", "refresh_token": refresh_token}
    return post_token(client, oauth_client, address, data)


def test_repeated_refreshes_are_not_counted(
    limited, client, oauth_client, make_user, address, names
) -> None:
    """A used refresh token presented again (reuse, then its revoked family) is no guess."""
    name = names()
    make_user(name)
    first = post_token(client, oauth_client, address, form(name)).get_json()["refresh_token"]
    assert _refresh(client, oauth_client, address, first).status_code == 200

    for _ in range(LIMIT * 2):
        response = _refresh(client, oauth_client, address, first)
        assert response.get_json()["error"] == "invalid_grant"

    assert post_token(client, oauth_client, address, form(name)).status_code == 200


def test_refreshes_that_lose_the_race_are_not_counted(
    limited, client, oauth_client, make_user, address, names, monkeypatch
) -> None:
    """Issue 10 item 3: two races gave 429 to every client on the address. A lost claim is
    made to happen here, each time, as it does to every loser of a race."""
    from authserver.services.tokens import refresh

    name = names()
    make_user(name)
    monkeypatch.setattr(refresh, "claim", lambda token: False)
    for _ in range(LIMIT * 2):
        login = post_token(client, oauth_client, address, form(name)).get_json()
        response = _refresh(client, oauth_client, address, login["refresh_token"])
        assert response.get_json()["error"] == "invalid_grant"

    assert post_token(client, oauth_client, address, form(name)).status_code == 200


def test_unknown_refresh_tokens_still_count(limited, client, oauth_client, address) -> None:
    for attempt in range(LIMIT):
        response = _refresh(client, oauth_client, address, f"guess-{attempt}")
        assert response.get_json()["error"] == "invalid_grant"

    assert_rate_limited(_refresh(client, oauth_client, address, "one more guess"))
