"""The resource-server kit in another service (SPEC §18, issue 14), for real.

A separate Flask app (tests/kit_app/app.py, protected by ``ResourceServer``) runs in its
own gunicorn (2 sync workers), against the server in another gunicorn (2 threaded
workers: the change feed's held requests each hold a thread), per backend (SQLite;
PostgreSQL when AUTHSERVER_TEST_DATABASE_URL is set):

- a valid token gets 200, a missing scope 403 with the RFC 6750 challenge, no token 401
  with a bare one, forged tokens 401 ``invalid_token``; the Flask-Principal identity;
- after ``keys rotate``, new tokens verify once the key is published (the kit fetches the
  JWKS again for the unknown kid); after ``keys remove`` of the old key, its tokens are
  refused by the app within 1 s (the feed says the key set changed);
- a user disabled through the admin API is refused by every worker of the app within 1 s
  (p100 over TRIALS trials, polled every 50 ms; p50/p100 printed at the end);
- a policy edit that takes documents:write from editor: 403 there at once, reading still 200;
- the server stopped for a moment: the feed is lost (the app says so and answers 503 while
  nobody can be asked), the server back: the app decides by introspection until its feed
  is back by itself, then from the feed again (and a disable is seen within 1 s again).
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import requests
from joserfc import jwt
from joserfc.jwk import RSAKey

from authserver.app import create_app
from authserver.extensions import db
from authserver.security.access_tokens import CLOCK_SKEW
from authserver.security.keys import SigningKeys
from authserver.services import clients, users
from tests.kit_app.proxy import FeedCutter
from tests.support import PASSWORD
from tests.support.deploy import (
    PG_URL,
    assert_json_503,
    own_postgres_database,
    password_grant,
    run_cli,
    server_env,
)
from tests.support.gunicorn import (
    GUNICORN,
    Gunicorns,
    Server,
    gunicorn_instances,
    kill_groups,
    wait_until_up,
)
from tests.support.http import bearer, free_port
from tests.support.live import (
    BOUND_SECONDS,
    POLL_FORMAT,
    Delays,
    Poller,
    delays_collector,
)

pytestmark = pytest.mark.processes  # two gunicorns per backend
TRIALS = 20
PUBLISH_SECONDS = 3  # AUTHSERVER_KEY_PUBLISH_SECONDS: a rotated key signs after this
#: The server's workers are threaded: each kit worker's held feed request holds a thread.
SERVER_GUNICORN_ARGS = "--worker-class gthread --threads 8"
BACKENDS = ("sqlite", "postgresql")
RETAIN_SECONDS = 900 + CLOCK_SKEW  # ACCESS_TOKEN_TTL (the default) plus the skew


@pytest.fixture(scope="session")
def delays(pytestconfig) -> Delays:
    return delays_collector(pytestconfig, "kit app: delay until every worker refuses")


@dataclass
class World:
    backend: str
    folder: Path
    env: dict[str, str]
    servers: Gunicorns
    server: Server
    kit: Server
    poller: Poller
    client: tuple[str, str]
    cutter: FeedCutter
    server_port: int
    admin_token: str = ""
    names: list[str] = field(default_factory=list)

    def token(self, username: str, **extra) -> dict:
        response = password_grant(self.server.base, self.client, username, **extra)
        assert response.status_code == 200, response.text
        return response.json()

    def admin(self, method: str, path: str, **kwargs) -> requests.Response:
        headers = {**bearer(self.admin_token), **kwargs.pop("headers", {})}
        return requests.request(
            method, self.server.url(path), headers=headers, timeout=10, **kwargs
        )

    def get(self, path: str, token: str | None = None) -> requests.Response:
        headers = bearer(token) if token else {}
        return requests.get(self.kit.url(path), headers=headers, timeout=10)

    def kit_health(self) -> list[dict]:
        """/kit of both workers (new connections spread over them)."""
        seen: dict[int, dict] = {}
        for _ in range(40):
            answer = requests.get(self.kit.url("/kit"), headers={"Connection": "close"}, timeout=5)
            seen[answer.json()["pid"]] = answer.json()
            if len(seen) == 2:
                break
        return list(seen.values())


def seed(env: dict[str, str]) -> dict:
    app = create_app(
        "testing",
        {
            "DATABASE_URL": env["AUTHSERVER_DATABASE_URL"],
            "SIGNING_KEYS": env["AUTHSERVER_SIGNING_KEYS"],
        },
    )
    made: dict = {}
    with app.app_context():
        try:
            made["names"] = [f"user{i}" for i in range(TRIALS + 2)]
            for name in made["names"]:
                users.create(name, PASSWORD, ["editor"])
            users.create("viewer", PASSWORD, ["viewer"])
            users.create("editor", PASSWORD, ["editor"])
            users.create("root", PASSWORD, ["admin"])
            client, secret = clients.create("app", ["password", "refresh_token"])
            made["client"] = (client.client_id, secret)
            rs, rs_secret = clients.create("reports api", [], introspect=True)
            made["resource_server"] = (rs.client_id, rs_secret)
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
    with own_postgres_database("kit") as url:
        yield url


def start_server(servers: Gunicorns, env: dict[str, str], port: int) -> Server:
    server = servers.launch(
        {**env, "GUNICORN_CMD_ARGS": SERVER_GUNICORN_ARGS}, "server", workers=2, port=port
    )
    wait_until_up(server)
    return server


def start_kit(servers: Gunicorns, issuer: str, resource_server: tuple[str, str]) -> Server:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AUTHSERVER_", "GUNICORN_"))}
    env.update(
        KIT_ISSUER=issuer,
        KIT_CLIENT_ID=resource_server[0],
        KIT_CLIENT_SECRET=resource_server[1],
        KIT_JWKS_REFETCH="1",
    )
    access_log = servers.folder / "kit-access.log"
    argv = [str(GUNICORN), "--no-control-socket", "-w", "2", "-b", f"127.0.0.1:{port}"]
    argv += ["--access-logfile", str(access_log), "--access-logformat", POLL_FORMAT]
    kit = servers.spawn([*argv, "tests.kit_app.app:app"], env, "kit", f"http://127.0.0.1:{port}")
    wait_until_up(kit)
    return kit


@pytest.fixture(scope="module", params=BACKENDS)
def world(request, tmp_path_factory) -> Iterator[World]:
    backend = request.param
    folder = tmp_path_factory.mktemp(f"kit-{backend}")
    with database(backend, folder) as url, gunicorn_instances(folder) as servers:
        port = free_port()
        cutter = FeedCutter(port, free_port())  # the kit reaches the server through it
        issuer = f"http://127.0.0.1:{cutter.port}"
        env = server_env(
            DATABASE_URL=url,
            SIGNING_KEYS=str(folder / "signing-keys.json"),
            ISSUER=issuer,
            KEY_PUBLISH_SECONDS=str(PUBLISH_SECONDS),
        )
        run_cli(env, "db", "upgrade")
        made = seed(env)
        server = start_server(servers, env, port)
        kit = start_kit(servers, issuer, made["resource_server"])
        poller = Poller([kit])
        try:
            found = World(
                backend, folder, env, servers, server, kit, poller, made["client"], cutter, port
            )
            found.names = made["names"]
            found.admin_token = found.token("root")["access_token"]
            yield found
        finally:
            poller.close()
            cutter.close()


def status_of(world: World, token: str, path: str = "/reports"):
    def probe(server: Server, headers: dict[str, str]) -> int:
        answer = requests.get(server.url(path), headers={**headers, **bearer(token)}, timeout=5)
        return answer.status_code

    return probe


def until_feed_ok(world: World, timeout: float = 30) -> list[dict]:
    deadline = time.monotonic() + timeout
    while True:
        health = world.kit_health()
        if len(health) == 2 and all(h["feed"] == "ok" for h in health):
            return health
        assert time.monotonic() < deadline, health
        # A worker starts its feed at its first protected request: make sure each gets one.
        headers = {"Connection": "close", **bearer("a.b.c")}
        requests.get(world.kit.url("/reports"), headers=headers, timeout=10)
        time.sleep(0.1)


# -- the basics --------------------------------------------------------------------------
def test_a_valid_token_gets_200_from_every_worker(world) -> None:
    tokens = world.token("editor")
    claims = _claims(tokens["access_token"])

    answers = [world.get("/reports", tokens["access_token"]) for _ in range(10)]

    assert {a.status_code for a in answers} == {200}, answers[0].text
    assert answers[0].json()["sub"] == claims["sub"]
    assert "documents:read" in answers[0].json()["scope"].split()
    assert world.get("/reports/editor", tokens["access_token"]).status_code == 200  # Principal
    health = until_feed_ok(world)
    assert all(h["policy_version"] >= 1 for h in health)


def test_a_missing_scope_gets_403_with_the_rfc6750_challenge(world) -> None:
    viewer = world.token("viewer")["access_token"]

    answer = world.get("/reports/write", viewer)
    missing = world.get("/reports")

    assert answer.status_code == 403
    assert answer.json()["error"] == "insufficient_scope"
    challenge = answer.headers["WWW-Authenticate"]
    assert challenge == 'Bearer error="insufficient_scope", scope="documents:write"'
    assert answer.headers["Cache-Control"] == "no-store"
    assert world.get("/reports/editor", viewer).status_code == 403  # not an editor
    assert missing.status_code == 401
    assert missing.headers["WWW-Authenticate"] == "Bearer"


def test_forged_tokens_are_refused(world) -> None:
    real = world.token("editor")["access_token"]
    header = json.loads(_part(real, 0))
    claims = _claims(real)
    other_key = RSAKey.generate_key(2048)
    forged = [
        jwt.encode(header, claims, other_key),  # the right kid, another key
        _unsigned(claims),  # alg none
        real[:-4] + ("AAAA" if not real.endswith("AAAA") else "BBBB"),  # a broken signature
        jwt.encode({**header, "kid": "nobody"}, claims, other_key),  # an unknown kid
    ]

    for token in forged:
        answer = world.get("/reports", token)
        assert answer.status_code == 401, token
        assert answer.json()["error"] == "invalid_token"
        assert answer.headers["WWW-Authenticate"] == 'Bearer error="invalid_token"'
    assert world.get("/reports", real).status_code == 200


def test_after_a_key_rotation_new_tokens_verify_once_published(world, delays) -> None:
    before = world.token("editor")["access_token"]
    old_kid = json.loads(_part(before, 0))["kid"]
    rotated = run_cli(world.env, "keys", "rotate")
    assert rotated.returncode == 0

    deadline = time.monotonic() + PUBLISH_SECONDS + 30
    while json.loads(_part(token := world.token("editor")["access_token"], 0))["kid"] == old_kid:
        assert time.monotonic() < deadline, "the new key never signed"
        time.sleep(0.2)
    answers = []
    while len(answers) < 10 or {a.status_code for a in answers[-10:]} != {200}:
        answers.append(world.get("/reports", token))
        assert time.monotonic() < deadline + 10, answers[-1].text
        time.sleep(0.1)

    assert world.get("/reports", before).status_code == 200  # the retired key still verifies

    # `keys remove` of the retired key: its tokens are refused at once by the server, and
    # by the app as soon as the feed says the key set changed (not when its JWKS expires).
    probe = status_of(world, before)
    world.poller.until(probe, lambda status: status == 200, time.monotonic())
    started = time.monotonic()  # what `authserver keys remove OLD` does, timed from here
    SigningKeys.remove(world.env["AUTHSERVER_SIGNING_KEYS"], old_kid, RETAIN_SECONDS)
    delay = world.poller.until(probe, refused, started)
    delays.add(world.backend, "key removed", delay)
    assert delay < BOUND_SECONDS
    assert world.get("/reports", token).status_code == 200  # the new key's tokens verify
    world.admin_token = world.token("root")["access_token"]  # the old one's key is gone


# -- live authorization at a distance -----------------------------------------------------
def refused(status: int) -> bool:
    return status == 401


@pytest.mark.parametrize("trial", range(TRIALS))
def test_a_disabled_user_is_refused_within_1s(world, delays, trial) -> None:
    username = world.names[trial]
    token = world.token(username)["access_token"]
    probe = status_of(world, token)
    world.poller.until(probe, lambda status: status == 200, time.monotonic())

    started = time.monotonic()
    answer = world.admin("POST", f"/admin/users/{username}/disable")
    assert answer.status_code == 200, answer.text
    delay = world.poller.until(probe, refused, started)

    delays.add(world.backend, "disable", delay)
    assert delay < BOUND_SECONDS, f"{delay * 1000:.0f} ms"


def set_editor_scopes(world: World, scopes: list[str]) -> None:
    current = world.admin("GET", "/admin/roles/editor")
    assert current.status_code == 200, current.text
    if current.json()["scopes"] == scopes:
        return
    body = {"inherits": ["viewer"], "scopes": scopes}
    answer = world.admin(
        "PUT", "/admin/roles/editor", json=body, headers={"If-Match": current.headers["ETag"]}
    )
    assert answer.status_code == 200, answer.text


def test_a_policy_narrowing_is_applied(world, delays) -> None:
    set_editor_scopes(world, ["documents:write"])
    token = world.token("editor")["access_token"]
    assert "documents:write" in _claims(token)["scope"].split()
    probe = status_of(world, token, "/reports/write")
    world.poller.until(probe, lambda status: status == 200, time.monotonic())

    started = time.monotonic()
    set_editor_scopes(world, [])
    delay = world.poller.until(probe, lambda status: status == 403, started)

    delays.add(world.backend, "policy", delay)
    assert delay < BOUND_SECONDS
    assert world.get("/reports", token).status_code == 200  # narrowed, not logged out
    assert "documents:write" not in world.get("/reports", token).json()["scope"].split()
    set_editor_scopes(world, ["documents:write"])


# -- the feed cut and restored ------------------------------------------------------------
def health_says(world: World, feed: str) -> list[dict]:
    """Until both workers' health says ``feed``."""
    deadline = time.monotonic() + 30
    while True:
        health = world.kit_health()
        if len(health) == 2 and all(h["feed"] == feed for h in health):
            return health
        assert time.monotonic() < deadline, health
        time.sleep(0.1)


