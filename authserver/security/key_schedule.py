"""When each signing key signs, verifies and is published (SPEC §13), and the edits that
``keys rotate`` and ``keys remove`` make to the file's key list.

A key is **next** before its ``activates_at`` (published, signs nothing yet), **active**
from then until it retires, and **retired** after: it verifies only tokens whose ``iat``
is before its retirement, and it leaves the JWKS and the trusted set once ``retain``
seconds (ACCESS_TOKEN_TTL plus the clock skew) have passed since. A key retires at its
``retired_at`` or when the next key in activation order activates, whichever is first:
the file states both, but a file edited by hand, or written before ``activates_at``
existed, still gives every instant exactly one signing key.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from joserfc.jwk import KeySet

from authserver.security import keyfile
from authserver.security.keyfile import SigningKeyError

NEXT, ACTIVE, RETIRED = "next", "active", "retired"


@dataclass(frozen=True)
class Timing:
    """One key's life: created, activates, retires (None: not planned)."""

    kid: str
    alg: str
    created: int
    activates: int
    retires: int | None
    private: bool

    def state(self, now: float) -> str:
        """next, active or retired at ``now``."""
        if now < self.activates:
            return NEXT
        return RETIRED if self.retires is not None and now >= self.retires else ACTIVE

    def leaves_at(self, retain: int | None) -> float:
        """When the key leaves the JWKS and the trusted set (inf: not planned)."""
        if self.retires is None or retain is None:
            return math.inf
        return self.retires + retain

    def signed_while_active(self, iat: float, leeway: int) -> bool:
        """Could this key have signed a token issued at ``iat``? ``leeway`` covers only the
        start (the generator reads the clock for ``iat`` just before it picks the key).
        Times are whole seconds, truncated: a token of the very second of the retirement
        (``keys rotate --now``) may have been signed before it, one second later may not."""
        return self.activates - leeway <= iat and (self.retires is None or iat <= self.retires)


def activates_at(jwk: dict[str, Any]) -> int:
    """A key's activation; a file from before ``activates_at``: its creation."""
    return int(jwk.get("activates_at", jwk.get("iat")) or 0)


def _ever_active(jwk: dict[str, Any]) -> bool:
    retired = jwk.get("retired_at")
    return retired is None or retired > activates_at(jwk)


def timings(jwks: list[dict[str, Any]]) -> list[Timing]:
    """Every key's timing, in activation order (file order between equals)."""
    order = sorted(jwks, key=activates_at)
    starts = [activates_at(j) for j in order if _ever_active(j)]
    found = []
    for jwk in order:
        start = activates_at(jwk)
        successor = next((s for s in starts if s > start), None)
        ends = [t for t in (jwk.get("retired_at"), successor) if t is not None]
        found.append(
            Timing(
                kid=str(jwk["kid"]),
                alg=str(jwk["alg"]),
                created=int(jwk.get("iat") or 0),
                activates=start,
                retires=min(ends) if ends else None,
                private="d" in jwk,
            )
        )
    return found


@dataclass(frozen=True)
class View:
    """The keys as they stand at one instant, and the next instant that changes them."""

    signing_set: KeySet  # the active private key alone
    signing: Timing
    public_keys: tuple[dict[str, Any], ...]  # active, then next, then retired newest first
    verification: KeySet
    windows: dict[str, Timing]  # trusted kid -> timing
    changes_at: float

    @classmethod
    def at(cls, path: Path, jwks: list[Any], now: float, retain: int | None) -> View:
        """Validate every key of ``jwks`` and pick the signing, published and trusted ones."""
        by_kid = {}
        for jwk in jwks:
            key = keyfile.import_jwk(path, jwk)
            by_kid[key.kid] = {**jwk, "kid": key.kid}
        found = [t for t in timings(list(by_kid.values())) if now < t.leaves_at(retain)]
        active = [t for t in found if t.state(now) == ACTIVE]
        if not active:
            raise SigningKeyError(f"{path}: no usable signing key; run `authserver keys rotate`")
        signing = active[-1]
        for timing in found:
            if timing.state(now) != RETIRED and not timing.private:
                raise SigningKeyError(f"{path}: key {timing.kid} signs but has no private part")
        pending = [t for t in found if t.state(now) == NEXT]
        retired = [t for t in found if t is not signing and t not in pending]
        retired.sort(key=lambda t: (t.retires or 0, t.created), reverse=True)
        published = [signing, *pending, *retired]
        public = tuple({"use": "sig", **keyfile.public(by_kid[t.kid])} for t in published)
        private = _without_times(by_kid[signing.kid])
        times = [t for f in found for t in (f.activates, f.retires, f.leaves_at(retain)) if t]
        return cls(
            signing_set=KeySet([keyfile.import_cached(private)]),
            signing=signing,
            public_keys=public,
            verification=KeySet([keyfile.import_cached(jwk) for jwk in public]),
            windows={t.kid: t for t in published},
            changes_at=min((t for t in times if t > now), default=math.inf),
        )


