"""SPEC §18: ``authserver.resource`` imports nothing of the server's storage.

A fresh interpreter whose imports of SQLAlchemy, Flask-SQLAlchemy, Alembic, Flask-Migrate,
redis and psycopg raise ImportError (a ``sys.meta_path`` finder placed first) imports the
kit, protects a route of a new Flask app with it and answers requests: what a service that
installed only Flask and JOSE gets. None of the server's storage modules is loaded then.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

from authserver.live import state as server_state
from authserver.resource import live_rules
from tests.support import PROJECT

BLOCKED = ("sqlalchemy", "flask_sqlalchemy", "alembic", "flask_migrate", "redis", "psycopg")
SERVER_MODULES = (
    "authserver.live",
    "authserver.models",
    "authserver.extensions",
    "authserver.database",
    "authserver.state",
    "authserver.services.tokens",
    "authserver.oauth2",
)

SCRIPT = textwrap.dedent(
    """
    import importlib.abc, json, sys

    BLOCKED = {blocked!r}

    class Blocker(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in BLOCKED:
                raise ImportError(f"{{name}} is blocked: the kit must not need it")
            return None

    sys.meta_path.insert(0, Blocker())

    from flask import Flask
    from authserver.resource import ResourceServer, current_token, require_scopes

    app = Flask("reports")
    ResourceServer(app, issuer="http://127.0.0.1:9", client_id="reports", client_secret="s")

    @app.get("/reports")
    @require_scopes("reports:read")
    def reports():
        return {{"for": current_token()["sub"]}}

    client = app.test_client()
    none = client.get("/reports")
    unreachable = client.get("/reports", headers={{"Authorization": "Bearer a.b.c"}})
    loaded = sorted(
        name for name in sys.modules
        if name.split(".")[0] in BLOCKED or name.startswith({server!r})
    )
    print(json.dumps({{
        "none": [none.status_code, none.headers.get("WWW-Authenticate")],
        "unreachable": [unreachable.status_code, unreachable.get_json()],
        "loaded": loaded,
    }}))
    """
)


@pytest.mark.processes  # a fresh interpreter
def test_the_kit_imports_and_answers_with_the_storage_modules_blocked() -> None:
    script = SCRIPT.format(blocked=BLOCKED, server=SERVER_MODULES)
    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=PROJECT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert result.returncode == 0, result.stderr
    found = json.loads(result.stdout.strip().splitlines()[-1])
    assert found["loaded"] == []
    assert found["none"] == [401, "Bearer"]
    status, body = found["unreachable"]
    assert status == 503  # no server to discover: unavailable, never a 500
    assert body["error"] == "temporarily_unavailable"


@pytest.mark.processes
def test_the_blocker_does_block() -> None:
    """The check above means something: the same finder stops the server's own app."""
    script = SCRIPT.split("from flask import Flask")[0] + "import authserver.app\n"
    script = script.format(blocked=BLOCKED)

    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=PROJECT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert result.returncode != 0
    assert "is blocked" in result.stderr


@pytest.mark.parametrize("name", ["LiveState", "Change", "Refused"])
def test_the_kit_decides_with_the_servers_own_code(name: str) -> None:
    """The kit's live decision is authserver/live/state.py itself, loaded by its path."""
    assert live_rules.PATH.samefile(server_state.__file__)
    kit_class = getattr(live_rules, name)
    assert kit_class.__qualname__ == getattr(server_state, name).__qualname__
    assert kit_class.__module__ == "authserver.resource._live_state"
