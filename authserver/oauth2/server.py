"""One Authlib AuthorizationServer per app, built by the factory and kept in its AppState.

Authlib keeps grants and config on the server instance: a module-level server shared by
several apps would pile up grants and let the last app's config win.
"""

from __future__ import annotations

import contextvars

from authlib.integrations.flask_oauth2 import AuthorizationServer
from authlib.oauth2 import OAuth2Error
from authlib.oauth2.rfc6749.errors import (
    InvalidClientError,
    InvalidGrantError,
    InvalidRequestError,
)
from flask import Flask

from authserver.live import clients as live_clients
from authserver.oauth2 import dpop
from authserver.oauth2.client_credentials import ClientCredentialsGrant
from authserver.oauth2.grants import PasswordGrant, RefreshGrant
from authserver.oauth2.introspection import IntrospectionEndpoint
from authserver.oauth2.outcomes import CLIENT_AUTH_FAILED, mark
from authserver.oauth2.revocation import RevocationEndpoint
from authserver.services import tokens
from authserver.services.tokens import grant_clients

#: The one description of a failed client authentication (RFC 6749 §5.2's own words), for an
#: unknown client, a wrong secret and a confidential client without one alike (SPEC §10).
CLIENT_AUTH_FAILED_TEXT = "Client authentication failed."

#: Which endpoint is authenticating its client (see :func:`query_client`).
_ENDPOINT: contextvars.ContextVar[str] = contextvars.ContextVar("authserver_endpoint", default="")


def query_client(client_id: str):
    """Authlib's ``query_client``. The token endpoint reads the row with
    :func:`grant_clients.find` (a Core statement, no ORM object); introspection and
    revocation go through :func:`live_clients.find` (introspection: in-process client
    records, SPEC §12; revocation: ``services.clients.find``)."""
    if _ENDPOINT.get() == "token":
        return grant_clients.find(client_id)
    return live_clients.find(client_id)


class TokenServer(AuthorizationServer):
    """Authlib's server, except that a missing ``grant_type`` is ``invalid_request``, and a
    failed client authentication says one thing whatever the cause.

    Authlib answers ``unsupported_grant_type`` for it; RFC 6749 §5.2 keeps that code for a
    grant type the server does not support, and a missing REQUIRED parameter is
    ``invalid_request``.
    """

    def authenticate_client(self, request, methods, endpoint="token"):
        """Authlib's, but an unknown client and a wrong secret get the same text (Authlib
        says "does not exist" for one and prints its method list, ``none`` included, for
        the other), and the failure is marked for the per-IP rate limit (every endpoint)."""
        reset = _ENDPOINT.set(endpoint)
        try:
            client = super().authenticate_client(request, methods, endpoint)
        except InvalidClientError:
            mark(CLIENT_AUTH_FAILED)
            # Always 401, as Authlib answers a known client; whether a challenge goes with
            # it depends on what was sent, never on whether the client exists.
            raise InvalidClientError(
                description=CLIENT_AUTH_FAILED_TEXT, status_code=401
            ) from None
        finally:
            _ENDPOINT.reset(reset)
        if endpoint == "token":
            dpop.check_client(client)  # a --dpop client must prove a key (RFC 9449 §5.2)
        return client

    def create_token_response(self, request=None):
        oauth_request = self.create_oauth2_request(request)
        if not oauth_request.payload.grant_type:
            error = InvalidRequestError("Missing 'grant_type' in request.")
            return self.handle_error_response(oauth_request, error)
        try:  # a DPoP proof is checked before any grant runs (RFC 9449 §5)
            dpop.check_token_request()
        except OAuth2Error as error:
            return dpop.add_nonce(self.handle_error_response(oauth_request, error))
        return dpop.add_nonce(super().create_token_response(request))


def _save_token(app: Flask):
    def save_token(token: dict, request) -> None:
        """Authlib's storage hook: a refresh rotates its family, a login starts one."""
        value = token.get("refresh_token")
        if request.payload.grant_type == RefreshGrant.GRANT_TYPE:
            client_id, username = request.client.client_id, request.user.username
            old = request.refresh_token
            assert value, "RefreshGrant.INCLUDE_NEW_REFRESH_TOKEN: a refresh issues a new one"
            if not tokens.rotate(old, value, token["scope"], client_id, username):
                raise InvalidGrantError()  # lost the claim: reuse, the family is revoked
        elif value:
            ttl = app.config["REFRESH_TOKEN_TTL"]
            jkt = dpop.refresh_binding(request.client)  # RFC 9449 §5: a public client's key
            tokens.issue(
                request.user.id, request.client.client_id, token["scope"], value, ttl, jkt
            )

    return save_token


def build(app: Flask) -> TokenServer:
    """The app's token server with our grants, endpoints and token generator."""
    server = TokenServer()
    server.init_app(app, query_client=query_client, save_token=_save_token(app))
    # init_app registered Authlib's default generator: ours must come after it.
    server.register_token_generator("default", dpop.DPoPTokenGenerator(app))
    server.register_grant(PasswordGrant)
    server.register_grant(RefreshGrant)
    server.register_grant(ClientCredentialsGrant)
    server.register_endpoint(RevocationEndpoint)
    server.register_endpoint(IntrospectionEndpoint)
    dpop.init_app(app)
    return server
