"""A DPoP proof replayed at another gunicorn instance is refused (SPEC §17): two instances
of two workers each, on one SQLite file (the replay rows in its companion file) or on
PostgreSQL with Redis. Proofs name the issuer's URL, as clients behind one proxy do."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import pytest
import requests

from tests.support import PASSWORD
from tests.support.deploy import (
    PG_URL,
    REDIS_URL,
    migrate_and_seed,
    own_postgres_database,
    redis_url,
    server_env,
)
from tests.support.dpop import new_key, proof
from tests.support.gunicorn import Gunicorns, wait_until_up

pytestmark = pytest.mark.processes
ISSUER = "http://authserver.test"  # one issuer for both instances, as behind one proxy
REDIS_DB = 5  # this helper's Redis database


@contextlib.contextmanager
def _database(backend: str, tmp_path) -> Iterator[dict[str, str]]:
    keys = str(tmp_path / "signing-keys.json")
    if backend == "sqlite":
        yield {"DATABASE_URL": f"sqlite:///{tmp_path / 'authserver.db'}", "SIGNING_KEYS": keys}
        return
    if not (PG_URL and REDIS_URL):
        pytest.skip("AUTHSERVER_TEST_DATABASE_URL and AUTHSERVER_TEST_REDIS_URL are needed")
    with own_postgres_database("dpop_instances") as url:
        yield {"DATABASE_URL": url, "REDIS_URL": redis_url(REDIS_DB), "SIGNING_KEYS": keys}


@pytest.mark.parametrize("backend", ["sqlite", "postgresql+redis"])
def test_proof_replayed_at_another_instance_is_refused(backend, gunicorns: Gunicorns, tmp_path):
    with _database(backend, tmp_path) as settings:
        env = server_env(ISSUER=ISSUER, **settings)
        seeded = migrate_and_seed(env, roles=("viewer",))
        a, b = gunicorns.launch(env, "a"), gunicorns.launch(env, "b")
        for server in (a, b):
            wait_until_up(server)
        key = new_key()
        response = requests.post(
            a.url("/oauth/token"),
            data={
                "grant_type": "password",
                "username": seeded.usernames["viewer"],
                "password": PASSWORD,
            },
            auth=seeded.client,
            headers={"DPoP": proof(key, "POST", f"{ISSUER}/oauth/token")},
            timeout=10,
        )
        assert response.status_code == 200, response.text
        token = response.json()["access_token"]

        def call(server, dpop: str) -> requests.Response:
            headers = {"Authorization": f"DPoP {token}", "DPoP": dpop, "Connection": "close"}
            return requests.get(server.url("/api/me"), headers=headers, timeout=10)

        once = proof(key, "GET", f"{ISSUER}/api/me", token)
        assert call(a, once).status_code == 200
        for server in (b, a, b):  # another instance, then any worker of either
            replayed = call(server, once)
            assert replayed.status_code == 401, replayed.text
            challenge = replayed.headers["WWW-Authenticate"]
            assert challenge.startswith('DPoP error="invalid_dpop_proof"'), challenge
        assert call(b, proof(key, "GET", f"{ISSUER}/api/me", token)).status_code == 200
