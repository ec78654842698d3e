"""Load a role policy from YAML text or from an already-parsed (JSON) document.

Both paths run the same checks; YAML adds line and column to every issue. A policy is
only built when there is no error, so a caller can never serve a half-valid policy.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from authserver.policy.cases import PolicyTest, check_tests
from authserver.policy.issues import PolicyIssue, Reporter
from authserver.policy.model import Policy, Role
from authserver.policy.resolve import Resolution, resolve
from authserver.policy.schema import Draft, check_document
from authserver.policy.yamltree import Converter, NodeLocator, compose


@dataclass(frozen=True)
class LoadResult:
    """The policy (None when there are errors), every error and every warning.

    Issues are sorted by position. Warnings are only given when there is no error.
    """

    policy: Policy | None
    errors: list[PolicyIssue]
    warnings: list[PolicyIssue]

    @property
    def ok(self) -> bool:
        return not self.errors


MAX_NESTING_MESSAGE = "the document is nested too deeply to be a policy"


def load_policy_yaml(text: str) -> LoadResult:
    """Parse and validate YAML policy text; every issue carries a 1-based line and column."""
    try:
        with _gc_paused():
            return _load_yaml(text)
    except RecursionError:  # libyaml accepts nesting that a recursive walk cannot follow
        return LoadResult(None, [PolicyIssue(1, 1, "", MAX_NESTING_MESSAGE)], [])


def load_policy_data(data: object, reporter: Reporter | None = None) -> LoadResult:
    """Validate an already-parsed document (a JSON body); issues have a path, no line.

    ``reporter`` may locate paths and already hold errors found while reading part of the
    document (a role sent as YAML, inside a policy that was not).
    """
    try:
        with _gc_paused():
            return _validate(data, reporter or Reporter())
    except RecursionError:
        return LoadResult(None, [PolicyIssue(None, None, "", MAX_NESTING_MESSAGE)], [])


@contextmanager
def _gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while a policy loads.

    A large policy allocates tens of thousands of nodes, sets and tuples, none of them in
    reference cycles: the collector would run repeatedly and find nothing, which costs a
    third of the load time. Reference counting still frees everything. Only re-enables
    the collector if it was enabled, so nested or concurrent loads leave it as found.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _load_yaml(text: str) -> LoadResult:
    root, syntax_error = compose(text)
    if syntax_error is not None:
        return LoadResult(None, [syntax_error], [])
    if root is None:
        empty = PolicyIssue(1, 1, "", "the policy is empty: expected 'version', 'scopes', 'roles'")
        return LoadResult(None, [empty], [])
    converter = Converter(text)
    data = converter.convert(root)
    converter.report_aliases()
    reporter = Reporter(NodeLocator(root))
    reporter.errors.extend(converter.errors)
    if converter.has_alias:  # aliased values were left out: validating the rest would mislead
        return LoadResult(None, reporter.sorted_errors(), [])
    return _validate(data, reporter)


def _validate(data: object, reporter: Reporter) -> LoadResult:
    draft = check_document(data, reporter)
    if draft is None:
        return LoadResult(None, reporter.sorted_errors(), [])
    resolution = resolve(draft, reporter)
    tests = check_tests(draft.tests, draft.scopes, draft.roles, reporter)
    policy = None if reporter.errors else _build(draft, resolution, tests)
    return LoadResult(policy, reporter.sorted_errors(), reporter.sorted_warnings())


def _build(draft: Draft, resolution: Resolution, tests: tuple[PolicyTest, ...]) -> Policy:
    roles = {
        name: Role(
            name=name,
            description=role.description,
            inherits=tuple(parent for _, parent in role.inherits),
            scopes=tuple(scope for _, scope in role.scopes),
        )
        for name, role in draft.roles.items()
    }
    return Policy(draft.scopes, roles, resolution.direct, resolution.effective, tests)
