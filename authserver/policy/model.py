"""The loaded role policy: declared scopes, roles, and each role's effective scopes.

Effective scopes (inheritance and wildcards resolved) are computed once at load, so that
a token request only does dictionary lookups: its cost depends on how many roles the user
holds, never on how many roles the policy defines.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import TYPE_CHECKING

import yaml

if TYPE_CHECKING:
    from authserver.policy.cases import PolicyTest

#: grant_paths stops after this many chains: a diamond-shaped hierarchy can have
#: exponentially many, and an explanation needs a few, not all.
MAX_GRANT_PATHS = 100


@dataclass(frozen=True)
class Role:
    """A role as written: ``scopes`` may contain ``prefix:*`` wildcards."""

    name: str
    description: str = ""
    inherits: tuple[str, ...] = ()
    scopes: tuple[str, ...] = ()


class Policy:
    """An immutable, validated role policy. Build it with the loader, not directly."""

    __slots__ = ("_scopes", "_roles", "_direct", "_effective", "_rank", "_tests")

    def __init__(
        self,
        scopes: Mapping[str, str],
        roles: Mapping[str, Role],
        direct: Mapping[str, frozenset[str]],
        effective: Mapping[str, frozenset[str]],
        tests: tuple[PolicyTest, ...] = (),
    ) -> None:
        self._scopes = MappingProxyType(dict(scopes))
        self._roles = MappingProxyType(dict(roles))
        self._direct = MappingProxyType(dict(direct))
        self._effective = MappingProxyType(dict(effective))
        self._rank = {scope: rank for rank, scope in enumerate(self._scopes)}
        self._tests = tuple(tests)

    @property
    def tests(self) -> tuple[PolicyTest, ...]:
        """The document's ``tests:`` (SPEC §14), in document order."""
        return self._tests

    @property
    def scopes(self) -> Mapping[str, str]:
        """Declared scope -> description, in document order."""
        return self._scopes

    @property
    def roles(self) -> Mapping[str, Role]:
        """Role name -> Role, in document order."""
        return self._roles

    def effective_scopes(self, role: str) -> frozenset[str]:
        """Every scope ``role`` grants, inherited and wildcard-expanded. KeyError if unknown."""
        try:
            return self._effective[role]
        except KeyError:
            raise KeyError(f"unknown role {role!r}") from None

    def scopes_for_roles(self, roles: Iterable[str]) -> frozenset[str]:
        """The union of the effective scopes of ``roles``; unknown names are ignored.

        Unknown names are ignored because a user may still hold a role that a newer policy
        version removed: it simply grants nothing any more.
        """
        if isinstance(roles, str):
            raise TypeError("roles must be an iterable of role names, not a string")
        effective = self._effective
        sets = [effective[name] for name in roles if name in effective]
        if not sets:
            return frozenset()
        if len(sets) == 1:
            return sets[0]
        return sets[0].union(*sets[1:])

    def in_declared_order(self, scopes: Iterable[str]) -> list[str]:
        """Declared ``scopes`` sorted as the policy declares them; undeclared ones dropped.

        Gives a deterministic ``scope`` string in token responses.
        """
        rank = self._rank
        return sorted((scope for scope in set(scopes) if scope in rank), key=rank.__getitem__)

    def grant_paths(self, role: str, scope: str) -> list[list[str]]:
        """The inheritance chains ``role -> ... -> R`` where R itself lists ``scope``.

        Empty when the role does not grant the scope (or is unknown). Used to explain why a
        user holds a scope; capped at :data:`MAX_GRANT_PATHS` chains.
        """
        if scope not in self._effective.get(role, ()):
            return []
        paths: list[list[str]] = []
        stack = [[role]]
        while stack and len(paths) < MAX_GRANT_PATHS:
            chain = stack.pop()
            name = chain[-1]
            if scope in self._direct[name]:
                paths.append(chain)
            parents = [p for p in dict.fromkeys(self._roles[name].inherits) if p not in chain]
            stack.extend(chain + [p] for p in reversed(parents) if scope in self._effective[p])
        return paths

    def to_document(self) -> dict:
        """The policy as a YAML/JSON document, as written (wildcards unexpanded)."""
        roles: dict[str, dict] = {}
        for name, role in self._roles.items():
            entry: dict[str, object] = {}
            if role.description:
                entry["description"] = role.description
            if role.inherits:
                entry["inherits"] = list(role.inherits)
            entry["scopes"] = list(role.scopes)
            roles[name] = entry
        document = {"version": 1, "scopes": dict(self._scopes), "roles": roles}
        if self._tests:
            document["tests"] = [test.to_document() for test in self._tests]
        return document

    def to_yaml(self) -> str:
        """YAML text that loads back into an equal Policy; lists in flow style like the SPEC."""
        return yaml.dump(
            self.to_document(),
            Dumper=_PolicyDumper,
            sort_keys=False,
            allow_unicode=True,
            width=99,
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Policy):
            return NotImplemented
        return (
            list(self._scopes.items()) == list(other._scopes.items())
            and list(self._roles.items()) == list(other._roles.items())
            and self._tests == other._tests
        )

    # Unhashable, as a mutable class with __eq__ should be; typeshed types it a method.
    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"<Policy scopes={len(self._scopes)} roles={len(self._roles)}>"


class _PolicyDumper(yaml.SafeDumper):
    """Safe dumper writing lists of names inline (``scopes: [a, b]``), as people write
    policies."""


def _represent_list(dumper: yaml.SafeDumper, data: list) -> yaml.Node:
    """Lists of names inline; lists of mappings (``tests:``) one item per block."""
    inline = not any(isinstance(item, dict | list) for item in data)
    return dumper.represent_sequence("tag:yaml.org,2002:seq", data, flow_style=inline)


_PolicyDumper.add_representer(list, _represent_list)
