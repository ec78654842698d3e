"""Run a script of tests/node with Node (no tests here): ``npm ci`` from the committed
lockfile when node_modules is missing, a skip when node or npm is not installed."""

from __future__ import annotations

import json
import os
import shutil
import subprocess

import pytest

from tests.support import PROJECT

NODE_DIR = PROJECT / "tests" / "node"


def run_node(script: str, args: list[str], env: dict[str, str], timeout: float = 120) -> dict:
    """``node <script> <args>`` in tests/node; its stdout's last line, parsed as JSON."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        pytest.skip("node and npm are needed for the JavaScript client tests")
    if not (NODE_DIR / "node_modules" / "oauth4webapi").is_dir():
        subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=NODE_DIR, check=True)
    done = subprocess.run(
        [node, script, *args],
        cwd=NODE_DIR,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])
