"""RFC 7009 token revocation on Authlib's RevocationEndpoint.

Authlib's rfc9068 revocation refuses to revoke JWTs; ours puts the access token's ``jti`` on
the revocation list until its ``exp``, and revoking a refresh token ends its whole family.
"""

from __future__ import annotations

from authlib.oauth2.rfc7009 import RevocationEndpoint as _RevocationEndpoint

from authserver.extensions import db
from authserver.oauth2.token_lookup import ACCESS, FoundToken, PresentedTokenMixin
from authserver.services import audit, refresh_tokens, revocation, users


class RevocationEndpoint(PresentedTokenMixin, _RevocationEndpoint):
    def revoke_token(self, token: FoundToken, request) -> None:
        _audit_revocation(token, request.client.client_id)  # committed with the revocation
        if token.kind == ACCESS:
            revocation.revoke(token.claims["jti"], int(token.claims["exp"]))
        else:
            refresh_tokens.revoke_family(token.row.family_id, reason="revoked")
            db.session.commit()


def _audit_revocation(token: FoundToken, client_id: str) -> None:
    """Record who revoked what, once: revoking a revoked token again changes nothing.

    The event names the token by ``jti`` or refresh family, never by its value.
    """
    if token.kind == ACCESS:
        if revocation.is_revoked(token.claims["jti"]):
            return
        subject, username = f"jti:{token.claims['jti']}", token.claims.get("username")
    else:
        family = token.row.family
        if family.revoked_at is not None:
            return
        user = users.find_by_id(family.user_id)
        subject, username = f"family:{family.id}", user.username if user else None
    details = {"token_type": token.kind, "user": username}
    audit.record("token.revoked", client_id, subject, details, commit=False, client_id=client_id)
