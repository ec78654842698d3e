"""DPoP at the token endpoint (RFC 9449 §5, §8): proofs, bound tokens, server nonces.

- Before any grant runs, a ``DPoP`` header is verified (:func:`check_token_request`): a bad
  proof is ``invalid_dpop_proof`` and no password is tried, no refresh token used up.
- The access token of a request with a proof carries ``cnf.jkt`` and the answer says
  ``token_type: DPoP`` (:class:`DPoPTokenGenerator`), whatever the grant.
- A client made with ``--dpop`` must send a proof (:func:`check_client`); a public client's
  refresh family is bound to the key of its login, and each refresh must prove that key
  (:func:`refresh_binding`, :func:`check_refresh`).
- With AUTHSERVER_DPOP_NONCE on, every proof must carry a nonce this server issued
  (:class:`Nonces`): stateless, an HMAC of a five-minute window keyed from the signing key,
  so every worker and instance sharing the key file accepts it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time

from authlib.oauth2 import OAuth2Error
from authlib.oauth2.rfc6749.errors import InvalidGrantError
from flask import Flask, Response, current_app, g, request

from authserver.oauth2.tokens import AccessTokenGenerator
from authserver.resource.dpop import (
    DPoPError,
    Proof,
    replay_cache,
    request_uris,
    use_public_base,
    use_replay_cache,
    verify_proof,
)
from authserver.security.keys import SigningKeys
from authserver.services import dpop_replay
from authserver.state import state

NONCE_HEADER = "DPoP-Nonce"
EXTENSION = "authserver.dpop_nonces"


class InvalidDPoPProofError(OAuth2Error):
    """RFC 9449 §5: the token request's DPoP proof is missing, malformed or invalid."""

    error = "invalid_dpop_proof"
    status_code = 400


class UseDPoPNonceError(OAuth2Error):
    """RFC 9449 §8: the proof must carry the nonce of the ``DPoP-Nonce`` header."""

    error = "use_dpop_nonce"
    status_code = 400


class Nonces:
    """Server nonces: ``<window>.<HMAC of the window>``, valid in their window and the next.

    The HMAC key is derived from the private signing key, which every instance shares; a
    key rotation makes older nonces invalid, and a client then retries with the new one
    (RFC 9449 §8 lets the server change its nonce at any time).
    """

    WINDOW = 300

    def __init__(self, keys: SigningKeys) -> None:
        self.keys = keys
        self._secret: tuple[str, bytes] | None = None

    def _key(self) -> bytes:
        kid = self.keys.signing_kid
        if self._secret is None or self._secret[0] != kid:
            private = json.dumps(self.keys.private_jwks(), sort_keys=True).encode()
            self._secret = (kid, hashlib.sha256(b"authserver dpop nonce\0" + private).digest())
        return self._secret[1]

    def _mac(self, window: int) -> str:
        mac = hmac.new(self._key(), f"dpop-nonce:{window}".encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(mac[:16]).rstrip(b"=").decode("ascii")

    def current(self) -> str:
        window = int(time.time()) // self.WINDOW
        return f"{window:x}.{self._mac(window)}"

    def valid(self, nonce: object) -> bool:
        if not isinstance(nonce, str) or len(nonce) > 64:
            return False
        window_text, _, mac = nonce.partition(".")
        try:
            window = int(window_text, 16)
        except ValueError:
            return False
        now = int(time.time()) // self.WINDOW
        return window in (now, now - 1) and hmac.compare_digest(mac, self._mac(window))


def init_app(app: Flask) -> None:
    """The app's shared replay state (also the resource routes'), and nonces if asked."""
    use_replay_cache(app, dpop_replay.build(app.config))
    use_public_base(app, app.config["ISSUER"])


def _nonces(app: Flask) -> Nonces | None:
    if not app.config["DPOP_NONCE"]:
        return None
    nonces = app.extensions.get(EXTENSION)
    if nonces is None:
        nonces = app.extensions.setdefault(EXTENSION, Nonces(state(app).keys))
    return nonces


def current_proof() -> Proof | None:
    """The verified proof of this token request, if it sent one."""
    return g.get("dpop_proof")


def check_token_request() -> None:
    """Verify the request's DPoP proof, if any (RFC 9449 §4.3), before a grant runs.

    Raises InvalidDPoPProofError, or UseDPoPNonceError when nonces are on and the proof
    lacks a current one.
    """
    g.dpop_proof = None
    proofs = request.headers.getlist("DPoP")
    if not proofs:
        return
    if len(proofs) > 1:
        raise InvalidDPoPProofError("Send exactly one DPoP proof.")
    app = current_app._get_current_object()  # type: ignore[attr-defined]  # the real app
    nonces = _nonces(app)
    uris = request_uris(request, app.config["ISSUER"])
    try:
        g.dpop_proof = verify_proof(
            proofs[0],
            request.method,
            uris,
            replay_cache(app),
            nonce_ok=nonces.valid if nonces is not None else None,
        )
    except DPoPError as exc:
        if exc.error == "use_dpop_nonce":
            raise UseDPoPNonceError(exc.description) from None
        raise InvalidDPoPProofError(exc.description) from None


def add_nonce(response: Response) -> Response:
    """With nonces on, every token-endpoint answer carries the current one (RFC 9449 §8)."""
    nonces = _nonces(current_app._get_current_object())  # type: ignore[attr-defined]
    if nonces is not None:
        response.headers[NONCE_HEADER] = nonces.current()
    return response


def check_client(client) -> None:
    """A client registered with ``--dpop`` (``dpop_bound_access_tokens``) must send a proof
    (RFC 9449 §5.2)."""
    if getattr(client, "dpop_bound", False) and current_proof() is None:
        raise InvalidDPoPProofError("This client must send a DPoP proof.")


def refresh_binding(client) -> str | None:
    """The key a new refresh family is bound to: a public client's proven key (RFC 9449
    §5); confidential clients' refresh tokens are bound by their client authentication."""
    proof = current_proof()
    return proof.jkt if proof is not None and client.is_public else None


def check_refresh(family, client) -> None:
    """A bound family's refresh must prove its key: no proof is ``invalid_dpop_proof``, a
    proof of another key ``invalid_grant`` (the token is not this key's). A public client's
    unbound family is bound to the first key it proves (committed with the rotation)."""
    proof = current_proof()
    if family.dpop_jkt is not None:
        if proof is None:
            raise InvalidDPoPProofError("This refresh token is bound to a DPoP key: prove it.")
        if proof.jkt != family.dpop_jkt:
            raise InvalidGrantError("This refresh token is bound to another DPoP key.")
    elif proof is not None and client.is_public:
        family.dpop_jkt = proof.jkt


class DPoPTokenGenerator(AccessTokenGenerator):
    """Our RFC 9068 generator; with a verified proof the token is bound to its key:
    ``cnf.jkt`` (RFC 9449 §6.1) and ``token_type: DPoP`` (§5.1)."""

    def get_extra_claims(self, client, grant_type, user, scope) -> dict:
        claims = super().get_extra_claims(client, grant_type, user, scope)
        proof = current_proof()
        if proof is not None:
            claims["cnf"] = {"jkt": proof.jkt}
        return claims

    def generate(self, grant_type, client, *args, **kwargs) -> dict:
        token = super().generate(grant_type, client, *args, **kwargs)
        if current_proof() is not None:
            token["token_type"] = "DPoP"
        return token
