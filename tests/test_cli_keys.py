"""``authserver keys rotate``: a new signing kid, the old public key kept in the JWKS."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from tests.support.cli import assert_one_line_error, invoke
from tests.support.tokens import token_header

PRIVATE_MEMBERS = {"d", "p", "q", "dp", "dq", "qi"}


@pytest.fixture
def own_keys(settings, tmp_path) -> Path:
    """A key file of this test's own (the session's shared one must not rotate).

    Ask for it before ``app`` (or ``runner``, ``client``) so the app loads it.
    """
    path = tmp_path / "keys" / "signing-keys.json"
    settings["SIGNING_KEYS"] = str(path)
    return path


def jwks_kids(client) -> list[str]:
    response = client.get("/.well-known/jwks.json")
    assert response.status_code == 200
    keys = response.get_json()["keys"]
    assert all(not PRIVATE_MEMBERS & set(key) for key in keys)
    return [key["kid"] for key in keys]


def me(client, token: str):
    return client.get("/api/me", headers={"Authorization": f"Bearer {token}"})


def test_rotate_changes_kid_and_keeps_old_public_key(own_keys, runner, client, make_token):
    [old_kid] = jwks_kids(client)
    old_token = make_token("alice")["access_token"]
    assert token_header(old_token)["kid"] == old_kid

    result = invoke(runner, "keys", "rotate")

    assert result.exit_code == 0, result.output
    new_kid = jwks_kids(client)[0]
    assert new_kid != old_kid
    assert result.stdout == f"signing with key {new_kid} (RS256)\n"
    assert jwks_kids(client) == [new_kid, old_kid]
    new_token = make_token("alice")["access_token"]
    assert token_header(new_token)["kid"] == new_kid
    assert me(client, new_token).status_code == 200
    assert me(client, old_token).status_code == 200  # signed by the retired key
    assert stat.S_IMODE(own_keys.stat().st_mode) == 0o600


def test_rotate_twice_keeps_both_retired_keys_while_tokens_live(own_keys, runner, client):
    [first] = jwks_kids(client)

    invoke(runner, "keys", "rotate")
    invoke(runner, "keys", "rotate")

    kids = jwks_kids(client)
    assert len(set(kids)) == 3
    assert first in kids[1:]  # retired, still published; the signing key comes first


def test_rotate_with_broken_key_file_is_a_one_line_error(own_keys, runner):
    own_keys.write_text("{not json")

    result = invoke(runner, "keys", "rotate")

    assert_one_line_error(result, str(own_keys))
    assert own_keys.read_text() == "{not json"  # never overwrites a file it cannot read
