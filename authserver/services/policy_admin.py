"""Admin use cases on the versioned policy: replace it, edit one role, restore, compare, explain.

Every writer (PUT /admin/policy, PUT and DELETE /admin/roles/<name>, restore, and the CLI's
``policies apply`` and ``policies restore``) goes through :func:`_write`: the whole policy
validated once, the same held-role check and audit event, stored by
:func:`policy_store.commit_version`. The admin API names the versions the edit was based on
(``If-Match``) and the store decides whether that is still the newest, so two admins
editing at once can never silently undo each other's work; the CLI names none and edits the
live version.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from authserver.policy import (
    LoadResult,
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
from authserver.policy.cases import failures, run_tests
from authserver.policy.edits import Revision
from authserver.policy.explain import explain_client_grant
from authserver.policy.granting import ClientFacts
from authserver.policy.scopes import InvalidScope
from authserver.services import clients, policy_store, users
from authserver.services.errors import BadRequest, NotFound, PreconditionRequired, ServiceError
from authserver.services.policy_errors import PolicyInvalid, PolicyTestsFailed
from authserver.services.policy_store import NewVersion

__all__ = [
    "JSON",
    "MAX_COMMENT",
    "YAML",
    "Saved",
    "WriteOptions",
    "delete_role",
    "diff_versions",
    "explain",
    "put_role",
    "replace_policy",
    "restore",
]

MAX_COMMENT = 500  # the length of policy_versions.comment

PRECONDITION_REQUIRED = (
    "send If-Match with the ETag of the policy version you edited (the live one is "
    'If-Match: "{live}", from GET /admin/policy); If-Match: * is not accepted since it '
    "could overwrite another admin's change"
)


@dataclass(frozen=True)
class WriteOptions:
    """Who writes and how, the same for every writer.

    ``expected``: the versions the writer's edit may be based on (the ETags of If-Match);
    None edits the live version, which ``conditional`` refuses (the admin API must name
    one; the CLI need not). ``strip_roles`` takes roles the new policy removes from the
    users holding them instead of refusing. ``required``: scopes routes need; a policy
    lacking one gets a warning.
    """

    actor: str
    comment: str | None = None
    strip_roles: bool = False
    expected: frozenset[int] | None = None
    conditional: bool = False
    required: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        """A comment fits its column and one line of ``policies history``; NUL, which
        PostgreSQL refuses in text, would otherwise be a 500 there and stored by SQLite."""
        comment = self.comment
        if comment is not None and (len(comment) > MAX_COMMENT or not comment.isprintable()):
            raise BadRequest(f"comment: at most {MAX_COMMENT} printable characters")


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
#: What the write names must exist in the live policy (NotFound), checked first.
Check = Callable[[Policy], None]


def replace_policy(body: bytes | str, kind: str, options: WriteOptions) -> Saved:
    """Make a whole policy document (YAML text, or JSON stored as YAML) the next version."""
    return _write(options, lambda base: (edits.from_body(body, kind), "policy replaced"))


def put_role(name: str, body: bytes | str, kind: str, options: WriteOptions) -> tuple[Saved, bool]:
    """Create or replace one role; returns the new version and whether the role is new."""

    def edit(base: Policy) -> tuple[Revision, str]:
        done = "changed" if name in base.roles else "created"
        revision = edits.with_role(base, name, body, kind, policy_store.live_source())
        return revision, f"role {name} {done}"

    saved = _write(options, edit)
    return saved, name in saved.diff.roles_added


def delete_role(name: str, options: WriteOptions) -> Saved:
    """Remove one role; refused (PolicyInvalid) while other roles inherit from it."""

    def exists(live: Policy) -> None:
        if name not in live.roles:
            raise NotFound(f"no role named {name!r}")

    def edit(base: Policy) -> tuple[Revision, str]:
        return edits.without_role(base, name, policy_store.live_source()), f"role {name} deleted"

    return _write(options, edit, exists)


def restore(version: int, options: WriteOptions) -> Saved:
    """Store version ``version``'s source, unchanged, as the next version."""
    source = policy_store.source_at(version)
    return _write(options, lambda base: (edits.from_source(source), f"restored version {version}"))


