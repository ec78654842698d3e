"""Many instances (SPEC §11): two gunicorn instances of two workers each on one PostgreSQL
database and one Redis, sharing one signing-key file and one issuer, behave as one server.

Needs AUTHSERVER_TEST_DATABASE_URL and AUTHSERVER_TEST_REDIS_URL. The database is this
module's own (created and dropped here); Redis is a database number of its own, and every
account name is unique, so other test runs on the same Redis cannot interfere.
"""

from __future__ import annotations

import base64
import json
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis
import requests

from authserver.security.digests import digest
from tests.support import PASSWORD
from tests.support.deploy import (
    PG_URL,
    REDIS_URL,
    Seeded,
    fan_out,
    own_postgres_database,
    password_grant,
    redis_url,
    run_cli,
    seed,
    server_env,
    until_every_worker,
)
from tests.support.gunicorn import Gunicorns, Server, wait_until_up
from tests.support.http import bearer

pytestmark = [
    pytest.mark.processes,  # every test here runs gunicorn and console scripts
    pytest.mark.skipif(
        not (PG_URL and REDIS_URL),
        reason="AUTHSERVER_TEST_DATABASE_URL and AUTHSERVER_TEST_REDIS_URL are needed",
    ),
]
REDIS_DB = 13  # not 0: other test runs use it
ISSUER = "http://authserver.test"  # one issuer for every instance, as behind one proxy


@pytest.fixture(scope="module")
def database(tmp_path_factory) -> Iterator[str]:
    """This module's own database, migrated with `authserver db upgrade`."""
    keys = tmp_path_factory.mktemp("migrate") / "signing-keys.json"
    with own_postgres_database("deploy_instances") as url:
        run_cli(server_env(DATABASE_URL=url, SIGNING_KEYS=str(keys)), "db", "upgrade")
        yield url


@dataclass
class Cluster:
    a: Server
    b: Server
    env: dict[str, str]
    seeded: Seeded

    def admin_token(self) -> str:
        response = password_grant(self.a.base, self.seeded.client, self.seeded.usernames["admin"])
        assert response.status_code == 200, response.text
        return response.json()["access_token"]


def cluster_env(database: str, keys: str, **settings: str) -> dict[str, str]:
    return server_env(
        DATABASE_URL=database,
        REDIS_URL=redis_url(REDIS_DB),
        SIGNING_KEYS=keys,
        ISSUER=ISSUER,
        **settings,
    )


@pytest.fixture
def cluster(database, gunicorns: Gunicorns, tmp_path) -> Iterator[Cluster]:
    keys = str(tmp_path / "signing-keys.json")
    env = cluster_env(database, keys, LOCKOUT_THRESHOLD="3")
    seeded = seed(database, tmp_path / "signing-keys.json")
    a = gunicorns.launch(env, "a")
    b = gunicorns.launch(env, "b")
    try:
        for server in (a, b):
            wait_until_up(server)
        yield Cluster(a, b, env, seeded)
    finally:
        forget_lockout_counters(seeded.usernames.values())


def forget_lockout_counters(usernames) -> None:
    """This test's counters in the shared Redis (they would linger for the reset window)."""
    store = redis.Redis.from_url(redis_url(REDIS_DB), socket_timeout=5)
    try:
        store.delete(*(f"authserver:lockout:{digest(name)}" for name in usernames))
    finally:
        store.close()


def me_status(server: Server, access_token: str) -> int:
    headers = {**bearer(access_token), "Connection": "close"}
    return requests.get(server.url("/api/me"), headers=headers, timeout=10).status_code


def test_access_token_revoked_through_a_is_refused_by_every_worker_of_b(cluster) -> None:
    viewer = cluster.seeded.usernames["viewer"]
    tokens = password_grant(cluster.a.base, cluster.seeded.client, viewer).json()
    access_token = tokens["access_token"]
    # Both workers of B accept it first, so any per-process cache would hold it as good.
    statuses = until_every_worker(
        cluster.b, "/api/me", lambda _: me_status(cluster.b, access_token), status=200
    )
    assert set(statuses) == {200}

    revoked = requests.post(
        cluster.a.url("/oauth/revoke"),
        data={"token": access_token},
        auth=cluster.seeded.client,
        timeout=10,
    )
    assert revoked.status_code == 200
    time.sleep(1.0)  # SPEC §12: other instances within 1 s (test_live_propagation: how soon)

    statuses = until_every_worker(
        cluster.b, "/api/me", lambda _: me_status(cluster.b, access_token), status=401
    )
    assert set(statuses) == {401}
    introspected = requests.post(
        cluster.b.url("/oauth/introspect"),
        data={"token": access_token},
        auth=cluster.seeded.resource_server,
        timeout=10,
    )
    assert introspected.json() == {"active": False}


