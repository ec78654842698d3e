"""The ``DPoP`` scheme for Authlib's ResourceProtector (RFC 9449 §7).

``Authorization: DPoP <token>`` with a ``DPoP`` proof: the token is verified as a bearer
token is (the same :class:`~authserver.resource.verifier.Verifier`, so the same live
decision), then the proof (:func:`authserver.resource.dpop.verify_request`): a valid
signature by the key the token is bound to, for this method and URI, fresh, never seen
before, and naming this token (``ath``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from authlib.oauth2.rfc6750 import BearerTokenValidator
from flask import current_app, request

from authserver.resource import dpop
from authserver.security.access_tokens import AccessToken

if TYPE_CHECKING:
    from authserver.resource.verifier import Verifier


class DPoPTokenValidator(BearerTokenValidator):
    """Authlib's validator, for the ``DPoP`` scheme: a refusal of the proof is a
    :class:`~authserver.resource.dpop.DPoPError` (its challenge says which check failed)."""

    TOKEN_TYPE = "dpop"

    def __init__(self, verifier: Verifier, realm: str | None = None) -> None:
        super().__init__(realm=realm)
        self.verifier = verifier

    def authenticate_token(self, token_string: str) -> AccessToken | None:
        token = self.verifier.authenticate(token_string)
        if token is None or token.is_revoked():
            return token  # invalid_token, as for a bearer token
        app = current_app._get_current_object()  # type: ignore[attr-defined]  # the real app
        replay = dpop.replay_cache(app)
        dpop.verify_request(request, token_string, token, replay, dpop.public_base(app))
        return token


def refuse_bound(token: AccessToken | None) -> AccessToken | None:
    """``token`` unless it is DPoP-bound: a bound token sent as a bearer token is refused
    (RFC 9449 §7.2)."""
    if token is not None and dpop.bound_key(token) is not None:
        raise dpop.BoundTokenAsBearer()
    return token
