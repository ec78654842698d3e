"""``authserver keys rotate|list|remove`` (SPEC §13): a new key is published before it
signs (``--now``: at once), the old public key stays in the JWKS while its tokens live."""

from __future__ import annotations

import json
import re
import stat
import time
from pathlib import Path

import pytest

from tests.support.cli import assert_one_line_error, invoke
from tests.support.tokens import token_claims, token_header

PRIVATE_MEMBERS = {"d", "p", "q", "dp", "dq", "qi"}
PUBLISH = 5


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


def test_rotate_now_changes_kid_and_keeps_old_public_key(own_keys, runner, client, make_token):
    [old_kid] = jwks_kids(client)
    old_token = make_token("alice")["access_token"]
    assert token_header(old_token)["kid"] == old_kid

    result = invoke(runner, "keys", "rotate", "--now")

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

    invoke(runner, "keys", "rotate", "--now")
    invoke(runner, "keys", "rotate", "--now")

    kids = jwks_kids(client)
    assert len(set(kids)) == 3
    assert first in kids[1:]  # retired, still published; the signing key comes first


def test_rotate_with_broken_key_file_is_a_one_line_error(own_keys, runner):
    own_keys.write_text("{not json")

    result = invoke(runner, "keys", "rotate")

    assert_one_line_error(result, str(own_keys))
    assert own_keys.read_text() == "{not json"  # never overwrites a file it cannot read


@pytest.fixture
def publish_soon(settings) -> None:
    """AUTHSERVER_KEY_PUBLISH_SECONDS=PUBLISH: a key published ahead begins to sign within
    the test, late enough for a loaded machine to see it waiting first."""
    settings["KEY_PUBLISH_SECONDS"] = PUBLISH


def newest(path: Path) -> dict:
    """The key the last `keys rotate` added, as stored."""
    return json.loads(path.read_text())["keys"][-1]


def wait_past(moment: float) -> None:
    time.sleep(max(0.0, moment - time.time()) + 0.2)


def test_rotate_publishes_the_new_key_first_and_it_signs_after_the_publish_delay(
    own_keys, publish_soon, runner, client, make_token
):
    [old_kid] = jwks_kids(client)
    make_token("alice")  # the user exists: the next token is quick

    result = invoke(runner, "keys", "rotate")

    assert result.exit_code == 0, result.output
    new = newest(own_keys)
    assert result.stdout.startswith(f"publishing key {new['kid']} (RS256): it signs from ")
    assert f"in {PUBLISH} s; key {old_kid} signs until then" in result.stdout
    assert "shorter than the JWKS max-age (60 s)" in result.stderr  # only for the test
    assert jwks_kids(client) == [old_kid, new["kid"]]  # published at once, the signer first
    before = make_token("alice")["access_token"]
    assert token_claims(before)["iat"] < new["activates_at"]  # else the machine is too slow
    assert token_header(before)["kid"] == old_kid
    wait_past(new["activates_at"])  # no file change: the clock alone makes it sign
    new_kid = new["kid"]
    after = make_token("alice")["access_token"]
    assert token_header(after)["kid"] == new_kid
    assert jwks_kids(client) == [new_kid, old_kid]
    assert me(client, before).status_code == 200 and me(client, after).status_code == 200


def test_key_file_keeps_created_activates_and_retired_times(own_keys, publish_soon, runner):
    invoke(runner, "keys", "rotate")

    old, new = json.loads(own_keys.read_text())["keys"]
    assert old["retired_at"] == new["activates_at"] == new["iat"] + PUBLISH
    assert old["activates_at"] <= old["iat"] + 1 and "retired_at" not in new
    assert "d" in old  # it still signs until then; its private part goes once it retired