def _granted_scopes(server: Server, client, username: str) -> set[str]:
    response = password_grant(server.base, client, username)
    assert response.status_code == 200, response.text
    return set(response.json()["scope"].split())


def test_policy_edit_through_a_is_used_by_the_next_token_of_b(cluster) -> None:
    viewer, client = cluster.seeded.usernames["viewer"], cluster.seeded.client
    # Every worker of B has parsed the live policy (and would keep it if it never looked).
    scopes = until_every_worker(
        cluster.b, "/oauth/token", lambda _: _granted_scopes(cluster.b, client, viewer), 200
    )
    assert all("documents:read" in granted for granted in scopes)
    admin = bearer(cluster.admin_token())
    live = requests.get(cluster.a.url("/admin/policy"), headers=admin, timeout=10)
    document = live.json()
    document["roles"]["viewer"]["scopes"].remove("documents:read")

    saved = requests.put(
        cluster.a.url("/admin/policy"),
        data=json.dumps(document),
        headers={**admin, "If-Match": live.headers["ETag"], "Content-Type": "application/json"},
        timeout=10,
    )
    assert saved.status_code == 200, saved.text
    assert saved.headers["ETag"] != live.headers["ETag"]
    try:
        scopes = until_every_worker(
            cluster.b, "/oauth/token", lambda _: _granted_scopes(cluster.b, client, viewer), 200
        )
        assert all(granted == {"profile"} for granted in scopes), scopes
        token = password_grant(cluster.b.base, client, viewer).json()["access_token"]
        documents = requests.get(
            cluster.b.url("/api/documents"), headers=bearer(token), timeout=10
        )
        assert documents.status_code == 403
    finally:  # the module's other tests share this database: put the policy back
        restored = requests.put(
            cluster.a.url("/admin/policy"),
            data=live.content,
            headers={
                **admin,
                "If-Match": saved.headers["ETag"],
                "Content-Type": "application/json",
            },
            timeout=10,
        )
        assert restored.status_code == 200, restored.text


def test_failed_logins_through_a_and_b_lock_the_account_on_both(cluster) -> None:
    viewer, client = cluster.seeded.usernames["viewer"], cluster.seeded.client
    for server in (cluster.a, cluster.b, cluster.a):  # threshold 3, split over the instances
        wrong = password_grant(server.base, client, viewer, password="wrong password")
        assert wrong.status_code == 400
        assert wrong.json()["error"] == "invalid_grant"

    for server in (cluster.a, cluster.b):
        refused = password_grant(server.base, client, viewer, password=PASSWORD)
        assert refused.status_code == 400, refused.text
        assert refused.json()["error"] == "invalid_grant"
    # The counter is Redis's (shared), not a per-instance or database one.
    store = redis.Redis.from_url(redis_url(REDIS_DB), socket_timeout=5)
    try:
        counter = store.hgetall(f"authserver:lockout:{digest(viewer)}")
    finally:
        store.close()
    assert int(counter[b"failures"]) == 3
    assert float(counter[b"locked_until"]) > 0


def test_other_accounts_are_not_locked_by_anothers_failures(cluster) -> None:
    viewer, admin = cluster.seeded.usernames["viewer"], cluster.seeded.usernames["admin"]
    for server in (cluster.a, cluster.b, cluster.b):
        password_grant(server.base, cluster.seeded.client, viewer, password="wrong password")

    for server in (cluster.a, cluster.b):
        ok = password_grant(server.base, cluster.seeded.client, admin)
        assert ok.status_code == 200, ok.text


def _kid(token: str) -> str:
    header = token.split(".")[0]
    return json.loads(base64.urlsafe_b64decode(header + "=" * (-len(header) % 4)))["kid"]


