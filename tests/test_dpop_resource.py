"""RFC 9449 §7 at resource routes and the admin API (SPEC §17): every check of a proof
refused with its ``WWW-Authenticate: DPoP`` challenge, a bound token sent as Bearer
refused, and a replayed proof refused at the same app and at a second one sharing the
replay state (the database, or Redis when AUTHSERVER_TEST_REDIS_URL is set)."""

from __future__ import annotations

import os
import time

import pytest

from authserver.app import create_app
from authserver.extensions import db
from authserver.models import DPoPProof
from authserver.resource.dpop import ALGORITHMS
from authserver.services import clients, dpop_replay, tokens, users
from tests.conftest import PASSWORD, REDIS_URL, basic_auth, close_app
from tests.support.dpop import TOKEN_URL, hmac_proof, new_key, proof, unsigned_proof
from tests.support.tokens import token_claims

BASE = "http://localhost"
ALGS = f'algs="{" ".join(ALGORITHMS)}"'


@pytest.fixture(params=["database", "redis"])
def replay_backend(request, settings) -> str:
    """Where the replay state lives: the database, or Redis (SPEC §11's shared counters)."""
    if request.param == "redis":
        if not REDIS_URL:
            pytest.skip("AUTHSERVER_TEST_REDIS_URL is not set")
        settings["REDIS_URL"] = REDIS_URL
    return request.param


def bound_token(client, oauth_client, key, username="alice", roles=("viewer",), scope=None):
    """A DPoP-bound access token for ``username`` (created with ``roles``)."""
    if users.find(username) is None:
        users.create(username, PASSWORD, roles)
    params = {"grant_type": "password", "username": username, "password": PASSWORD}
    if scope is not None:
        params["scope"] = scope
    headers = {
        **basic_auth(oauth_client.client_id, oauth_client.secret),
        "DPoP": proof(key, "POST", TOKEN_URL),
    }
    response = client.post("/oauth/token", data=params, headers=headers)
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["token_type"] == "DPoP"
    return response.get_json()["access_token"]


def dpop_headers(token: str, dpop: str | None) -> dict:
    headers = {"Authorization": f"DPoP {token}"}
    if dpop is not None:
        headers["DPoP"] = dpop
    return headers


def assert_refused(response, error: str) -> None:
    assert response.status_code == 401, response.get_json()
    challenge = response.headers["WWW-Authenticate"]
    assert challenge.startswith(f'DPoP error="{error}"'), challenge
    assert challenge.endswith(ALGS), challenge
    assert response.get_json()["error"] == error


def test_bound_token_with_proof_is_accepted(client, oauth_client, app):
    key = new_key()
    token = bound_token(client, oauth_client, key)
    response = client.get(
        "/api/me", headers=dpop_headers(token, proof(key, "GET", f"{BASE}/api/me", token))
    )
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["username"] == "alice"
    url = f"{BASE}/api/documents"
    listing = client.get(
        "/api/documents?page=1", headers=dpop_headers(token, proof(key, "GET", url, token))
    )
    assert listing.status_code == 200, listing.get_json()


def test_proof_naming_the_issuer_url_is_accepted(client, oauth_client, app):
    key = new_key()
    token = bound_token(client, oauth_client, key)
    htu = app.config["ISSUER"] + "/api/me"
    response = client.get("/api/me", headers=dpop_headers(token, proof(key, "GET", htu, token)))
    assert response.status_code == 200, response.get_json()


def _cases(key, token):
    now = int(time.time())
    me = f"{BASE}/api/me"
    return {
        "wrong htm": ("invalid_dpop_proof", proof(key, "POST", me, token)),
        "wrong htu": ("invalid_dpop_proof", proof(key, "GET", f"{BASE}/api/documents", token)),
        "htu of another host": (
            "invalid_dpop_proof",
            proof(key, "GET", "https://evil.example/api/me", token),
        ),
        "stale iat": ("invalid_dpop_proof", proof(key, "GET", me, token, iat=now - 300)),
        "iat in the future": ("invalid_dpop_proof", proof(key, "GET", me, token, iat=now + 300)),
        "wrong ath": ("invalid_dpop_proof", proof(key, "GET", me, token + "x")),
        "no ath": ("invalid_dpop_proof", proof(key, "GET", me)),
        "wrong typ": ("invalid_dpop_proof", proof(key, "GET", me, token, header={"typ": "jwt"})),
        "alg none": ("invalid_dpop_proof", unsigned_proof(key, "GET", me, ath=token_ath(token))),
        "HMAC": ("invalid_dpop_proof", hmac_proof("GET", me, ath=token_ath(token))),
        "no proof": ("invalid_dpop_proof", None),
        "foreign key": ("invalid_token", proof(new_key(), "GET", me, token)),
    }


