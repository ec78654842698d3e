"""Request bodies -> plain data: JSON that reports duplicate keys, and one role's YAML or JSON.

``json.loads`` silently keeps the last of two duplicate keys, as ``yaml.safe_load`` does.
A JSON body gets the same refusal as YAML text (the first key wins, the second is an
error), so the format an admin picks never hides a mistake. Every refusal is a
:class:`BodyError` carrying located :class:`PolicyIssue` objects, never an exception from
a parser.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from authserver.policy.issues import Locate, Path, PolicyIssue, Reporter, format_path
from authserver.policy.schema import ROLE_NAME_RULE, is_role_name
from authserver.policy.yamltree import Converter, NodeLocator, compose

YAML, JSON = "yaml", "json"
#: Members of a GET /admin/roles/<name> answer that are not part of the role as written:
#: accepted (and ignored) in a PUT, so a fetched role can be edited and sent back.
READ_ONLY_ROLE_MEMBERS = ("name", "effective_scopes", "inherited_by")


class BodyError(ValueError):
    """The body cannot be read as (part of) a policy; ``issues`` says where and why."""

    def __init__(self, issues: list[PolicyIssue]) -> None:
        super().__init__(f"the body has {len(issues)} error(s)")
        self.issues = issues


def _refuse(path: Path, message: str, line: int | None = None, column: int | None = None):
    return BodyError([PolicyIssue(line, column, format_path(path), message)])


def decode(body: bytes | str) -> str:
    """The body as text; anything but UTF-8 is refused with the offending byte."""
    if isinstance(body, str):
        return body
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _refuse((), f"the body is not UTF-8 (byte {exc.start})") from None


@contextmanager
def depth_guard() -> Iterator[None]:
    """The readers recurse: a body nested hundreds of levels deep is refused, not a 500.

    A policy is four levels deep, so such a body is a mistake or an attack, not a policy.
    """
    try:
        yield
    except RecursionError:
        raise _refuse((), "the body is nested too deeply to be a policy") from None


class _Object(dict):
    """A JSON object that remembers keys it saw twice."""

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


def parse_json(body: bytes | str, prefix: Path = ()) -> object:
    """Parse a JSON body into plain dicts and lists; paths of issues start with ``prefix``.

    Raises BodyError for a syntax error (with its line and column) or duplicate keys.
    """
    text = decode(body)
    reporter = Reporter()
    try:
        with depth_guard():
            data = json.loads(text, object_pairs_hook=_pairs)
            _report_duplicates(data, prefix, reporter)
            plain = _plain(data)
    except BodyError:
        raise  # too deep
    except json.JSONDecodeError as exc:
        raise _refuse((), f"JSON syntax error: {exc.msg}", exc.lineno, exc.colno) from None
    except ValueError:  # an integer past sys.get_int_max_str_digits(): no policy has one
        raise _refuse((), "a number in the body has too many digits") from None
    if reporter.errors:
        raise BodyError(reporter.errors)
    return plain


def _report_duplicates(value: object, path: Path, reporter: Reporter) -> None:
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


@dataclass(frozen=True)
class RoleBody:
    """One role as sent: plain data, where its paths are in the body (YAML only), and the
    YAML-level errors (duplicate keys, tags, aliases) found while reading it."""

    data: object
    locate: Locate | None
    errors: list[PolicyIssue]


def read_role(name: str, body: bytes | str, kind: str) -> RoleBody:
    """Read the body of PUT /admin/roles/<name>; issue paths are policy paths
    (``roles.<name>.scopes[0]``) and, for YAML, lines and columns count in the body."""
    check_role_name(name)
    path = ("roles", name)
    if kind != YAML:
        return RoleBody(_without_read_only(name, parse_json(body, path)), None, [])
    text = decode(body)
    root, syntax_error = compose(text)
    if syntax_error is not None:
        raise BodyError([syntax_error])
    if root is None:
        raise BodyError([PolicyIssue(1, 1, "", "the role is empty: expected 'scopes'")])
    converter = Converter(text)
    with depth_guard():
        data = converter.convert(root, path)
    converter.report_aliases()
    locate = _role_locator(name, NodeLocator(root))
    return RoleBody(_without_read_only(name, data), locate, converter.errors)


def check_role_name(name: str) -> None:
    """A role name by the rule the whole-policy path applies too (schema.is_role_name):
    ASCII, so no look-alike or bidi control passes on one path and not the other."""
    if not is_role_name(name):
        raise _refuse(("roles", name), ROLE_NAME_RULE)


def _without_read_only(name: str, data: object) -> object:
    if not isinstance(data, dict):
        return data
    given = data.get("name", name)
    if given != name:
        raise _refuse(("roles", name, "name"), f"the body names role {given!r}, the URL {name!r}")
    return {key: value for key, value in data.items() if key not in READ_ONLY_ROLE_MEMBERS}


def _role_locator(name: str, locate: NodeLocator) -> Locate:
    """Positions inside the role body for its paths; none for the rest of the policy."""

    def locator(path: Path, key: bool) -> tuple[int | None, int | None]:
        if path[:2] == ("roles", name):
            return locate(path[2:], key)
        return None, None

    return locator
