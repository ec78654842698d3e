"""Tests for authserver.security.keys: the signing key file, JWKS, rotation and reload."""

import json
import logging
import multiprocessing
import os
import re
import stat
import time
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import Any

import pytest
from joserfc import jwt
from joserfc.errors import SecurityWarning
from joserfc.jwk import ECKey, KeySet, RSAKey, import_key

from authserver.security.keys import SigningKeyError, SigningKeys

ALGS = ["RS256", "ES256", "EdDSA", "Ed25519"]
PRIVATE_MEMBERS = {"d", "p", "q", "dp", "dq", "qi", "oth", "k"}
WORKERS = 6


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "instance" / "signing-keys.json"


def stored(path: Path) -> list[dict[str, Any]]:
    return json.loads(path.read_text())["keys"]


def store(path: Path, keys: list[dict[str, Any]]) -> None:
    path.write_text(json.dumps({"keys": keys}))
    time.sleep(0.01)  # a distinct mtime even on coarse clocks; the inode changes anyway


def deprecated(alg: str) -> AbstractContextManager[Any]:
    """joserfc warns at every use of "EdDSA", deprecated by RFC 9864 for "Ed25519"."""
    return pytest.warns(SecurityWarning, match="RFC 9864") if alg == "EdDSA" else nullcontext()


def sign(keys: SigningKeys, claims: dict[str, Any] | None = None) -> str:
    """Sign as the spec says: explicit header kid and alg allow-list (EdDSA needs it)."""
    header = {"alg": keys.alg, "kid": keys.signing_kid}
    key = KeySet.import_key_set(keys.private_jwks())  # type: ignore[arg-type]
    with deprecated(keys.alg):
        return jwt.encode(header, claims or {"sub": "alice"}, key, algorithms=[keys.alg])


def verifies(keys: SigningKeys, token: str) -> bool:
    return jwt.decode(token, keys.verification_keys(), algorithms=keys.algorithms) is not None


