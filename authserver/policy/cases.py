"""Policy tests (SPEC §14): the ``tests:`` list that pins down what a policy means.

Each test names a hypothetical principal (its roles, and optionally the scopes its client
may ask for) and scopes it must get (``grants``) and must not get (``denies``). The verdict
comes from :func:`granting.grant_scopes`, the function the token endpoint uses, so a test
can never pass here and fail at a token request. Every entry keeps where it was written,
so a failure points at the scope that fails, as a compiler would.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from authserver.policy.granting import grant_scopes
from authserver.policy.issues import Path, PolicyIssue, Reporter, type_name
from authserver.policy.model import Policy
from authserver.policy.scopes import InvalidScope

TEST_KEYS = ("name", "roles", "client_scopes", "grants", "denies")
REQUIRED_KEYS = ("name", "roles")


@dataclass(frozen=True)
class Mark:
    """Where something was written: 1-based line and column (None for JSON) and its path."""

    line: int | None
    column: int | None
    path: str

    @classmethod
    def of(cls, issue: PolicyIssue) -> Mark:
        return cls(issue.line, issue.column, issue.path)

    def issue(self, message: str) -> PolicyIssue:
        return PolicyIssue(self.line, self.column, self.path, message)


@dataclass(frozen=True)
class PolicyTest:
    """One test as written; the marks (positions) do not count in equality."""

    name: str
    roles: tuple[str, ...]
    client_scopes: tuple[str, ...] | None = None
    grants: tuple[str, ...] = ()
    denies: tuple[str, ...] = ()
    mark: Mark = field(default=Mark(None, None, ""), compare=False)
    grant_marks: tuple[Mark, ...] = field(default=(), compare=False)
    deny_marks: tuple[Mark, ...] = field(default=(), compare=False)

    def to_document(self) -> dict:
        """The test as written in a policy document."""
        entry: dict[str, object] = {"name": self.name, "roles": list(self.roles)}
        if self.client_scopes is not None:
            entry["client_scopes"] = list(self.client_scopes)
        if self.grants:
            entry["grants"] = list(self.grants)
        if self.denies:
            entry["denies"] = list(self.denies)
        return entry


@dataclass(frozen=True)
class TestResult:
    """A test's verdict: ``failures`` each point at the scope of ``grants``/``denies``."""

    __test__ = False  # not a pytest class

    name: str
    failures: tuple[PolicyIssue, ...]

    @property
    def passed(self) -> bool:
        return not self.failures

    def to_dict(self) -> dict:
        return {
            "name": self.name,
            "passed": self.passed,
            "failures": [issue.to_dict() for issue in self.failures],
        }


# -- reading ------------------------------------------------------------------------------


def check_tests(
    value: object, scopes: Iterable[str], roles: Iterable[str], rep: Reporter
) -> tuple[PolicyTest, ...]:
    """The ``tests:`` list, every mistake in it reported where it was written: wrong types,
    unknown keys, a missing name or roles, unknown roles, undeclared scopes, duplicate names."""
    if not isinstance(value, list):
        rep.error(("tests",), f"tests must be a list of tests, got {type_name(value)}")
        return ()
    declared, known = frozenset(scopes), frozenset(roles)
    tests: list[PolicyTest] = []
    first: dict[str, int] = {}
    for index, item in enumerate(value):
        test = _check_test(item, ("tests", index), declared, known, rep)
        if test is None:
            continue
        if test.name in first:
            rep.error(
                ("tests", index, "name"),
                f"duplicate test name {test.name!r} (also tests[{first[test.name]}])",
            )
        first.setdefault(test.name, index)
        tests.append(test)
    return tuple(tests)