def token_ath(token: str) -> str:
    from authserver.resource.dpop import b64_sha256

    return b64_sha256(token)


CASES = list(_cases(new_key(), "t"))


@pytest.mark.parametrize("case", CASES)
def test_each_check_refuses_with_its_challenge(client, oauth_client, app, case):
    key = new_key()
    token = bound_token(client, oauth_client, key)
    error, dpop = _cases(key, token)[case]
    assert_refused(client.get("/api/me", headers=dpop_headers(token, dpop)), error)


def test_two_proofs_are_refused(client, oauth_client, app):
    key = new_key()
    token = bound_token(client, oauth_client, key)
    me = f"{BASE}/api/me"
    headers = [
        ("Authorization", f"DPoP {token}"),
        ("DPoP", proof(key, "GET", me, token)),
        ("DPoP", proof(key, "GET", me, token)),
    ]
    assert_refused(client.get("/api/me", headers=headers), "invalid_dpop_proof")


def test_replayed_proof_is_refused_at_the_same_app(replay_backend, client, oauth_client, app):
    key = new_key()
    token = bound_token(client, oauth_client, key)
    once = proof(key, "GET", f"{BASE}/api/me", token)
    assert client.get("/api/me", headers=dpop_headers(token, once)).status_code == 200
    assert_refused(client.get("/api/me", headers=dpop_headers(token, once)), "invalid_dpop_proof")


def test_replayed_proof_is_refused_at_a_second_instance(
    replay_backend, client, oauth_client, app, settings
):
    """Two apps on one database (and one Redis): what one has seen, the other refuses."""
    assert bool(app.config["REDIS_URL"]) == (replay_backend == "redis")
    key = new_key()
    token = bound_token(client, oauth_client, key)
    once = proof(key, "GET", f"{BASE}/api/me", token)
    assert client.get("/api/me", headers=dpop_headers(token, once)).status_code == 200
    other = create_app("testing", settings)
    try:
        with other.app_context():
            response = other.test_client().get("/api/me", headers=dpop_headers(token, once))
            assert_refused(response, "invalid_dpop_proof")
            fresh = proof(key, "GET", f"{BASE}/api/me", token)
            response = other.test_client().get("/api/me", headers=dpop_headers(token, fresh))
            assert response.status_code == 200
    finally:
        with other.app_context():
            close_app(other)


