"""DPoP proofs (RFC 9449 §4.3, §7): what a resource server or token endpoint checks.

Pure: joserfc, the standard library and Flask's request only, so a service using the
resource kit alone (SPEC §18) verifies proofs with the same code as this server. Where a
proof's ``jti`` is remembered is injected (a :class:`ReplayCache`): this server shares it
across instances (Redis or the database, :mod:`authserver.services.dpop_replay`); a
single-process service may use :class:`MemoryReplayCache`.

The proof's ``alg`` is never trusted on its own: it must be one of :data:`ALGORITHMS`
(asymmetric signatures only; ``none`` and HMAC are refused, RFC 9449 §4.3 step 5), and the
key is the header's public ``jwk`` (a private one is refused, step 7).
"""

from __future__ import annotations

import base64
import hashlib
import re
import threading
import time
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import urlsplit

from flask import Flask, Request
from joserfc import jws, jwt
from joserfc.errors import JoseError
from joserfc.jwk import JWKRegistry
from joserfc.jws import JWSRegistry

#: The JWS algorithms a proof may use (``dpop_signing_alg_values_supported``): asymmetric
#: signatures joserfc verifies. No ``none``, no HMAC: a shared secret proves nothing. Ed25519
#: by its RFC 9864 name only: joserfc warns on every use of the deprecated ``EdDSA``.
ALGORITHMS = (
    "ES256",
    "ES384",
    "ES512",
    "RS256",
    "RS384",
    "RS512",
    "PS256",
    "PS384",
    "PS512",
    "Ed25519",
)
PROOF_TYPE = "dpop+jwt"
#: How old a proof may be (its ``iat``), and how far ahead of our clock it may claim to be.
#: A proof's ``jti`` is remembered for as long as the proof could be accepted.
MAX_AGE = 60
CLOCK_LEEWAY = 10
MAX_PROOF_LENGTH = 8192
MAX_JTI_LENGTH = 256
#: Key types with a public form; a private member of any of them refuses the key.
KEY_TYPES = frozenset({"EC", "RSA", "OKP"})
PRIVATE_MEMBERS = frozenset({"d", "p", "q", "dp", "dq", "qi", "oth", "k"})
DEFAULT_PORTS = {"http": 80, "https": 443}
UNRESERVED = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")


class DPoPError(Exception):
    """A refused DPoP request: an RFC 9449 error code, its description and HTTP status.

    ``invalid_dpop_proof`` for a bad proof, ``invalid_token`` for a token whose key binding
    does not match, ``use_dpop_nonce`` when the server wants a (new) nonce.
    """

    def __init__(self, error: str, description: str, status: int = 401) -> None:
        super().__init__(description)
        self.error, self.description, self.status = error, description, status

    def challenge(self, algorithms: Collection[str] = ALGORITHMS) -> str:
        """The ``WWW-Authenticate: DPoP`` challenge for this refusal (RFC 9449 §7.1)."""
        return challenge(self.error, self.description, algorithms=algorithms)


def invalid_proof(description: str) -> DPoPError:
    return DPoPError("invalid_dpop_proof", description)


class ReplayCache(Protocol):
    """Remembers proof ``jti``s; one implementation per place the state can live."""

    def first_use(self, key: str, until: float) -> bool:
        """True the first time ``key`` is seen; it is kept at least until ``until``
        (a Unix time). Atomic: of two concurrent calls with one key, one gets True."""
        ...


class MemoryReplayCache:
    """A per-process cache: enough for one process, never for several (use a shared one)."""

    def __init__(self) -> None:
        self._seen: dict[str, float] = {}
        self._lock = threading.Lock()
        self._next_purge = 0.0

    def first_use(self, key: str, until: float) -> bool:
        now = time.time()
        with self._lock:
            if now >= self._next_purge:
                self._seen = {k: t for k, t in self._seen.items() if t > now}
                self._next_purge = now + MAX_AGE
            if self._seen.get(key, 0.0) > now:
                return False
            self._seen[key] = until
            return True


