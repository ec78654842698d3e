"""Signing keys as a process uses them: the key that signs, the JWKS, the trusted set.

The file (:mod:`keyfile`) says when each key signs and retires; :mod:`key_schedule` turns
that into what holds at one instant. A ``SigningKeys`` object follows both the file (one
``os.stat`` per use: another process ran ``keys rotate``) and the clock (a key published
ahead begins to sign, a retired one leaves after ``retain_seconds``), on every process,
with no restart and no rotation needed.

At run time a missing, unreadable or corrupt file never takes a process down and never
replaces the keys: the last good set stays in use, ``problem`` says why (for /readyz) and
one log line per change says what is wrong. The last good set of each path is also kept
per process, so a gunicorn worker forked after the file broke starts with the set its
master last read (config/gunicorn.conf.py re-reads the file before each fork).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from joserfc.jwk import KeySet

from authserver.security import key_schedule, keyfile
from authserver.security.key_schedule import Timing, View
from authserver.security.keyfile import ALGORITHMS, SigningKeyError, StatKey

__all__ = ["ALGORITHMS", "SigningKeyError", "SigningKeys", "Timing", "refresh_remembered"]

log = logging.getLogger(__name__)
#: Seconds before a view that failed to rebuild at a time boundary is tried again.
_RETRY_SECONDS = 5
#: path -> the last (jwks, stat) this process loaded from it; inherited by forked workers.
_LAST_GOOD: dict[str, tuple[list[Any], StatKey]] = {}
_LAST_GOOD_LOCK = threading.Lock()
#: Key-file writes this process made (rotate, remove): a reader that looks at the file only
#: now and then (:class:`~authserver.security.access_tokens.TokenVerifier`) looks at once
#: after one.
_WRITES = [0]


def writes() -> int:
    """How many key-file writes this process has made."""
    return _WRITES[0]


def _remember(path: Path, jwks: list[Any], stat: StatKey) -> None:
    with _LAST_GOOD_LOCK:
        _LAST_GOOD[str(path.absolute())] = (jwks, stat)


def _last_good(path: Path) -> tuple[list[Any], StatKey] | None:
    return _LAST_GOOD.get(str(path.absolute()))


def refresh_remembered() -> None:
    """Re-read every key file this process has loaded, keeping each last good set: the
    gunicorn master calls it before forking a worker, which then starts from it."""
    for name, (_, seen) in list(_LAST_GOOD.items()):
        path = Path(name)
        try:
            if keyfile.stat_key(os.stat(path)) == seen:
                continue
            found = keyfile.read(path)
            if found is None:
                raise keyfile.missing(path)
            View.at(path, found[0], time.time(), None)
        except (OSError, SigningKeyError) as exc:
            log.warning("%s; new workers start with the keys read before", exc)
            continue
        _remember(path, *found)


class SigningKeys:
    """The keys the app signs with, publishes and trusts; follows the file and the clock."""

    def __init__(
        self, path: Path, jwks: list[Any], stat: StatKey | None, retain: int | None
    ) -> None:
        self.path = path
        self.retain_seconds = retain
        self._jwks = jwks
        self._view = View.at(path, jwks, time.time(), retain)
        self._seen = stat
        self._problem: SigningKeyError | None = None
        self._lock = threading.Lock()
        if stat is not None:
            _remember(path, jwks, stat)

    @classmethod
    def load_or_create(
        cls,
        path: str | os.PathLike[str],
        alg: str = "RS256",
        retain_seconds: int | None = None,
        create: bool = True,
    ) -> SigningKeys:
        """Load the key file; a missing one is created with one new ``alg`` key only with
        ``create`` (development), and only if this process never loaded it before.

        If this process (or the master it was forked from) loaded the file before and it is
        now missing or broken, that last good set is used and ``problem`` says so. An
        existing file keeps signing with its own key, whatever ``alg`` says (a warning is
        logged), until ``rotate``. Retired keys leave ``retain_seconds`` (if given) after
        their retirement."""
        path = Path(path)
        keyfile.check_alg(alg)
        last = _last_good(path)
        try:
            found = keyfile.read(path)
            if found is None and (last is not None or not create):
                raise keyfile.missing(path)
            jwks, stat = found if found is not None else keyfile.create(path, alg)[:2]
            keys = cls(path, jwks, stat, retain_seconds)
        except SigningKeyError as exc:
            if last is None:
                raise
            keys = cls(path, *last, retain_seconds)
            keys._report(exc)
        if keys.alg != alg:
            log.warning("%s: signing with %s, not %s, until `keys rotate`", path, keys.alg, alg)
        return keys

    @classmethod
    def rotate(
        cls,
        path: str | os.PathLike[str],
        alg: str = "RS256",
        retain_seconds: int = 900,
        publish_seconds: int = 0,
    ) -> SigningKeys:
        """Add a new ``alg`` key that signs ``publish_seconds`` from now (0: at once, and
        keys waiting to sign are dropped: the case of a compromise).

        ``retain_seconds`` must cover the access-token TTL plus the clock skew: keys retired
        longer ago leave the file. A missing file is created with one key, active at once.
        An flock on ``<path>.lock`` keeps two rotations from losing a key."""
        path = Path(path)
        keyfile.check_alg(alg)
        with keyfile.locked(path):
            found = keyfile.read(path)
            if found is None:
                jwks, stat, created = keyfile.create(path, alg)
                if created:  # the new file's one key is the key to add
                    return cls(path, jwks, stat, retain_seconds)
                found = jwks, stat
            jwks = _checked(path, found)
            now = int(time.time())
            jwks = key_schedule.rotated(jwks, alg, now, retain_seconds, publish_seconds)
            stat = keyfile.publish(path, jwks, replace=True)
            _WRITES[0] += 1
        return cls(path, jwks, stat, retain_seconds)

    @classmethod
    def remove(cls, path: str | os.PathLike[str], kid: str, retain_seconds: int) -> SigningKeys:
        """Drop key ``kid`` from the file now: every process refuses its tokens at its next
        use. The active key cannot be removed (rotate with ``--now`` first)."""
        path = Path(path)
        with keyfile.locked(path):
            jwks = _checked(path, keyfile.read(path))
            jwks = key_schedule.removed(jwks, kid, int(time.time()), retain_seconds)
            stat = keyfile.publish(path, jwks, replace=True)
            _WRITES[0] += 1
        return cls(path, jwks, stat, retain_seconds)

    @staticmethod
    def timings(path: str | os.PathLike[str]) -> list[Timing]:
        """Every key of the file with its times, in activation order (``keys list``)."""
        path = Path(path)
        return key_schedule.timings(_checked(path, keyfile.read(path)))

    # -- what the app uses ------------------------------------------------------------------

    @property
    def signing_kid(self) -> str:
        """The kid of the key new tokens are signed with."""
        return self._view.signing.kid

    @property
    def alg(self) -> str:
        """The algorithm of the signing key."""
        return self._view.signing.alg

    @property
    def algorithms(self) -> list[str]:
        """Algorithms of the published keys: the allow-list to decode tokens with."""
        return sorted({jwk["alg"] for jwk in self._view.public_keys})

    @property
    def problem(self) -> str | None:
        """Why the file is not in use ("key file missing", ...), or None; for /readyz."""
        return None if self._problem is None else f"key file {self._problem.kind}"

    def private_jwks(self) -> dict[str, Any]:
        """``{"keys": [the signing key, private]}`` as JSON-ready dicts; never publish it."""
        # joserfc types it as its KeySetSerialization TypedDict: the same JSON-ready dict.
        return self._view.signing_set.as_dict(private=True)  # type: ignore[return-value]

    def signing_key_set(self) -> KeySet:
        """The active key as a joserfc KeySet: what Authlib's ``get_jwks()`` should return
        (a dict there is deprecated in Authlib 1.9); joserfc puts its ``kid`` in the header."""
        return self._view.signing_set

    def public_jwks(self) -> dict[str, Any]:
        """The JWKS to publish: the active key, keys published ahead, then retired ones."""
        return {"keys": [dict(jwk) for jwk in self._view.public_keys]}

    def verification_keys(self) -> KeySet:
        """The trusted public keys as a joserfc KeySet (built once per view)."""
        return self._view.verification

    def accepts(self, kid: Any, iat: Any, leeway: int) -> bool:
        """Is key ``kid`` trusted, and could it have signed a token issued at ``iat``? A
        retired key only for an ``iat`` before its retirement (SPEC §13)."""
        timing = self._view.windows.get(kid) if isinstance(kid, str) else None
        valid_iat = isinstance(iat, int | float) and not isinstance(iat, bool)
        return timing is not None and valid_iat and timing.signed_while_active(iat, leeway)

    def reload_if_changed(self) -> bool:
        """Follow the file (one ``os.stat``) and the clock; True if the keys changed. A
        missing or broken file is logged once and the keys in use stay."""
        try:
            current: StatKey | None = keyfile.stat_key(os.stat(self.path))
        except OSError:
            current = None
        if current == self._seen and time.time() < self._view.changes_at:
            return False
        with self._lock:
            changed = False
            if current != self._seen:
                self._seen = current  # a broken file is reported once, not at every call
                changed = self._load()
            if time.time() >= self._view.changes_at:
                changed = self._advance() or changed
        return changed

    def _load(self) -> bool:
        try:
            found = keyfile.read(self.path)
            if found is None:
                raise keyfile.missing(self.path)
            view = View.at(self.path, found[0], time.time(), self.retain_seconds)
        except SigningKeyError as exc:
            self._report(exc)
            return False
        self._jwks, self._view, self._seen = found[0], view, found[1]
        _remember(self.path, *found)
        self._report(None)
        return True

    def _advance(self) -> bool:
        """Rebuild the view for the current time: a key began to sign or left."""
        try:
            self._view = View.at(self.path, self._jwks, time.time(), self.retain_seconds)
        except SigningKeyError as exc:  # e.g. the last key retired with no successor
            self._report(exc)
            self._view = replace(self._view, changes_at=time.time() + _RETRY_SECONDS)
            return False
        return True

    def _report(self, problem: SigningKeyError | None) -> None:
        """Log the file's problem when it changes (never per request)."""
        before = None if self._problem is None else str(self._problem)
        if (None if problem is None else str(problem)) != before:
            if problem is not None:
                log.error("%s; keeping the keys loaded before", problem)
            else:
                log.warning("%s: usable again; keys reloaded", self.path)
        self._problem = problem


def _checked(path: Path, found: tuple[list[Any], StatKey] | None) -> list[Any]:
    """The file's keys, each validated (never rewrite a file we cannot understand)."""
    if found is None:
        raise keyfile.missing(path)
    jwks = []
    for jwk in found[0]:
        key = keyfile.import_jwk(path, jwk)
        jwks.append({**jwk, "kid": key.kid})
    return jwks
