"""The shape of a policy document: keys, types, scope-name syntax.

Checks one document (from YAML or JSON, already plain data) and keeps going after each
problem so that an admin sees every mistake at once. What it cannot check alone (a role
referring to a scope or role elsewhere in the document) is left to ``resolve``.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field

from authserver.policy.issues import Path, Reporter, type_name
from authserver.policy.scopes import scope_token_problem

TOP_LEVEL_KEYS = ("version", "scopes", "roles", "tests")
REQUIRED_TOP_LEVEL_KEYS = ("version", "scopes", "roles")
ROLE_KEYS = ("description", "inherits", "scopes")
SUPPORTED_VERSION = 1


@dataclass
class RoleDraft:
    """A role's well-typed entries, each with its index in the list as written."""

    name: str
    description: str = ""
    inherits: list[tuple[int, str]] = field(default_factory=list)
    scopes: list[tuple[int, str]] = field(default_factory=list)


@dataclass
class Draft:
    """What survived the shape checks: declared scopes and role drafts, document order."""

    scopes: dict[str, str]
    roles: dict[str, RoleDraft]
    #: the ``tests:`` list as written, checked once roles and scopes are known (cases.py)
    tests: object = None


def check_document(data: object, rep: Reporter) -> Draft | None:
    """Check the document's shape; None when it is not even a mapping."""
    if not isinstance(data, dict):
        rep.error(
            (),
            f"a policy must be a mapping with {_names(REQUIRED_TOP_LEVEL_KEYS)}, "
            f"got {type_name(data)}",
        )
        return None
    _check_keys(data, (), TOP_LEVEL_KEYS, "at the top level", rep)
    for key in REQUIRED_TOP_LEVEL_KEYS:
        if key not in data:
            rep.error((key,), f"missing required key {key!r}")
    if "version" in data:
        _check_version(data["version"], rep)
    scopes = _check_declared_scopes(data["scopes"], rep) if "scopes" in data else {}
    roles = _check_roles(data["roles"], rep) if "roles" in data else {}
    return Draft(scopes, roles, data.get("tests", []))


def _names(keys: tuple[str, ...]) -> str:
    return ", ".join(repr(key) for key in keys)


def _check_keys(
    mapping: dict, path: Path, allowed: tuple[str, ...], where: str, rep: Reporter
) -> None:
    """Unknown keys are errors, not ignored: a typo like ``scope:`` would grant nothing."""
    for key in mapping:
        if key in allowed:
            continue
        hint = difflib.get_close_matches(str(key), allowed, n=1)
        suggestion = f"did you mean {hint[0]!r}?" if hint else f"expected {_names(allowed)}"
        rep.error((*path, key), f"unknown key {key!r} {where}: {suggestion}", key=True)


def _check_version(version: object, rep: Reporter) -> None:
    if type(version) is not int or version != SUPPORTED_VERSION:
        rep.error(("version",), f"version must be the integer 1, got {version!r}")


def _check_declared_scopes(value: object, rep: Reporter) -> dict[str, str]:
    """``scopes:`` maps each scope name to a description string."""
    if not isinstance(value, dict):
        rep.error(
            ("scopes",),
            f"scopes must be a mapping of scope name to description, got {type_name(value)}",
        )
        return {}
    declared: dict[str, str] = {}
    for name, description in value.items():
        path = ("scopes", name)
        if not isinstance(name, str):
            rep.error(path, f"scope name must be a string, got {type_name(name)}", key=True)
            continue
        problem = scope_token_problem(name)
        if problem is None and "*" in name:
            problem = f"declared scope {name!r} must not contain '*' (reserved for wildcards)"
        if problem is not None:
            rep.error(path, problem, key=True)
            continue
        if not isinstance(description, str):
            rep.error(
                path,
                f"description of scope {name!r} must be a string, got {type_name(description)}",
            )
            description = ""
        declared[name] = description
    return declared


def _check_roles(value: object, rep: Reporter) -> dict[str, RoleDraft]:
    if not isinstance(value, dict):
        rep.error(
            ("roles",), f"roles must be a mapping of role name to role, got {type_name(value)}"
        )
        return {}
    roles: dict[str, RoleDraft] = {}
    for name, body in value.items():
        if not is_role_name(name):
            rep.error(("roles", name), ROLE_NAME_RULE, key=True)
            continue
        roles[name] = _check_role(name, body, rep)
    return roles


# Role names are stored per user, shown in tokens and read by people (SPEC §10): ASCII only,
# so no look-alike (Cyrillic or fullwidth letters, bidi controls) can pass for another role.
ROLE_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_.-]{0,63}")  # always used with fullmatch
ROLE_NAME_RULE = (
    "role name must be an ASCII letter, then letters, digits, '_', '-' or '.', "
    "at most 64 characters"
)


def is_role_name(name: object) -> bool:
    """Whether ``name`` follows the one role-name rule every path applies (SPEC §10)."""
    return isinstance(name, str) and ROLE_NAME.fullmatch(name) is not None


def _check_role(name: str, body: object, rep: Reporter) -> RoleDraft:
    path: Path = ("roles", name)
    draft = RoleDraft(name)
    if not isinstance(body, dict):
        rep.error(
            path,
            f"role {name!r} must be a mapping with {_names(ROLE_KEYS)}, got {type_name(body)}",
        )
        return draft
    _check_keys(body, path, ROLE_KEYS, f"in role {name!r}", rep)
    description = body.get("description", "")
    if isinstance(description, str):
        draft.description = description
    else:
        rep.error(
            (*path, "description"),
            f"description of role {name!r} must be a string, got {type_name(description)}",
        )
    if "inherits" in body:
        draft.inherits = _string_list(body["inherits"], (*path, "inherits"), "role name", rep)
    if "scopes" in body:
        draft.scopes = _string_list(body["scopes"], (*path, "scopes"), "scope", rep)
    return draft


def _string_list(value: object, path: Path, what: str, rep: Reporter) -> list[tuple[int, str]]:
    """A list of strings, each kept with its index; other items are errors."""
    if not isinstance(value, list):
        rep.error(path, f"{path[-1]} must be a list of {what}s, got {type_name(value)}")
        return []
    items: list[tuple[int, str]] = []
    for index, item in enumerate(value):
        if isinstance(item, str):
            items.append((index, item))
        else:
            rep.error((*path, index), f"{what} must be a string, got {type_name(item)}")
    return items
