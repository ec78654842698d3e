"""RFC 7009 token revocation on Authlib's RevocationEndpoint.

Authlib's rfc9068 revocation refuses to revoke JWTs; ours puts the access token's ``jti`` on
the revocation list until its ``exp``, and revoking a refresh token ends its whole family.
Both are audited once, by the services; revoking a revoked token again changes nothing.

A token issued to another client is answered exactly as an unknown one: 200, and nothing
changes. RFC 7009 §2.1 says the server "verifies whether the token was issued to the client
making the revocation request" and refuses otherwise, with §2.2.1's error response; Authlib
answers ``invalid_grant``. Read that way, the endpoint tells anyone who holds any client
(a public client needs no secret) whether a token string is live: a garbage token gets 200,
a live one 400. We read §2.1's "invalid tokens do not cause an error response" as covering a
token that is not the caller's to revoke (SPEC §10, issue 10 item 16; see the README).
"""

from __future__ import annotations

from authlib.oauth2.rfc7009 import RevocationEndpoint as _RevocationEndpoint

from authserver.oauth2.token_lookup import FoundToken, PresentedTokenMixin
from authserver.services import tokens


class RevocationEndpoint(PresentedTokenMixin, _RevocationEndpoint):
    def authenticate_token(self, request, client) -> FoundToken | None:
        """The presented token if it was issued to ``client``; else None, as unknown."""
        self.check_params(request, client)
        token = self.query_token(request.form["token"], request.form.get("token_type_hint"))
        return token if token is not None and token.check_client(client) else None

    def revoke_token(self, token: FoundToken, request) -> None:
        client_id = request.client.client_id
        claims = token.claims
        if claims is not None:  # an access token
            jti, exp, username = claims["jti"], int(claims["exp"]), claims.get("username")
            tokens.revoke_access(jti, exp, actor=client_id, client_id=client_id, username=username)
        else:
            tokens.revoke_refresh(token.refresh_row, actor=client_id, client_id=client_id)
