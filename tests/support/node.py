"""Run a JavaScript client script from tests/node with ``node`` (no tests here).

The packages come from tests/node/package-lock.json: ``npm ci`` installs them into
tests/node/node_modules (gitignored) the first time a test needs them, under a file lock so
two test processes never install at once. Without ``node`` or ``npm`` on the PATH the test
is skipped, saying so; a failed install or script fails the test with its output.

A script reads one JSON object on standard input and writes one JSON object on standard
output; the caller asserts on it.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import pytest

from tests.support import PROJECT

NODE_DIR = PROJECT / "tests" / "node"
MODULES = NODE_DIR / "node_modules"
#: Outside the checkout (nothing to ignore), one per checkout.
LOCK = Path(tempfile.gettempdir()) / (
    "authserver-npm-ci-" + hashlib.sha256(str(NODE_DIR).encode()).hexdigest()[:12] + ".lock"
)
#: Hang guards, not performance bounds: a stuck install or script fails instead of blocking.
INSTALL_TIMEOUT = 600
SCRIPT_TIMEOUT = 300


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.skip(f"{name} is not installed: the JavaScript client tests need node and npm")
    return path


def _installed() -> bool:
    """Every package the lockfile names is in node_modules (a half install counts as none)."""
    lock = json.loads((NODE_DIR / "package-lock.json").read_text())
    packages = [name for name in lock.get("packages", {}) if name.startswith("node_modules/")]
    return all((NODE_DIR / name / "package.json").is_file() for name in packages)


def ensure_packages() -> None:
    """``npm ci`` into tests/node/node_modules unless the lockfile's packages are there."""
    npm = _tool("npm")
    with open(LOCK, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if _installed():
            return
        result = subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"],
            cwd=NODE_DIR,
            capture_output=True,
            text=True,
            timeout=INSTALL_TIMEOUT,
        )
        if result.returncode != 0 or not _installed():
            pytest.fail(f"npm ci in {NODE_DIR} failed:\n{result.stdout}\n{result.stderr}")


def run_script(script: str, payload: dict[str, Any]) -> dict[str, Any]:
    """Run tests/node/``script`` with ``payload`` as JSON on stdin; its JSON answer."""
    node = _tool("node")
    ensure_packages()
    result = subprocess.run(
        [node, str(NODE_DIR / script)],
        cwd=NODE_DIR,
        input=json.dumps(payload),
        capture_output=True,
        text=True,
        timeout=SCRIPT_TIMEOUT,
    )
    assert result.returncode == 0, f"{script} failed:\n{result.stdout}\n{result.stderr}"
    return json.loads(result.stdout)
