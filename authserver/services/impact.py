"""Count principals by role set in the database, for the impact preview (SPEC §14).

One query per kind of principal (users, clients): the database builds each principal's
sorted role set, groups by it, counts each group and keeps the first 20 names of each.
Python receives one row per sample name, at most 20 per distinct role set, never one per
principal: memory does not grow with the number of users, and 100,000 users on
PostgreSQL are one query of about half a second of database CPU (bench/bench_preview.py).

Roles are rows (``user_roles``, ``client_roles``), so a role set is canonical once its
names are sorted. On PostgreSQL the names are joined as the primary-key index yields
them (by role within a principal, in practice): an ordered ``string_agg`` costs a sort per
principal, a quarter of the query, and the rare set joined in another order is merged
here with its twin (:func:`merge_groups`: counts added, samples merged), so the answer
never depends on that order. On SQLite, which has no ordered ``group_concat`` before
3.44, the aggregate is a window ordered by role, whose order SQLite documents.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator
from dataclasses import dataclass
from itertools import chain

from sqlalchemy import Column, Select, String, Table, func, literal, select, type_coerce
from sqlalchemy.dialects.postgresql import ARRAY, aggregate_order_by

from authserver.extensions import db
from authserver.models import User, UserRole
from authserver.models.client import Client, ClientRole
from authserver.policy import Policy
from authserver.policy.impact import (
    CLIENT,
    USER,
    Impact,
    RoleSet,
    changed_roles,
    impact_of,
    merge_groups,
)
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


def client_holders() -> Holders:
    """Clients are named by their name (unique, SPEC §10), as people know them."""
    return holders_of(CLIENT, Client, "name", ClientRole, "client_id")


def role_set_groups(
    holders: Holders, affected: Collection[str], sample_size: int = SAMPLE_SIZE
) -> Iterator[RoleSet]:
    """Every set of roles held by a principal holding one of ``affected``, with how many
    hold exactly that set and the first ``sample_size`` of their names (byte order)."""
    if not affected:
        return
    query = _groups_query(holders, sorted(affected), sample_size)
    if _postgresql():  # one row per group: role set, count, sample names
        rows = db.session.execute(query)
        yield from merge_groups(_role_set(holders.kind, *row) for row in rows)
        return
    current: tuple[str, int, list[str]] | None = None  # one row per sample name
    for role_key, count, name in db.session.execute(query.execution_options(yield_per=1000)):
        if current is None or current[0] != role_key:
            if current is not None:
                yield _role_set(holders.kind, *current)
            current = (role_key, count, [])
        current[2].append(name)
    if current is not None:
        yield _role_set(holders.kind, *current)


def _postgresql() -> bool:
    return db.engine.dialect.name == "postgresql"


def _role_set(kind: str, role_key: str, count: int, names: list[str]) -> RoleSet:
    return RoleSet(kind, tuple(sorted(role_key.split(SEPARATOR))), count, tuple(names))


def _groups_query(holders: Holders, affected: list[str], sample_size: int) -> Select:
    """Each group's role set, count and sample, from one row per principal (``per``).

    PostgreSQL: ``GROUP BY`` the role set with ``count(*)`` and an ordered ``array_agg`` of
    names cut to the sample, so each group's names are sorted apart, and 50 rows come back.
    SQLite: a window ranks names within each set; the first ``sample_size`` rows of each
    set come back (SQLite has no arrays).
    """
    holding = select(holders.owner).where(holders.role.in_(affected))
    if _postgresql():
        role_key = func.string_agg(holders.role, literal(SEPARATOR))
        per = (
            select(holders.owner.label("principal"), role_key.label("role_key"))
            .where(holders.owner.in_(holding))
            .group_by(holders.owner)
            .subquery("per")
        )
        name = holders.name.collate("C")  # byte order, as SQLite's and Python's
        names = type_coerce(func.array_agg(aggregate_order_by(name, name)), ARRAY(String))
        return (
            select(per.c.role_key, func.count(), names[1:sample_size])
            .join_from(per, holders.principals, holders.key == per.c.principal)
            .group_by(per.c.role_key)
            .order_by(per.c.role_key)
        )
    ordered_key = func.group_concat(holders.role, SEPARATOR).over(
        partition_by=holders.owner, order_by=holders.role, rows=(None, None)
    )
    sets = (
        select(holders.owner.label("principal"), ordered_key.label("role_key"))
        .where(holders.owner.in_(holding))
        .distinct()
        .subquery("sets")
    )
    ranked = select(
        sets.c.role_key,
        holders.name.label("name"),
        func.count().over(partition_by=sets.c.role_key).label("n"),
        func.row_number().over(partition_by=sets.c.role_key, order_by=holders.name).label("rn"),
    ).join_from(sets, holders.principals, holders.key == sets.c.principal)
    ranked_q = ranked.subquery("ranked")
    return (
        select(ranked_q.c.role_key, ranked_q.c.n, ranked_q.c.name)
        .where(ranked_q.c.rn <= sample_size)
        .order_by(ranked_q.c.role_key, ranked_q.c.rn)
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
    """Users, then clients (SPEC §16: a client can hold roles for client_credentials)."""
    return [user_holders(), client_holders()]
