"""RFC 7009 token revocation on Authlib's RevocationEndpoint.

Authlib's rfc9068 revocation refuses to revoke JWTs; ours puts the access token's ``jti`` on
the revocation list until its ``exp``, and revoking a refresh token ends its whole family.
Both are audited once, by the services; revoking a revoked token again changes nothing.
"""

from __future__ import annotations

from authlib.oauth2.rfc7009 import RevocationEndpoint as _RevocationEndpoint

from authserver.oauth2.token_lookup import ACCESS, FoundToken, PresentedTokenMixin
from authserver.services import tokens


class RevocationEndpoint(PresentedTokenMixin, _RevocationEndpoint):
    def revoke_token(self, token: FoundToken, request) -> None:
        client_id = request.client.client_id
        if token.kind == ACCESS:
            claims = token.claims
            jti, exp, username = claims["jti"], int(claims["exp"]), claims.get("username")
            tokens.revoke_access(jti, exp, actor=client_id, client_id=client_id, username=username)
        else:
            tokens.revoke_refresh(token.row, actor=client_id, client_id=client_id)
