"""RFC 7662 token introspection on Authlib's IntrospectionEndpoint.

Clients registered with ``--introspect`` (resource servers) may introspect any token, other
clients only their own; anything else answers exactly ``{"active": false}``.
"""

from __future__ import annotations

from authlib.oauth2.rfc6749 import InvalidRequestError
from authlib.oauth2.rfc7662 import IntrospectionEndpoint as _IntrospectionEndpoint

from authserver.models.client import CLIENT_AUTH_METHODS
from authserver.oauth2.token_lookup import FoundToken, find_token


class IntrospectionEndpoint(_IntrospectionEndpoint):
    CLIENT_AUTH_METHODS = CLIENT_AUTH_METHODS

    def check_params(self, request, client) -> None:
        """``token`` is required; ``token_type_hint`` is a hint, never a reason to refuse."""
        if not request.form.get("token"):
            raise InvalidRequestError("Missing 'token' in request.")

    def query_token(self, token_string: str, token_type_hint: str | None):
        return find_token(token_string, token_type_hint)

    def check_permission(self, token: FoundToken, client, request) -> bool:
        return client.can_introspect or token.check_client(client)

    def introspect_token(self, token: FoundToken) -> dict:
        return token.describe()