@pytest.mark.parametrize("config", [True, False], ids=["gunicorn-conf", "plain-gunicorn"])
def test_four_workers_starting_at_once_without_a_key_file_share_one_key(
    database,
    gunicorns: Gunicorns,
    tmp_path,
    config,
) -> None:
    """With the config file the two masters race to create the file; with plain gunicorn
    (no on_starting hook) the four workers do."""
    keys = tmp_path / "fresh" / "signing-keys.json"
    env = cluster_env(database, str(keys))
    seeded = seed(database, tmp_path / "seed-keys.json", roles=("viewer",))
    assert not keys.exists()

    a = gunicorns.launch(env, "a", config=config)
    b = gunicorns.launch(env, "b", config=config)
    for server in (a, b):
        wait_until_up(server)

    assert keys.stat().st_mode & 0o777 == 0o600
    jwks = json.loads(keys.read_text())
    assert len(jwks["keys"]) == 1
    kid = jwks["keys"][0]["kid"]
    for server in (a, b):

        def kids(_: int, server: Server = server) -> tuple[str, ...]:
            answer = requests.get(server.url("/.well-known/jwks.json"), timeout=10).json()
            return tuple(key["kid"] for key in answer["keys"])

        answers = until_every_worker(server, "/.well-known/jwks.json", kids, status=200)
        assert set(answers) == {(kid,)}
    tokens = password_grant(a.base, seeded.client, seeded.usernames["viewer"]).json()
    assert _kid(tokens["access_token"]) == kid
    statuses = until_every_worker(b, "/api/me", lambda _: me_status(b, tokens["access_token"]))
    assert set(statuses) == {200}


def _jwks_kids(server: Server) -> list[str]:
    answer = requests.get(server.url("/.well-known/jwks.json"), timeout=10).json()
    return [key["kid"] for key in answer["keys"]]


def test_key_rotation_on_the_shared_file_reaches_every_instance_and_a_compromised_key_can_go(
    cluster,
) -> None:
    """docs/deploy.md, step by step: `keys rotate` on the shared file; every worker signs
    with the new key and still accepts the old key's tokens; removing the old key from the
    file refuses its tokens on every worker of every instance within the bound (each looks
    at the file at most every 50 ms), and never again accepts them."""
    viewer, client = cluster.seeded.usernames["viewer"], cluster.seeded.client
    old_token = password_grant(cluster.a.base, client, viewer).json()["access_token"]
    old_kid = _kid(old_token)

    rotated = run_cli(cluster.env, "keys", "rotate", "--now").stdout
    new_kid = rotated.split()[3]
    assert new_kid != old_kid

    for server in (cluster.a, cluster.b):
        tokens = until_every_worker(
            server,
            "/oauth/token",
            lambda _, s=server: password_grant(s.base, client, viewer).json()["access_token"],
        )
        assert {_kid(token) for token in tokens} == {new_kid}
        kids = until_every_worker(
            server, "/.well-known/jwks.json", lambda _, s=server: tuple(_jwks_kids(s))
        )
        assert set(kids) == {(new_kid, old_kid)}
        statuses = until_every_worker(
            server, "/api/me", lambda _, s=server: me_status(s, old_token)
        )
        assert set(statuses) == {200}

    # A compromised old key: take it out of the file (a new file, renamed over the old one).
    path = Path(cluster.env["AUTHSERVER_SIGNING_KEYS"])
    document = json.loads(path.read_text())
    document["keys"] = [key for key in document["keys"] if key["kid"] != old_kid]
    replacement = path.with_name(".signing-keys.json.new")
    replacement.write_text(json.dumps(document))
    replacement.chmod(0o600)
    os.replace(replacement, path)
    removed = time.monotonic()

    # Each worker looks at the file at most every TokenVerifier.STAT_EVERY (50 ms): within
    # SPEC §12's bound, with no system call per request. From then on, never a 200.
    for server in (cluster.a, cluster.b):
        until_every_worker(
            server, "/api/me", lambda _, s=server: me_status(s, old_token), status=401
        )
    assert time.monotonic() - removed < 1.0
    for server in (cluster.a, cluster.b):
        statuses = fan_out(lambda _, s=server: me_status(s, old_token), 40)
        assert set(statuses) == {401}
        assert _jwks_kids(server) == [new_kid]
