"""/metrics (Prometheus): token requests by grant type and outcome, request latency, lockouts,
refresh-token reuse and the live policy version; in-process, and under gunicorn with two
workers in prometheus-client's multiprocess mode (the samples of both are merged).

In-process the registry is the process's own and shared by every app of the test session,
so those tests compare counts before and after.
"""

from __future__ import annotations

import secrets
import time
from collections import Counter

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from authserver.app import create_app
from authserver.services import policy_store
from tests.conftest import PASSWORD, basic_auth, close_app, free_port
from tests.support.deploy import (
    fan_out,
    migrate_and_seed,
    password_grant,
    refresh_grant,
    run_cli,
    server_env,
    until_every_worker,
)
from tests.support.gunicorn import Gunicorns

TOKEN = "authserver_token_requests_total"
LATENCY = "authserver_request_duration_seconds"
LOCKOUTS = "authserver_lockouts_total"
REUSE = "authserver_refresh_reuse_detections_total"
POLICY = "authserver_policy_version"


@pytest.fixture
def settings(settings) -> dict:
    return {**settings, "LOCKOUT_THRESHOLD": 3}


def samples(text: str) -> dict[tuple[str, frozenset], float]:
    """{(sample name, labels): value} of a Prometheus text exposition."""
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return found


def value(scraped: dict, name: str, **labels: str) -> float:
    return scraped.get((name, frozenset(labels.items())), 0.0)


def scrape(client) -> dict:
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.mimetype == "text/plain"
    return samples(response.get_data(as_text=True))


def test_token_requests_are_counted_by_grant_type_and_outcome(
    client, make_token, token_request
) -> None:
    before = scrape(client)
    tokens = make_token("alice")
    token_request(grant_type="password", username="alice", password="wrong")
    token_request(grant_type="refresh_token", refresh_token=tokens["refresh_token"])
    token_request(grant_type="urn:example:no-such-grant")  # a name we do not support
    token_request(grant_type=f"made-up-{secrets.token_hex(4)}")

    after = scrape(client)

    def delta(grant: str, outcome: str) -> float:
        return value(after, TOKEN, grant_type=grant, outcome=outcome) - value(
            before, TOKEN, grant_type=grant, outcome=outcome
        )

    assert delta("password", "success") == 1
    assert delta("password", "invalid_grant") == 1
    assert delta("refresh_token", "success") == 1
    # Grant names a client makes up are not labels (they would grow without bound).
    assert delta("other", "unsupported_grant_type") == 2
    assert not any("made-up" in str(labels) for _name, labels in after)


def test_request_latency_histogram_by_route_and_method(client, make_token) -> None:
    before = scrape(client)
    make_token("alice")
    client.get(f"/no/such/{secrets.token_hex(4)}")

    after = scrape(client)

    route = {"route": "/oauth/token", "method": "POST"}
    count = value(after, f"{LATENCY}_count", **route) - value(before, f"{LATENCY}_count", **route)
    assert count == 1
    assert value(after, f"{LATENCY}_sum", **route) > 0
    assert value(after, f"{LATENCY}_bucket", le="+Inf", **route) >= count
    unmatched = {"route": "(unmatched)", "method": "GET"}
    assert value(after, f"{LATENCY}_count", **unmatched) > value(
        before, f"{LATENCY}_count", **unmatched
    )
    assert not any("/no/such" in str(labels) for _name, labels in after)


def test_a_lockout_is_counted(client, make_user, token_request) -> None:
    make_user("alice")
    before = value(scrape(client), LOCKOUTS)

    for _ in range(3):  # the module's threshold
        token_request(grant_type="password", username="alice", password="wrong")

    assert value(scrape(client), LOCKOUTS) == before + 1


def test_a_refresh_token_reuse_is_counted(client, make_token, token_request) -> None:
    refresh_token = make_token("alice")["refresh_token"]
    before = value(scrape(client), REUSE)

    token_request(grant_type="refresh_token", refresh_token=refresh_token)
    reused = token_request(grant_type="refresh_token", refresh_token=refresh_token)

    assert reused.get_json()["error"] == "invalid_grant"
    assert value(scrape(client), REUSE) == before + 1


def test_the_live_policy_version_is_a_gauge(client, make_token, app) -> None:
    make_token("alice")
    assert value(scrape(client), POLICY) == 1

    policy_store.save_version(policy_store.live_source(), actor="test", expected=1)
    make_token("alice")

    assert value(scrape(client), POLICY) == 2


# -- gunicorn, two workers, multiprocess mode ----------------------------------------------------


@pytest.mark.processes
def test_gunicorn_workers_metrics_are_merged(gunicorns: Gunicorns, tmp_path) -> None:
    env = server_env(
        DATABASE_URL=f"sqlite:///{tmp_path / 'authserver.db'}",
        SIGNING_KEYS=str(tmp_path / "signing-keys.json"),
        LOCKOUT_THRESHOLD="3",
    )
    seeded = migrate_and_seed(env)
    server = gunicorns.start(env, "metrics")
    viewer, admin, client = seeded.usernames["viewer"], seeded.usernames["admin"], seeded.client

    def attempt(i: int) -> int:
        password = PASSWORD if i % 3 else "wrong"  # one in three fails
        return password_grant(server.base, client, admin, password=password).status_code

    statuses = until_every_worker(server, "/oauth/token", attempt)
    for _ in range(3):  # lock the viewer: a lockout, three more invalid_grant
        statuses.append(password_grant(server.base, client, viewer, password="x").status_code)
    refresh_token = password_grant(server.base, client, viewer.upper()).json().get("refresh_token")
    assert refresh_token is None  # unknown user: one more invalid_grant
    statuses.append(400)
    tokens = password_grant(server.base, client, admin).json()
    statuses.append(200)
    refresh_grant(server.base, client, tokens["refresh_token"])
    reused = refresh_grant(server.base, client, tokens["refresh_token"])
    assert reused.json()["error"] == "invalid_grant"
    counts = Counter(statuses)

    def scraped(_: int) -> dict:
        response = requests.get(server.url("/metrics"), timeout=10)
        assert response.status_code == 200
        return samples(response.text)

    # The request timer's counts reach the shared files within a second (each worker
    # writes them once a second, see web/metrics.py): wait until they have (a generous
    # deadline on a loaded machine), then whichever worker answers /metrics reports the
    # sum of both.
    route = {"route": "/oauth/token", "method": "POST"}
    deadline = time.monotonic() + 30
    while value(scraped(0), f"{LATENCY}_count", **route) < len(statuses) + 2:
        assert time.monotonic() < deadline, "request timings never flushed"
        time.sleep(0.1)
    for metrics in until_every_worker(server, "/metrics", scraped, status=200):
        assert value(metrics, TOKEN, grant_type="password", outcome="success") == counts[200]
        assert value(metrics, TOKEN, grant_type="password", outcome="invalid_grant") == counts[400]
        assert value(metrics, TOKEN, grant_type="refresh_token", outcome="success") == 1
        assert value(metrics, TOKEN, grant_type="refresh_token", outcome="invalid_grant") == 1
        assert value(metrics, f"{LATENCY}_count", **route) == len(statuses) + 2
        assert value(metrics, LOCKOUTS) == 1
        assert value(metrics, REUSE) == 1
        assert value(metrics, POLICY) == 1
    assert len(server.answering_pids("/oauth/token", 200)) == 2


