"""What changed between two policy versions: for reviewers, the audit trail and rollbacks.

A role's ``effective_scopes`` change is reported even when the role itself was not edited
(a parent gained a scope, a wildcard now matches a newly declared scope): that is what a
reviewer needs to see, because it changes which tokens users of the role can get.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from authserver.policy.model import Policy, Role


@dataclass(frozen=True)
class PolicyDiff:
    """Differences from an old policy to a new one; names are in the policies' order.

    ``roles_changed`` maps a role present in both to the parts that changed:
    ``{"description": [old, new], "inherits": {"added": [...], "removed": [...]},
    "scopes": {...}, "effective_scopes": {...}}``, each key only when it changed.
    """

    scopes_added: list[str] = field(default_factory=list)
    scopes_removed: list[str] = field(default_factory=list)
    scopes_changed: list[str] = field(default_factory=list)
    roles_added: list[str] = field(default_factory=list)
    roles_removed: list[str] = field(default_factory=list)
    roles_changed: dict[str, dict] = field(default_factory=dict)
    #: policy tests (SPEC §14) by name: added, removed, or written differently
    tests_added: list[str] = field(default_factory=list)
    tests_removed: list[str] = field(default_factory=list)
    tests_changed: list[str] = field(default_factory=list)

    @property
    def tests_touched(self) -> bool:
        return bool(self.tests_added or self.tests_removed or self.tests_changed)

    @property
    def empty(self) -> bool:
        return not (
            self.scopes_added
            or self.scopes_removed
            or self.scopes_changed
            or self.roles_added
            or self.roles_removed
            or self.roles_changed
            or self.tests_touched
        )

    def to_dict(self) -> dict:
        """A JSON-ready dict (fresh lists, safe to mutate)."""
        return {
            "scopes_added": list(self.scopes_added),
            "scopes_removed": list(self.scopes_removed),
            "scopes_changed": list(self.scopes_changed),
            "roles_added": list(self.roles_added),
            "roles_removed": list(self.roles_removed),
            "roles_changed": {
                name: {part: _copy(value) for part, value in change.items()}
                for name, change in self.roles_changed.items()
            },
            "tests_added": list(self.tests_added),
            "tests_removed": list(self.tests_removed),
            "tests_changed": list(self.tests_changed),
        }

    def summary(self) -> str:
        """One line: ``"roles +1 -0 ~2; scopes +3 -1 ~0"``, and ``"; tests +1 -0 ~0"``
        when the policy's tests changed."""
        line = (
            f"roles +{len(self.roles_added)} -{len(self.roles_removed)} "
            f"~{len(self.roles_changed)}; scopes +{len(self.scopes_added)} "
            f"-{len(self.scopes_removed)} ~{len(self.scopes_changed)}"
        )
        if self.tests_touched:
            line += (
                f"; tests +{len(self.tests_added)} -{len(self.tests_removed)} "
                f"~{len(self.tests_changed)}"
            )
        return line


def diff_policies(old: Policy, new: Policy) -> PolicyDiff:
    """Compare two policies. Added names follow ``new``'s order, removed ones ``old``'s."""
    old_scopes, new_scopes = old.scopes, new.scopes
    changed_roles: dict[str, dict] = {}
    for name, role in new.roles.items():
        if name in old.roles:
            change = _role_change(old, new, old.roles[name], role)
            if change:
                changed_roles[name] = change
    old_tests = {test.name: test for test in old.tests}
    new_tests = {test.name: test for test in new.tests}
    return PolicyDiff(
        scopes_added=[s for s in new_scopes if s not in old_scopes],
        scopes_removed=[s for s in old_scopes if s not in new_scopes],
        scopes_changed=[s for s, text in new_scopes.items() if old_scopes.get(s, text) != text],
        roles_added=[r for r in new.roles if r not in old.roles],
        roles_removed=[r for r in old.roles if r not in new.roles],
        roles_changed=changed_roles,
        tests_added=[t for t in new_tests if t not in old_tests],
        tests_removed=[t for t in old_tests if t not in new_tests],
        tests_changed=[t for t, test in new_tests.items() if old_tests.get(t, test) != test],
    )


def _role_change(old: Policy, new: Policy, before: Role, after: Role) -> dict:
    change: dict[str, object] = {}
    if before.description != after.description:
        change["description"] = [before.description, after.description]
    for part in ("inherits", "scopes"):
        delta = _list_delta(getattr(before, part), getattr(after, part))
        if delta:
            change[part] = delta
    effective = _effective_delta(old, new, before.name)
    if effective:
        change["effective_scopes"] = effective
    return change


def _list_delta(before: tuple[str, ...], after: tuple[str, ...]) -> dict | None:
    added = [item for item in dict.fromkeys(after) if item not in before]
    removed = [item for item in dict.fromkeys(before) if item not in after]
    if not added and not removed:
        return None
    return {"added": added, "removed": removed}


def _effective_delta(old: Policy, new: Policy, role: str) -> dict | None:
    before, after = old.effective_scopes(role), new.effective_scopes(role)
    if before == after:
        return None
    return {
        "added": new.in_declared_order(after - before),
        "removed": old.in_declared_order(before - after),
    }


def _copy(value: object) -> object:
    if isinstance(value, dict):
        return {key: list(items) for key, items in value.items()}
    # value is a dict (above) or an iterable of names, which object does not say.
    return list(value)  # type: ignore[call-overload]
