"""The resource-server kit: ``require_scopes`` in another service's Flask app (SPEC §18).

::

    from flask import Flask
    from authserver.resource import ResourceServer, current_token, require_scopes

    app = Flask(__name__)
    ResourceServer(app, issuer="https://auth.example.com",
                   client_id="reports-api", client_secret="...")   # an --introspect client

    @app.get("/reports")
    @require_scopes("reports:read")
    def reports():
        return {"for": current_token()["sub"]}

What a protected request does, in the steady state without a network round trip:

1. the JWT is checked by the server's own code (``security.access_tokens.decode``) against
   the JWKS (:class:`~authserver.resource.remote.RemoteKeys`): pinned algorithms, ``typ``
   ``at+jwt``, ``iss``, ``aud``, ``exp``, ``exp - iat`` within the server's TTL once the
   feed told it; a verified signature is remembered until ``exp``;
2. the live decision (SPEC §12) is made from the state the change feed keeps current
   (:mod:`authserver.resource.feed`): refused (401 ``invalid_token``) when the ``jti`` is
   revoked or the user or client was cut off; otherwise narrowed by the live policy and
   the client's scopes now (403 ``insufficient_scope`` beyond them);
3. when the feed has not confirmed the state within ``stale_after`` (lost, or starting),
   the token is introspected instead (RFC 7662, the answer kept at most
   :data:`INTROSPECTION_TTL`): slower, still within the bound. If the server cannot be
   asked either, the answer is 503: the kit never decides on a state older than the bound.

**The bound, by construction** (SPEC §12/§18: a change honoured within 1 s). A decision
rests on a state that may miss the changes of the last few tenths of a second; the worst
case, per path, is the sum of what each step may add (:func:`worst_case`):

- *feed* (and a feed lost at the moment of the change): a newline of the server's vouches
  that its state holds every change committed more than ``FRESH`` = 0.3 s ago
  (``authserver/api/changes.py``: SQLite's ``data_version`` is read every 0.05 s; on
  PostgreSQL its own feed confirms every 0.2 s); the kit trusts it for
  :data:`STALE_AFTER` = 0.4 s after it arrives (a newline comes every 0.15 s: 0.25 s of
  slack). A lost feed is noticed by that age alone, not by the connection's timeout or
  retries: 0.3 + 0.4 = **0.7 s**.
- *introspection*: the server answers from its live state, which holds every change
  committed more than its ``AUTHSERVER_LIVE_STALE_MS`` (0.5 s, the worst case: its own
  feed lost too; SQLite 0.05 s) ago; the answer is reused for :data:`INTROSPECTION_TTL` =
  0.2 s from before it was asked: 0.5 + 0.2 = **0.7 s** (SQLite 0.25 s).
- each process (gunicorn worker) has its own feed and cache: they do not add up, each is
  within the same bound; a cached answer is never older than the feed's window either
  (0.2 < 0.4), so switching paths adds nothing. What is left, 0.3 s, is for the request
  itself and its introspection call.

Errors are RFC 6750 JSON with the same challenges as the server's routes; the token's
identity is the same Flask-Principal identity (``UserNeed``, ``RoleNeed``, ``ScopeNeed``).
:meth:`ResourceServer.health` says how the process decides (for a readiness route).
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any, cast

from flask import Flask, Response, jsonify
from flask_principal import Principal

from authserver import forks
from authserver.resource import dpop, remote
from authserver.resource import principal as identity_bridge
from authserver.resource.challenges import TokenRejected
from authserver.resource.feed import Follower
from authserver.resource.live_rules import Refused
from authserver.resource.verifier import build_protector, install
from authserver.security import access_tokens
from authserver.security.access_tokens import AccessToken
from authserver.security.keys import SigningKeys
from authserver.services.errors import ServiceError, Unavailable

logger = logging.getLogger("authserver.resource")

#: SPEC §12/§18: a change at the server is honoured within this (seconds).
BOUND = 1.0
#: The longest an introspection answer is reused (seconds), from before it was asked.
INTROSPECTION_TTL = 0.2
#: How old the feed's last confirmation may be before a request asks introspection.
STALE_AFTER = 0.4
#: What the server's newline vouches for: its state holds every change committed more
#: than this ago (``authserver.api.changes.FRESH``).
SERVER_HEARTBEAT_LAG = 0.3
#: How far behind its commits the server's state may be when it answers introspection
#: (its ``AUTHSERVER_LIVE_STALE_MS`` default, 500 ms: PostgreSQL with its own feed lost).
SERVER_STATE_LAG = 0.5
#: The worst case this kit is built for, leaving the rest of BOUND to the request itself.
WORST_CASE_TARGET = 0.7
MAX_CACHED = 4096


def worst_case(stale_after: float = STALE_AFTER, ttl: float = INTROSPECTION_TTL) -> float:
    """The oldest a decision's state can be (seconds): the feed's path (the server's
    newline, then ``stale_after``) or introspection's (the server's state, then the
    answer reused for ``ttl``); see the module docstring."""
    return max(SERVER_HEARTBEAT_LAG + stale_after, SERVER_STATE_LAG + ttl)


class KitUnavailable(Unavailable):
    """The server cannot be asked and the feed cannot vouch for the state: 503."""

    error = "temporarily_unavailable"


class ResourceServer:
    """Protects ``app``'s ``require_scopes`` routes with tokens of the server at ``issuer``.

    ``client_id`` / ``client_secret``: a client made with ``authserver clients create
    --introspect`` (it reads the change feed and introspects). ``audience``: the ``aud``
    tokens must carry (the server's AUTHSERVER_AUDIENCE; default: the issuer).
    ``stale_after``: how old the feed's confirmation may be before a request asks
    introspection instead (at most :data:`STALE_AFTER`: more would break the bound).
    ``feed_wait``: how long the server may hold a feed request.
    ``jwks_refetch_interval``: at most one JWKS fetch per this many seconds for unknown
    kids. ``principal``: the app's Flask-Principal, if it has one (its identity savers run).

    DPoP (RFC 9449, SPEC §17) works as in the server: ``Authorization: DPoP`` with a proof
    by the key the token is bound to; a bound token sent as Bearer is refused.
    ``dpop_replay``: where proof ``jti``s are remembered; the default is per process, so a
    service with several processes should give a shared one (a
    :class:`~authserver.resource.dpop.ReplayCache`). ``public_url``: the service's URL as
    clients see it, when it runs behind a proxy (proofs name it in ``htu``).
    """

    def __init__(
        self,
        app: Flask | None = None,
        *,
        issuer: str,
        client_id: str,
        client_secret: str,
        audience: str | None = None,
        stale_after: float = STALE_AFTER,
        feed_wait: float = 20.0,
        jwks_refetch_interval: float = 5.0,
        timeout: float = 5.0,
        principal: Principal | None = None,
        dpop_replay: dpop.ReplayCache | None = None,
        public_url: str | None = None,
    ) -> None:
        if not 0 <= stale_after <= STALE_AFTER:
            raise ValueError(f"stale_after: from 0 to {STALE_AFTER} s (SPEC §12's bound)")
        self.issuer = issuer.rstrip("/")
        self.audience = audience or self.issuer
        self.client_id = client_id
        self._authorization = remote.basic_auth(client_id, client_secret)
        self.stale_after, self.feed_wait = stale_after, feed_wait
        self.jwks_refetch_interval, self.timeout = jwks_refetch_interval, timeout
        self.max_lifetime: int | None = None  # the server's TTL + skew, from the feed
        self._lock = threading.Lock()
        self._pid: int | None = None
        self._endpoints: remote.Endpoints | None = None
        self.keys: remote.RemoteKeys | None = None
        self.follower: Follower | None = None
        self._verified: dict[str, dict] = {}
        self._verified_with = -1  # the keys' generation the verified tokens belong to
        self._introspected: dict[str, tuple[float, dict]] = {}
        self.introspections = 0
        self._problem: str | None = None
        self.dpop_replay, self.public_url = dpop_replay, public_url
        if app is not None:
            self.init_app(app, principal)

    def init_app(self, app: Flask, principal: Principal | None = None) -> None:
        """Make this kit the verifier of ``app``'s ``require_scopes`` routes."""
        install(app, build_protector(self))
        identity_bridge.init_app(app, principal)
        if self.dpop_replay is not None:
            dpop.use_replay_cache(app, self.dpop_replay)
        if self.public_url:
            dpop.use_public_base(app, self.public_url)
        app.register_error_handler(ServiceError, _render)
        app.extensions["authserver.kit"] = self

    # -- the Verifier interface -------------------------------------------------------
    def authenticate(self, token_string: str) -> AccessToken | None:
        """The verified token, refused or narrowed on the present state; None if it is
        not one of the server's valid tokens (see the module docstring)."""
        follower, keys = self._ensure_started()
        token = self._verify(token_string, keys)
        if token is None:
            return None
        if follower.fresh():
            decision = follower.state.decide(token)
        else:
            decision = self._introspect(token_string, token)
        if isinstance(decision, Refused):
            token.revoked = True
        elif decision != token.scopes:
            token.narrow_to(decision)
        return token

    def _verify(self, value: str, keys: remote.RemoteKeys) -> AccessToken | None:
        keys.refresh_if_expired()
        try:
            keys.verification_keys()  # the first fetch, or RemoteError
        except remote.RemoteError as exc:
            raise KitUnavailable(f"the JWKS of {self.issuer} is unavailable ({exc})") from None
        if keys.generation != self._verified_with:  # keys changed: a removed key's go
            self._verified, self._verified_with = {}, keys.generation
        claims = self._verified.get(value)
        if claims is not None:
            if claims["exp"] > time.time():
                return AccessToken(claims)
            self._verified.pop(value, None)
            return None
        # RemoteKeys answers what decode() asks of a key set (verification_keys,
        # algorithms, accepts, reload_if_changed): the server's own checks, our keys.
        signing_keys = cast(SigningKeys, keys)
        token = access_tokens.decode(
            value, signing_keys, self.issuer, self.audience, self.max_lifetime
        )
        if token is not None:
            if len(self._verified) >= MAX_CACHED:
                self._verified = {}
            self._verified[value] = dict(token)
        return token

    def _introspect(self, value: str, token: AccessToken) -> Refused | frozenset[str]:
        """The fallback decision: RFC 7662 at the server, reused for at most
        :data:`INTROSPECTION_TTL` from before it was asked (see :func:`worst_case`)."""
        now = time.monotonic()
        cached = self._introspected.get(value)
        if cached is not None and now - cached[0] < INTROSPECTION_TTL:
            answer = cached[1]
        else:
            endpoints = self._endpoints
            assert endpoints is not None  # set by _ensure_started
            try:
                answer = remote.post_form(
                    endpoints.introspection_endpoint,
                    {"token": value, "token_type_hint": "access_token"},
                    self.timeout,
                    self._authorization,
                )
            except remote.RemoteError as exc:
                raise KitUnavailable(
                    f"the change feed is lost and introspection failed ({exc})"
                ) from None
            self.introspections += 1
            if len(self._introspected) >= MAX_CACHED:
                self._introspected = {}
            self._introspected[value] = (now, answer)
        if not isinstance(answer, dict) or answer.get("active") is not True:
            return Refused("inactive")
        scope = answer.get("scope")
        allowed = frozenset(scope.split()) if isinstance(scope, str) else frozenset()
        return token.scopes & allowed

    # -- lifecycle --------------------------------------------------------------------
    def _ensure_started(self) -> tuple[Follower, remote.RemoteKeys]:
        """In each process (first request, or the first after a fork): discover the
        server, and start following its feed."""
        follower, keys = self.follower, self.keys
        if self._pid == forks.pid() and follower is not None and keys is not None:
            return follower, keys
        with self._lock:
            if self._pid != forks.pid() or self.follower is None or self.keys is None:
                self._start()
            assert self.follower is not None and self.keys is not None
            return self.follower, self.keys

    def _start(self) -> None:
        if self._endpoints is None:
            try:
                self._endpoints = remote.discover(self.issuer, self.timeout)
            except remote.RemoteError as exc:
                self._problem = str(exc)
                logger.warning("authorization server not reachable: %s", exc)
                raise KitUnavailable(f"cannot discover {self.issuer} ({exc})") from None
        endpoints = self._endpoints
        self._problem = None
        self.keys = remote.RemoteKeys(
            endpoints.jwks_uri, endpoints.algorithms, self.jwks_refetch_interval, self.timeout
        )
        self._verified, self._introspected = {}, {}
        self.follower = Follower(
            endpoints.changes_endpoint,
            self._authorization,
            wait=self.feed_wait,
            stale_after=self.stale_after,
            read_timeout=1.0,  # the thread's: a silent connection is dropped
            on_answer=self._on_answer,
        )
        self.follower.start()
        self._pid = forks.pid()

    def _on_answer(self, answer: dict[str, Any]) -> None:
        """What a feed answer says beside the live state: the longest token lifetime the
        server accepts, and its keys' windows (on the feed's thread)."""
        lifetime = answer.get("max_token_lifetime")
        if isinstance(lifetime, int) and lifetime > 0:
            self.max_lifetime = lifetime
        windows = answer.get("keys")
        if isinstance(windows, dict) and self.keys is not None:
            self.keys.follow(windows)

    def close(self) -> None:
        """Stop this process's feed thread (tests, shutdown)."""
        if self.follower is not None:
            self.follower.stop()

    def health(self) -> dict[str, object]:
        """How this process decides now, for a readiness route or a log: ``feed`` is
        ``ok`` (live state from the feed), ``starting`` or ``lost`` (introspection per
        request), or ``not started`` (no protected request yet)."""
        follower = self.follower if self._pid == forks.pid() else None
        if follower is None:
            return {"feed": "not started", "problem": self._problem}
        state = follower.state
        fresh = follower.fresh()
        return {
            "feed": "ok" if fresh else follower.status if follower.status != "ok" else "lost",
            "deciding_by": "live state" if fresh else "introspection",
            "confirmed_age": round(follower.age(), 3),
            "seq": state.last_seq,
            "policy_version": state.policy[0] if state.policy else None,
            "entries": state.size(),
            "answers": follower.answers,
            "introspections": self.introspections,
            "problem": follower.problem,
            "jwks": self.keys.describe() if self.keys is not None else None,
        }


def _render(exc: ServiceError) -> Response:
    """RFC 6750 §3 JSON with the error's challenge (and Retry-After for a 503)."""
    body = {"error": exc.error or exc.title.lower().replace(" ", "_")}
    if exc.detail:
        body["error_description"] = exc.detail if exc.status < 500 else Unavailable.RETRY_DETAIL
    if exc.status >= 500:
        logger.error("protected request not decided: %s", exc.detail)
    response = jsonify(body)
    response.status_code = exc.status
    response.headers.update(exc.headers())
    response.headers["Cache-Control"] = "no-store"
    return response


__all__ = ["KitUnavailable", "ResourceServer", "TokenRejected"]
