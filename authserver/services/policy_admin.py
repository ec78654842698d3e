"""Admin use cases on the versioned policy: replace it, edit one role, restore, compare, explain.

Every write names the version it was based on (``expected``): the HTTP API takes it from
``If-Match``, so two admins editing at once can never silently undo each other's work
(a lost update); the loser is told the policy moved on. Every write is validated as a
whole policy and stored as a new version by :func:`policy_store.save_version`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from authserver.policy import (
    LoadResult,
    Policy,
    PolicyDiff,
    PolicyIssue,
    diff_policies,
    explain_grant,
    load_policy_data,
    load_policy_yaml,
    parse_scope,
    undeclared_required_scopes,
)
from authserver.policy.issues import Reporter, format_path
from authserver.policy.resolve import resolve
from authserver.policy.schema import check_document
from authserver.policy.scopes import InvalidScope
from authserver.policy.yamltree import Converter, NodeLocator, compose
from authserver.services import clients, policy_store, users
from authserver.services.errors import Conflict, NotFound, ServiceError
from authserver.services.policy_store import PolicyInvalid, RolesInUse

YAML, JSON = "yaml", "json"
#: Members of a GET /admin/roles/<name> answer that are not part of the role as written:
#: accepted (and ignored) in a PUT, so a fetched role can be edited and sent back.
READ_ONLY_ROLE_MEMBERS = ("name", "effective_scopes", "inherited_by")
MAX_ROLE_NAME = 100  # the length of user_roles.role


class Stale(ServiceError):
    """The write was based on a version that is no longer the newest (HTTP 412)."""

    status = 412

    def __init__(self, expected: int, current: int) -> None:
        super().__init__(
            f"the live policy is version {current}, not {expected}: "
            "fetch it, reapply your change and try again"
        )
        self.expected, self.current = expected, current


@dataclass(frozen=True)
class Saved:
    """A new version: its number, policy, warnings and what changed from ``previous``."""

    version: int
    previous: int
    policy: Policy
    warnings: list[PolicyIssue]
    diff: PolicyDiff
    stripped: dict[str, int] = field(default_factory=dict)


def check_fresh(expected: int) -> int:
    """Raise Stale unless ``expected`` is the newest version; returns it."""
    current = policy_store.newest_version()
    if expected != current:
        raise Stale(expected, current)
    return current


def replace_policy(
    body: bytes | str,
    kind: str,
    *,
    expected: int,
    actor: str,
    strip_roles: bool = False,
    comment: str | None = None,
    required: Iterable[str] = (),
) -> Saved:
    """Make a whole policy document (YAML text, or JSON stored as YAML) the next version."""
    check_fresh(expected)
    if kind == YAML:
        source = _text(body)
        with _depth_guard():
            result = load_policy_yaml(source)
    else:
        result = load_policy_data(_json(body))
    if result.policy is None:
        raise PolicyInvalid(result)
    if kind != YAML:
        source = result.policy.to_yaml()
    note = comment or "policy replaced"
    return _save(source, result, expected, actor, note, strip_roles, required)


def put_role(
    name: str,
    body: bytes | str,
    kind: str,
    *,
    expected: int,
    actor: str,
    strip_roles: bool = False,
    comment: str | None = None,
    required: Iterable[str] = (),
) -> tuple[Saved, bool]:
    """Create or replace one role; returns the new version and whether the role is new.

    The role body is checked as part of the whole policy. Issues inside the body carry
    lines and columns counted in the body as sent (YAML); paths are policy paths
    (``roles.<name>.scopes[0]``) so an issue elsewhere in the policy can be told apart.
    """
    check_fresh(expected)
    _check_role_name(name)
    data, locate, yaml_errors = _role_body(name, body, kind)
    old = policy_store.policy_at(expected)
    document = old.to_document()
    created = name not in document["roles"]
    document["roles"][name] = data
    reporter = Reporter(_role_locator(name, locate) if locate else None)
    reporter.errors.extend(yaml_errors)
    draft = check_document(document, reporter)
    if draft is not None:
        resolve(draft, reporter)
    if reporter.errors:
        raise PolicyInvalid(LoadResult(None, reporter.sorted_errors(), []))
    policy = load_policy_data(document).policy
    checked = LoadResult(policy, [], reporter.sorted_warnings())
    note = comment or f"role {name} {'created' if created else 'changed'}"
    saved = _save(policy.to_yaml(), checked, expected, actor, note, strip_roles, required, old)
    return saved, created


def delete_role(
    name: str,
    *,
    expected: int,
    actor: str,
    strip_roles: bool = False,
    comment: str | None = None,
    required: Iterable[str] = (),
) -> Saved:
    """Remove one role; refused (Invalid) while other roles inherit from it."""
    check_fresh(expected)
    live = policy_store.policy_at(expected)
    if name not in live.roles:
        raise NotFound(f"no role named {name!r}")
    document = live.to_document()
    del document["roles"][name]
    heirs = [
        PolicyIssue(
            None,
            None,
            format_path(("roles", heir, "inherits", role.inherits.index(name))),
            f"role {heir!r} inherits {name!r}: remove it from {heir!r} first",
        )
        for heir, role in live.roles.items()
        if name in role.inherits
    ]
    result = load_policy_data(document)
    if heirs or result.policy is None:
        raise PolicyInvalid(LoadResult(None, heirs or result.errors, []))
    note = comment or f"role {name} deleted"
    source = result.policy.to_yaml()
    return _save(source, result, expected, actor, note, strip_roles, required, live)


def restore(
    version: int,
    *,
    expected: int,
    actor: str,
    strip_roles: bool = False,
    comment: str | None = None,
    required: Iterable[str] = (),
) -> Saved:
    """Store version ``version``'s source, unchanged, as the next version."""
    row = get_version(version)
    check_fresh(expected)
    result = load_policy_yaml(row.source)
    note = comment or f"restored version {version}"
    return _save(row.source, result, expected, actor, note, strip_roles, required)


