"""The password and refresh_token grants: thin subclasses over Authlib's storage hooks.

Both apply the granting rule of SPEC §7 against the newest policy version (the live
state's: no query per grant), and both answer RFC 6749 §5.2 ``invalid_grant`` where Authlib
would say ``invalid_request``. Each grant commits once: its audit events with its tokens.
"""

from __future__ import annotations

from typing import cast

from authlib.oauth2 import OAuth2Error
from authlib.oauth2.rfc6749 import grants
from authlib.oauth2.rfc6749.errors import InvalidGrantError, InvalidScopeError

from authserver import live
from authserver.models.client import CLIENT_AUTH_METHODS
from authserver.oauth2 import dpop
from authserver.oauth2.outcomes import NOT_A_GUESS, mark
from authserver.policy import InvalidScope, Policy, grant_scopes, parse_scope
from authserver.services import login, policy_store, tokens
from authserver.services.tokens import owners


def _granted_scope(request, user, ceiling: str | None = None) -> str:
    """requested ∩ the user's roles now ∩ the client's scopes (∩ the family's ceiling)."""
    try:
        requested = parse_scope(request.payload.scope)
        policy = _live_policy()
        granted = grant_scopes(
            policy,
            requested,
            user.roles,
            request.client.scope_list,
            ceiling.split() if ceiling is not None else None,
        )
    except InvalidScope as exc:
        raise InvalidScopeError(exc.description) from None
    return " ".join(granted)


def _live_policy() -> Policy:
    """The newest policy, from the live state (fresh within SPEC §12's bound, and at once
    in the process that changed it); from the store when the state has none yet."""
    current = live.current().policy
    if current is None:
        return policy_store.live_policy()[1]
    return cast(Policy, current[1])  # the live state types it by what narrowing uses


class PasswordGrant(grants.ResourceOwnerPasswordCredentialsGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = CLIENT_AUTH_METHODS

    def authenticate_token_endpoint_client(self):
        client = super().authenticate_token_endpoint_client()
        self.request.client = client  # Authlib sets it only after authenticate_user
        return client

    def authenticate_user(self, username: str, password: str):
        user = login.login(username, password, client_id=self.request.client.client_id)
        if user is None:
            # One answer for an unknown user, a wrong password and a disabled account.
            raise InvalidGrantError("Invalid username or password.")
        return user

    def validate_token_request(self) -> None:
        """Authlib's; a grant refused after a successful login still records the login."""
        try:
            super().validate_token_request()
        except OAuth2Error:
            if self.request.user is not None:
                login.commit_alone()
            raise

    def validate_requested_scope(self) -> None:
        self.request.scope = _granted_scope(self.request, self.request.user)

    def create_token_response(self):
        # A refresh token only for a client that may use it: else it would start a
        # refresh family nobody can ever use.
        may_refresh = self.request.client.check_grant_type(RefreshGrant.GRANT_TYPE)
        token = self.generate_token(
            user=self.request.user, scope=self.request.scope, include_refresh_token=may_refresh
        )
        # The grant's writes come last, after the signing: on SQLite the first write takes
        # the one write lock, which the other workers' logins then wait for.
        login.write_pending()  # the login's event (and a rehash)
        self.save_token(token)  # a refresh family: committed with the login's event
        if not may_refresh:
            login.commit_alone()
        return 200, token, self.TOKEN_RESPONSE_HEADER


class RefreshGrant(grants.RefreshTokenGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = CLIENT_AUTH_METHODS
    INCLUDE_NEW_REFRESH_TOKEN = True  # rotate on every use

    def authenticate_refresh_token(self, refresh_token: str):
        """The usable token, or None; a used one is reuse and revokes its family, unless it
        is a repeat within the grace (SPEC §6). A token we issued is no guess: whatever
        happens next, this request is not counted by the per-IP rate limit."""
        token = tokens.find(refresh_token)
        if token is None:
            return None
        mark(NOT_A_GUESS)
        return tokens.usable_for_refresh(token, self.request.client.client_id)

    def _validate_token_scope(self, token) -> None:
        """Replaced by the granting rule, which needs the user (see validate_token_request)."""

    def validate_token_request(self) -> None:
        super().validate_token_request()
        token = self.request.refresh_token
        dpop.check_refresh(token.family, self.request.client)  # a bound family: its key
        user = self.authenticate_user(token)
        if user is None:
            raise InvalidGrantError("The user of this refresh token is disabled or gone.")
        self.request.user = user
        self.request.scope = _granted_scope(self.request, user, ceiling=token.family.scope)

    def authenticate_user(self, refresh_token):
        return owners.enabled(refresh_token.family.user_id)

    def create_token_response(self):
        """Authlib's, with the granted scope instead of the requested one; save_token rotates."""
        token = self.generate_token(
            user=self.request.user, scope=self.request.scope, include_refresh_token=True
        )
        self.save_token(token)
        return 200, token, self.TOKEN_RESPONSE_HEADER

    def revoke_old_credential(self, refresh_token) -> None:
        """Done atomically by the claim in save_token (Authlib calls this after saving)."""
