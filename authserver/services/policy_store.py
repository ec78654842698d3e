"""The versioned policy store: the newest version is live, parsed once per process.

Each token request asks the database for the newest version number (one indexed query) and
reparses only when it changed, so an edit through any instance takes effect everywhere with
nothing to broadcast.

Every new version goes through :func:`commit_version`, and it alone decides whether a write
is stale: one conditional insert claims the next version number only while the version the
edit was made from is still the newest, so two writers can never both win (a lost update).
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path

from flask import Flask, current_app
from sqlalchemy import Integer, String, Text, delete, func, insert, inspect, literal, select
from sqlalchemy.exc import IntegrityError, OperationalError

from authserver import live, telemetry
from authserver.config import PROJECT_ROOT
from authserver.extensions import db
from authserver.models import Client, PolicyVersion, UserRole
from authserver.models.base import UTCDateTime, utcnow
from authserver.models.client import ClientRole
from authserver.policy import LoadResult, Policy, PolicyDiff, diff_policies, load_policy_yaml
from authserver.policy.cases import failures, run_tests
from authserver.services import audit
from authserver.services.errors import NotFound, ServiceError
from authserver.services.policy_errors import (
    PolicyInvalid,
    PolicyTestsFailed,
    RolesInUse,
    Stale,
)
from authserver.state import state

#: Version numbers are a 32-bit column; a larger number names no version (and must not
#: reach PostgreSQL, which would refuse it as out of range rather than find nothing).
MAX_VERSION = 2**31 - 1


@dataclass(frozen=True)
class NewVersion:
    """A validated policy to store as the version after ``base``, the one it was edited from.

    ``diff`` (base -> policy) goes into the audit trail; ``comment`` says why.
    """

    source: str
    policy: Policy
    base: int
    comment: str | None = None
    diff: PolicyDiff | None = None


def newest_version() -> int:
    return db.session.execute(select(func.max(PolicyVersion.version))).scalar() or 0


def _live_version() -> int:
    version = newest_version()
    if version == 0:
        raise ServiceError("the policy store is empty: run `authserver db upgrade`")
    return version


def live_policy() -> tuple[int, Policy]:
    """The newest version number and its parsed policy (cached per process)."""
    cache = state().policy_cache
    version = _live_version()
    current = cache.current  # one read: another thread may replace it meanwhile
    if current is None or current[0] != version:
        current = cache.current = (version, _parse(version))
        telemetry.POLICY_VERSION.set(version)
    return current


def live_source() -> str:
    """The YAML text of the live version, as it was written."""
    return source_at(_live_version())


def removed_roles_in_use(policy: Policy) -> dict[str, int]:
    """Roles users hold that ``policy`` no longer defines, with how many users hold each."""
    rows = db.session.execute(select(UserRole.role, func.count()).group_by(UserRole.role)).all()
    return {role: count for role, count in rows if role not in policy.roles}


def check_expected(current: int, expected: Collection[int] | None) -> None:
    """Stale unless ``expected`` (the versions a writer says it edited) includes ``current``,
    the live version its edit starts from; None accepts any (the CLI).

    An early answer, from the version already read, so that a stale write is 412 before
    its body is read (RFC 9110 §13.2.1); :func:`commit_version` decides again, atomically.
    """
    if expected is not None and current not in expected:
        raise Stale(current, max(expected, default=None))


def commit_version(
    new: NewVersion, actor: str | None, strip_roles: bool = False
) -> dict[str, int]:
    """Store ``new`` as version ``new.base + 1`` and audit it, in one transaction.

    Stale unless ``new.base`` is still the newest version when the row is inserted, whether
    another writer got there long before or a moment before (the primary key). Removing
    roles that users hold is RolesInUse unless ``strip_roles`` takes them away, here.
    Returns the roles taken, with how many users held each.
    """
    try:
        if not _insert_next(new, actor):
            raise _stale(new.base)
        in_use = removed_roles_in_use(new.policy)
        if in_use and not strip_roles:
            raise RolesInUse(in_use)
        if in_use:
            _strip_roles(list(in_use))
        _strip_client_roles(new.policy)
        live.policy_changed(new.base + 1)  # every process narrows by it (SPEC §12)
        subject = f"policy:v{new.base + 1}"
        details = _version_details(new, in_use)
        audit.record("policy.version", actor or "system", subject, details, commit=False)
        db.session.commit()
    except BaseException:
        db.session.rollback()
        raise
    _now_live(new.base + 1, new.policy)
    return in_use


def _strip_roles(roles: list[str]) -> None:
    """Take ``roles`` from every user holding them; their tokens end now (a live cut-off)."""
    holders = select(UserRole.user_id).where(UserRole.role.in_(roles)).distinct()
    for user_id in db.session.execute(holders).scalars():
        live.user_cut_off(user_id)
    db.session.execute(delete(UserRole).where(UserRole.role.in_(roles)))


def _strip_client_roles(policy: Policy) -> None:
    """Take roles ``policy`` no longer defines from the clients holding them (SPEC §16), so
    a role defined again later does not come back to them; their tokens end now."""
    held = select(ClientRole.client_id, Client.client_id).join(Client)
    gone = held.where(ClientRole.role.not_in(list(policy.roles))).distinct()
    rows = db.session.execute(gone).all()
    for _, client_id in rows:
        live.client_cut_off(client_id)
    if rows:
        ids = [row_id for row_id, _ in rows]
        db.session.execute(
            delete(ClientRole).where(
                ClientRole.client_id.in_(ids), ClientRole.role.not_in(list(policy.roles))
            )
        )


def _now_live(version: int, policy: Policy) -> None:
    """The version just stored is live here: cache it (its source loads into an equal
    policy) and say so in the metric, unless this process already saw a newer one."""
    cache = state().policy_cache
    current = cache.current
    if current is None or current[0] < version:
        cache.current = (version, policy)
        telemetry.POLICY_VERSION.set(version)


def _insert_next(new: NewVersion, actor: str | None) -> bool:
    """INSERT version base+1 ... WHERE the newest version is base: one statement, so the
    check and the insert cannot be split by another writer. False when base is not the
    newest; losing the race for the primary key is Stale too."""
    newest = select(func.coalesce(func.max(PolicyVersion.version), 0)).scalar_subquery()
    row = select(
        literal(new.base + 1, Integer),
        literal(new.source, Text),
        literal(utcnow(), UTCDateTime()),
        literal(actor, String),
        literal(new.comment, String),
    ).where(newest == new.base)
    columns = ["version", "source", "created_at", "created_by", "comment"]
    statement = insert(PolicyVersion).from_select(columns, row).returning(PolicyVersion.version)
    try:
        # RETURNING, not rowcount: psycopg reports no rowcount for INSERT ... SELECT.
        return db.session.execute(statement).scalar() is not None
    except IntegrityError:
        raise _stale(new.base) from None


def _stale(base: int) -> Stale:
    db.session.rollback()  # end the failed transaction before reading the newest version
    return Stale(newest_version(), base)


def _version_details(new: NewVersion, stripped: dict[str, int]) -> dict:
    """For the audit trail: the new version, what changed since its base, roles taken."""
    details: dict[str, object] = {
        "version": new.base + 1,
        "previous": new.base or None,
        "comment": new.comment,
    }
    if stripped:
        details["stripped_roles"] = stripped
    if new.diff is not None:
        details.update(summary=new.diff.summary(), diff=new.diff.to_dict())
    return details


def save_version(
    source: str,
    actor: str | None = None,
    expected: int | None = None,
    comment: str | None = None,
    strip_roles: bool = False,
) -> tuple[int, LoadResult]:
    """Validate YAML ``source`` and store it as the next version (seeding, tests).

    ``expected`` is the version the writer last saw (None: the live one). Writers of the
    admin API and the CLI go through :mod:`policy_admin`, which ends here too.
    """
    result = load_policy_yaml(source)
    if result.policy is None:
        raise PolicyInvalid(result)
    results = run_tests(result.policy)
    if failures(results):
        raise PolicyTestsFailed(LoadResult(result.policy, failures(results), []), results)
    base = newest_version()
    check_expected(base, None if expected is None else (expected,))
    diff = diff_policies(policy_at(base), result.policy) if base else None
    new = NewVersion(source, result.policy, base, comment, diff)
    commit_version(new, actor, strip_roles)
    return base + 1, result


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
    except Stale:
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


def source_at(version: int) -> str:
    """The YAML text of a stored version, as it was written; NotFound if there is none."""
    row = get_version(version)
    if row is None:
        raise NotFound(f"no policy version {version}")
    return row.source


def policy_at(version: int) -> Policy:
    """The parsed policy of a stored version (from the cache when it is the live one)."""
    current = state().policy_cache.current
    if current is not None and current[0] == version:
        return current[1]
    return _parse(version)


def _parse(version: int) -> Policy:
    result = load_policy_yaml(source_at(version))
    if result.policy is None:  # only validated policies are ever stored
        raise ServiceError(f"policy version {version} does not load")
    return result.policy
