"""The signing-key file on disk: its JWKs checked one by one, read, and published whole.

Each key is a private (or, once retired, public-only) JWK with ``kid`` (RFC 7638
thumbprint), ``alg`` and ``use``, plus our times in Unix seconds (RFC 7517 §4 allows extra
members): ``iat`` (created), ``activates_at`` (signs from then on) and ``retired_at``
(signs no more from then on; may be in the future). Files written before
``activates_at`` existed are read as "active since ``iat``". The file is only published
whole (a temp file, then ``os.link`` or ``os.replace``), so no reader, in any worker or
process, ever sees half of it.
"""

from __future__ import annotations

import fcntl
import functools
import json
import logging
import os
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

from joserfc.errors import JoseError
from joserfc.jwk import ECKey, Key, OKPKey, RSAKey, import_key

log = logging.getLogger("authserver.security.keys")

#: alg -> (key class, RSA bits or curve). "Ed25519" is RFC 9864's name for EdDSA on Ed25519;
#: joserfc warns (SecurityWarning) at every use of the now deprecated "EdDSA".
ALGORITHMS: dict[str, tuple[type[RSAKey] | type[ECKey] | type[OKPKey], int | str]] = {
    "RS256": (RSAKey, 2048),
    "ES256": (ECKey, "P-256"),
    "EdDSA": (OKPKey, "Ed25519"),
    "Ed25519": (OKPKey, "Ed25519"),
}
ALG_NAMES = ", ".join(ALGORITHMS)
#: Our times of a key, in Unix seconds.
TIME_MEMBERS = ("iat", "activates_at", "retired_at")
# An allow-list, not a deny-list: nothing private can reach the JWKS by accident.
_PUBLIC_MEMBERS = ("kty", "kid", "use", "alg", "crv", "n", "e", "x", "y")
StatKey = tuple[int, int, int]


class SigningKeyError(Exception):
    """The key file is missing, unreadable or invalid, or an algorithm is unsupported.

    ``kind`` ("missing", "unreadable", "invalid") is what /readyz may say: the message
    names the path, which a public endpoint must not."""

    def __init__(self, message: str, kind: str = "invalid") -> None:
        super().__init__(message)
        self.kind = kind


def check_alg(alg: str) -> None:
    """Refuse an algorithm we cannot sign with."""
    if alg not in ALGORITHMS:
        raise SigningKeyError(f"unsupported signing alg {alg!r}; use one of {ALG_NAMES}")


def generate_jwk(alg: str, created: int, activates: int) -> dict[str, Any]:
    """A new private JWK for a checked ``alg``: kid (RFC 7638 thumbprint), use, times."""
    key_cls, size = ALGORITHMS[alg]
    params: dict[str, Any] = {"alg": alg, "use": "sig"}
    # Each key class takes its own size type (bits, curve name); ALGORITHMS pairs them right,
    # which the union of the three classes cannot show. params is KeyParameters' keys.
    key = key_cls.generate_key(size, parameters=params)  # type: ignore[arg-type]
    return key.as_dict(private=True, kid=key.thumbprint(), iat=created, activates_at=activates)


def public(jwk: dict[str, Any]) -> dict[str, Any]:
    """The public members of ``jwk`` (what the JWKS shows), without our times."""
    return {name: jwk[name] for name in _PUBLIC_MEMBERS if name in jwk}


def public_with_times(jwk: dict[str, Any]) -> dict[str, Any]:
    """What the file keeps of a retired key: its public part and its times."""
    times = {name: jwk[name] for name in TIME_MEMBERS if jwk.get(name) is not None}
    return {**public(jwk), **times}


@functools.lru_cache(maxsize=32)
def _parse(canonical_jwk: str) -> Key:
    """``import_key`` of a JWK given as canonical JSON, cached by its content: cryptography
    checks an RSA private key at every import (about 90 ms), and every app of a process,
    every reload and the signing set of one load meet the same few keys. Keyed by content,
    a changed file can never be answered from the cache; joserfc keys are not modified
    after import, so sharing one is safe."""
    return import_key(json.loads(canonical_jwk))


def import_cached(jwk: dict[str, Any]) -> Key:
    """``import_key`` through the content-keyed cache."""
    return _parse(json.dumps(jwk, sort_keys=True, separators=(",", ":")))