def _without_times(jwk: dict[str, Any]) -> dict[str, Any]:
    return {name: value for name, value in jwk.items() if name not in keyfile.TIME_MEMBERS}


# -- the edits of `keys rotate` and `keys remove` -------------------------------------------


def tidied(jwks: list[dict[str, Any]], now: int, retain: int) -> list[dict[str, Any]]:
    """The file's keys with every planned retirement written out, keys past ``retain``
    left out and the private part of every retired key removed (a later copy of the file
    cannot sign with them)."""
    by_kid = {str(jwk["kid"]): jwk for jwk in jwks}
    kept = []
    for timing in timings(jwks):
        if now >= timing.leaves_at(retain):
            continue
        jwk = {**by_kid[timing.kid], "activates_at": timing.activates}
        jwk.pop("retired_at", None)
        if timing.retires is not None:
            jwk["retired_at"] = timing.retires
        if timing.state(now) == RETIRED:
            jwk = keyfile.public_with_times(jwk)
        kept.append(jwk)
    return kept


def rotated(
    jwks: list[dict[str, Any]], alg: str, now: int, retain: int, publish_seconds: int
) -> list[dict[str, Any]]:
    """``jwks`` plus a new ``alg`` key that signs ``publish_seconds`` from ``now``; the key
    that would sign then retires at that instant. With 0 (``--now``, a compromise) the
    signing key retires now and keys still waiting to sign are dropped: they were in the
    same file."""
    kept = tidied(jwks, now, retain)
    activates = now + publish_seconds
    if publish_seconds == 0:
        kept = [jwk for jwk in kept if activates_at(jwk) <= now]
    for index, jwk in enumerate(kept):
        if jwk.get("retired_at") is None or jwk["retired_at"] > activates:
            kept[index] = {**jwk, "retired_at": activates}
    kept = tidied(kept, now, retain)
    return [*kept, keyfile.generate_jwk(alg, now, activates)]


def removed(jwks: list[dict[str, Any]], kid: str, now: int, retain: int) -> list[dict[str, Any]]:
    """``jwks`` without key ``kid``. The active key cannot go (nothing would sign):
    rotate with ``--now`` first."""
    states = {t.kid: t.state(now) for t in timings(jwks)}
    if kid not in states:
        raise SigningKeyError(f"no key {kid} in the key file", "unknown")
    if states[kid] == ACTIVE:
        raise SigningKeyError(
            f"key {kid} signs now; run `authserver keys rotate --now`, then remove it"
        )
    rest = [jwk for jwk in jwks if jwk["kid"] != kid]
    if states[kid] == NEXT:  # the key before it no longer retires when it would have begun
        rest = _replanned(rest, now)
    return tidied(rest, now, retain)


def _replanned(jwks: list[dict[str, Any]], now: int) -> list[dict[str, Any]]:
    """Each key not yet retired retires when the next one that is left activates."""
    starts = sorted(activates_at(jwk) for jwk in jwks if _ever_active(jwk))
    planned = []
    for jwk in jwks:
        retired = jwk.get("retired_at")
        if retired is None or retired > now:
            successor = next((s for s in starts if s > activates_at(jwk)), None)
            jwk = {**jwk, "retired_at": successor}
        planned.append(jwk)
    return planned