def get_version(version: int):
    row = policy_store.get_version(version)
    if row is None:
        raise NotFound(f"no policy version {version}")
    return row


def diff_versions(old: int, new: int) -> PolicyDiff:
    return diff_policies(policy_store.policy_at(old), policy_store.policy_at(new))


def explain(username: str, scope: str | None, client_id: str | None = None) -> dict:
    """Which roles give ``username`` each scope of ``scope``, or why not (SPEC §8)."""
    user = users.find(username)
    if user is None:
        raise NotFound(f"no user named {username!r}")
    client = None
    if client_id is not None:
        client = clients.find(client_id)
        if client is None:
            raise NotFound(f"no client with client_id {client_id!r}")
    try:
        requested = parse_scope(scope)
    except InvalidScope as exc:
        raise ServiceError(exc.description) from None
    _, policy = policy_store.live_policy()
    explanation = explain_grant(
        policy,
        requested,
        user.roles,
        client.scope_list if client is not None else None,
        user_disabled=user.disabled,
    )
    head: dict[str, object] = {"user": user.username, "user_roles": user.roles}
    if client is not None:
        head["client"] = client.client_id
    return {**head, **explanation.to_dict()}


def _save(
    source: str,
    checked: LoadResult,
    expected: int,
    actor: str,
    comment: str,
    strip_roles: bool,
    required: Iterable[str],
    old: Policy | None = None,
) -> Saved:
    """Store ``source`` (already ``checked``: its warnings point into what was sent).

    ``save_version`` audits the new version ("policy.version") in its transaction.
    """
    policy = checked.policy
    diff = diff_policies(old or policy_store.policy_at(expected), policy)
    stripped = policy_store.removed_roles_in_use(policy) if strip_roles else {}
    try:
        new_version, _ = policy_store.save_version(
            source, actor=actor, expected=expected, comment=comment, strip_roles=strip_roles
        )
    except RolesInUse:
        raise
    except Conflict:  # the expected version moved on, or another writer won the race
        raise Stale(expected, policy_store.newest_version()) from None
    warnings = [*checked.warnings, *undeclared_required_scopes(policy, required)]
    return Saved(new_version, expected, policy, warnings, diff, stripped)


def _text(body: bytes | str) -> str:
    if isinstance(body, str):
        return body
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError as exc:
        issue = PolicyIssue(None, None, "", f"the body is not UTF-8 (byte {exc.start})")
        raise PolicyInvalid(LoadResult(None, [issue], [])) from None


