"""The client_credentials grant (RFC 6749 §4.4, SPEC §16): a confidential client asks for
a token for itself, with its own roles.

granted = requested ∩ what the client's roles grant under the live policy ∩ the client's
allowed scopes, with the ``invalid_scope`` rules of the password grant (SPEC §7). The
token's ``sub`` is the client_id, it has no ``username`` and its ``roles`` are the
client's; no refresh token (RFC 6749 §4.4.3: the client can simply ask again).
"""

from __future__ import annotations

from authlib.oauth2.rfc6749 import grants
from authlib.oauth2.rfc6749.errors import InvalidScopeError
from authlib.oauth2.rfc6749.hooks import hooked

from authserver.models.client import CONFIDENTIAL_AUTH_METHODS
from authserver.policy import InvalidScope, grant_scopes, parse_scope
from authserver.services import policy_store


class ClientCredentialsGrant(grants.ClientCredentialsGrant):
    """Authlib's grant with the granting rule of SPEC §7 applied to the client's roles.

    Only the secret-based methods authenticate here: a public client (method ``none``)
    has no credentials to present (RFC 6749 §4.4 "MUST only be used by confidential
    clients"), so it gets ``invalid_client`` like any failed authentication.
    """

    TOKEN_ENDPOINT_AUTH_METHODS = CONFIDENTIAL_AUTH_METHODS

    def validate_requested_scope(self) -> None:
        """requested ∩ the client's roles now ∩ its allowed scopes, or ``invalid_scope``."""
        client = self.request.client
        try:
            requested = parse_scope(self.request.payload.scope)
            _, policy = policy_store.live_policy()
            granted = grant_scopes(policy, requested, client.roles, client.scope_list)
        except InvalidScope as exc:
            raise InvalidScopeError(exc.description) from None
        self.request.scope = " ".join(granted)

    @hooked
    def create_token_response(self):
        """Authlib's, with the granted scope instead of the requested one, and never a
        refresh token (RFC 6749 §4.4.3)."""
        token = self.generate_token(scope=self.request.scope, include_refresh_token=False)
        self.save_token(token)
        return 200, token, self.TOKEN_RESPONSE_HEADER
