"""Proposed next policies: a whole document (YAML or JSON), one role put, one role removed.

Each is validated as a whole policy, once, and comes back as a :class:`Revision` whether it
is valid or not: the caller decides what an invalid one costs (a 422, a CLI exit status).
"""

from __future__ import annotations

from dataclasses import dataclass

from authserver.policy.bodies import YAML, BodyError, decode, parse_json, read_role
from authserver.policy.issues import Locate, Path, PolicyIssue, Reporter, format_path
from authserver.policy.loader import LoadResult, load_policy_data, load_policy_yaml
from authserver.policy.model import Policy
from authserver.policy.yamltree import NodeLocator, compose


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


def with_role(
    base: Policy, name: str, body: bytes | str, kind: str, base_source: str | None = None
) -> Revision:
    """``base`` with role ``name`` created or replaced by the body (YAML or JSON).

    Issues inside a YAML body carry lines and columns counted in the body as sent; paths
    are policy paths (``roles.<name>.scopes[0]``), so an issue elsewhere in the policy
    (a role this one's change breaks) can be told apart. Issues in the tests, which the
    body does not hold, point into ``base_source`` (the live document an admin reads).
    """
    try:
        role = read_role(name, body, kind)
    except BodyError as exc:
        return _refused(exc.issues)
    document = base.to_document()
    document["roles"][name] = role.data
    reporter = Reporter(_tests_located_in(base_source, role.locate))
    reporter.errors.extend(role.errors)
    return _built(load_policy_data(document, reporter))


def without_role(base: Policy, name: str, base_source: str | None = None) -> Revision:
    """``base`` without role ``name`` (which it has); refused while other roles inherit it.
    Issues in the tests (one naming the role) point into ``base_source``."""
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
    return _built(load_policy_data(document, Reporter(_tests_located_in(base_source, None))))


def _tests_located_in(source: str | None, others: Locate | None) -> Locate | None:
    """Paths under ``tests`` located in ``source``; other paths by ``others``.

    A role edit leaves the tests as the base wrote them, so their places in the base's
    text are their places (a failing test, an unknown role a deletion leaves in one).
    """
    root = compose(source)[0] if source else None
    if root is None:
        return others
    in_source = NodeLocator(root)

    def locate(path: Path, key: bool) -> tuple[int | None, int | None]:
        if path[:1] == ("tests",):
            return in_source(path, key)
        return others(path, key) if others is not None else (None, None)

    return locate
