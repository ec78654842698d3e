"""Signing keys: the private JWK set file, the public JWKS, and rotation.

Each key has ``kid`` (RFC 7638 thumbprint), ``alg``, ``use`` and our ``iat``/``retired_at``
(Unix seconds; RFC 7517 §4 allows extra members). The newest unretired key signs; retired
keys are kept public-only (a later copy of the file cannot forge old tokens) until the tokens
they signed expire. The file is only published whole (a temp file, then ``os.link`` or
``os.replace``), so no reader, in any worker or process, ever sees half of it.
"""

import fcntl
import functools
import json
import logging
import os
import tempfile
import threading
import time
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from joserfc.errors import JoseError
from joserfc.jwk import ECKey, Key, KeySet, OKPKey, RSAKey, import_key

log = logging.getLogger(__name__)

#: alg -> (key class, RSA bits or curve). "Ed25519" is RFC 9864's name for EdDSA on Ed25519;
#: joserfc warns (SecurityWarning) at every use of the now deprecated "EdDSA".
ALGORITHMS = {
    "RS256": (RSAKey, 2048),
    "ES256": (ECKey, "P-256"),
    "EdDSA": (OKPKey, "Ed25519"),
    "Ed25519": (OKPKey, "Ed25519"),
}
_ALG_NAMES = ", ".join(ALGORITHMS)
# An allow-list, not a deny-list: nothing private can reach the JWKS by accident.
_PUBLIC_MEMBERS = ("kty", "kid", "use", "alg", "crv", "n", "e", "x", "y")
StatKey = tuple[int, int, int]


class SigningKeyError(Exception):
    """The key file is unreadable or invalid, or an algorithm is unsupported."""


def _check_alg(alg: str) -> None:
    if alg not in ALGORITHMS:
        raise SigningKeyError(f"unsupported signing alg {alg!r}; use one of {_ALG_NAMES}")


def _generate_jwk(alg: str) -> dict[str, Any]:
    """A new private JWK for a checked ``alg``: kid (RFC 7638 thumbprint), use, ``iat``."""
    key_cls, size = ALGORITHMS[alg]
    params: dict[str, Any] = {"alg": alg, "use": "sig"}
    key = key_cls.generate_key(size, parameters=params)  # type: ignore[arg-type]
    return key.as_dict(private=True, kid=key.thumbprint(), iat=int(time.time()))


def _public(jwk: dict[str, Any]) -> dict[str, Any]:
    return {name: jwk[name] for name in _PUBLIC_MEMBERS if name in jwk}


@functools.lru_cache(maxsize=32)
def _parse(canonical_jwk: str) -> Key:
    """``import_key`` of a JWK given as canonical JSON, cached by its content: cryptography
    checks an RSA private key at every import (about 90 ms), and every app of a process,
    every reload and the signing set of one load meet the same few keys. Keyed by content,
    a changed file can never be answered from the cache; joserfc keys are not modified
    after import, so sharing one is safe."""
    return import_key(json.loads(canonical_jwk))


def _import_cached(jwk: dict[str, Any]) -> Key:
    return _parse(json.dumps(jwk, sort_keys=True, separators=(",", ":")))


def _import(path: Path, jwk: Any) -> Key:
    """Validate one stored JWK: a supported alg on the right kind of key, strong enough."""
    if not isinstance(jwk, dict):
        raise SigningKeyError(f"{path}: every entry of 'keys' must be a JSON object")
    name = jwk.get("kid", "without kid")
    if jwk.get("alg") not in ALGORITHMS:
        raise SigningKeyError(f"{path}: key {name}: alg must be one of {_ALG_NAMES}")
    if not all(isinstance(jwk.get(m, 0), int) for m in ("iat", "retired_at")):
        raise SigningKeyError(f"{path}: key {name}: iat and retired_at must be integers")
    try:
        key = _import_cached(jwk)
    except (JoseError, ValueError, TypeError) as exc:
        raise SigningKeyError(f"{path}: key {name} is not a valid JWK ({exc})") from None
    key_cls, size = ALGORITHMS[jwk["alg"]]
    if not isinstance(key, key_cls) or key.get("crv", size) != size:
        raise SigningKeyError(f"{path}: key {name} is not a {size} {key_cls.key_type} key")
    if isinstance(key, RSAKey) and key.public_key.key_size < int(size):
        raise SigningKeyError(f"{path}: key {name} is shorter than {size} bits")
    if key.get("use", "sig") != "sig":
        raise SigningKeyError(f"{path}: key {name} is not a signing key (use != 'sig')")
    key.ensure_kid()
    return key