def test_list_shows_kid_alg_state_and_times(own_keys, publish_soon, runner, client):
    [old_kid] = jwks_kids(client)
    invoke(runner, "keys", "rotate")
    new_kid = newest(own_keys)["kid"]

    result = invoke(runner, "keys", "list")

    assert result.exit_code == 0, result.output
    header, *rows = result.stdout.splitlines()
    assert header.split() == ["KID", "ALG", "STATE", "CREATED", "SIGNS", "FROM", "RETIRES"] + [
        "TRUSTED",
        "UNTIL",
    ]
    cells = {row.split()[0]: row.split() for row in rows}
    assert cells[new_kid][1:3] == ["RS256", "next"]
    assert cells[old_kid][1:3] == ["RS256", "active"]
    assert cells[old_kid][5] == cells[new_kid][4]  # retires when the new one signs
    assert all(
        re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", cell) for cell in cells[old_kid][3:7]
    )
    wait_past(newest(own_keys)["activates_at"])
    states = {
        row.split()[0]: row.split()[2]
        for row in invoke(runner, "keys", "list").stdout.splitlines()[1:]
    }
    assert states == {new_kid: "active", old_kid: "retired"}


def test_remove_drops_a_retired_key_and_its_tokens_are_refused_at_once(
    own_keys, runner, client, make_token
):
    [old_kid] = jwks_kids(client)
    old_token = make_token("alice")["access_token"]
    invoke(runner, "keys", "rotate", "--now")
    assert me(client, old_token).status_code == 200

    result = invoke(runner, "keys", "remove", old_kid)

    assert result.exit_code == 0, result.output
    assert result.stdout == f"removed key {old_kid}; tokens it signed are refused from now on\n"
    assert old_kid not in jwks_kids(client)
    assert me(client, old_token).status_code == 401
    assert old_kid not in own_keys.read_text()


def test_remove_a_key_still_waiting_to_sign_keeps_the_active_one_signing(
    own_keys, publish_soon, runner, client, make_token
):
    [old_kid] = jwks_kids(client)
    invoke(runner, "keys", "rotate")
    new = newest(own_keys)

    assert invoke(runner, "keys", "remove", new["kid"]).exit_code == 0

    wait_past(new["activates_at"])  # when the removed key would have begun to sign
    assert jwks_kids(client) == [old_kid]
    assert token_header(make_token("alice")["access_token"])["kid"] == old_kid


@pytest.mark.parametrize("which", ["active", "unknown"])
def test_remove_refuses_the_active_key_and_an_unknown_kid(own_keys, runner, client, which):
    [kid] = jwks_kids(client)
    before = own_keys.read_text()

    result = invoke(runner, "keys", "remove", kid if which == "active" else "no-such-kid")

    line = assert_one_line_error(result)
    assert ("rotate --now" in line) if which == "active" else ("no key no-such-kid" in line)
    assert own_keys.read_text() == before


def test_rotate_now_drops_a_key_waiting_to_sign(own_keys, publish_soon, runner, client):
    """A compromise: the waiting key was in the same file, so it goes too."""
    invoke(runner, "keys", "rotate")
    waiting = newest(own_keys)["kid"]

    result = invoke(runner, "keys", "rotate", "--now")

    kids = jwks_kids(client)
    assert waiting not in kids and result.stdout == f"signing with key {kids[0]} (RS256)\n"
    stored = json.loads(own_keys.read_text())["keys"]
    assert [("d" in key) for key in stored] == [False, True]  # the retired key: public only


def test_list_of_a_broken_key_file_is_a_one_line_error(own_keys, runner):
    own_keys.write_text("{not json")

    assert_one_line_error(invoke(runner, "keys", "list"), str(own_keys))


def test_remove_takes_a_kid_that_starts_with_a_dash(runner) -> None:
    """A kid is a base64url thumbprint, so one in 64 starts with '-' (CI met one)."""
    result = invoke(runner, "keys", "remove", "-wNotAKeyOfOurs")

    assert result.exit_code == 1
    assert "No such option" not in result.output
    assert "-wNotAKeyOfOurs" in result.output