def import_jwk(path: Path, jwk: Any) -> Key:
    """Validate one stored JWK: a supported alg on the right kind of key, strong enough,
    integer times."""
    if not isinstance(jwk, dict):
        raise SigningKeyError(f"{path}: every entry of 'keys' must be a JSON object")
    name = jwk.get("kid", "without kid")
    if jwk.get("alg") not in ALGORITHMS:
        raise SigningKeyError(f"{path}: key {name}: alg must be one of {ALG_NAMES}")
    for member in TIME_MEMBERS:
        value = jwk.get(member, 0)
        if value is not None and (not isinstance(value, int) or isinstance(value, bool)):
            raise SigningKeyError(f"{path}: key {name}: {member} must be an integer")
    try:
        key = import_cached(jwk)
    except (JoseError, ValueError, TypeError) as exc:
        raise SigningKeyError(f"{path}: key {name} is not a valid JWK ({exc})") from None
    key_cls, size = ALGORITHMS[jwk["alg"]]
    if not isinstance(key, key_cls) or key.get("crv", str(size)) != str(size):
        raise SigningKeyError(f"{path}: key {name} is not a {size} {key_cls.key_type} key")
    if isinstance(key, RSAKey) and key.public_key.key_size < int(size):
        raise SigningKeyError(f"{path}: key {name} is shorter than {size} bits")
    if key.get("use", "sig") != "sig":
        raise SigningKeyError(f"{path}: key {name} is not a signing key (use != 'sig')")
    key.ensure_kid()
    return key


def stat_key(st: os.stat_result) -> StatKey:
    """What tells one version of the file from another: mtime, inode and size."""
    return (st.st_mtime_ns, st.st_ino, st.st_size)


def read(path: Path) -> tuple[list[Any], StatKey] | None:
    """The file's JWK list and the stat of the very inode read; None when it is missing."""
    try:
        with open(path, "rb") as f:
            st = os.fstat(f.fileno())
            raw = f.read()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise SigningKeyError(f"{path}: cannot read ({exc.strerror})", "unreadable") from None
    if st.st_mode & 0o077:
        log.warning("%s: private keys readable by others; chmod 600 it", path)
    try:
        data = json.loads(raw)
    except ValueError as exc:
        raise SigningKeyError(f"{path}: not a JSON JWK set ({exc})") from None
    if not isinstance(data, dict) or not isinstance(data.get("keys"), list):
        raise SigningKeyError(f"{path}: not a JWK set (no 'keys' list)")
    return data["keys"], stat_key(st)


def missing(path: Path) -> SigningKeyError:
    """The error for a key file that is not there."""
    return SigningKeyError(
        f"{path}: no key file; create it with `authserver keys rotate`", "missing"
    )


def publish(path: Path, jwks: list[dict[str, Any]], replace: bool) -> StatKey:
    """Write a complete, fsynced temp file (mkstemp: mode 0600), then name it ``path``:
    ``os.replace``, or ``os.link``, which raises FileExistsError if a file is there."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(json.dumps({"keys": jwks}, indent=2).encode() + b"\n")
            f.flush()
            os.fsync(f.fileno())
            stat = stat_key(os.fstat(f.fileno()))
        (os.replace if replace else os.link)(tmp, path)
    finally:
        with suppress(FileNotFoundError):
            os.unlink(tmp)
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)  # make the new name itself durable
    finally:
        os.close(dir_fd)
    return stat


def create(path: Path, alg: str) -> tuple[list[Any], StatKey, bool]:
    """Publish a new one-key file (the key active at once: nobody can have cached a JWKS
    of a file that did not exist), or read the one another process published first."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    now = int(time.time())
    jwks = [generate_jwk(alg, now, now)]
    try:
        return jwks, publish(path, jwks, replace=False), True
    except FileExistsError:
        theirs = read(path)
    if theirs is None:
        raise SigningKeyError(f"{path}: removed while being created", "missing")
    return *theirs, False


@contextmanager
def locked(path: Path) -> Iterator[None]:
    """An flock on ``<path>.lock`` for a read-change-publish of the file: two `keys`
    commands at once never lose each other's change."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    lock_fd = os.open(f"{path}.lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    with open(lock_fd, "rb") as lock:  # closing it releases the flock
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield
