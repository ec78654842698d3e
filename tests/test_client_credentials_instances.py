"""A machine client's tokens end on every instance (SPEC §12, §16): two gunicorn instances of
two workers each, on one SQLite file and on PostgreSQL with Redis. A client_credentials
token taken at A works at every worker of B; a role taken from the client, its disable, its
deletion or a new secret, made through the admin API of A, is refused by the worker of A that
made it at once and by every worker of B after SPEC §12's 1 s bound.

The PostgreSQL database is this module's own (created and dropped here); Redis is database
4, this module's own number.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from authserver.app import create_app
from authserver.services import clients, users
from tests.conftest import close_app
from tests.support.deploy import (
    PG_URL,
    REDIS_URL,
    Seeded,
    own_postgres_database,
    password_grant,
    redis_url,
    run_cli,
    seed,
    server_env,
    until_every_worker,
)
from tests.support.gunicorn import Server, gunicorn_instances, wait_until_up
from tests.support.http import bearer

pytestmark = pytest.mark.processes
REDIS_DB = 4
ISSUER = "http://authserver.test"  # one issuer for every instance, as behind one proxy
BOUND_SECONDS = 1.0  # SPEC §12: other instances within 1 s


@dataclass
class Cluster:
    a: Server
    b: Server
    database: str
    keys: Path
    seeded: Seeded

    def admin(self, method: str, path: str, **kwargs) -> requests.Response:
        """An admin API call at A as the seeded admin user."""
        login = password_grant(self.a.base, self.seeded.client, self.seeded.usernames["admin"])
        assert login.status_code == 200, login.text
        headers = {**bearer(login.json()), "Connection": "close"}
        return requests.request(method, self.a.url(path), headers=headers, timeout=10, **kwargs)

    @contextlib.contextmanager
    def services(self) -> Iterator[None]:
        """An app context on the cluster's database, for the services."""
        app = create_app(
            "testing", {"DATABASE_URL": self.database, "SIGNING_KEYS": str(self.keys)}
        )
        with app.app_context():
            try:
                yield
            finally:
                close_app(app)

    def machine_client(self, name: str, client_id: str | None = None) -> tuple[str, str]:
        """A client given client_credentials and the editor role."""
        with self.services():
            made, secret = clients.create(
                name, ["client_credentials"], roles=["editor"], client_id=client_id
            )
            return made.client_id, secret


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def cluster(request, tmp_path_factory) -> Iterator[Cluster]:
    folder = tmp_path_factory.mktemp(f"cc-{request.param}")
    keys = folder / "signing-keys.json"
    with _database(request.param, folder) as database:
        settings = {"DATABASE_URL": database, "SIGNING_KEYS": str(keys), "ISSUER": ISSUER}
        if request.param == "postgresql":
            settings["REDIS_URL"] = redis_url(REDIS_DB)
        env = server_env(**settings)
        run_cli(env, "db", "upgrade")
        seeded = seed(database, keys)
        with gunicorn_instances(folder) as servers:
            a, b = servers.launch(env, "a"), servers.launch(env, "b")
            for server in (a, b):
                wait_until_up(server)
            yield Cluster(a, b, database, keys, seeded)


def _database(backend: str, folder: Path):
    if backend == "sqlite":
        return contextlib.nullcontext(f"sqlite:///{folder / 'authserver.db'}")
    if not (PG_URL and REDIS_URL):
        pytest.skip("AUTHSERVER_TEST_DATABASE_URL and AUTHSERVER_TEST_REDIS_URL are needed")
    return own_postgres_database("client_credentials")


def client_token(server: Server, client: tuple[str, str]) -> str:
    response = requests.post(
        server.url("/oauth/token"),
        data={"grant_type": "client_credentials"},
        auth=client,
        headers={"Connection": "close"},
        timeout=10,
    )
    assert response.status_code == 200, response.text
    return response.json()["access_token"]


def me_status(server: Server, access_token: str) -> int:
    headers = {**bearer(access_token), "Connection": "close"}
    return requests.get(server.url("/api/me"), headers=headers, timeout=10).status_code


CHANGES: dict[str, Callable[[Cluster, str], requests.Response]] = {
    "role taken": lambda c, cid: c.admin("PUT", f"/admin/clients/{cid}/roles", json={"roles": []}),
    "disabled": lambda c, cid: c.admin("POST", f"/admin/clients/{cid}/disable"),
    "deleted": lambda c, cid: c.admin("DELETE", f"/admin/clients/{cid}"),
    "secret rotated": lambda c, cid: c.admin("POST", f"/admin/clients/{cid}/rotate-secret"),
}


@pytest.mark.parametrize("change", list(CHANGES))
def test_a_client_change_at_a_ends_its_tokens_on_every_worker_of_b(cluster, change) -> None:
    made = cluster.machine_client(f"svc {change}")
    token = client_token(cluster.a, made)
    # Every worker of B accepts it first, so any per-process state holds it as good.
    ok = until_every_worker(cluster.b, "/api/me", lambda _: me_status(cluster.b, token), 200)
    assert set(ok) == {200}

    answer = CHANGES[change](cluster, made[0])
    assert answer.status_code in (200, 204), answer.text
    time.sleep(BOUND_SECONDS)

    refused = until_every_worker(cluster.b, "/api/me", lambda _: me_status(cluster.b, token), 401)
    assert set(refused) == {401}
    assert me_status(cluster.a, token) == 401


def test_a_user_disabled_at_a_leaves_a_client_of_the_same_id_alone_at_b(cluster) -> None:
    """A client whose id is a user's id shares that user's ``sub``; disabling the user must
    not end the client's tokens anywhere."""
    viewer = cluster.seeded.usernames["viewer"]
    with cluster.services():
        user_id = str(users.get(viewer).id)
    token = client_token(cluster.a, cluster.machine_client("svc same id", client_id=user_id))

    answer = cluster.admin("POST", f"/admin/users/{viewer}/disable")
    assert answer.status_code == 200, answer.text
    time.sleep(BOUND_SECONDS)

    ok = until_every_worker(cluster.b, "/api/me", lambda _: me_status(cluster.b, token), 200)
    assert set(ok) == {200}
