"""Preview a candidate policy (SPEC §14): what a save would say and do, changing nothing.

The candidate is read and validated as PUT /admin/policy reads it (:mod:`edits`), its
tests run as every write runs them (:func:`policy_admin.checked`'s rule), the diff is the
one ``/admin/policy/diff`` shows, and the impact is counted by role set in the database
(:mod:`services.impact`). Nothing is stored and no transaction writes.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from authserver.policy import LoadResult, PolicyIssue, diff_policies, edits
from authserver.policy.cases import TestResult, failures, run_tests
from authserver.policy.diff import PolicyDiff
from authserver.policy.impact import Impact
from authserver.policy.routes import undeclared_required_scopes
from authserver.services import impact, policy_store


@dataclass(frozen=True)
class Preview:
    """``errors`` are what PUT's 422 would list (the document's, or else its failing
    tests); ``diff`` and ``impact`` are None when the document does not load."""

    live_version: int
    errors: list[PolicyIssue]
    warnings: list[PolicyIssue]
    diff: PolicyDiff | None
    impact: Impact | None
    tests: list[TestResult]

    @property
    def valid(self) -> bool:
        return not self.errors

    def to_dict(self) -> dict:
        diff = None
        if self.diff is not None:
            diff = {
                "from": self.live_version,
                "to": None,
                "summary": self.diff.summary(),
                **self.diff.to_dict(),
            }
        return {
            "valid": self.valid,
            "errors": [issue.to_dict() for issue in self.errors],
            "warnings": [issue.to_dict() for issue in self.warnings],
            "diff": diff,
            "impact": self.impact.to_dict() if self.impact is not None else None,
            "tests": [result.to_dict() for result in self.tests],
        }


def preview(body: bytes | str, kind: str, required: Collection[str] = ()) -> Preview:
    """What saving ``body`` (YAML or JSON, as PUT) as the live policy would do."""
    return preview_revision(edits.from_body(body, kind), required)


def preview_revision(revision: edits.Revision, required: Collection[str] = ()) -> Preview:
    version, live = policy_store.live_policy()
    candidate = revision.policy
    if candidate is None:
        result: LoadResult = revision.result
        return Preview(version, result.errors, result.warnings, None, None, [])
    results = run_tests(candidate)
    warnings = [*revision.result.warnings, *undeclared_required_scopes(candidate, required)]
    return Preview(
        version,
        failures(results),
        warnings,
        diff_policies(live, candidate),
        impact.impact(live, candidate),
        results,
    )
