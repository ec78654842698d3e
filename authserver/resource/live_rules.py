"""The live decision (SPEC §12) for the kit: the server's own :class:`LiveState`, loaded
without the server's storage.

``authserver/live/state.py`` is pure Python (no Flask, no database): the same dictionaries
of revoked ``jti``s and cut-offs, the same narrowing, the same pruning. But importing it as
``authserver.live.state`` runs ``authserver/live/__init__.py`` first, which wires the log
into SQLAlchemy. So the kit loads that one file by its path, under a name of its own:
the very code the server decides with, and nothing of its storage (tests/test_resource_
independence.py checks both). A policy arrives from the change feed as each role's
effective scopes: :class:`RoleScopes` answers what the decision asks of a policy.
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

_NAME = "authserver.resource._live_state"
PATH = Path(__file__).resolve().parent.parent / "live" / "state.py"


def _load():
    module = sys.modules.get(_NAME)
    if module is None:
        spec = importlib.util.spec_from_file_location(_NAME, PATH)
        if spec is None or spec.loader is None:  # pragma: no cover - a broken install
            raise ImportError(f"cannot load the live decision from {PATH}")
        module = importlib.util.module_from_spec(spec)
        sys.modules[_NAME] = module  # dataclasses looks its module up while it runs
        spec.loader.exec_module(module)
    return module


if TYPE_CHECKING:  # the types, for mypy: the same file, read under its own name
    from authserver.live.state import Change, LiveState, Refused
else:
    _module = _load()
    Change, LiveState, Refused = _module.Change, _module.LiveState, _module.Refused


class RoleScopes:
    """A live policy as the feed sends it: each role's effective scopes."""

    def __init__(self, roles: Mapping[str, Iterable[str]]) -> None:
        self.roles = {str(name): frozenset(scopes) for name, scopes in roles.items()}

    def scopes_for_roles(self, roles: Iterable[str]) -> frozenset[str]:
        """The union of the effective scopes of ``roles``; unknown names grant nothing."""
        found = [self.roles[name] for name in roles if name in self.roles]
        return frozenset().union(*found) if found else frozenset()


__all__ = ["PATH", "Change", "LiveState", "Refused", "RoleScopes"]