def test_load_or_create_writes_a_0600_file_in_a_new_directory(path: Path) -> None:
    keys = SigningKeys.load_or_create(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [k["kid"] for k in stored(path)] == [keys.signing_kid]
    assert keys.alg == "RS256" and keys.algorithms == ["RS256"]
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temp file left


def test_second_load_returns_the_same_kid(path: Path) -> None:
    first = SigningKeys.load_or_create(path)
    assert SigningKeys.load_or_create(path).signing_kid == first.signing_kid


@pytest.mark.parametrize("alg", ALGS)
def test_kid_is_the_rfc7638_thumbprint(path: Path, alg: str) -> None:
    keys = SigningKeys.load_or_create(path, alg=alg)
    public = keys.public_jwks()["keys"][0]
    assert keys.signing_kid == import_key(public).thumbprint()


@pytest.mark.parametrize("alg", ALGS)
def test_public_jwks_has_no_private_members(path: Path, alg: str) -> None:
    keys = SigningKeys.load_or_create(path, alg=alg)
    keys = SigningKeys.rotate(path, alg=alg)
    for jwk in keys.public_jwks()["keys"]:
        assert not PRIVATE_MEMBERS & jwk.keys()
        assert jwk["use"] == "sig" and jwk["alg"] == alg and jwk["kid"]
        assert not import_key(jwk).is_private


def test_private_jwks_is_the_signing_key_with_kid_and_alg(path: Path) -> None:
    keys = SigningKeys.load_or_create(path, alg="ES256")
    (jwk,) = keys.private_jwks()["keys"]
    assert jwk["kid"] == keys.signing_kid and jwk["alg"] == "ES256" and "d" in jwk


@pytest.mark.parametrize("alg", ALGS)
def test_token_signed_with_private_jwks_verifies_with_verification_keys(
    path: Path, alg: str
) -> None:
    keys = SigningKeys.load_or_create(path, alg=alg)
    token = sign(keys)
    with deprecated(alg):
        decoded = jwt.decode(token, keys.verification_keys(), algorithms=[alg])
    assert decoded.header["kid"] == keys.signing_kid and decoded.claims["sub"] == "alice"


def test_signing_key_set_puts_the_kid_in_the_header(path: Path) -> None:
    keys = SigningKeys.load_or_create(path, alg="ES256")
    token = jwt.encode({"alg": "ES256"}, {"sub": "alice"}, keys.signing_key_set())
    assert jwt.decode(token, keys.verification_keys()).header["kid"] == keys.signing_kid


def test_authlib_rfc9068_generator_signs_with_signing_key_set(path: Path) -> None:
    """No AuthlibDeprecationWarning (an error here) and a kid Authlib itself leaves out."""
    from authlib.oauth2.rfc9068 import JWTBearerTokenGenerator

    keys = SigningKeys.load_or_create(path, alg="ES256")

    class Generator(JWTBearerTokenGenerator):
        def get_jwks(self) -> KeySet:
            return keys.signing_key_set()

    class Client:
        def get_client_id(self) -> str:
            return "client-1"

    class User:
        def get_user_id(self) -> str:
            return "user-1"

    token = Generator("https://issuer.example", alg="ES256").access_token_generator(
        Client(), "password", User(), "profile"
    )
    decoded = jwt.decode(token, keys.verification_keys(), algorithms=keys.algorithms)
    assert decoded.header["kid"] == keys.signing_kid and decoded.header["typ"] == "at+jwt"


def _race_worker(path: str, barrier: Any, results: Any) -> None:
    barrier.wait()
    try:
        results.put(SigningKeys.load_or_create(path).signing_kid)
    except Exception as exc:  # report, don't hang the parent
        results.put(f"error: {exc!r}")


@pytest.mark.processes
def test_workers_starting_together_all_sign_with_the_same_key(path: Path) -> None:
    ctx = multiprocessing.get_context("spawn")
    barrier, results = ctx.Barrier(WORKERS), ctx.Queue()
    procs = [
        ctx.Process(target=_race_worker, args=(str(path), barrier, results))
        for _ in range(WORKERS)
    ]
    for proc in procs:
        proc.start()
    kids = [results.get(timeout=60) for _ in procs]
    for proc in procs:
        proc.join(timeout=60)
        assert proc.exitcode == 0
    assert len(set(kids)) == 1, kids
    assert SigningKeys.load_or_create(path).signing_kid == kids[0]
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [p.name for p in path.parent.iterdir()] == [path.name]


def test_losing_the_create_race_reads_the_winners_key(
    path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Deterministic version of the race: another process links its file first."""
    winner = ECKey.generate_key("P-256", parameters={"alg": "ES256", "use": "sig"})
    winner_jwk = winner.as_dict(private=True, kid=winner.thumbprint())
    real_link = os.link

    def link_after_competitor(src: str, dst: str) -> None:
        Path(dst).write_text(json.dumps({"keys": [winner_jwk]}))
        real_link(src, dst)

    monkeypatch.setattr(os, "link", link_after_competitor)
    keys = SigningKeys.load_or_create(path, alg="ES256")
    assert keys.signing_kid == winner.thumbprint()
    assert [p.name for p in path.parent.iterdir()] == [path.name]


def test_rotate_changes_signing_kid_and_keeps_old_public_key(path: Path) -> None:
    old = SigningKeys.load_or_create(path)
    old_token = sign(old)
    new = SigningKeys.rotate(path)
    assert new.signing_kid != old.signing_kid
    assert [k["kid"] for k in new.public_jwks()["keys"]] == [new.signing_kid, old.signing_kid]
    assert verifies(new, old_token) and verifies(new, sign(new))
    assert new.private_jwks()["keys"][0]["kid"] == new.signing_kid
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_rotate_keeps_only_the_public_part_of_retired_keys(path: Path) -> None:
    old = SigningKeys.load_or_create(path)
    SigningKeys.rotate(path)
    (retired,) = [k for k in stored(path) if k["kid"] == old.signing_kid]
    assert not PRIVATE_MEMBERS & retired.keys()
    assert retired["retired_at"] >= retired["iat"]


def test_key_retired_longer_than_retain_seconds_is_dropped_at_next_rotation(
    path: Path,
) -> None:
    first = SigningKeys.load_or_create(path, alg="ES256")
    second = SigningKeys.rotate(path, alg="ES256", retain_seconds=900)
    keys = stored(path)
    keys[0]["retired_at"] -= 901  # the first key stopped signing 901 seconds ago
    store(path, keys)
    third = SigningKeys.rotate(path, alg="ES256", retain_seconds=900)
    kids = [k["kid"] for k in third.public_jwks()["keys"]]
    assert kids == [third.signing_kid, second.signing_kid]
    assert first.signing_kid not in {k["kid"] for k in stored(path)}


def test_load_with_retain_seconds_leaves_out_expired_retired_keys(path: Path) -> None:
    first = SigningKeys.load_or_create(path, alg="ES256")
    SigningKeys.rotate(path, alg="ES256")
    keys = stored(path)
    keys[0]["retired_at"] -= 901
    store(path, keys)
    kids = {k["kid"] for k in SigningKeys.load_or_create(path, "ES256", 900).public_jwks()["keys"]}
    assert first.signing_kid not in kids and len(kids) == 1
    assert len(SigningKeys.load_or_create(path, "ES256").public_jwks()["keys"]) == 2


def _rotate_worker(path: str, barrier: Any, results: Any) -> None:
    barrier.wait()
    try:
        results.put(SigningKeys.rotate(path, alg="ES256").signing_kid)
    except Exception as exc:
        results.put(f"error: {exc!r}")


@pytest.mark.processes
def test_concurrent_rotations_lose_no_key(path: Path) -> None:
    initial = SigningKeys.load_or_create(path, alg="ES256")
    ctx = multiprocessing.get_context("spawn")
    barrier, results = ctx.Barrier(4), ctx.Queue()
    procs = [
        ctx.Process(target=_rotate_worker, args=(str(path), barrier, results)) for _ in "abcd"
    ]
    for proc in procs:
        proc.start()
    kids = {results.get(timeout=60) for _ in procs}
    for proc in procs:
        proc.join(timeout=60)
    published = {k["kid"] for k in SigningKeys.load_or_create(path, "ES256").public_jwks()["keys"]}
    assert published == kids | {initial.signing_kid} and len(published) == 5


def test_rotate_creates_a_missing_file_with_one_key(path: Path) -> None:
    keys = SigningKeys.rotate(path, alg="EdDSA")
    assert [k["kid"] for k in stored(path)] == [keys.signing_kid]
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_rotate_to_another_alg_switches_alg_and_keeps_both(path: Path) -> None:
    SigningKeys.load_or_create(path, alg="RS256")
    keys = SigningKeys.rotate(path, alg="EdDSA")
    assert keys.alg == "EdDSA" and keys.algorithms == ["EdDSA", "RS256"]


def test_existing_file_keeps_its_alg_and_warns_when_config_differs(
    path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    SigningKeys.load_or_create(path, alg="ES256")
    with caplog.at_level(logging.WARNING, logger="authserver.security.keys"):
        keys = SigningKeys.load_or_create(path, alg="RS256")
    assert keys.alg == "ES256"
    assert "keys rotate" in caplog.text


def test_reload_if_changed_picks_up_a_rotation_by_another_object(path: Path) -> None:
    keys = SigningKeys.load_or_create(path, alg="ES256")
    assert keys.reload_if_changed() is False
    old_kid = keys.signing_kid
    verification_before = keys.verification_keys()
    rotated = SigningKeys.rotate(path, alg="ES256")
    assert keys.reload_if_changed() is True
    assert keys.signing_kid == rotated.signing_kid != old_kid
    assert keys.public_jwks() == rotated.public_jwks()
    assert keys.verification_keys() is not verification_before
    assert verifies(keys, sign(rotated))
    assert keys.reload_if_changed() is False


def test_verification_keys_are_cached(path: Path) -> None:
    keys = SigningKeys.load_or_create(path)
    assert keys.verification_keys() is keys.verification_keys()


def test_reload_keeps_the_loaded_keys_when_the_file_breaks(
    path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    keys = SigningKeys.load_or_create(path, alg="ES256")
    kid = keys.signing_kid
    path.write_text("{not json")
    with caplog.at_level(logging.ERROR, logger="authserver.security.keys"):
        assert keys.reload_if_changed() is False
        assert keys.reload_if_changed() is False
    assert keys.signing_kid == kid
    assert caplog.text.count(str(path)) == 1  # reported once, not at every call
    path.unlink()
    assert keys.reload_if_changed() is False and keys.signing_kid == kid


def _rsa_1024() -> dict[str, Any]:
    with pytest.warns(SecurityWarning):
        key = RSAKey.generate_key(1024, parameters={"alg": "RS256", "use": "sig"})
    return key.as_dict(private=True)


def _es256(**extra: Any) -> dict[str, Any]:
    key = ECKey.generate_key("P-256", parameters={"alg": "ES256", "use": "sig"})
    return key.as_dict(private=True, **extra)


CORRUPT = {
    "bad json": lambda: "{not json",
    "not an object": lambda: "[]",
    "no keys": lambda: "{}",
    "empty keys": lambda: '{"keys": []}',
    "key not an object": lambda: '{"keys": ["x"]}',
    "unsupported alg": lambda: json.dumps({"keys": [_es256(alg="HS256")]}),
    "alg on wrong key type": lambda: json.dumps({"keys": [_es256(alg="RS256")]}),
    "bad key material": lambda: json.dumps({"keys": [_es256(x="!!")]}),
    "public signing key": lambda: json.dumps({"keys": [_public_es256()]}),
    "all retired": lambda: json.dumps({"keys": [_es256(retired_at=1)]}),
    "iat not int": lambda: json.dumps({"keys": [_es256(iat="yesterday")]}),
    "encryption key": lambda: json.dumps({"keys": [_es256(use="enc")]}),
}


def _public_es256() -> dict[str, Any]:
    return ECKey.generate_key("P-256", parameters={"alg": "ES256", "use": "sig"}).as_dict()


@pytest.mark.parametrize("content", CORRUPT.values(), ids=CORRUPT.keys())
def test_corrupt_file_raises_signing_key_error_naming_the_path(path: Path, content: Any) -> None:
    path.parent.mkdir()
    path.write_text(content())
    with pytest.raises(SigningKeyError, match=re.escape(str(path))) as info:
        SigningKeys.load_or_create(path)
    assert "\n" not in str(info.value)


def test_weak_rsa_key_is_refused(path: Path) -> None:
    path.parent.mkdir()
    path.write_text(json.dumps({"keys": [_rsa_1024()]}))
    with pytest.warns(SecurityWarning), pytest.raises(SigningKeyError, match="2048"):
        SigningKeys.load_or_create(path)


def test_rotate_refuses_to_overwrite_a_corrupt_file(path: Path) -> None:
    path.parent.mkdir()
    path.write_text('{"keys": [{"kty": "nonsense"}]}')
    with pytest.raises(SigningKeyError, match=re.escape(str(path))):
        SigningKeys.rotate(path)
    assert path.read_text() == '{"keys": [{"kty": "nonsense"}]}'


def test_rotate_repairs_a_file_whose_keys_are_all_retired(path: Path) -> None:
    path.parent.mkdir()
    path.write_text(json.dumps({"keys": [_es256(retired_at=int(time.time()))]}))
    keys = SigningKeys.rotate(path, alg="ES256")
    assert len(keys.public_jwks()["keys"]) == 2


@pytest.mark.parametrize("call", [SigningKeys.load_or_create, SigningKeys.rotate])
def test_unsupported_alg_raises_signing_key_error(path: Path, call: Any) -> None:
    with pytest.raises(SigningKeyError, match="HS256"):
        call(path, alg="HS256")
    assert not path.exists()


def test_unreadable_file_raises_signing_key_error(path: Path) -> None:
    path.mkdir(parents=True)  # a directory where the file should be
    with pytest.raises(SigningKeyError, match=re.escape(str(path))):
        SigningKeys.load_or_create(path)


def test_file_readable_by_others_is_loaded_with_a_warning(
    path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    SigningKeys.load_or_create(path, alg="ES256")
    path.chmod(0o644)
    with caplog.at_level(logging.WARNING, logger="authserver.security.keys"):
        SigningKeys.load_or_create(path, alg="ES256")
    assert "chmod 600" in caplog.text
