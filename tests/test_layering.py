"""Structural rules of the layers (docs: STYLE "imports point down only"): the OAuth glue
owns no transaction, and services import no web plumbing or routes."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import authserver

PACKAGE = Path(authserver.__file__).parent


def _sources(folder: str) -> list[Path]:
    return sorted((PACKAGE / folder).rglob("*.py"))


def _imported_modules(path: Path) -> set[str]:
    """Every module an ``import`` or ``from ... import`` of the file names."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


@pytest.mark.parametrize("path", _sources("oauth2"), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_the_oauth2_glue_never_commits_or_rolls_back(path: Path) -> None:
    """Transactions belong to services/ (the token lifecycle is services/tokens)."""
    text = path.read_text()

    assert ".commit(" not in text
    assert ".rollback(" not in text


@pytest.mark.parametrize("path", _sources("services"), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_services_import_nothing_from_web_or_api(path: Path) -> None:
    upward = {
        name
        for name in _imported_modules(path)
        if name.startswith(("authserver.web", "authserver.api", "authserver.oauth2"))
    }

    assert upward == set()


@pytest.mark.parametrize("path", _sources("policy"), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_the_policy_engine_imports_nothing_but_itself(path: Path) -> None:
    """policy/ is pure Python: no Flask, no database, nothing of ours outside policy/."""
    foreign = {
        name
        for name in _imported_modules(path)
        if name.split(".")[0] in {"flask", "sqlalchemy", "flask_sqlalchemy", "redis", "psycopg"}
        or (name.startswith("authserver") and not name.startswith("authserver.policy"))
    }

    assert foreign == set()


@pytest.mark.parametrize(
    "folder", ["models", "security", "policy"], ids=lambda folder: f"{folder}/"
)
def test_the_lower_layers_import_no_services_or_routes(folder: str) -> None:
    upward = {
        name
        for path in _sources(folder)
        for name in _imported_modules(path)
        if name.startswith(
            ("authserver.services", "authserver.api", "authserver.web", "authserver.oauth2")
        )
        or name.startswith(("authserver.resource", "authserver.cli", "authserver.live"))
    }

    assert upward == set()


@pytest.mark.parametrize("path", _sources("resource"), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_the_resource_side_imports_none_of_the_servers_storage(path: Path) -> None:
    """SPEC §18: the kit runs in other services with Flask and JOSE only (the import itself
    is checked with the modules blocked by tests/test_resource_independence.py). The error
    tree and the pure live decision (``live/state.py``, loaded by its path) are allowed."""
    storage = {"sqlalchemy", "flask_sqlalchemy", "alembic", "flask_migrate", "redis", "psycopg"}
    ours = ("authserver.live", "authserver.models", "authserver.extensions", "authserver.state")
    foreign = {
        name
        for name in _imported_modules(path)
        if name.split(".")[0] in storage
        or (name.startswith(ours) and not name.startswith("authserver.live.state"))
        or (
            name.startswith("authserver.services")
            and not name.startswith("authserver.services.errors")
        )
        or name.startswith(("authserver.oauth2", "authserver.api", "authserver.web"))
    }

    assert foreign == set()
