"""Which scopes a token gets (SPEC §7 "Granting", §6 refresh ceiling).

granted = requested ∩ the user's scopes (roles, with inheritance) ∩ the client's allowed
scopes [∩ the refresh family's ceiling]. Unknown scopes and attempts to widen a refresh
beyond the login's scope are refused outright (RFC 6749 §6: a refreshed token "MUST NOT
include any scope not originally granted"); known scopes the user lacks are dropped, and
the response's ``scope`` says what was granted (RFC 6749 §3.3).
"""

from __future__ import annotations

from collections.abc import Iterable

from authserver.policy.model import Policy
from authserver.policy.scopes import SCOPE_TOKEN, InvalidScope


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
