"""The kit's view of the authorization server: its metadata, its JWKS, its endpoints.

HTTP with the standard library (``urllib``): the kit needs nothing beyond Flask and JOSE.

- :func:`discover`: the RFC 8414 document at ``{issuer}/.well-known/oauth-authorization-
  server``, whose ``issuer`` must be the one configured (RFC 8414 §3.3).
- :class:`RemoteKeys`: the JWKS, kept for the response's ``Cache-Control: max-age``, and
  re-fetched at most once per ``min_refetch`` seconds when a token names a ``kid`` it
  lacks (a key published after our last fetch). It answers what
  ``security.access_tokens.decode`` asks of a key set, so a token is checked by the same
  code (pinned algorithms, ``typ``, ``iss``, ``aud``, ``exp``, claim shapes) as in the
  server itself.
"""

from __future__ import annotations

import base64
import json
import logging
import re
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from email.message import Message
from typing import Any

from joserfc.errors import JoseError
from joserfc.jwk import KeySet

logger = logging.getLogger("authserver.resource")

#: Asymmetric signatures only: never ``none``, never HMAC (a JWKS key is public).
SAFE_ALGORITHMS = frozenset(
    {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}
)
#: A JWKS without Cache-Control is kept this long (seconds); none is kept longer than a day.
DEFAULT_MAX_AGE, LONGEST_MAX_AGE = 300, 86_400
#: After a failed fetch, the old keys are kept and the fetch tried again after this long.
RETRY_AFTER = 5.0
MAX_BODY = 1 << 20


class RemoteError(Exception):
    """The server could not be asked, or answered something unusable."""


def basic_auth(client_id: str, client_secret: str) -> str:
    """An HTTP Basic ``Authorization`` value (RFC 6749 §2.3.1: form-encoded first)."""
    pair = f"{urllib.parse.quote_plus(client_id)}:{urllib.parse.quote_plus(client_secret)}"
    return "Basic " + base64.b64encode(pair.encode()).decode("ascii")


