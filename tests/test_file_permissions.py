"""Issue 10 item 8 (SPEC §10): the SQLite database and its -wal/-shm, which hold the argon2
password hashes and the audit trail, are readable by their owner only; production refuses
to start on such files others can read (files the server could not make owner-only)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from sqlalchemy import text

from authserver.app import create_app
from authserver.config import ConfigError
from authserver.extensions import db
from authserver.production import check_database_files
from authserver.services import users
from tests.conftest import PASSWORD, close_app
from tests.support.cli import invoke


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def sqlite_files(path: Path) -> list[Path]:
    return [path, Path(f"{path}-wal"), Path(f"{path}-shm")]


def test_new_database_and_its_wal_and_shm_are_owner_only(tmp_path, signing_keys_file):
    path = tmp_path / "fresh" / "authserver.db"
    old_umask = os.umask(0o022)  # the usual umask, which made them 0644
    try:
        app = create_app(
            "testing",
            {"DATABASE_URL": f"sqlite:///{path}", "SIGNING_KEYS": str(signing_keys_file)},
        )
        with app.app_context():
            assert invoke(app.test_cli_runner(), "db", "upgrade").exit_code == 0
            users.create("dana", PASSWORD)
            db.session.execute(text("SELECT count(*) FROM users")).scalar()
            assert all(p.exists() for p in sqlite_files(path))
            assert [mode(p) for p in sqlite_files(path)] == [0o600] * 3
            close_app(app)
    finally:
        os.umask(old_umask)


def test_existing_database_readable_by_others_is_made_owner_only(settings, database_url):
    if not database_url.startswith("sqlite"):
        pytest.skip("SQLite files only")
    path = Path(database_url.removeprefix("sqlite:///"))
    os.chmod(path, 0o644)
    app = create_app("testing", settings)
    with app.app_context():
        users.create("dana", PASSWORD)
        assert [mode(p) for p in sqlite_files(path) if p.exists()] == [0o600] * 3
        close_app(app)


def test_production_check_refuses_a_database_others_can_read(app, database_url):
    if not database_url.startswith("sqlite"):
        pytest.skip("SQLite files only")
    path = Path(database_url.removeprefix("sqlite:///"))
    db.session.execute(text("SELECT 1"))
    os.chmod(f"{path}-wal", 0o640)
    app.config["ENV"] = "production"
    with pytest.raises(ConfigError) as refused:
        check_database_files(app)
    assert str(refused.value).startswith("AUTHSERVER_DATABASE_URL: ")
    assert f"{path}-wal" in str(refused.value) and "\n" not in str(refused.value)
    os.chmod(f"{path}-wal", 0o600)
    check_database_files(app)