def _when(key: Key, member: str) -> int:
    return int(key.get(member) or 0)  # type: ignore[arg-type]


@dataclass(frozen=True)
class _State:
    """One immutable snapshot of the file, swapped whole on reload (thread-safe reads)."""

    signing_set: KeySet  # the private signing key alone
    public_keys: tuple[dict[str, Any], ...]  # signing key first, then retired, newest first
    verification: KeySet
    stat: StatKey

    @classmethod
    def build(cls, path: Path, jwks: list[Any], stat: StatKey, retain: int | None) -> "_State":
        keys = [_import(path, jwk) for jwk in jwks]
        live = [k for k in keys if k.get("retired_at") is None]
        if not live:
            raise SigningKeyError(f"{path}: no usable signing key; run `authserver keys rotate`")
        signing = max(live, key=lambda k: _when(k, "iat"))
        if not signing.is_private:
            raise SigningKeyError(f"{path}: signing key {signing.kid} has no private part")
        cutoff = 0 if retain is None else time.time() - retain
        retired = [k for k in keys if k.get("retired_at") is not None]
        retired = [k for k in retired if _when(k, "retired_at") >= cutoff]
        retired.sort(key=lambda k: (_when(k, "retired_at"), _when(k, "iat")), reverse=True)
        public = tuple(_public({"use": "sig", **k.as_dict()}) for k in [signing, *retired])
        private = {n: v for n, v in signing.as_dict(private=True).items() if n != "iat"}
        verification = KeySet([_import_cached(jwk) for jwk in public])
        return cls(KeySet([_import_cached(private)]), public, verification, stat)


def _stat_key(st: os.stat_result) -> StatKey:
    return (st.st_mtime_ns, st.st_ino, st.st_size)


def _read(path: Path) -> tuple[list[Any], StatKey] | None:
    """The file's JWK list and the stat of the very inode read; None when it is missing."""
    try:
        with open(path, "rb") as f:
            st = os.fstat(f.fileno())
            raw = f.read()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise SigningKeyError(f"{path}: cannot read ({exc.strerror})") from None
    if st.st_mode & 0o077:
        log.warning("%s: private keys readable by others; chmod 600 it", path)
    try:
        data = json.loads(raw)
    except ValueError as exc:
        raise SigningKeyError(f"{path}: not a JSON JWK set ({exc})") from None
    if not isinstance(data, dict) or not isinstance(data.get("keys"), list):
        raise SigningKeyError(f"{path}: not a JWK set (no 'keys' list)")
    return data["keys"], _stat_key(st)


def _publish(path: Path, jwks: list[dict[str, Any]], replace: bool) -> StatKey:
    """Write a complete, fsynced temp file (mkstemp: mode 0600), then name it ``path``:
    ``os.replace``, or ``os.link``, which raises FileExistsError if a file is there."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(json.dumps({"keys": jwks}, indent=2).encode() + b"\n")
            f.flush()
            os.fsync(f.fileno())
            stat = _stat_key(os.fstat(f.fileno()))
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


def _create(path: Path, alg: str) -> tuple[list[Any], StatKey, bool]:
    """Publish a new one-key file, or read the one another process published first."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    jwks = [_generate_jwk(alg)]
    try:
        return jwks, _publish(path, jwks, replace=False), True
    except FileExistsError:
        theirs = _read(path)
    if theirs is None:
        raise SigningKeyError(f"{path}: removed while being created")
    return *theirs, False


def _retire(jwks: list[Any], now: int, retain_seconds: int) -> list[dict[str, Any]]:
    """Retire signing keys now (public part only); drop keys retired too long ago."""
    kept = []
    for jwk in jwks:
        retired_at = jwk.get("retired_at")
        if retired_at is None:
            kept.append({**_public(jwk), "iat": jwk.get("iat", now), "retired_at": now})
        elif now - retired_at <= retain_seconds:
            kept.append(jwk)
    return kept


