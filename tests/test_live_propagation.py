"""Issue 9, item 2 (SPEC §12): a change made through one instance is refused or narrowed by
every worker of every instance within 1 second.

Backends: two gunicorn instances of 2 workers each on PostgreSQL with Redis (the Redis
pub/sub feed), two on PostgreSQL without Redis (LISTEN/NOTIFY), one instance of 2 workers
on SQLite (data_version). The instances run for the whole backend's tests; a trial makes a
token, checks every worker accepts it, makes the change (through instance A's admin API; a
client disable through the services in this process, as `authserver clients disable` does)
while polling every worker every 50 ms until each one refuses or narrows (what is measured:
tests/support/live.py). Changes: disable, a role taken away, revoke-tokens, a client
disabled, a policy edit that takes documents:write from editor (POST 403, GET 200, and a
refresh gets the narrowed scope).
The delays are printed at the end of the run (p50, p100 per backend and per change);
docs/deploy.md records a run's figures. Every trial must stay under the bound.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from authserver.app import create_app
from authserver.extensions import db
from authserver.services import clients, users
from tests.conftest import close_app
from tests.support import PASSWORD
from tests.support.deploy import (
    PG_URL,
    REDIS_URL,
    own_postgres_database,
    redis_url,
    refresh_grant,
    run_cli,
    server_env,
)
from tests.support.gunicorn import gunicorn_instances
from tests.support.http import bearer
from tests.support.live import (
    BOUND_SECONDS,
    Cluster,
    Delays,
    Poller,
    delay_of,
    delays_collector,
    me,
    start_all,
    write_document,
)

pytestmark = pytest.mark.processes  # every test here runs gunicorn

REDIS_DB = 10
TRIALS = 5  # per change and backend: 25 a backend
BACKENDS = ("postgresql+redis", "postgresql", "sqlite")


@pytest.fixture(scope="session")
def delays(pytestconfig) -> Delays:
    return delays_collector(
        pytestconfig, "live propagation: delay until every worker decides anew"
    )


def seed(env: dict[str, str]) -> dict:
    """Users (one per trial and kind, and an editor and an admin) and clients, made through
    the services on the cluster's database."""
    app = create_app(
        "testing",
        {
            "DATABASE_URL": env["AUTHSERVER_DATABASE_URL"],
            "SIGNING_KEYS": env["AUTHSERVER_SIGNING_KEYS"],
        },
    )
    made: dict = {"users": {}, "clients": []}
    with app.app_context():
        try:
            for kind in ("disable", "roles", "revoke"):
                names = [f"{kind}{i}" for i in range(TRIALS)]
                for name in names:
                    users.create(name, PASSWORD, ["editor"])
                made["users"][kind] = names
            users.create("editor", PASSWORD, ["editor"])
            users.create("root", PASSWORD, ["admin"])
            client, secret = clients.create("app", ["password", "refresh_token"])
            made["client"] = (client.client_id, secret)
            for i in range(TRIALS):
                client, secret = clients.create(f"doomed {i}", ["password"])
                made["clients"].append((client.client_id, secret))
        finally:
            db.session.remove()
            db.engine.dispose()
    return made


@contextlib.contextmanager
def database(backend: str, folder: Path) -> Iterator[str]:
    if backend == "sqlite":
        yield f"sqlite:///{folder / 'authserver.db'}"
        return
    if not PG_URL:
        pytest.skip("AUTHSERVER_TEST_DATABASE_URL is not set")
    if backend.endswith("redis") and not REDIS_URL:
        pytest.skip("AUTHSERVER_TEST_REDIS_URL is not set")
    with own_postgres_database("live_propagation") as url:
        yield url


@pytest.fixture(scope="module", params=BACKENDS)
def cluster(request, tmp_path_factory) -> Iterator[Cluster]:
    backend = request.param
    folder = tmp_path_factory.mktemp(backend.replace("+", "-"))
    with database(backend, folder) as url, gunicorn_instances(folder) as servers:
        settings = {"DATABASE_URL": url, "SIGNING_KEYS": str(folder / "signing-keys.json")}
        if backend.endswith("redis"):
            settings["REDIS_URL"] = redis_url(REDIS_DB)
        env = server_env(**settings)
        run_cli(env, "db", "upgrade")
        made = seed(env)
        names = ["a"] if backend == "sqlite" else ["a", "b"]
        started = start_all(servers, env, names)
        poller = Poller(started)
        try:
            found = Cluster(backend, started, env, poller, made["client"])
            found.users, found.clients = made["users"], made["clients"]
            found.admin_token = found.token("root")["access_token"]
            yield found
        finally:
            poller.close()