@pytest.mark.processes
def test_gunicorn_metrics_folder_is_made_and_cleaned_by_the_config(
    gunicorns: Gunicorns,
    tmp_path,
) -> None:
    """PROMETHEUS_MULTIPROC_DIR given: stale samples of an earlier run are removed at start,
    and nothing else in the folder is touched."""
    folder = tmp_path / "metrics-dir"
    folder.mkdir()
    (folder / "counter_99999.db").write_bytes(b"stale")
    (folder / "keep.txt").write_text("not ours")
    env = server_env(
        DATABASE_URL=f"sqlite:///{tmp_path / 'authserver.db'}",
        SIGNING_KEYS=str(tmp_path / "signing-keys.json"),
    )
    run_cli(env, "db", "upgrade")
    server = gunicorns.start({**env, "PROMETHEUS_MULTIPROC_DIR": str(folder)}, "m", workers=1)
    fan_out(lambda _: requests.get(server.url("/healthz"), timeout=10), 4)

    assert requests.get(server.url("/metrics"), timeout=10).status_code == 200
    assert not (folder / "counter_99999.db").exists()
    assert (folder / "keep.txt").read_text() == "not ours"


@pytest.mark.processes
def test_gunicorn_config_makes_a_metrics_folder_and_removes_it_at_exit(
    gunicorns: Gunicorns,
    tmp_path,
) -> None:
    """No PROMETHEUS_MULTIPROC_DIR: a temporary folder (in TMPDIR) for this run only."""
    temp = tmp_path / "temp"
    temp.mkdir()
    env = server_env(
        DATABASE_URL=f"sqlite:///{tmp_path / 'authserver.db'}",
        SIGNING_KEYS=str(tmp_path / "signing-keys.json"),
    )
    run_cli(env, "db", "upgrade")
    env.update(TMPDIR=str(temp), PROMETHEUS_MULTIPROC_DIR="")
    server = gunicorns.start(env, "m")
    until_every_worker(
        server, "/healthz", lambda _: requests.get(server.url("/healthz"), timeout=10)
    )
    (made,) = temp.iterdir()
    assert made.name.startswith("authserver-metrics-")
    assert any(made.glob("*.db"))  # the workers write their samples there

    gunicorns.stop_all()

    assert list(temp.iterdir()) == []


def test_rate_limited_token_requests_are_counted(settings, make_user) -> None:
    app = create_app("testing", {**settings, "TOKEN_RATE_LIMIT": "1/minute"})
    try:
        client = app.test_client()
        before = scrape(client)
        form = {"grant_type": "password", "username": "nobody", "password": "x"}
        environ = {"REMOTE_ADDR": f"10.9.{secrets.randbelow(256)}.{secrets.randbelow(255) + 1}"}
        answers = [
            client.post("/oauth/token", data=form, environ_base=environ).status_code
            for _ in range(2)
        ]
        after = scrape(client)
    finally:
        with app.app_context():
            close_app(app)

    assert answers == [401, 429]
    labels = {"grant_type": "password", "outcome": "rate_limited"}
    assert value(after, TOKEN, **labels) == value(before, TOKEN, **labels) + 1


def test_token_requests_refused_while_the_database_is_down_are_counted(
    signing_keys_file,
) -> None:
    url = f"postgresql://postgres@127.0.0.1:{free_port()}/authserver"
    app = create_app("testing", {"DATABASE_URL": url, "SIGNING_KEYS": str(signing_keys_file)})
    try:
        client = app.test_client()
        before = scrape(client)
        response = client.post(
            "/oauth/token",
            data={"grant_type": "password", "username": "a", "password": "b"},
            headers=basic_auth("some-client", "its-secret"),  # looked up in the database
        )
        after = scrape(client)
    finally:
        with app.app_context():
            close_app(app)

    assert response.status_code == 503
    labels = {"grant_type": "password", "outcome": "temporarily_unavailable"}
    assert value(after, TOKEN, **labels) == value(before, TOKEN, **labels) + 1


def test_an_oversized_token_request_is_counted_without_reading_its_body(client) -> None:
    before = scrape(client)

    response = client.post("/oauth/token", data={"grant_type": "password", "x": "y" * 70_000})

    assert response.status_code == 413
    after = scrape(client)
    labels = {"grant_type": "other", "outcome": "invalid_request"}
    assert value(after, TOKEN, **labels) == value(before, TOKEN, **labels) + 1
