"""Impact of a policy change (SPEC §14): which groups of principals gain or lose scopes.

A group is every user (or client) holding exactly one set of roles; the database counts
them (services/impact.py), this module only does the arithmetic for each distinct set. What
a set can be granted is :func:`granting.grant_scopes` with nothing requested and no client
restriction, the rule the token endpoint applies, so the preview cannot disagree with it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from authserver.policy.granting import grant_scopes
from authserver.policy.model import Policy
from authserver.policy.scopes import InvalidScope

USER, CLIENT = "user", "client"


@dataclass(frozen=True)
class RoleSet:
    """A group as the database counted it: ``count`` principals of ``kind`` holding exactly
    ``roles`` (sorted), and up to 20 of their names in order."""

    kind: str
    roles: tuple[str, ...]
    count: int
    sample: tuple[str, ...]


@dataclass(frozen=True)
class ImpactGroup:
    group: RoleSet
    gains: tuple[str, ...]
    loses: tuple[str, ...]

    def to_dict(self) -> dict:
        return {
            "kind": self.group.kind,
            "roles": list(self.group.roles),
            "count": self.group.count,
            "sample": list(self.group.sample),
            "gains": list(self.gains),
            "loses": list(self.loses),
        }


@dataclass(frozen=True)
class Impact:
    """Every group whose grantable scopes change, and the removed roles still held."""

    groups: tuple[ImpactGroup, ...] = ()
    roles_removed_held: Mapping[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {
            "groups": [group.to_dict() for group in self.groups],
            "roles_removed_held": dict(self.roles_removed_held),
        }


def merge_groups(groups: Iterable[RoleSet], sample_size: int = 20) -> list[RoleSet]:
    """One group per (kind, sorted role set): groups the database keyed by the same set in
    another order are merged, counts added and the first ``sample_size`` names of their
    samples kept (each sample is the first names of its part, so these are the first of
    the whole)."""
    merged: dict[tuple[str, tuple[str, ...]], RoleSet] = {}
    for group in groups:
        key = (group.kind, tuple(sorted(group.roles)))
        twin = merged.get(key)
        if twin is None:
            merged[key] = RoleSet(group.kind, key[1], group.count, group.sample)
            continue
        sample = tuple(sorted({*twin.sample, *group.sample})[:sample_size])
        merged[key] = RoleSet(group.kind, key[1], twin.count + group.count, sample)
    return list(merged.values())


def grantable(policy: Policy, roles: Iterable[str]) -> frozenset[str]:
    """Every scope a holder of ``roles`` can get under ``policy``: a token request asking
    for nothing in particular through a client allowed everything (``invalid_scope`` there,
    when nothing is left, is the empty set here)."""
    try:
        return frozenset(grant_scopes(policy, None, roles, None))
    except InvalidScope:
        return frozenset()


def changed_roles(live: Policy, candidate: Policy) -> frozenset[str]:
    """Roles whose effective scopes differ (a removed role grants nothing any more, a new
    one something for the first time). A set of roles none of which is here grants the
    same under both policies, so only holders of these need counting."""
    names = set(live.roles) | set(candidate.roles)
    return frozenset(
        name for name in names if _effective(live, name) != _effective(candidate, name)
    )


def _effective(policy: Policy, role: str) -> frozenset[str]:
    return policy.effective_scopes(role) if role in policy.roles else frozenset()


def group_impact(live: Policy, candidate: Policy, group: RoleSet) -> ImpactGroup | None:
    """What ``group`` gains and loses, None when its grantable scopes do not change (a role
    that changed, covered by another of the set's roles)."""
    before, after = grantable(live, group.roles), grantable(candidate, group.roles)
    if before == after:
        return None
    gains = tuple(candidate.in_declared_order(after - before))
    loses = tuple(live.in_declared_order(before - after))
    return ImpactGroup(group, gains, loses)


def impact_of(
    live: Policy,
    candidate: Policy,
    groups: Iterable[RoleSet],
    roles_removed_held: Mapping[str, int],
) -> Impact:
    """The impact from the groups counted by the database (one pass: it may stream)."""
    changed = [
        found
        for found in (group_impact(live, candidate, group) for group in groups)
        if found is not None
    ]
    changed.sort(key=lambda item: (item.group.kind != USER, -item.group.count, item.group.roles))
    return Impact(tuple(changed), dict(sorted(roles_removed_held.items())))