@pytest.fixture(scope="module")
def writer(cluster) -> Iterator:
    """An app in this process on the cluster's database: the changes of the CLI."""
    settings = {k.removeprefix("AUTHSERVER_"): v for k, v in cluster.env.items()}
    app = create_app("testing", {k: settings[k] for k in settings if k in _WRITER_SETTINGS})
    with app.app_context():
        yield app
        close_app(app)


_WRITER_SETTINGS = ("DATABASE_URL", "SIGNING_KEYS", "REDIS_URL")


def measure(cluster: Cluster, delays: Delays, kind: str, probe, change, wanted) -> float:
    """The delay until every worker answers ``wanted`` after ``change()``, recorded."""
    delay = delay_of(cluster, probe, change, wanted)
    delays.add(cluster.backend, kind, delay)
    assert delay < BOUND_SECONDS, f"{kind} on {cluster.backend}: {delay * 1000:.0f} ms"
    return delay


def refused(status: int) -> bool:
    return status == 401


def ok(response: requests.Response, status: int = 200) -> None:
    assert response.status_code == status, response.text


@pytest.mark.parametrize("trial", range(TRIALS))
def test_disable(cluster, delays, trial) -> None:
    username = cluster.users["disable"][trial]
    token = cluster.token(username)["access_token"]

    def change() -> None:
        ok(cluster.admin("POST", f"/admin/users/{username}/disable"))

    measure(cluster, delays, "disable", me(token), change, refused)


@pytest.mark.parametrize("trial", range(TRIALS))
def test_role_removal(cluster, delays, trial) -> None:
    username = cluster.users["roles"][trial]
    token = cluster.token(username)["access_token"]

    def change() -> None:
        ok(cluster.admin("PUT", f"/admin/users/{username}/roles", json={"roles": ["viewer"]}))

    measure(cluster, delays, "roles", me(token), change, refused)


@pytest.mark.parametrize("trial", range(TRIALS))
def test_revoke_tokens(cluster, delays, trial) -> None:
    username = cluster.users["revoke"][trial]
    token = cluster.token(username)["access_token"]

    def change() -> None:
        ok(cluster.admin("POST", f"/admin/users/{username}/revoke-tokens"))

    measure(cluster, delays, "revoke", me(token), change, refused)


@pytest.mark.parametrize("trial", range(TRIALS))
def test_client_disabled(cluster, writer, delays, trial) -> None:
    client_id, secret = cluster.clients[trial]
    token = cluster.token("editor", (client_id, secret))["access_token"]

    def change() -> None:  # on the poller's changing thread: an app context of its own
        with writer.app_context():
            clients.set_disabled(client_id, True, actor="test")  # `authserver clients disable`

    measure(cluster, delays, "client", me(token), change, refused)


def set_editor_scopes(cluster: Cluster, scopes: list[str]) -> None:
    current = cluster.admin("GET", "/admin/roles/editor")
    ok(current)
    if current.json()["scopes"] == scopes:
        return
    body = {"inherits": ["viewer"], "scopes": scopes}
    headers = {"If-Match": current.headers["ETag"]}
    ok(cluster.admin("PUT", "/admin/roles/editor", json=body, headers=headers))


@pytest.mark.parametrize("trial", range(TRIALS))
def test_policy_takes_documents_write_from_editor(cluster, delays, trial) -> None:
    set_editor_scopes(cluster, ["documents:write"])  # as it was before the trial before
    deadline = time.monotonic() + 2 * BOUND_SECONDS  # every worker of A knows it by then
    while "documents:write" not in (tokens := cluster.token("editor"))["scope"].split():
        assert time.monotonic() < deadline, tokens
        time.sleep(0.05)
    access = tokens["access_token"]

    measure(
        cluster,
        delays,
        "policy",
        write_document(access),
        lambda: set_editor_scopes(cluster, []),
        lambda status: status == 403,
    )

    for server in cluster.servers:  # reading is still allowed: narrowed, not logged out
        answer = requests.get(server.url("/api/documents"), headers=bearer(access), timeout=5)
        assert answer.status_code == 200, answer.text
    refreshed = refresh_grant(cluster.servers[-1].base, cluster.client, tokens["refresh_token"])
    ok(refreshed)
    scope = set(refreshed.json()["scope"].split())
    assert "documents:write" not in scope and "documents:read" in scope