def get_json(
    url: str, timeout: float, headers: Mapping[str, str] | None = None
) -> tuple[Any, Message]:
    """GET ``url``: its JSON body and headers; RemoteError for anything but a 200 JSON."""
    request = urllib.request.Request(
        url, headers={"Accept": "application/json", **(headers or {})}
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return json.loads(response.read(MAX_BODY)), response.headers
    except (OSError, ValueError) as exc:  # URLError and HTTPError are OSErrors
        raise RemoteError(f"GET {url}: {_reason(exc)}") from None


def post_form(url: str, form: Mapping[str, str], timeout: float, authorization: str) -> Any:
    """POST a form to ``url`` with ``authorization``: its JSON body, or RemoteError."""
    data = urllib.parse.urlencode(form).encode()
    request = urllib.request.Request(
        url,
        data=data,
        headers={
            "Accept": "application/json",
            "Authorization": authorization,
            "Content-Type": "application/x-www-form-urlencoded",
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return json.loads(response.read(MAX_BODY))
    except (OSError, ValueError) as exc:
        raise RemoteError(f"POST {url}: {_reason(exc)}") from None


def _reason(exc: Exception) -> str:
    code = getattr(exc, "code", None)
    if code is not None:
        return f"HTTP {code}"
    reason = getattr(exc, "reason", None)
    return str(reason or exc) or type(exc).__name__


@dataclass(frozen=True)
class Endpoints:
    """What the kit uses of the server's RFC 8414 metadata."""

    issuer: str
    jwks_uri: str
    introspection_endpoint: str
    changes_endpoint: str
    algorithms: tuple[str, ...]


def discover(issuer: str, timeout: float) -> Endpoints:
    """The server's endpoints from its RFC 8414 metadata (RemoteError if unusable)."""
    issuer = issuer.rstrip("/")
    document, _ = get_json(f"{issuer}/.well-known/oauth-authorization-server", timeout)
    if not isinstance(document, dict) or document.get("issuer") != issuer:
        raise RemoteError(f"the metadata at {issuer} does not name {issuer} as its issuer")
    jwks_uri, introspection = document.get("jwks_uri"), document.get("introspection_endpoint")
    if not isinstance(jwks_uri, str) or not isinstance(introspection, str):
        raise RemoteError(f"the metadata at {issuer} lacks jwks_uri or introspection_endpoint")
    changes = document.get("changes_endpoint") or f"{issuer}/oauth/changes"
    offered = document.get("access_token_signing_alg_values_supported") or ["RS256"]
    algorithms = tuple(alg for alg in offered if alg in SAFE_ALGORITHMS)
    if not algorithms:
        raise RemoteError(f"the metadata at {issuer} offers no asymmetric signing algorithm")
    return Endpoints(issuer, jwks_uri, introspection, str(changes), algorithms)


def max_age(headers: Message) -> float:
    """Seconds the response may be kept, from its ``Cache-Control`` (``no-store``,
    ``no-cache``: 0; no max-age: DEFAULT_MAX_AGE; at most LONGEST_MAX_AGE)."""
    value = (headers.get("Cache-Control") or "").lower()
    if "no-store" in value or "no-cache" in value:
        return 0.0
    found = re.search(r"(?:^|[,\s])max-age\s*=\s*\"?(\d+)", value)
    seconds = int(found.group(1)) if found else DEFAULT_MAX_AGE
    return float(min(seconds, LONGEST_MAX_AGE))


class RemoteKeys:
    """The server's JWKS, as ``security.access_tokens.decode`` uses a key set."""

    def __init__(
        self, jwks_uri: str, algorithms: tuple[str, ...], min_refetch: float, timeout: float
    ) -> None:
        self.jwks_uri, self.algorithms = jwks_uri, list(algorithms)
        self.min_refetch, self.timeout = min_refetch, timeout
        self._keys: KeySet | None = None
        self._kids: frozenset[str] = frozenset()
        self._expires = float("-inf")  # monotonic: refresh after this
        self._fetched_at = float("-inf")  # monotonic: the last attempt
        self._lock = threading.Lock()
        self.problem: str | None = None
        #: kid -> (activates, retires) from the change feed; a kid without one: any iat.
        self.windows: dict[str, tuple[float, float | None]] = {}
        #: Bumped at every change of the keys or their windows (drop verified tokens).
        self.generation = 0

    # -- what decode() asks -----------------------------------------------------------
    def verification_keys(self) -> KeySet:
        """The current set: a new object after each change (caches of verified tokens
        compare it by identity)."""
        if self._keys is None:
            self.fetch()
        if self._keys is None:
            raise RemoteError(self.problem or "no JWKS yet")
        return self._keys

    def reload_if_changed(self) -> bool:
        """A token named a kid we may lack: fetch again, at most once per ``min_refetch``
        seconds; True when the set changed."""
        if time.monotonic() - self._fetched_at < self.min_refetch:
            return False
        return self.fetch()

    def accepts(self, kid: object, iat: int, skew: int) -> bool:
        """Whether key ``kid`` could have signed a token issued at ``iat``: it is in the
        JWKS and, when the feed gave its window, ``iat`` is from its activation (less the
        skew) to its retirement (SPEC §13: a retired key verifies only what it signed
        before it retired, as in the server)."""
        if not isinstance(kid, str) or kid not in self._kids:
            return False
        window = self.windows.get(kid)
        if window is None:
            return True
        activates, retires = window
        return activates - skew <= iat and (retires is None or iat <= retires)

    def follow(self, windows: Mapping[str, Mapping[str, Any]]) -> None:
        """The feed's word on the keys (kid -> activates/retires): keep the windows, and
        fetch the JWKS at once when the set of kids differs from ours (a rotation, or a
        key removed: its tokens are refused now, not when the cache expires)."""
        parsed: dict[str, tuple[float, float | None]] = {}
        for kid, window in windows.items():
            activates, retires = window.get("activates"), window.get("retires")
            if isinstance(activates, int | float):
                parsed[str(kid)] = (
                    float(activates),
                    float(retires) if isinstance(retires, int | float) else None,
                )
        if parsed != self.windows:
            self.windows = parsed
            self.generation += 1
        if frozenset(windows) != self._kids:
            self.fetch()

    # -- keeping it current -----------------------------------------------------------
    def refresh_if_expired(self) -> None:
        """Fetch again once ``max-age`` has passed; one thread does, the others go on with
        the keys they have."""
        if time.monotonic() >= self._expires and self._lock.acquire(blocking=False):
            try:
                if time.monotonic() >= self._expires:
                    self._fetch_locked()
            finally:
                self._lock.release()

    def fetch(self) -> bool:
        """Fetch the JWKS now; True when the set of keys changed."""
        with self._lock:
            return self._fetch_locked()

    def _fetch_locked(self) -> bool:
        self._fetched_at = time.monotonic()
        try:
            document, headers = get_json(self.jwks_uri, self.timeout)
            keys = [key for key in document["keys"] if key.get("use", "sig") == "sig"]
            key_set = KeySet.import_key_set({"keys": keys})
        except (RemoteError, JoseError, ValueError, TypeError, KeyError, AttributeError) as exc:
            self._expires = time.monotonic() + RETRY_AFTER
            if self.problem is None:
                logger.warning("JWKS fetch failed (%s): keeping the keys we have", exc)
            self.problem = str(exc)
            return False
        kids = frozenset(str(key.get("kid")) for key in keys if key.get("kid"))
        self._expires = self._fetched_at + max_age(headers)
        self.problem = None
        if self._keys is not None and kids == self._kids:
            return False
        self._keys, self._kids = key_set, kids
        self.generation += 1
        return True

    def describe(self) -> dict[str, object]:
        """For the health hook: the kids held and the last problem, if any."""
        return {"kids": sorted(self._kids), "problem": self.problem}
