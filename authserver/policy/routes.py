"""Check the policy against the code: scopes that routes require must be declared.

A route requiring a scope the policy never declares can never be called, which is
almost always a typo on one side; it is a warning (not an error) so that a policy can be
deployed before the code that uses a new scope, or after the code that dropped one.
"""

from __future__ import annotations

from collections.abc import Iterable

from authserver.policy.issues import PolicyIssue
from authserver.policy.model import Policy


def undeclared_required_scopes(policy: Policy, required: Iterable[str]) -> list[PolicyIssue]:
    """One warning per distinct required scope the policy does not declare, in order."""
    return [
        PolicyIssue(
            None,
            None,
            "scopes",
            f"scope {scope!r} is required by a route but not declared in the policy",
        )
        for scope in dict.fromkeys(required)
        if scope not in policy.scopes
    ]
