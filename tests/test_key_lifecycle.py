"""The signing-key lifecycle against the findings of issue 10 item 1 (SPEC §13): a stolen
old key cannot forge long-lived or late tokens, retired keys leave on their own while the
server runs, and a broken or deleted key file neither stops the server nor replaces its
keys. The gunicorn cases are in test_key_file_workers.py; item 15 (caching resource
servers) in test_resource_key_rotation.py."""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
from pathlib import Path

import pytest

from authserver.app import create_app
from authserver.config import ConfigError
from authserver.security.keys import SigningKeys
from authserver.state import state
from tests.conftest import close_app
from tests.support.cli import invoke
from tests.support.http import bearer
from tests.support.tokens import make_claims, private_key, sign, token_header

YEAR = 365 * 86_400


@pytest.fixture
def keys_file(settings, tmp_path) -> Path:
    """A key file of this test's own, with a 30 s access-token TTL (the review's setting):
    a retired key is trusted for 30 + 30 (skew) seconds. Ask for it before ``app``."""
    path = tmp_path / "keys" / "signing-keys.json"
    settings["SIGNING_KEYS"] = str(path)
    settings["ACCESS_TOKEN_TTL"] = 30
    return path


def forged(app, key, **claims) -> str:
    """A token signed with ``key`` (a stolen one), claiming an admin."""
    admin = {"roles": ["admin"], "scope": "profile users:read users:write policies:write"}
    return sign(make_claims(app.config["ISSUER"], app.config["AUDIENCE"], **admin, **claims), key)


def me(client, token: str) -> int:
    return client.get("/api/me", headers=bearer(token)).status_code


def jwks_kids(client) -> list[str]:
    return [key["kid"] for key in client.get("/.well-known/jwks.json").get_json()["keys"]]


def retired_at(path: Path, kid: str) -> int:
    return next(
        key["retired_at"] for key in json.loads(path.read_text())["keys"] if key["kid"] == kid
    )


def test_forged_one_year_token_from_a_stolen_old_key_is_refused(keys_file, app, client, runner):
    """The review: a stolen old key forged an admin token with a one-year exp that got 200
    45 s after a rotation with ACCESS_TOKEN_TTL=30."""
    stolen = private_key(keys_file)
    assert invoke(runner, "keys", "rotate", "--now").exit_code == 0
    retired = retired_at(keys_file, stolen.kid)
    assert stolen.kid in jwks_kids(client)  # still trusted: its last tokens may live

    # Claimed as issued before the retirement (so the key may have signed it), for a year.
    year_long = forged(app, stolen, iat=retired - 1, exp=retired - 1 + YEAR)
    assert me(client, year_long) == 401
    # Within the lifetime, before the retirement: what the key really signed still passes.
    assert me(client, forged(app, stolen, iat=retired - 1, exp=retired + 29)) == 200


def test_token_with_a_lifetime_over_the_ttl_is_refused_whoever_signed_it(keys_file, app, client):
    current = private_key(keys_file)
    now = int(time.time())

    assert me(client, forged(app, current, iat=now, exp=now + 30 + 30 + 1)) == 401
    assert me(client, forged(app, current, iat=now, exp=now + 60)) == 200  # TTL + skew


def test_token_issued_after_its_key_retired_is_refused(keys_file, app, client, runner):
    stolen = private_key(keys_file)
    invoke(runner, "keys", "rotate", "--now")
    retired = retired_at(keys_file, stolen.kid)

    assert me(client, forged(app, stolen, iat=retired + 1, exp=retired + 31)) == 401
    assert me(client, forged(app, stolen, iat=retired - 1, exp=retired + 29)) == 200


