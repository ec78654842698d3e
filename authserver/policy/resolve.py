"""Cross-references in a policy: scopes and roles that roles name, wildcards, inheritance.

Runs once at load so that granting is a lookup: wildcards are expanded with a sorted
prefix index (no scan of every scope per wildcard) and effective scopes are computed in
one pass over the inheritance graph in dependency order (no recursion, so a long chain
cannot hit Python's recursion limit).
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterable
from dataclasses import dataclass

from authserver.policy.issues import Reporter
from authserver.policy.schema import Draft, RoleDraft
from authserver.policy.scopes import scope_token_problem, wildcard_prefix

Graph = dict[str, list[str]]


@dataclass(frozen=True)
class Resolution:
    """Per role: the scopes it lists itself (wildcards expanded) and with inheritance."""

    direct: dict[str, frozenset[str]]
    effective: dict[str, frozenset[str]]


class ScopeIndex:
    """Finds every declared scope starting with a prefix in O(log n + matches)."""

    def __init__(self, declared: Iterable[str]) -> None:
        self._sorted = sorted(declared)
        self._cache: dict[str, frozenset[str]] = {}

    def expand(self, prefix: str) -> frozenset[str]:
        found = self._cache.get(prefix)
        if found is None:
            names, start = self._sorted, bisect_left(self._sorted, prefix)
            end = start
            while end < len(names) and names[end].startswith(prefix):
                end += 1
            found = self._cache[prefix] = frozenset(names[start:end])
        return found


def resolve(draft: Draft, rep: Reporter) -> Resolution:
    """Check references, report cycles, compute effective scopes, and warn about gaps.

    Tolerant of the errors it reports (an unknown scope is skipped, a cycle is cut). The
    warnings are only given for a policy without errors: on a broken one they would
    mostly repeat the errors ("role r grants no scope" because its list was malformed).
    """
    index = ScopeIndex(draft.scopes)
    direct = {
        name: _direct_scopes(role, draft.scopes, index, rep) for name, role in draft.roles.items()
    }
    graph = _inheritance_graph(draft, rep)
    order, cycles = _walk(graph)
    _report_cycles(cycles, draft, rep)
    effective = _effective(order, graph, direct)
    if not rep.errors:
        _warn_unused(draft, direct, effective, rep)
    return Resolution(direct, effective)


def _direct_scopes(
    role: RoleDraft, declared: dict[str, str], index: ScopeIndex, rep: Reporter
) -> frozenset[str]:
    """The declared scopes a role lists itself, each ``prefix:*`` expanded."""
    granted: set[str] = set()
    for position, token in role.scopes:
        path = ("roles", role.name, "scopes", position)
        problem = scope_token_problem(token)
        prefix = None if problem else wildcard_prefix(token)
        if problem:
            rep.error(path, problem)
        elif prefix is not None:
            matches = index.expand(prefix)
            if not matches:
                rep.error(path, f"wildcard {token!r} matches no declared scope")
            granted.update(matches)
        elif "*" in token:
            rep.error(path, f"{token!r} is not a valid wildcard: only 'prefix:*' is")
        elif token in declared:
            granted.add(token)
        else:
            rep.error(path, f"scope {token!r} is not declared under 'scopes'")
    return frozenset(granted)


def _inheritance_graph(draft: Draft, rep: Reporter) -> Graph:
    """Role -> the known roles it inherits (deduplicated); unknown ones are errors."""
    graph: Graph = {}
    for name, role in draft.roles.items():
        parents: list[str] = []
        for position, parent in role.inherits:
            if parent in draft.roles:
                parents.append(parent)
            else:
                path = ("roles", name, "inherits", position)
                rep.error(path, f"role {name!r} inherits unknown role {parent!r}")
        graph[name] = list(dict.fromkeys(parents))
    return graph


def _walk(graph: Graph) -> tuple[list[str], list[list[str]]]:
    """Depth-first walk in document order: (roles after their parents, cycles found).

    Each back edge closes exactly one cycle, reported as the path ``a -> b -> ... -> a``
    starting where the walk entered it, so every cycle found is named once.
    """
    done: set[str] = set()
    order: list[str] = []
    cycles: list[list[str]] = []
    for root in graph:
        if root in done:
            continue
        path, on_path = [root], {root}
        stack = [iter(graph[root])]
        while stack:
            parent = next(stack[-1], None)
            if parent is None:
                node = path.pop()
                stack.pop()
                on_path.discard(node)
                done.add(node)
                order.append(node)
            elif parent in on_path:
                cycles.append(path[path.index(parent) :] + [parent])
            elif parent not in done:
                path.append(parent)
                on_path.add(parent)
                stack.append(iter(graph[parent]))
    return order, cycles


def _report_cycles(cycles: list[list[str]], draft: Draft, rep: Reporter) -> None:
    """Point at the ``inherits`` entry of the cycle's first role that starts it."""
    for cycle in cycles:
        first, second = cycle[0], cycle[1]
        position = next(i for i, name in draft.roles[first].inherits if name == second)
        path = ("roles", first, "inherits", position)
        rep.error(path, "inheritance cycle: " + " -> ".join(cycle))


def _effective(
    order: list[str], graph: Graph, direct: dict[str, frozenset[str]]
) -> dict[str, frozenset[str]]:
    """Own scopes plus every parent's effective scopes, parents computed first.

    A parent not yet computed can only be one on a cycle (already an error): its direct
    scopes stand in, which cuts the cycle.
    """
    effective: dict[str, frozenset[str]] = {}
    for name in order:
        parents = [effective.get(parent) or direct[parent] for parent in graph[name]]
        own = direct[name]
        effective[name] = own.union(*parents) if parents else own
    return effective


def _warn_unused(
    draft: Draft,
    direct: dict[str, frozenset[str]],
    effective: dict[str, frozenset[str]],
    rep: Reporter,
) -> None:
    for name in draft.roles:
        if not effective[name]:
            rep.warning(("roles", name), f"role {name!r} grants no scope", key=True)
    granted = frozenset().union(*direct.values())
    for scope in draft.scopes:
        if scope not in granted:
            rep.warning(("scopes", scope), f"scope {scope!r} is not granted by any role", key=True)
