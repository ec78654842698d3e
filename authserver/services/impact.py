"""Count principals by role set in the database, for the impact preview (SPEC §14).

One query per kind of principal (users, clients): the database builds each principal's
sorted role set, groups by it, counts each group and keeps the first 20 names of each.
Python receives one row per sample name, at most 20 per distinct role set, never one per
principal: memory does not grow with the number of users, and 100,000 users on
PostgreSQL answer well under a second (bench/bench_preview.py).

Roles are rows (``user_roles``, ``client_roles``), so a role set is canonical once its
names are sorted: the database sorts them (``string_agg(... ORDER BY role)`` on
PostgreSQL; on SQLite, which has no ordered ``group_concat`` before 3.44, the same
aggregate as a window ordered by role, whose order SQLite documents).
"""

from __future__ import annotations

from collections.abc import Collection, Iterator
from dataclasses import dataclass
from itertools import chain

from sqlalchemy import Column, Select, Table, func, literal, select
from sqlalchemy.dialects.postgresql import aggregate_order_by

from authserver.extensions import db
from authserver.models import User, UserRole
from authserver.policy import Policy
from authserver.policy.impact import USER, Impact, RoleSet, changed_roles, impact_of
from authserver.services import policy_store

SAMPLE_SIZE = 20
#: Role names never contain a space (schema.ROLE_NAME), so it separates them unambiguously.
SEPARATOR = " "


@dataclass(frozen=True)
class Holders:
    """Where one kind of principal keeps its roles: the principal's key and name, the role
    table's key (pointing at the principal) and role columns."""

    kind: str
    principals: Table
    key: Column
    name: Column
    roles: Table
    owner: Column
    role: Column


def holders_of(kind: str, principal: type, name: str, role_rows: type, owner: str) -> Holders:
    """The Holders of a model and its role-row model (``User``/``UserRole`` ...)."""
    principals, roles = principal.__table__, role_rows.__table__  # type: ignore[attr-defined]
    return Holders(
        kind, principals, principals.c.id, principals.c[name], roles, roles.c[owner], roles.c.role
    )


def user_holders() -> Holders:
    return holders_of(USER, User, "username", UserRole, "user_id")


def role_set_groups(
    holders: Holders, affected: Collection[str], sample_size: int = SAMPLE_SIZE
) -> Iterator[RoleSet]:
    """Every set of roles held by a principal holding one of ``affected``, with how many
    hold exactly that set and the first ``sample_size`` of their names, by name."""
    if not affected:
        return
    query = _groups_query(holders, sorted(affected), sample_size)
    rows = db.session.execute(query.execution_options(yield_per=1000))
    current: tuple[str, int, list[str]] | None = None
    for role_key, count, name in rows:
        if current is None or current[0] != role_key:
            if current is not None:
                yield _role_set(holders.kind, *current)
            current = (role_key, count, [])
        current[2].append(name)
    if current is not None:
        yield _role_set(holders.kind, *current)


def _role_set(kind: str, role_key: str, count: int, names: list[str]) -> RoleSet:
    return RoleSet(kind, tuple(role_key.split(SEPARATOR)), count, tuple(names))


def _groups_query(holders: Holders, affected: list[str], sample_size: int) -> Select:
    """``role_key, count, name`` rows: each group's count and sample names, group by group."""
    per = _role_keys(holders, affected)
    ranked = select(
        per.c.role_key,
        per.c.name,
        func.count().over(partition_by=per.c.role_key).label("n"),
        func.row_number().over(partition_by=per.c.role_key, order_by=per.c.name).label("rn"),
    ).subquery("ranked")
    return (
        select(ranked.c.role_key, ranked.c.n, ranked.c.name)
        .where(ranked.c.rn <= sample_size)
        .order_by(ranked.c.role_key, ranked.c.rn)
    )


def _role_keys(holders: Holders, affected: list[str]):
    """One row per principal holding an affected role: its name and sorted role set."""
    holding = select(holders.owner).where(holders.role.in_(affected))
    if db.engine.dialect.name == "postgresql":
        role_key = func.string_agg(
            holders.role, aggregate_order_by(literal(SEPARATOR), holders.role)
        )
        return (
            select(holders.name.label("name"), role_key.label("role_key"))
            .join_from(holders.principals, holders.roles, holders.key == holders.owner)
            .where(holders.key.in_(holding))
            .group_by(holders.key, holders.name)
            .subquery("per")
        )
    role_key = func.group_concat(holders.role, SEPARATOR).over(
        partition_by=holders.owner, order_by=holders.role, rows=(None, None)
    )
    sets = (
        select(holders.owner.label("principal"), role_key.label("role_key"))
        .where(holders.owner.in_(holding))
        .distinct()
        .subquery("sets")
    )
    return (
        select(holders.name.label("name"), sets.c.role_key)
        .join_from(sets, holders.principals, holders.key == sets.c.principal)
        .subquery("per")
    )


def explain_plan(holders: Holders, affected: Collection[str]) -> str:
    """PostgreSQL's EXPLAIN (ANALYZE) of the grouping query, for the benchmark."""
    query = _groups_query(holders, sorted(affected), SAMPLE_SIZE)
    compiled = query.compile(db.engine, compile_kwargs={"literal_binds": True})
    rows = db.session.execute(db.text(f"EXPLAIN (ANALYZE, COSTS OFF) {compiled}")).scalars()
    return "\n".join(rows)


def impact(live: Policy, candidate: Policy) -> Impact:
    """Every group of principals whose grantable scopes change from ``live`` to
    ``candidate``, and the roles ``candidate`` removes that are still held."""
    affected = changed_roles(live, candidate)
    groups = chain.from_iterable(role_set_groups(holders, affected) for holders in all_holders())
    held = policy_store.removed_roles_in_use(candidate)
    return impact_of(live, candidate, groups, held)


def all_holders() -> list[Holders]:
    """Users, and clients once they hold roles (SPEC §16)."""
    return [user_holders()]