def test_retired_key_is_dropped_on_its_own_while_the_server_runs(keys_file, settings):
    """No rotation, no file change: the clock alone takes the key out of the JWKS and the
    trusted set once ACCESS_TOKEN_TTL (30) plus the skew (30) have passed since it retired."""
    old = SigningKeys.load_or_create(keys_file)
    SigningKeys.rotate(keys_file)
    stored = json.loads(keys_file.read_text())
    for key in stored["keys"]:  # as if the rotation was 55 s ago: the old key has 5 s left
        for member in ("iat", "activates_at", "retired_at"):
            if member in key:
                key[member] -= 55
    keys_file.write_text(json.dumps(stored))
    leaves = retired_at(keys_file, old.signing_kid) + 30 + 30
    app = create_app("testing", settings)
    try:
        client = app.test_client()
        assert old.signing_kid in jwks_kids(client)
        keys = state(app).keys
        assert old.signing_kid in {key.kid for key in keys.verification_keys().keys}
        assert time.time() < leaves  # else the machine was too slow to see it before
        seen = keys_file.stat()

        time.sleep(leaves - time.time() + 0.2)

        assert old.signing_kid not in jwks_kids(client)
        assert old.signing_kid not in {key.kid for key in keys.verification_keys().keys}
        assert len(jwks_kids(client)) == 1
        assert keys_file.stat().st_mtime_ns == seen.st_mtime_ns  # nobody touched the file
    finally:
        with app.app_context():
            close_app(app)


def readyz_keys(client) -> tuple[int, str]:
    response = client.get("/readyz")
    return response.status_code, response.get_json()["checks"]["signing_keys"]


def test_corrupt_key_file_at_run_time_keeps_serving_and_readyz_says_so(
    keys_file, app, client, make_token, settings, caplog
):
    token = make_token()["access_token"]
    kid = token_header(token)["kid"]
    good = keys_file.with_name("good.json")
    shutil.copy2(keys_file, good)

    keys_file.write_text('{"keys": [{"kty": "nonsense"')
    with caplog.at_level(logging.ERROR, logger="authserver.security.keys"):
        for _ in range(3):
            assert me(client, token) == 200
            assert token_header(make_token()["access_token"])["kid"] == kid
            assert jwks_kids(client) == [kid]
            assert readyz_keys(client) == (200, "last good keys in use (key file invalid)")
        # A process started now (a new worker) starts with the last good keys too.
        later = create_app("testing", settings)
    assert state(later).keys.signing_kid == kid and state(later).keys.problem
    with later.app_context():
        close_app(later)
    errors = [r for r in caplog.records if str(keys_file) in r.getMessage()]
    assert len(errors) == 2  # once for this app, once for the later one; never per request

    os.replace(good, keys_file)  # the operator restores the file
    assert readyz_keys(client) == (200, "ok")


def test_deleted_key_file_is_not_silently_replaced(keys_file, app, client, make_token, settings):
    token = make_token()["access_token"]
    kid = token_header(token)["kid"]

    keys_file.unlink()

    assert me(client, token) == 200
    assert token_header(make_token()["access_token"])["kid"] == kid
    assert readyz_keys(client) == (200, "last good keys in use (key file missing)")
    later = create_app("testing", settings)  # a worker started later, in development too
    assert state(later).keys.signing_kid == kid
    with later.app_context():
        close_app(later)
    assert not keys_file.exists()


def test_production_start_without_a_key_file_is_one_line_and_creates_nothing(
    database_url, tmp_path
):
    path = tmp_path / "keys" / "signing-keys.json"
    overrides = {
        "DATABASE_URL": database_url,
        "SIGNING_KEYS": str(path),
        "ISSUER": "https://id.example.com",
    }

    with pytest.raises(ConfigError) as refused:
        create_app("production", overrides)

    message = str(refused.value)
    assert message.startswith("AUTHSERVER_SIGNING_KEYS: ") and "\n" not in message
    assert "keys rotate" in message
    assert not path.exists()


@pytest.mark.parametrize("content", ["{not json", '{"keys": []}'], ids=["not-json", "no-keys"])
def test_corrupt_key_file_at_start_is_one_line(database_url, tmp_path, content):
    path = tmp_path / "signing-keys.json"
    path.write_text(content)
    path.chmod(0o600)
    overrides = {"DATABASE_URL": database_url, "SIGNING_KEYS": str(path)}

    with pytest.raises(ConfigError, match=f"^AUTHSERVER_SIGNING_KEYS: {path}") as refused:
        create_app("testing", overrides)

    assert "\n" not in str(refused.value)
    assert path.read_text() == content