def _write(options: WriteOptions, edit: Edit, check: Check | None = None) -> Saved:
    """The one write path: apply ``edit`` to the live version, validate it, store it.

    In the order RFC 9110 §13.2.1 asks: what the write names must exist (404), then the
    precondition (428, 412), then the body (422), then the store's insert (412 when another
    writer won meanwhile, 409 for held roles). Every refusal leaves the live policy as it was.
    """
    base, old = policy_store.live_policy()
    if check is not None:
        check(old)
    if options.conditional and options.expected is None:
        raise PreconditionRequired(PRECONDITION_REQUIRED.format(live=base))
    policy_store.check_expected(base, options.expected)
    revision, note = edit(old)
    policy = checked(revision)
    diff = diff_policies(old, policy)
    new = NewVersion(revision.source, policy, base, options.comment or note, diff)
    stripped = policy_store.commit_version(new, options.actor, options.strip_roles)
    required = undeclared_required_scopes(policy, options.required)
    return Saved(base + 1, base, policy, [*revision.result.warnings, *required], diff, stripped)


def checked(revision: Revision) -> Policy:
    """The revision's policy, refused (422) when it does not load or fails its own tests
    (SPEC §14): every write comes through here, so no write can break what they pin."""
    policy = revision.policy
    if policy is None:
        raise PolicyInvalid(revision.result)
    results = run_tests(policy)
    failed = failures(results)
    if failed:
        result = revision.result
        raise PolicyTestsFailed(LoadResult(policy, failed, result.warnings), results)
    return policy


def diff_versions(old: int, new: int) -> PolicyDiff:
    """What changed from version ``old`` to version ``new`` (NotFound if either is absent)."""
    return diff_policies(policy_store.policy_at(old), policy_store.policy_at(new))


def explain(username: str | None, scope: str | None, client_id: str | None = None) -> dict:
    """Which roles give ``username`` each scope of ``scope``, or why not (SPEC §8); with
    ``client_id``, through that client as the token endpoint would (its grant types, its
    allowed scopes, whether it is disabled). ``client_id`` alone: the client's own grant
    (client_credentials, SPEC §16), from the client's roles."""
    user = None
    if username is not None:
        user = users.find(username)
        if user is None:
            raise NotFound(f"no user named {username!r}")
    client = None
    if client_id is not None:
        client = clients.find_any(client_id)  # a disabled one too: explained as such
        if client is None:
            raise NotFound(f"no client with client_id {client_id!r}")
    try:
        requested = parse_scope(scope)
    except InvalidScope as exc:
        raise ServiceError(exc.description) from None
    _, policy = policy_store.live_policy()
    facts = _client_facts(client) if client is not None else None
    if user is None:
        if client is None or facts is None:
            raise BadRequest("name a user, a client, or both")
        explained = explain_client_grant(policy, requested, client.roles, facts)
        head: dict[str, object] = {"client": client.client_id, "client_roles": client.roles}
        return {**head, "grant_type": "client_credentials", **explained.to_dict()}
    explanation = explain_grant(policy, requested, user.roles, facts, user_disabled=user.disabled)
    head = {"user": user.username, "user_roles": user.roles}
    if client is not None:
        head["client"] = client.client_id
    return {**head, **explanation.to_dict()}


def _client_facts(client) -> ClientFacts:
    """What the token endpoint checks of ``client`` (a models.Client)."""
    scopes = client.scope_list
    return ClientFacts(
        frozenset(client.grant_type_list),
        frozenset(scopes) if scopes is not None else None,
        disabled=client.disabled,
        public=client.is_public,
    )