@dataclass(frozen=True)
class Proof:
    """A verified proof: the thumbprint of its key (RFC 7638) and its claims."""

    jkt: str
    jti: str
    iat: float
    claims: Mapping[str, Any]


def b64_sha256(text: str) -> str:
    """base64url(SHA-256(text)) without padding: ``ath`` of an access token (RFC 9449 §4.2)."""
    digest = hashlib.sha256(text.encode("ascii", "replace")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def thumbprint(jwk: Mapping[str, Any]) -> str:
    """The RFC 7638 SHA-256 thumbprint of a public JWK (what ``cnf.jkt`` holds)."""
    return JWKRegistry.import_key(dict(jwk)).thumbprint()


def _fix_percent(match: re.Match[str]) -> str:
    char = chr(int(match.group(1), 16))
    return char if char in UNRESERVED else match.group(0).upper()


def normalize_uri(uri: str) -> str | None:
    """``uri`` without query and fragment, normalized as RFC 9449 §4.3 step 9 asks (RFC
    3986 §6.2.2-6.2.3: case of scheme and host, default port, percent-encoding, empty
    path); None when it is not an absolute http(s) URI."""
    try:
        parts = urlsplit(uri)
        port = parts.port
    except ValueError:
        return None
    scheme, host = parts.scheme.lower(), (parts.hostname or "")
    if scheme not in DEFAULT_PORTS or not host:
        return None
    if ":" in host:
        host = f"[{host}]"  # an IPv6 literal
    netloc = host if port in (None, DEFAULT_PORTS[scheme]) else f"{host}:{port}"
    path = re.sub(r"%([0-9A-Fa-f]{2})", _fix_percent, parts.path) or "/"
    return f"{scheme}://{netloc}{path}"


def challenge(
    error: str | None = None,
    description: str | None = None,
    algorithms: Collection[str] = ALGORITHMS,
    **params: str,
) -> str:
    """A ``DPoP`` challenge: ``error``, ``error_description``, other ``params`` (e.g.
    ``scope``) and the accepted ``algs`` (RFC 9449 §7.1)."""
    items = [("error", error), ("error_description", description), *params.items()]
    items.append(("algs", " ".join(algorithms)))
    return "DPoP " + ", ".join(f'{name}="{value}"' for name, value in items if value)


def _public_key(header: Mapping[str, Any]):
    """The header's ``jwk`` as a joserfc key, if it is a public asymmetric key."""
    jwk = header.get("jwk")
    if not isinstance(jwk, dict) or jwk.get("kty") not in KEY_TYPES:
        raise invalid_proof("the proof must carry a public asymmetric jwk")
    if PRIVATE_MEMBERS & jwk.keys():
        raise invalid_proof("the proof's jwk must not hold a private key")
    try:
        return JWKRegistry.import_key(jwk)
    except (JoseError, ValueError, TypeError, KeyError):
        raise invalid_proof("the proof's jwk is not a valid key") from None


#: joserfc's registry, with room for the header of a proof: its jwk, an RSA key of up to
#: 4096 bits, is longer than joserfc's default 512-byte header limit.
_REGISTRY = JWSRegistry(algorithms=ALGORITHMS)
_REGISTRY.max_header_length = 2048

#: Checked proof headers (their base64url segment) -> (alg, key, thumbprint). A client
#: signs every proof with one key, so its header repeats: the key is imported and its
#: thumbprint computed once per process, not per request. Bounded: cleared when full.
_HEADERS: dict[str, tuple[str, Any, str]] = {}
MAX_HEADERS = 1024


def _checked_header(segment: str, algorithms: Collection[str]) -> tuple[str, Any, str]:
    """The alg, key and RFC 7638 thumbprint of a proof header of an accepted typ and alg
    that carries a public key (RFC 9449 §4.3 steps 4, 5 and 7)."""
    known = _HEADERS.get(segment)
    if known is not None and known[0] in algorithms:
        return known
    try:
        compact = f"{segment}.e30.".encode("ascii")
        header = jws.extract_compact(compact, registry=_REGISTRY).headers()
    except (JoseError, ValueError, TypeError, UnicodeError):
        raise invalid_proof("the DPoP header is not a JWS in compact form") from None
    typ = header.get("typ")
    if not isinstance(typ, str) or typ.lower() != PROOF_TYPE:
        raise invalid_proof(f"the proof's typ must be {PROOF_TYPE}")
    alg = header.get("alg")
    if not isinstance(alg, str) or alg not in algorithms:
        raise invalid_proof("the proof's alg is not an accepted asymmetric algorithm")
    key = _public_key(header)
    checked = (alg, key, key.thumbprint())
    if len(_HEADERS) >= MAX_HEADERS:
        _HEADERS.clear()
    _HEADERS[segment] = checked
    return checked


def _signed(value: str, algorithms: Collection[str]) -> tuple[dict, str]:
    """The claims and key thumbprint of a well-signed proof of an accepted type and alg."""
    if not value or len(value) > MAX_PROOF_LENGTH or value.count(".") != 2:
        raise invalid_proof("the DPoP header is not a JWS in compact form")
    alg, key, jkt = _checked_header(value.partition(".")[0], algorithms)
    try:
        token = jwt.decode(value, key, algorithms=[alg], registry=_REGISTRY)
    except (JoseError, ValueError, TypeError, KeyError):
        raise invalid_proof("the proof's signature does not verify") from None
    return dict(token.claims), jkt


def _claims_ok(claims: Mapping[str, Any]) -> bool:
    jti, htm, htu, iat = (claims.get(name) for name in ("jti", "htm", "htu", "iat"))
    return (
        isinstance(jti, str)
        and 0 < len(jti) <= MAX_JTI_LENGTH
        and isinstance(htm, str)
        and isinstance(htu, str)
        and isinstance(iat, int | float)
        and not isinstance(iat, bool)
    )


def verify_proof(
    value: str,
    method: str,
    uris: Collection[str],
    replay: ReplayCache,
    access_token: str | None = None,
    nonce_ok: Callable[[Any], bool] | None = None,
    jkt: str | None = None,
    algorithms: Collection[str] = ALGORITHMS,
) -> Proof:
    """Check a proof as RFC 9449 §4.3 says; the verified :class:`Proof`, or DPoPError.

    ``uris``: the URIs this request may name as ``htu`` (normalized before comparing).
    ``access_token``: the token sent with it, whose hash ``ath`` must be. ``nonce_ok``:
    when the server issues nonces, whether the proof's ``nonce`` is a current one. ``jkt``:
    the thumbprint the proof's key must have (a bound token's ``cnf.jkt``). The
    ``jti`` is remembered last, so only a proof that passed every other check uses it up.
    """
    claims, proven = _signed(value, algorithms)
    if not _claims_ok(claims):
        raise invalid_proof("the proof needs jti, htm, htu and iat")
    if claims["htm"] != method:
        raise invalid_proof("the proof's htm is not this request's method")
    expected = {normalize_uri(uri) for uri in uris} - {None}
    if normalize_uri(claims["htu"]) not in expected:
        raise invalid_proof("the proof's htu is not this request's URI")
    now = time.time()
    if not now - MAX_AGE <= claims["iat"] <= now + CLOCK_LEEWAY:
        raise invalid_proof("the proof's iat is outside the accepted window")
    if access_token is not None and claims.get("ath") != b64_sha256(access_token):
        raise invalid_proof("the proof's ath is not the hash of this access token")
    if nonce_ok is not None and not nonce_ok(claims.get("nonce")):
        raise DPoPError("use_dpop_nonce", "Authorization server requires nonce in DPoP proof", 400)
    if jkt is not None and proven != jkt:
        raise DPoPError("invalid_token", "Invalid DPoP key binding")
    until = claims["iat"] + MAX_AGE + CLOCK_LEEWAY
    seen = hashlib.sha256(f"{proven}:{claims['jti']}".encode()).hexdigest()
    if not replay.first_use(seen, until):
        raise invalid_proof("the proof's jti was used before")
    return Proof(proven, claims["jti"], claims["iat"], claims)


def bound_key(claims: Mapping[str, Any]) -> str | None:
    """The ``cnf.jkt`` of an access token's claims, or None for a bearer token."""
    cnf = claims.get("cnf")
    jkt = cnf.get("jkt") if isinstance(cnf, dict) else None
    return jkt if isinstance(jkt, str) else None


def request_uris(request: Request, public_base: str | None = None) -> list[str]:
    """What ``htu`` may be for ``request``: its URL as the server sees it, and, behind a
    proxy, the same path under the public base URL (the issuer, for this server)."""
    uris = [request.base_url]
    if public_base:
        uris.append(public_base.rstrip("/") + request.path)
    return uris


def verify_request(
    request: Request,
    access_token: str,
    claims: Mapping[str, Any],
    replay: ReplayCache,
    public_base: str | None = None,
) -> Proof:
    """A protected request with ``Authorization: DPoP <access_token>`` (RFC 9449 §7): one
    valid proof, bound to this token (``ath``), signed by the key the token is bound to."""
    proofs = request.headers.getlist("DPoP")
    if len(proofs) != 1:
        raise invalid_proof("exactly one DPoP proof header is required")
    jkt = bound_key(claims)
    if jkt is None:
        raise DPoPError("invalid_token", "this access token is not DPoP-bound: use Bearer")
    uris = request_uris(request, public_base)
    return verify_proof(
        proofs[0], request.method, uris, replay, access_token=access_token, jkt=jkt
    )


def uses_dpop(request: Request) -> bool:
    """Whether the request's ``Authorization`` header uses the DPoP scheme."""
    scheme = request.headers.get("Authorization", "").split(None, 1)[:1]
    return bool(scheme) and scheme[0].lower() == "dpop"


def challenge_for(request: Request, params: str) -> str:
    """A refusal's challenge in the scheme the request used: ``Bearer <params>`` (RFC 6750
    §3), or ``DPoP <params>, algs="..."`` (RFC 9449 §7.1) for a DPoP request."""
    if uses_dpop(request):
        return f'DPoP {params}, algs="{" ".join(ALGORITHMS)}"'
    return f"Bearer {params}"


class BoundTokenAsBearer(DPoPError):
    """A DPoP-bound token sent as a bearer token (RFC 9449 §7.2): refused, with the Bearer
    error and a DPoP challenge that says how to send it."""

    def __init__(self) -> None:
        super().__init__("invalid_token", "This token is DPoP-bound: send it with DPoP")

    def challenge(self, algorithms: Collection[str] = ALGORITHMS) -> str:
        bearer = f'Bearer error="invalid_token", error_description="{self.description}"'
        return f"{bearer}, {challenge(algorithms=algorithms)}"


#: Where an app keeps its replay cache and public base URL (app.extensions).
EXTENSION = "authserver.dpop_replay"
PUBLIC_BASE = "authserver.dpop_public_base"


def use_public_base(app: Flask, base: str) -> None:
    """Accept ``htu``s under ``base`` too: the URL clients reach the app at behind a proxy
    (this server: its issuer)."""
    app.extensions[PUBLIC_BASE] = base


def public_base(app: Flask) -> str | None:
    return app.extensions.get(PUBLIC_BASE)


def use_replay_cache(app: Flask, cache: ReplayCache) -> None:
    """Make ``cache`` the app's replay state (this server: shared by every instance)."""
    app.extensions[EXTENSION] = cache


def replay_cache(app: Flask) -> ReplayCache:
    """The app's replay cache; a per-process one if none was given (one process only)."""
    cache = app.extensions.get(EXTENSION)
    if cache is None:
        cache = app.extensions.setdefault(EXTENSION, MemoryReplayCache())
    return cache
