"""``authserver db upgrade``: the real console script on an empty database (SPEC §4, §7)."""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import pytest
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.engine import make_url

from authserver.database import database_uri
from authserver.extensions import db
from tests.conftest import PG_URL
from tests.support.cli import console_env, invoke, run_console


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_database_url(request, tmp_path) -> Iterator[str]:
    """An empty SQLite file, or a new PostgreSQL database dropped afterwards."""
    if request.param == "sqlite":
        path = tmp_path / "empty.db"
        path.touch()  # a zero-byte file is an empty SQLite database
        yield f"sqlite:///{path}"
        return
    if not PG_URL:
        pytest.skip("AUTHSERVER_TEST_DATABASE_URL is not set")
    name = f"authserver_cli_{secrets.token_hex(4)}"
    admin = create_engine(database_uri(PG_URL, "."), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(database_uri(PG_URL, ".")).set(database=name).render_as_string(False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.mark.processes
def test_db_upgrade_on_empty_database_creates_schema_and_seeds_policy_version_1(
    tmp_path, empty_database_url
):
    env = console_env(tmp_path, DATABASE_URL=empty_database_url)

    result = run_console(env, "db", "upgrade")

    assert result.returncode == 0, result.stderr
    assert "policy version 1 seeded from" in result.stdout
    assert "Traceback" not in result.stderr
    engine = create_engine(database_uri(empty_database_url, "."))
    try:
        tables = set(inspect(engine).get_table_names())
        assert set(db.metadata.tables) <= tables
        assert "alembic_version" in tables
        with engine.connect() as connection:
            rows = connection.execute(
                text("SELECT version, created_by FROM policy_versions")
            ).all()
        assert [tuple(row) for row in rows] == [(1, "system")]
    finally:
        engine.dispose()

    again = run_console(env, "db", "upgrade")
    assert again.returncode == 0, again.stderr
    assert "seeded" not in again.stdout  # the store is not empty any more


def test_db_upgrade_on_current_schema_changes_nothing(runner):
    result = invoke(runner, "db", "upgrade")

    assert result.exit_code == 0, result.output
    assert "seeded" not in result.stdout
    assert db.session.execute(text("SELECT count(*) FROM policy_versions")).scalar() == 1


@pytest.mark.processes
def test_commands_before_db_upgrade_say_so_in_one_line(tmp_path):
    env = console_env(tmp_path)

    result = run_console(env, "users", "list")

    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("Error: database error:")
    assert "authserver db upgrade" in lines[0]
