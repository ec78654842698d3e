"""The versioned policy store: the newest version is live, parsed once per process.

Each token request asks the database for the newest version number (one indexed query) and
reparses only when it changed, so an edit through any instance takes effect everywhere with
nothing to broadcast.
"""

from __future__ import annotations

from pathlib import Path

from flask import Flask, current_app
from sqlalchemy import delete, func, inspect, select
from sqlalchemy.exc import IntegrityError, OperationalError

from authserver import telemetry
from authserver.config import PROJECT_ROOT
from authserver.extensions import db
from authserver.models import PolicyVersion, UserRole
from authserver.policy import LoadResult, Policy, diff_policies, load_policy_yaml
from authserver.services import audit
from authserver.services.errors import Conflict, Invalid, NotFound, ServiceError
from authserver.state import state


class RolesInUse(Conflict):
    """The new policy removes roles that users still hold; ``counts`` says how many each."""

    def __init__(self, counts: dict[str, int]) -> None:
        held = ", ".join(f"{role} (held by {n} user(s))" for role, n in sorted(counts.items()))
        super().__init__(f"the new policy removes roles still held: {held}")
        self.counts = counts


class PolicyInvalid(Invalid):
    """The submitted policy has errors; ``result`` holds every one of them."""

    def __init__(self, result: LoadResult) -> None:
        super().__init__(f"policy has {len(result.errors)} error(s)")
        self.result = result


def newest_version() -> int:
    return db.session.execute(select(func.max(PolicyVersion.version))).scalar() or 0


def live_policy() -> tuple[int, Policy]:
    """The newest version number and its parsed policy (cached per process)."""
    cache = state().policy_cache
    version = newest_version()
    if version == 0:
        raise ServiceError("the policy store is empty: run `authserver db upgrade`")
    current = cache.current  # one read: another thread may replace it meanwhile
    if current is None or current[0] != version:
        source = db.session.get(PolicyVersion, version).source
        result = load_policy_yaml(source)
        if result.policy is None:  # only validated policies are ever stored
            raise ServiceError(f"policy version {version} does not load")
        current = cache.current = (version, result.policy)
        telemetry.POLICY_VERSION.set(version)
    return current


def live_source() -> str:
    """The YAML text of the live version, as it was written."""
    version, _ = live_policy()
    return db.session.get(PolicyVersion, version).source


def removed_roles_in_use(policy: Policy) -> dict[str, int]:
    """Roles users hold that ``policy`` no longer defines, with how many users hold each."""
    rows = db.session.execute(select(UserRole.role, func.count()).group_by(UserRole.role)).all()
    return {role: count for role, count in rows if role not in policy.roles}


def save_version(
    source: str,
    actor: str | None = None,
    expected: int | None = None,
    comment: str | None = None,
    strip_roles: bool = False,
) -> tuple[int, LoadResult]:
    """Validate ``source`` and store it as the next version; the previous one stays intact.

    ``expected`` is the version the writer last saw: a different newest version is a
    Conflict, and so is losing the race for the next version number to another writer.
    Removing roles that users hold is refused unless ``strip_roles`` takes them away, in
    the same transaction.
    """
    result = load_policy_yaml(source)
    if not result.ok:
        raise PolicyInvalid(result)
    current = newest_version()
    if expected is not None and expected != current:
        raise Conflict(f"the live policy is version {current}, not {expected}")
    in_use = removed_roles_in_use(result.policy)
    if in_use and not strip_roles:
        raise RolesInUse(in_use)
    if in_use:
        db.session.execute(delete(UserRole).where(UserRole.role.in_(list(in_use))))
    details = _version_details(current, result.policy, comment, in_use)
    db.session.add(
        PolicyVersion(version=current + 1, source=source, created_by=actor, comment=comment)
    )
    subject = f"policy:v{current + 1}"
    audit.record("policy.version", actor or "system", subject, details, commit=False)
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        raise Conflict("another writer stored a new version first") from None
    return current + 1, result


def _version_details(current: int, policy: Policy, comment, stripped: dict[str, int]) -> dict:
    """For the audit trail: the new version, what changed since the live one, roles taken."""
    details = {"version": current + 1, "previous": current or None, "comment": comment}
    if stripped:
        details["stripped_roles"] = stripped
    if current:
        version, old = live_policy()
        if version == current:
            diff = diff_policies(old, policy)
            details.update(summary=diff.summary(), diff=diff.to_dict())
    return details


def policy_file(app: Flask) -> Path:
    """AUTHSERVER_POLICY_FILE, relative to the working directory or else the project."""
    path = Path(app.config["POLICY_FILE"])
    if not path.is_absolute() and not path.exists():
        path = PROJECT_ROOT / path
    return path


def seed_if_empty(app: Flask | None = None) -> int | None:
    """Store AUTHSERVER_POLICY_FILE as version 1 when the store is empty; returns it if so."""
    app = app or current_app
    if newest_version() != 0:
        return None
    path = policy_file(app)
    try:
        source = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ServiceError(f"AUTHSERVER_POLICY_FILE: cannot read {path}: {exc}") from None
    try:
        version, _ = save_version(
            source, actor="system", expected=0, comment=f"seeded from {path}"
        )
    except PolicyInvalid as exc:
        first = exc.result.errors[0].format(str(path))
        raise ServiceError(f"AUTHSERVER_POLICY_FILE is invalid: {first}") from None
    except Conflict:
        return None  # another worker seeded it at the same moment
    return version


def init_app(app: Flask) -> None:
    """Seed an empty store at start, when the schema exists (before `db upgrade` it does not).

    A database that is down at start is not fatal: requests answer 503 until it is back.
    """
    with app.app_context():
        try:
            if inspect(db.engine).has_table(PolicyVersion.__tablename__):
                seed_if_empty(app)
        except OperationalError as exc:
            app.logger.warning("database unavailable at start: %s", type(exc.orig).__name__)
        finally:
            db.session.remove()


#: Version numbers are a 32-bit column; a larger number names no version (and must not
#: reach PostgreSQL, which would refuse it as out of range rather than find nothing).
MAX_VERSION = 2**31 - 1


def get_version(version: int) -> PolicyVersion | None:
    """One stored version, or None."""
    if not 0 < version <= MAX_VERSION:
        return None
    return db.session.get(PolicyVersion, version)


def list_versions(limit: int, before: int | None = None) -> list[PolicyVersion]:
    """Up to ``limit`` versions, newest first, only those older than ``before`` if given."""
    query = select(PolicyVersion).order_by(PolicyVersion.version.desc()).limit(limit)
    if before is not None:
        query = query.where(PolicyVersion.version < before)
    return list(db.session.execute(query).scalars())


def policy_at(version: int) -> Policy:
    """The parsed policy of a stored version (parsed here, not taken from the cache)."""
    row = get_version(version)
    if row is None:
        raise NotFound(f"no policy version {version}")
    result = load_policy_yaml(row.source)
    if result.policy is None:  # only validated policies are ever stored
        raise ServiceError(f"policy version {version} does not load")
    return result.policy
