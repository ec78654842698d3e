"""Which scopes a token gets (SPEC §7 "Granting", §6 refresh ceiling, §16 client roles).

granted = requested ∩ the user's scopes (roles, with inheritance) ∩ the client's allowed
scopes [∩ the refresh family's ceiling]. Unknown scopes and attempts to widen a refresh
beyond the login's scope are refused outright (RFC 6749 §6: a refreshed token "MUST NOT
include any scope not originally granted"); known scopes the user lacks are dropped, and
the response's ``scope`` says what was granted (RFC 6749 §3.3).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from authserver.policy.model import Policy
from authserver.policy.scopes import SCOPE_TOKEN, InvalidScope

PASSWORD_GRANT = "password"
CLIENT_CREDENTIALS_GRANT = "client_credentials"


@dataclass(frozen=True)
class ClientFacts:
    """What the token endpoint checks of a client: may it use the grant (else RFC 6749
    ``unauthorized_client``), is it disabled (it cannot authenticate: ``invalid_client``),
    and which scopes it may ask for (None: not restricted)."""

    grant_types: frozenset[str]
    scopes: frozenset[str] | None
    disabled: bool = False
    #: a public client has no secret: it cannot authenticate for client_credentials
    public: bool = False


@dataclass(frozen=True)
class Decision:
    """A token request's outcome: the granted scopes, or the RFC 6749 §5.2 error."""

    granted: tuple[str, ...] | None
    error: str | None = None
    description: str | None = None


DISABLED_CLIENT = "the client is disabled: it cannot authenticate (invalid_client)"
NO_PASSWORD_GRANT = "the client may not use the password grant (unauthorized_client)"
DISABLED_USER = "the user is disabled: the token endpoint refuses the login (invalid_grant)"
PUBLIC_CLIENT = (
    "a public client has no credentials to authenticate with for client_credentials "
    "(invalid_client, RFC 6749 section 4.4)"
)
NO_CLIENT_CREDENTIALS_GRANT = (
    "the client may not use the client_credentials grant (unauthorized_client)"
)


def decide_password_grant(
    policy: Policy,
    requested: Iterable[str] | None,
    user_roles: Iterable[str],
    user_disabled: bool,
    client: ClientFacts | None,
) -> Decision:
    """What a password-grant request with the right password gets, in the order the token
    endpoint checks (client, its grant types, the user, then the scopes). ``client`` None:
    no particular client (only the user's roles and the policy count)."""
    if client is not None and client.disabled:
        return Decision(None, "invalid_client", DISABLED_CLIENT)
    if client is not None and PASSWORD_GRANT not in client.grant_types:
        return Decision(None, "unauthorized_client", NO_PASSWORD_GRANT)
    if user_disabled:
        return Decision(None, "invalid_grant", DISABLED_USER)
    allowed = client.scopes if client is not None else None
    try:
        return Decision(tuple(grant_scopes(policy, requested, user_roles, allowed)))
    except InvalidScope as exc:
        return Decision(None, "invalid_scope", exc.description)


def decide_client_credentials(
    policy: Policy,
    requested: Iterable[str] | None,
    client_roles: Iterable[str],
    client: ClientFacts,
) -> Decision:
    """What a client_credentials request (SPEC §16) by ``client`` gets, in the order the
    token endpoint checks: the client authenticates (not public, not disabled), may use
    the grant, then :func:`grant_scopes` with the client's own roles and allowed scopes."""
    if client.public or client.disabled:
        return Decision(
            None, "invalid_client", PUBLIC_CLIENT if client.public else DISABLED_CLIENT
        )
    if CLIENT_CREDENTIALS_GRANT not in client.grant_types:
        return Decision(None, "unauthorized_client", NO_CLIENT_CREDENTIALS_GRANT)
    try:
        return Decision(tuple(grant_scopes(policy, requested, client_roles, client.scopes)))
    except InvalidScope as exc:
        return Decision(None, "invalid_scope", exc.description)


def grant_scopes(
    policy: Policy,
    requested: Iterable[str] | None,
    user_roles: Iterable[str],
    client_scopes: Iterable[str] | None,
    ceiling: Iterable[str] | None = None,
) -> list[str]:
    """The scopes to grant, in policy declaration order, or :class:`InvalidScope`.

    ``client_scopes=None``: the client is not restricted. ``ceiling``: the refresh
    family's scope (None at a password grant). ``requested`` None or empty: ask for the
    ceiling at a refresh, else everything the client may have.
    """
    wanted = list(dict.fromkeys(requested)) if requested is not None else []
    ceiling_set = None if ceiling is None else frozenset(ceiling)
    if wanted:
        _check_requested(policy, wanted, ceiling_set)
    granted = set(policy.scopes_for_roles(user_roles))
    if wanted:
        granted.intersection_update(wanted)
    if client_scopes is not None:
        granted.intersection_update(client_scopes)
    if ceiling_set is not None:
        granted.intersection_update(ceiling_set)
    if not granted:
        raise InvalidScope(_nothing_left(bool(wanted)))
    return policy.in_declared_order(granted)


def _check_requested(policy: Policy, wanted: list[str], ceiling: frozenset[str] | None) -> None:
    if not all(isinstance(s, str) and SCOPE_TOKEN.fullmatch(s) for s in wanted):
        raise InvalidScope("malformed scope (RFC 6749 section 3.3)")
    unknown = [scope for scope in wanted if scope not in policy.scopes]
    if unknown:
        raise InvalidScope(f"unknown scope: {' '.join(unknown)}")
    if ceiling is not None:
        wider = [scope for scope in wanted if scope not in ceiling]
        if wider:
            raise InvalidScope(f"scope not originally granted: {' '.join(wider)}")


def _nothing_left(requested: bool) -> str:
    if requested:
        return "none of the requested scopes can be granted to this user and client"
    return "no scope can be granted to this user and client"
