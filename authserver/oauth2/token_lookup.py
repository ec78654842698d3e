"""Find a presented token of either kind, for revocation (RFC 7009) and introspection (RFC 7662).

``token_type_hint`` only decides which kind is tried first (RFC 7009 §2.1: the server MUST
extend its search across all supported token types).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from authlib.oauth2.rfc6749 import InvalidRequestError

from authserver import live
from authserver.models import RefreshToken
from authserver.models.base import utcnow
from authserver.models.client import CLIENT_AUTH_METHODS
from authserver.security import access_tokens
from authserver.services import tokens, users
from authserver.state import state

ACCESS, REFRESH = "access_token", "refresh_token"


@dataclass
class FoundToken:
    """A token we issued: an access token's verified claims, or a refresh-token row."""

    kind: str
    client_id: str
    claims: access_tokens.AccessToken | None = None
    row: RefreshToken | None = None

    @property
    def refresh_row(self) -> RefreshToken:
        """The row of a refresh token (found by its row, where an access token has claims)."""
        assert self.row is not None
        return self.row

    def check_client(self, client) -> bool:
        return self.client_id == client.get_client_id()

    def get_scope(self) -> str:
        return self.claims.get_scope() if self.claims is not None else self.refresh_row.scope

    def is_expired(self) -> bool:
        if self.claims is not None:
            return self.claims.is_expired()
        return self.refresh_row.family.expires_at <= utcnow()

    def is_revoked(self) -> bool:
        if self.claims is not None:
            return self.claims.is_revoked()  # the live decision, made when it was found
        return not tokens.is_active(self.refresh_row)

    def describe(self) -> dict[str, Any]:
        """The RFC 7662 members of an active token. A refresh token has no ``token_type``:
        the member names an RFC 6749 §5.1 access-token type, which a refresh token lacks."""
        if self.claims is not None:
            claims = self.claims
            names = ("scope", "client_id", "sub", "username", "exp", "iat", "iss", "aud", "jti")
            payload = {name: claims[name] for name in names if name in claims}
            if "cnf" in claims:  # RFC 9449 §6.2: a DPoP-bound token's key
                return {"active": True, **payload, "cnf": claims["cnf"], "token_type": "DPoP"}
            return {"active": True, **payload, "token_type": "Bearer"}
        row = self.refresh_row
        family = row.family
        user = users.find_by_id(family.user_id)
        return {
            "active": True,
            "scope": row.scope,
            "client_id": family.client_id,
            "sub": str(family.user_id),
            "username": user.username if user else None,
            "exp": int(family.expires_at.timestamp()),
            "iat": int(row.created_at.timestamp()),
        }


def _as_access_token(value: str) -> FoundToken | None:
    claims = state().token_verifier.verify(value)
    if claims is None:
        return None
    live.apply_decision(claims)  # refused: inactive; narrowed: the scope reported
    return FoundToken(ACCESS, claims["client_id"], claims=claims)


def _as_refresh_token(value: str) -> FoundToken | None:
    row = tokens.find(value)
    if row is None:
        return None
    return FoundToken(REFRESH, row.family.client_id, row=row)


def find_token(value: str, hint: str | None) -> FoundToken | None:
    """The token for ``value`` (valid signature for JWTs, a known digest for refresh tokens)."""
    finders = [_as_access_token, _as_refresh_token]
    if hint == REFRESH:
        finders.reverse()
    for finder in finders:
        token = finder(value)
        if token is not None:
            return token
    return None


class PresentedTokenMixin:
    """What RFC 7009 and RFC 7662 endpoints share: every client auth method, a required
    ``token``, and a ``token_type_hint`` that orders the search but never refuses."""

    CLIENT_AUTH_METHODS = CLIENT_AUTH_METHODS

    def check_params(self, request, client) -> None:
        if not request.form.get("token"):
            raise InvalidRequestError("Missing 'token' in request.")

    def query_token(self, token_string: str, token_type_hint: str | None):
        return find_token(token_string, token_type_hint)
