"""Proposed next policies: a whole document (YAML or JSON), one role put, one role removed.

Each is validated as a whole policy, once, and comes back as a :class:`Revision` whether it
is valid or not: the caller decides what an invalid one costs (a 422, a CLI exit status).
"""

from __future__ import annotations

from dataclasses import dataclass

from authserver.policy.bodies import YAML, BodyError, decode, parse_json, read_role
from authserver.policy.issues import PolicyIssue, Reporter, format_path
from authserver.policy.loader import LoadResult, load_policy_data, load_policy_yaml
from authserver.policy.model import Policy


@dataclass(frozen=True)
class Revision:
    """The YAML text to store ("" when invalid) and what loading it found."""

    source: str
    result: LoadResult

    @property
    def policy(self) -> Policy | None:
        return self.result.policy


def _refused(issues: list[PolicyIssue]) -> Revision:
    return Revision("", LoadResult(None, issues, []))


def _built(result: LoadResult) -> Revision:
    """A revision of a document that exists only as data: stored as the policy's YAML."""
    return Revision(result.policy.to_yaml() if result.policy is not None else "", result)


def from_source(source: str) -> Revision:
    """YAML text, stored as written (comments and all): a file, a body, an old version."""
    return Revision(source, load_policy_yaml(source))


def from_body(body: bytes | str, kind: str) -> Revision:
    """A whole policy sent as YAML (stored as sent) or JSON (stored as YAML)."""
    try:
        if kind == YAML:
            return from_source(decode(body))
        return _built(load_policy_data(parse_json(body)))
    except BodyError as exc:
        return _refused(exc.issues)


def with_role(base: Policy, name: str, body: bytes | str, kind: str) -> Revision:
    """``base`` with role ``name`` created or replaced by the body (YAML or JSON).

    Issues inside a YAML body carry lines and columns counted in the body as sent; paths
    are policy paths (``roles.<name>.scopes[0]``), so an issue elsewhere in the policy
    (a role this one's change breaks) can be told apart.
    """
    try:
        role = read_role(name, body, kind)
    except BodyError as exc:
        return _refused(exc.issues)
    document = base.to_document()
    document["roles"][name] = role.data
    reporter = Reporter(role.locate)
    reporter.errors.extend(role.errors)
    return _marked_as(base, _built(load_policy_data(document, reporter)))


def without_role(base: Policy, name: str) -> Revision:
    """``base`` without role ``name`` (which it has); refused while other roles inherit it."""
    heirs = [
        PolicyIssue(
            None,
            None,
            format_path(("roles", heir, "inherits", role.inherits.index(name))),
            f"role {heir!r} inherits {name!r}: remove it from {heir!r} first",
        )
        for heir, role in base.roles.items()
        if name in role.inherits
    ]
    if heirs:
        return _refused(heirs)
    document = base.to_document()
    del document["roles"][name]
    return _marked_as(base, _built(load_policy_data(document)))


def _marked_as(base: Policy, revision: Revision) -> Revision:
    """A role edit keeps ``base``'s tests, which then point where ``base`` wrote them (the
    live document an admin reads), since they are rebuilt from data that has no lines."""
    policy = revision.policy
    if policy is None or not base.tests:
        return revision
    written = {test.name: test for test in base.tests}
    tests = tuple(
        test.with_marks_of(written[test.name]) if test.name in written else test
        for test in policy.tests
    )
    result = revision.result
    return Revision(
        revision.source, LoadResult(policy.with_tests(tests), result.errors, result.warnings)
    )