def test_bound_token_sent_as_bearer_is_refused(client, oauth_client, app):
    key = new_key()
    token = bound_token(client, oauth_client, key)
    response = client.get("/api/me", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401
    challenge = response.headers["WWW-Authenticate"]
    assert challenge.startswith('Bearer error="invalid_token"'), challenge
    assert challenge.endswith(f"DPoP {ALGS}"), challenge
    assert response.get_json()["error"] == "invalid_token"


def test_bearer_token_sent_as_dpop_is_refused(client, oauth_client, app, make_token):
    token = make_token("bob", ("viewer",))["access_token"]
    key = new_key()
    response = client.get(
        "/api/me", headers=dpop_headers(token, proof(key, "GET", f"{BASE}/api/me", token))
    )
    assert_refused(response, "invalid_token")


def test_revoked_bound_token_is_invalid_token(client, oauth_client, app):
    key = new_key()
    token = bound_token(client, oauth_client, key)
    claims = token_claims(token)
    tokens.revoke_access(claims["jti"], claims["exp"])
    response = client.get(
        "/api/me", headers=dpop_headers(token, proof(key, "GET", f"{BASE}/api/me", token))
    )
    assert_refused(response, "invalid_token")


def test_insufficient_scope_gets_a_dpop_challenge(client, oauth_client, app):
    key = new_key()
    token = bound_token(client, oauth_client, key, scope="profile")
    url = f"{BASE}/api/documents"
    response = client.get(
        "/api/documents", headers=dpop_headers(token, proof(key, "GET", url, token))
    )
    assert response.status_code == 403
    assert response.headers["WWW-Authenticate"] == (
        f'DPoP error="insufficient_scope", scope="documents:read", {ALGS}'
    )


def test_admin_api_accepts_dpop(client, oauth_client, app):
    key = new_key()
    token = bound_token(client, oauth_client, key, "root", ("admin",))
    url = f"{BASE}/admin/users"
    response = client.get(
        "/admin/users", headers=dpop_headers(token, proof(key, "GET", url, token))
    )
    assert response.status_code == 200, response.get_json()
    wrong = client.get(
        "/admin/users", headers=dpop_headers(token, proof(key, "DELETE", url, token))
    )
    assert wrong.status_code == 401
    assert wrong.headers["WWW-Authenticate"].startswith('DPoP error="invalid_dpop_proof"')
    assert wrong.mimetype == "application/problem+json"
    as_bearer = client.get("/admin/users", headers={"Authorization": f"Bearer {token}"})
    assert as_bearer.status_code == 401


def test_expired_proofs_are_purged_from_the_database(app, monkeypatch):
    """Rows outlive their proof's window only until the next purge (here: every use)."""
    monkeypatch.setattr(dpop_replay, "PURGE_SECONDS", 0)
    cache = dpop_replay.DatabaseReplayCache()
    assert cache.first_use("a" * 64, time.time() - 1)
    assert cache.first_use("b" * 64, time.time() + 60)
    engine, _ = cache._prepare()
    with engine.connect() as connection:
        digests = set(connection.scalars(db.select(DPoPProof.proof_digest)))
    assert digests == {"b" * 64}
    assert not cache.first_use("b" * 64, time.time() + 60)


def test_sqlite_replay_state_is_a_companion_file(app):
    """On SQLite the proofs go to <database>-dpop: the main file's data_version (the live
    feed of every worker, SPEC §12) does not move for them."""
    if db.engine.dialect.name != "sqlite":
        pytest.skip("SQLite only")
    engine, _ = dpop_replay.DatabaseReplayCache()._prepare()
    assert engine.url.database == db.engine.url.database + "-dpop"
    mode = os.stat(engine.url.database).st_mode & 0o777
    assert mode == 0o600


def test_redis_keys_expire_with_their_proof(settings):
    if not REDIS_URL:
        pytest.skip("AUTHSERVER_TEST_REDIS_URL is not set")
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    cache = dpop_replay.RedisReplayCache(client)
    key = "c" * 60 + str(time.time_ns())[-4:]
    assert cache.first_use(key, time.time() + 70)
    assert not cache.first_use(key, time.time() + 70)
    assert 0 < client.ttl(cache.PREFIX + key) <= 71
    client.delete(cache.PREFIX + key)


@pytest.mark.parametrize("mode", ["fallback", "closed"])
def test_redis_down_follows_redis_failure(settings, mode):
    """A Redis that refuses connections: proofs are remembered in the database
    (``fallback``: a replay is still refused), or refused with 503 (``closed``)."""
    settings.update(REDIS_URL="redis://127.0.0.1:1/0", REDIS_FAILURE=mode)
    app = create_app("testing", settings)
    try:
        with app.app_context():
            client = app.test_client()
            oauth_client, secret = clients.create("down", ["password"])
            users.create("alice", PASSWORD, ("viewer",))
            key = new_key()
            response = client.post(
                "/oauth/token",
                data={"grant_type": "password", "username": "alice", "password": PASSWORD},
                headers={
                    **basic_auth(oauth_client.client_id, secret),
                    "DPoP": proof(key, "POST", TOKEN_URL),
                },
            )
            if mode == "closed":
                assert response.status_code == 503, response.get_json()
                assert response.is_json
                return
            token = response.get_json()["access_token"]
            once = proof(key, "GET", f"{BASE}/api/me", token)
            assert client.get("/api/me", headers=dpop_headers(token, once)).status_code == 200
            assert_refused(
                client.get("/api/me", headers=dpop_headers(token, once)), "invalid_dpop_proof"
            )
    finally:
        with app.app_context():
            close_app(app)
