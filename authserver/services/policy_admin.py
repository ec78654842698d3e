"""Admin use cases on the versioned policy: replace it, edit one role, restore, compare, explain.

Every writer (PUT /admin/policy, PUT and DELETE /admin/roles/<name>, restore, and the CLI's
``policies apply`` and ``policies restore``) goes through :func:`_write`: the whole policy
validated once, the same held-role check and audit event, stored by
:func:`policy_store.commit_version`. The admin API names the versions the edit was based on
(``If-Match``) and the store alone decides whether that is still the newest, so two admins
editing at once can never silently undo each other's work; the CLI names none and edits the
live version.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from authserver.policy import (
    Policy,
    PolicyDiff,
    PolicyIssue,
    diff_policies,
    edits,
    explain_grant,
    parse_scope,
    undeclared_required_scopes,
)
from authserver.policy.bodies import JSON, YAML
from authserver.policy.edits import Revision
from authserver.policy.scopes import InvalidScope
from authserver.services import clients, policy_store, users
from authserver.services.errors import NotFound, ServiceError
from authserver.services.policy_errors import PolicyInvalid
from authserver.services.policy_store import NewVersion

__all__ = ["JSON", "YAML", "Saved", "WriteOptions"]


@dataclass(frozen=True)
class WriteOptions:
    """Who writes and how, the same for every writer.

    ``expected``: the versions the writer's edit may be based on (the ETags of If-Match);
    None edits the live version (the CLI). ``strip_roles`` takes roles the new policy
    removes from the users holding them instead of refusing. ``required``: scopes routes
    need; a policy lacking one gets a warning.
    """

    actor: str
    comment: str | None = None
    strip_roles: bool = False
    expected: frozenset[int] | None = None
    required: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Saved:
    """A new version: its number, policy, warnings and what changed from ``previous``."""

    version: int
    previous: int
    policy: Policy
    warnings: list[PolicyIssue]
    diff: PolicyDiff
    stripped: dict[str, int] = field(default_factory=dict)


#: An edit: from the policy it is based on, the revision to store and what it did.
Edit = Callable[[Policy], tuple[Revision, str]]


def replace_policy(body: bytes | str, kind: str, options: WriteOptions) -> Saved:
    """Make a whole policy document (YAML text, or JSON stored as YAML) the next version."""
    return _write(options, lambda base: (edits.from_body(body, kind), "policy replaced"))


def put_role(name: str, body: bytes | str, kind: str, options: WriteOptions) -> tuple[Saved, bool]:
    """Create or replace one role; returns the new version and whether the role is new."""

    def edit(base: Policy) -> tuple[Revision, str]:
        done = "changed" if name in base.roles else "created"
        return edits.with_role(base, name, body, kind), f"role {name} {done}"

    saved = _write(options, edit)
    return saved, name in saved.diff.roles_added


def delete_role(name: str, options: WriteOptions) -> Saved:
    """Remove one role; refused (PolicyInvalid) while other roles inherit from it."""

    def edit(base: Policy) -> tuple[Revision, str]:
        if name not in base.roles:
            raise NotFound(f"no role named {name!r}")
        return edits.without_role(base, name), f"role {name} deleted"

    return _write(options, edit)


def restore(version: int, options: WriteOptions) -> Saved:
    """Store version ``version``'s source, unchanged, as the next version."""
    source = policy_store.source_at(version)
    return _write(options, lambda base: (edits.from_source(source), f"restored version {version}"))


def _write(options: WriteOptions, edit: Edit) -> Saved:
    """The one write path: apply ``edit`` to the version the writer named, validate, store.

    Staleness is decided by the store's insert alone; PolicyInvalid, RolesInUse and Stale
    leave the live policy as it was.
    """
    base = policy_store.base_version(options.expected)
    old = policy_store.policy_at(base)
    revision, note = edit(old)
    policy = revision.policy
    if policy is None:
        raise PolicyInvalid(revision.result)
    diff = diff_policies(old, policy)
    new = NewVersion(revision.source, policy, base, options.comment or note, diff)
    stripped = policy_store.commit_version(new, options.actor, options.strip_roles)
    required = undeclared_required_scopes(policy, options.required)
    return Saved(base + 1, base, policy, [*revision.result.warnings, *required], diff, stripped)


def diff_versions(old: int, new: int) -> PolicyDiff:
    """What changed from version ``old`` to version ``new`` (NotFound if either is absent)."""
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