def test_with_the_feed_cut_the_app_asks_introspection_and_recovers(world, delays) -> None:
    username = world.names[TRIALS]
    token = world.token(username)["access_token"]
    until_feed_ok(world)
    before = sum(h["introspections"] for h in world.kit_health())

    world.cutter.cut_feed()  # only the feed: metadata, JWKS, introspection still answer
    try:
        health = health_says(world, "lost")
        assert all(h["deciding_by"] == "introspection" for h in health)
        assert "change feed lost" in world.kit.log_text()
        probe = status_of(world, token)
        world.poller.until(probe, lambda status: status == 200, time.monotonic())
        after = sum(h["introspections"] for h in world.kit_health())
        assert after > before
        # Still within the bound: introspection answers are kept at most 1 s.
        started = time.monotonic()
        assert world.admin("POST", f"/admin/users/{username}/disable").status_code == 200
        delay = world.poller.until(probe, refused, started)
        delays.add(world.backend, "disable, feed cut", delay)
        assert delay < BOUND_SECONDS
    finally:
        world.cutter.restore_feed()

    until_feed_ok(world)  # back by itself
    assert "change feed is back" in world.kit.log_text()


def test_with_the_server_stopped_the_app_answers_503_and_recovers(world, delays) -> None:
    username = world.names[TRIALS + 1]
    token = world.token(username)["access_token"]
    until_feed_ok(world)

    world.servers.servers.remove(world.server)
    kill_groups([world.server.process])  # the server stopped for a moment
    health_says(world, "lost")
    assert_json_503(world.get("/reports", token))  # nobody to ask: no stale decision

    world.server = start_server(world.servers, world.env, world.server_port)
    answer = world.get("/reports", token)
    assert answer.status_code == 200, answer.text
    until_feed_ok(world)
    probe = status_of(world, token)
    world.poller.until(probe, lambda status: status == 200, time.monotonic())
    started = time.monotonic()
    assert world.admin("POST", f"/admin/users/{username}/disable").status_code == 200
    delay = world.poller.until(probe, refused, started)
    delays.add(world.backend, "disable, after a stop", delay)
    assert delay < BOUND_SECONDS


# -- helpers ------------------------------------------------------------------------------
def _part(token: str, index: int) -> str:
    part = token.split(".")[index]
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)).decode()


def _claims(token: str) -> dict:
    return json.loads(_part(token, 1))


def _unsigned(claims: dict) -> str:
    def encode(value: dict) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()

    return f"{encode({'alg': 'none', 'typ': 'at+jwt'})}.{encode(claims)}."
