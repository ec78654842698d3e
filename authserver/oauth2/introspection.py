"""RFC 7662 token introspection on Authlib's IntrospectionEndpoint.

Clients registered with ``--introspect`` (resource servers) may introspect any token, other
clients only their own; anything else answers exactly ``{"active": false}``.
"""

from __future__ import annotations

from authlib.oauth2.rfc7662 import IntrospectionEndpoint as _IntrospectionEndpoint

from authserver.oauth2.token_lookup import FoundToken, PresentedTokenMixin


class IntrospectionEndpoint(PresentedTokenMixin, _IntrospectionEndpoint):
    def check_permission(self, token: FoundToken, client, request) -> bool:
        return client.can_introspect or token.check_client(client)

    def introspect_token(self, token: FoundToken) -> dict:
        return token.describe()