def _check_test(
    item: object, path: Path, declared: frozenset[str], known: frozenset[str], rep: Reporter
) -> PolicyTest | None:
    if not isinstance(item, dict):
        rep.error(path, f"a test must be a mapping with 'name' and 'roles', got {type_name(item)}")
        return None
    for key in item:
        if key not in TEST_KEYS:
            expected = ", ".join(repr(k) for k in TEST_KEYS)
            rep.error(
                (*path, key), f"unknown key {key!r} in a test: expected {expected}", key=True
            )
    for key in REQUIRED_KEYS:
        if key not in item:
            rep.error(path, f"a test needs {key!r}")
    name = item.get("name", f"tests[{path[1]}]")
    if not isinstance(name, str) or not name.strip():
        rep.error((*path, "name"), f"a test's name must be a non-empty string, got {name!r}")
        name = f"tests[{path[1]}]"
    roles = _names(item.get("roles", []), (*path, "roles"), "role", known, rep)
    client = None
    if "client_scopes" in item:
        client = _names(item["client_scopes"], (*path, "client_scopes"), "scope", declared, rep)
    grants = _names(item.get("grants", []), (*path, "grants"), "scope", declared, rep)
    denies = _names(item.get("denies", []), (*path, "denies"), "scope", declared, rep)
    if all(item.get(key) in (None, []) for key in ("grants", "denies")):
        rep.error(path, f"test {name!r} checks nothing: give it 'grants' or 'denies'")
    both = set(grants) & set(denies)
    for scope in sorted(both):
        rep.error((*path, "denies"), f"test {name!r} both grants and denies {scope!r}")
    return PolicyTest(
        name,
        tuple(roles),
        tuple(client) if client is not None else None,
        tuple(grants),
        tuple(denies),
        Mark.of(rep.issue(path, "")),
        tuple(Mark.of(rep.issue((*path, "grants", i), "")) for i in range(len(grants))),
        tuple(Mark.of(rep.issue((*path, "denies", i), "")) for i in range(len(denies))),
    )


def _names(
    value: object, path: Path, what: str, known: frozenset[str], rep: Reporter
) -> list[str]:
    """A list of known role or scope names; each other item is an error at its place.

    Items in error are kept out, so indexes of the list as written are kept by the caller
    only when every item is fine (the test is then refused anyway)."""
    if not isinstance(value, list):
        rep.error(path, f"{path[-1]} must be a list of {what}s, got {type_name(value)}")
        return []
    names: list[str] = []
    for index, item in enumerate(value):
        if not isinstance(item, str):
            rep.error((*path, index), f"{what} must be a string, got {type_name(item)}")
        elif item not in known:
            where = "under 'scopes'" if what == "scope" else "under 'roles'"
            rep.error((*path, index), f"{what} {item!r} is not declared {where}")
        else:
            names.append(item)
    return names


# -- running ------------------------------------------------------------------------------


def run_tests(policy: Policy) -> list[TestResult]:
    """Every test of ``policy``, in document order."""
    return [run_test(test, granted_to(policy, test)) for test in policy.tests]


def granted_to(policy: Policy, test: PolicyTest) -> frozenset[str]:
    """What a token request asking for nothing in particular gets for the test's principal:
    :func:`grant_scopes`, the token endpoint's rule, with no scope requested (everything
    the roles and the client allow); nothing at all is ``invalid_scope`` there."""
    try:
        return frozenset(grant_scopes(policy, None, test.roles, test.client_scopes))
    except InvalidScope:
        return frozenset()


def failures(results: Iterable[TestResult]) -> list[PolicyIssue]:
    """Every failure of ``results``, in the order of the document."""
    return sorted((f for r in results for f in r.failures), key=PolicyIssue.sort_key)


def run_test(test: PolicyTest, granted: frozenset[str]) -> TestResult:
    """The verdict of ``test`` given what the principal it describes is ``granted``."""
    who = _who(test)
    failures = [
        mark.issue(f"test {test.name!r}: {scope} is not granted to {who}, but the test grants it")
        for scope, mark in zip(
            test.grants, _marks(test.grant_marks, test, test.grants), strict=True
        )
        if scope not in granted
    ]
    failures += [
        mark.issue(f"test {test.name!r}: {scope} is granted to {who}, but the test denies it")
        for scope, mark in zip(
            test.denies, _marks(test.deny_marks, test, test.denies), strict=True
        )
        if scope in granted
    ]
    return TestResult(test.name, tuple(failures))


def _marks(marks: tuple[Mark, ...], test: PolicyTest, scopes: tuple[str, ...]) -> list[Mark]:
    """One mark per scope: its own, or the test's when the entries' are not known."""
    return list(marks) if len(marks) == len(scopes) else [test.mark] * len(scopes)


def _who(test: PolicyTest) -> str:
    roles = ", ".join(test.roles) or "no role"
    if test.client_scopes is None:
        return f"roles [{roles}]"
    return f"roles [{roles}] through a client allowed [{' '.join(test.client_scopes)}]"