class _Object(dict):
    """A JSON object that remembers keys it saw twice (json keeps the last silently)."""

    duplicates: list[str]


def _pairs(pairs: list[tuple[str, object]]) -> _Object:
    obj = _Object()
    obj.duplicates = []
    for key, value in pairs:
        if key in obj:
            obj.duplicates.append(key)
        else:
            obj[key] = value  # the first wins, as in the YAML loader
    return obj


def _json(body: bytes | str, prefix: tuple = ()) -> object:
    """Parse a JSON body; syntax errors and duplicate keys are PolicyInvalid."""
    text = _text(body)
    try:
        data = json.loads(text, object_pairs_hook=_pairs)
        reporter = Reporter()
        _report_duplicates(data, prefix, reporter)
        plain = _plain(data)
    except json.JSONDecodeError as exc:
        issue = PolicyIssue(exc.lineno, exc.colno, "", f"JSON syntax error: {exc.msg}")
        raise PolicyInvalid(LoadResult(None, [issue], [])) from None
    except RecursionError:
        raise _too_deep() from None
    if reporter.errors:
        raise PolicyInvalid(LoadResult(None, reporter.errors, []))
    return plain


@contextmanager
def _depth_guard() -> Iterator[None]:
    """The readers recurse: a body nested hundreds of levels deep is refused, not a 500."""
    try:
        yield
    except RecursionError:
        raise _too_deep() from None


def _too_deep() -> PolicyInvalid:
    # A policy is four levels deep: this is a mistake or an attack, not a policy.
    issue = PolicyIssue(None, None, "", "the body is nested too deeply to be a policy")
    return PolicyInvalid(LoadResult(None, [issue], []))


def _report_duplicates(value: object, path: tuple, reporter: Reporter) -> None:
    if isinstance(value, _Object):
        for key in value.duplicates:
            reporter.error((*path, key), f"duplicate key {key!r}", key=True)
        for key, item in value.items():
            _report_duplicates(item, (*path, key), reporter)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _report_duplicates(item, (*path, index), reporter)


def _plain(value: object) -> object:
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_plain(item) for item in value]
    return value


def _role_body(
    name: str, body: bytes | str, kind: str
) -> tuple[object, NodeLocator | None, list[PolicyIssue]]:
    """The role body as plain data, (YAML) a locator for positions in the body, and the
    YAML-level errors (duplicate keys, tags, aliases) found while reading it."""
    path = ("roles", name)
    if kind != YAML:
        return _without_read_only(name, _json(body, path)), None, []
    text = _text(body)
    root, syntax_error = compose(text)
    if syntax_error is not None:
        raise PolicyInvalid(LoadResult(None, [syntax_error], []))
    if root is None:
        issue = PolicyIssue(1, 1, "", "the role is empty: expected 'scopes'")
        raise PolicyInvalid(LoadResult(None, [issue], []))
    converter = Converter(text)
    with _depth_guard():
        data = converter.convert(root, path)
    converter.report_aliases()
    return _without_read_only(name, data), NodeLocator(root), converter.errors


def _check_role_name(name: str) -> None:
    """A role name users can hold: it fits ``user_roles.role`` and has no control character
    (PostgreSQL refuses NUL in text, so such a role could never be assigned)."""
    if len(name) > MAX_ROLE_NAME or not name.isprintable():
        where = format_path(("roles", name))
        message = f"a role name is 1-{MAX_ROLE_NAME} printable characters"
        raise PolicyInvalid(LoadResult(None, [PolicyIssue(None, None, where, message)], []))


def _without_read_only(name: str, data: object) -> object:
    if not isinstance(data, dict):
        return data
    given = data.get("name", name)
    if given != name:
        where = format_path(("roles", name, "name"))
        issue = PolicyIssue(None, None, where, f"the body names role {given!r}, the URL {name!r}")
        raise PolicyInvalid(LoadResult(None, [issue], []))
    return {key: value for key, value in data.items() if key not in READ_ONLY_ROLE_MEMBERS}


def _role_locator(name: str, locate: NodeLocator):
    """Positions inside the role body for its paths; none for the rest of the policy."""

    def locator(path: tuple, key: bool) -> tuple[int | None, int | None]:
        if path[:2] == ("roles", name):
            return locate(path[2:], key)
        return None, None

    return locator