class SigningKeys:
    """The keys the app signs with and publishes; reloads when another process rotates."""

    def __init__(self, path: Path, jwks: list[Any], stat: StatKey, retain: int | None) -> None:
        self.path = path
        self.retain_seconds = retain
        self._state = _State.build(path, jwks, stat, retain)
        self._seen = stat
        self._lock = threading.Lock()

    @classmethod
    def load_or_create(
        cls, path: str | os.PathLike[str], alg: str = "RS256", retain_seconds: int | None = None
    ) -> "SigningKeys":
        """Load the key file, creating it with one new ``alg`` key when missing.

        An existing file keeps signing with its own key, whatever ``alg`` says (a warning is
        logged), until ``rotate`` adds one. Retired keys older than ``retain_seconds`` (if
        given) are left out of the JWKS."""
        path = Path(path)
        _check_alg(alg)
        found = _read(path)
        jwks, stat = found if found is not None else _create(path, alg)[:2]
        keys = cls(path, jwks, stat, retain_seconds)
        if keys.alg != alg:
            log.warning("%s: signing with %s, not %s, until `keys rotate`", path, keys.alg, alg)
        return keys

    @classmethod
    def rotate(
        cls, path: str | os.PathLike[str], alg: str = "RS256", retain_seconds: int = 900
    ) -> "SigningKeys":
        """Add a new ``alg`` signing key; the previous one is retired now and kept public.

        ``retain_seconds`` must cover the access-token TTL plus leeway: keys retired longer
        ago are dropped. An flock on ``<path>.lock`` keeps two rotations from losing a key.
        """
        path = Path(path)
        _check_alg(alg)
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        lock_fd = os.open(f"{path}.lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        with open(lock_fd, "rb") as lock:  # closing it releases the flock
            fcntl.flock(lock, fcntl.LOCK_EX)
            found = _read(path)
            if found is None:
                jwks, stat, created = _create(path, alg)
                if created:  # the new file's one key is the key to add
                    return cls(path, jwks, stat, retain_seconds)
            else:
                jwks = found[0]
            for jwk in jwks:  # never overwrite a file we cannot understand
                _import(path, jwk)
            jwks = [*_retire(jwks, int(time.time()), retain_seconds), _generate_jwk(alg)]
            stat = _publish(path, jwks, replace=True)
        return cls(path, jwks, stat, retain_seconds)

    @property
    def signing_kid(self) -> str:
        """The kid of the key new tokens are signed with."""
        return str(self._state.public_keys[0]["kid"])

    @property
    def alg(self) -> str:
        """The algorithm of the signing key."""
        return str(self._state.public_keys[0]["alg"])

    @property
    def algorithms(self) -> list[str]:
        """Algorithms of the published keys: the allow-list to decode tokens with."""
        return sorted({jwk["alg"] for jwk in self._state.public_keys})

    def private_jwks(self) -> dict[str, Any]:
        """``{"keys": [the signing key, private]}`` as JSON-ready dicts; never publish it."""
        return self._state.signing_set.as_dict(private=True)  # type: ignore[return-value]

    def signing_key_set(self) -> KeySet:
        """The signing key as a joserfc KeySet: what Authlib's ``get_jwks()`` should return
        (a dict there is deprecated in Authlib 1.9); joserfc puts its ``kid`` in the header."""
        return self._state.signing_set

    def public_jwks(self) -> dict[str, Any]:
        """The JWKS to publish: public members only, signing key first, then retired."""
        return {"keys": [dict(jwk) for jwk in self._state.public_keys]}

    def verification_keys(self) -> KeySet:
        """Public keys as a joserfc KeySet (built once per load) to verify tokens with."""
        return self._state.verification

    def reload_if_changed(self) -> bool:
        """Reload in place if the file changed (``keys rotate`` elsewhere); one ``os.stat``
        if not. A broken or missing file is logged once and the loaded keys stay in use."""
        try:
            current = _stat_key(os.stat(self.path))
        except OSError:
            return False
        with self._lock:
            if current == self._seen:
                return False
            self._seen = current  # a broken file is reported once, not at every call
            try:
                found = _read(self.path)
                if found is None:
                    return False
                self._state = _State.build(self.path, *found, self.retain_seconds)
            except SigningKeyError as exc:
                log.error("%s; keeping the keys loaded before", exc)
                return False
            self._seen = found[1]
        return True
