"""What a policy write can be refused for, with the members the admin API shows.

Raised by :mod:`policy_store` (which alone decides staleness) and :mod:`policy_admin`;
the CLI prints their detail (or, for an invalid policy, every issue as FILE:LINE:COLUMN).
"""

from __future__ import annotations

from authserver.policy import LoadResult
from authserver.policy.cases import TestResult
from authserver.services.errors import Conflict, Invalid, PreconditionFailed


class Stale(PreconditionFailed):
    """The write was based on a version that is no longer the newest (HTTP 412)."""

    def __init__(self, current: int, expected: int | None = None) -> None:
        named = f"not {expected}" if expected is not None else "not the one you edited"
        super().__init__(
            f"the live policy is version {current}, {named}: "
            "fetch it, reapply your change and try again",
            current_version=current,
        )
        self.current, self.expected = current, expected


class RolesInUse(Conflict):
    """The new policy removes roles that users still hold; ``counts`` says how many each.

    ``held`` names them in a sentence; the detail adds how an admin API call takes them
    (the CLI says its own flag instead).
    """

    title = "Roles in use"

    def __init__(self, counts: dict[str, int]) -> None:
        held = ", ".join(f"{role} (held by {n} user(s))" for role, n in sorted(counts.items()))
        self.held = f"the new policy removes roles still held: {held}"
        roles = [{"role": role, "users": count} for role, count in sorted(counts.items())]
        super().__init__(
            f"{self.held}; add ?strip_roles=true to take these roles from their users",
            roles=roles,
        )
        self.counts = counts


class PolicyInvalid(Invalid):
    """The submitted policy has errors; ``result`` holds every one of them."""

    title = "Invalid policy"

    def __init__(self, result: LoadResult) -> None:
        super().__init__(
            f"the policy has {len(result.errors)} error(s); the live policy is unchanged",
            errors=[issue.to_dict() for issue in result.errors],
            warnings=[issue.to_dict() for issue in result.warnings],
        )
        self.result = result


class PolicyTestsFailed(PolicyInvalid):
    """The resulting policy loads but fails its own tests (SPEC §14): every write refuses
    it, each failure at the line and column of the scope that fails. ``results`` has every
    test's verdict."""

    title = "Policy tests fail"

    def __init__(self, result: LoadResult, results: list[TestResult]) -> None:
        super().__init__(result)
        failed = [r.name for r in results if not r.passed]
        self.detail = (
            f"{len(failed)} policy test(s) fail: {', '.join(repr(n) for n in failed)}; "
            "the live policy is unchanged"
        )
        self.args = (self.detail,)
        self.extra["tests"] = [r.to_dict() for r in results]
        self.results = results
