"""RFC 7662 token introspection on Authlib's IntrospectionEndpoint.

Clients registered with ``--introspect`` (resource servers) may introspect any token, other
clients only their own; anything else answers exactly ``{"active": false}``. The calling
client is authenticated from the live state's client records (no table read in the steady
state, SPEC §12).
"""

from __future__ import annotations

from authlib.oauth2.rfc7662 import IntrospectionEndpoint as _IntrospectionEndpoint

from authserver.live import clients as live_clients
from authserver.oauth2.token_lookup import FoundToken, PresentedTokenMixin


class IntrospectionEndpoint(PresentedTokenMixin, _IntrospectionEndpoint):
    def authenticate_endpoint_client(self, request):
        """Authlib's client authentication, the client looked up in this process's live
        records instead of its table row (see :mod:`authserver.live.clients`)."""
        with live_clients.in_process():
            return super().authenticate_endpoint_client(request)

    def check_permission(self, token: FoundToken, client, request) -> bool:
        return client.can_introspect or token.check_client(client)

    def introspect_token(self, token: FoundToken) -> dict:
        return token.describe()
