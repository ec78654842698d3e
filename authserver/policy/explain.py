"""Why a user (or a client, for itself) gets a scope, or why not (SPEC §8, §16 ``explain``).

The verdict comes from :func:`decide_password_grant`, the checks the token endpoint makes
in its order (the client's state and grant types, the user's state, then the granting rule
of :func:`grant_scopes`), so an explanation can never disagree with what a token request
would get; this module only adds the reasons: which roles grant each scope and through
which inheritance chain, or what stops it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from authserver.policy.granting import (
    PUBLIC_CLIENT,
    ClientFacts,
    Decision,
    decide_client_credentials,
    decide_password_grant,
)
from authserver.policy.model import Policy, Role
from authserver.policy.scopes import wildcard_prefix

UNDECLARED = "undeclared"
NO_ROLE_GRANTS = "no_role_grants"
CLIENT_NOT_ALLOWED = "client_not_allowed"
USER_DISABLED = "user_disabled"
CLIENT_DISABLED = "client_disabled"
CLIENT_GRANT_TYPE = "client_grant_type"
CLIENT_PUBLIC = "client_public"
#: The scope alone would be granted, but another requested scope makes the whole request
#: ``invalid_scope`` (an undeclared or malformed one), so the token endpoint grants nothing.
REQUEST_INVALID = "request_invalid"

#: The request-wide refusals, by the RFC 6749 error the token endpoint answers.
REQUEST_REASONS = {
    "invalid_client": CLIENT_DISABLED,
    "unauthorized_client": CLIENT_GRANT_TYPE,
    "invalid_grant": USER_DISABLED,
}


@dataclass(frozen=True)
class Grant:
    """``path`` runs from a role the user holds to the role that lists the scope; ``via``
    is the ``prefix:*`` pattern that role lists when it does not name the scope itself."""

    path: tuple[str, ...]
    via: str | None = None

    def to_dict(self) -> dict:
        entry: dict[str, object] = {"role": self.path[0], "path": list(self.path)}
        if self.via is not None:
            entry["via"] = self.via
        return entry


@dataclass(frozen=True)
class ScopeVerdict:
    scope: str
    granted: bool
    grants: tuple[Grant, ...]
    reason: str | None = None

    def to_dict(self) -> dict:
        entry: dict[str, object] = {
            "granted": self.granted,
            "roles": [grant.to_dict() for grant in self.grants],
        }
        if self.reason is not None:
            entry["reason"] = self.reason
        return entry


@dataclass(frozen=True)
class Explanation:
    """``granted`` is what the token endpoint would grant (None: it answers an error);
    ``outcome`` is ``granted`` or that RFC 6749 error code, ``error`` says why."""

    requested: tuple[str, ...]
    granted: tuple[str, ...] | None
    error: str | None
    verdicts: tuple[ScopeVerdict, ...]
    outcome: str = "granted"

    def to_dict(self) -> dict:
        body: dict[str, object] = {
            "requested": list(self.requested),
            "granted": " ".join(self.granted) if self.granted is not None else None,
            "outcome": self.outcome,
        }
        if self.error is not None:
            body["error"] = self.error
        body["scopes"] = {verdict.scope: verdict.to_dict() for verdict in self.verdicts}
        return body


def explain_grant(
    policy: Policy,
    requested: Iterable[str] | None,
    user_roles: Iterable[str],
    client: ClientFacts | None,
    *,
    user_disabled: bool = False,
) -> Explanation:
    """Explain a password-grant request for ``requested`` (None: no ``scope`` parameter,
    in which case every declared scope is explained) by ``client`` (None: any client)."""
    wanted = tuple(dict.fromkeys(requested or ()))
    roles = tuple(dict.fromkeys(user_roles))
    decision = decide_password_grant(policy, wanted or None, roles, user_disabled, client)
    allowed = client.scopes if client is not None else None
    return _explained(policy, wanted, roles, decision, allowed)


def explain_client_grant(
    policy: Policy,
    requested: Iterable[str] | None,
    client_roles: Iterable[str],
    client: ClientFacts,
) -> Explanation:
    """Explain a client_credentials request (SPEC §16): the client's own roles, through
    :func:`decide_client_credentials`, the token endpoint's checks in its order."""
    wanted = tuple(dict.fromkeys(requested or ()))
    roles = tuple(dict.fromkeys(client_roles))
    decision = decide_client_credentials(policy, wanted or None, roles, client)
    return _explained(policy, wanted, roles, decision, client.scopes)


def _explained(
    policy: Policy,
    wanted: tuple[str, ...],
    roles: tuple[str, ...],
    decision: Decision,
    allowed: frozenset[str] | None,
) -> Explanation:
    """The verdict of ``decision`` for each scope, with the roles and chains behind it."""
    refused = REQUEST_REASONS.get(decision.error or "")
    if decision.description == PUBLIC_CLIENT:
        refused = CLIENT_PUBLIC
    given = frozenset(decision.granted or ())
    verdicts = []
    for scope in wanted or tuple(policy.scopes):
        grants = role_grants(policy, roles, scope)
        reason = None
        if scope not in given:
            reason = refused or _reason(policy, scope, grants, allowed)
        verdicts.append(ScopeVerdict(scope, scope in given, grants, reason))
    outcome = decision.error or "granted"
    return Explanation(wanted, decision.granted, decision.description, tuple(verdicts), outcome)


def role_grants(policy: Policy, roles: Iterable[str], scope: str) -> tuple[Grant, ...]:
    """Every chain by which one of ``roles`` grants ``scope`` (unknown roles grant nothing)."""
    grants = []
    for role in roles:
        if role in policy.roles:
            for path in policy.grant_paths(role, scope):
                grants.append(Grant(tuple(path), _via(policy.roles[path[-1]], scope)))
    return tuple(grants)


def _via(role: Role, scope: str) -> str | None:
    """The wildcard through which ``role`` grants ``scope``, None when it lists the scope."""
    if scope in role.scopes:
        return None
    for token in role.scopes:
        prefix = wildcard_prefix(token)
        if prefix is not None and scope.startswith(prefix):
            return token
    return None


def _reason(
    policy: Policy,
    scope: str,
    grants: tuple[Grant, ...],
    allowed: frozenset[str] | None,
) -> str:
    """The first thing that stops ``scope``, in the order an admin would fix them."""
    if scope not in policy.scopes:
        return UNDECLARED
    if not grants:
        return NO_ROLE_GRANTS
    if allowed is not None and scope not in allowed:
        return CLIENT_NOT_ALLOWED
    return REQUEST_INVALID
