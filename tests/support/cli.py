"""Helpers for the CLI tests (no tests here): Flask's CLI runner and the real console script.

Every error a command prints must be one line on stderr with a non-zero exit, never a
traceback: ``assert_one_line_error`` checks exactly that.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from click.testing import Result

from authserver.cli import cli

PROJECT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
AUTHSERVER = BIN / "authserver"
GUNICORN = BIN / "gunicorn"
USER_LINE = re.compile(r"^  user (\w+)\s+password (\S+)\s+role (\w+)$", re.MULTILINE)
SECRET_LINE = re.compile(r"^  confidential client (\S+)\s+secret (\S+)$", re.MULTILINE)
PUBLIC_LINE = re.compile(r"^  public client\s+(\S+)\s+\(no secret\)$", re.MULTILINE)


def invoke(runner, *args: str, input: str | None = None) -> Result:
    """Run ``authserver ARGS`` in-process against the runner's app."""
    return runner.invoke(cli, list(args), input=input)


def assert_one_line_error(result, *fragments: str) -> str:
    """A failed command: non-zero, one line on stderr containing ``fragments``, no traceback.

    Works for a click ``Result`` and a ``subprocess.CompletedProcess``; returns the line.
    """
    code = getattr(result, "exit_code", None)
    code = result.returncode if code is None else code
    assert code != 0, result.stdout
    exception = getattr(result, "exception", None)
    assert exception is None or isinstance(exception, SystemExit), repr(exception)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]


def console_env(tmp_path: Path, **settings: str) -> dict[str, str]:
    """The environment for a real ``authserver`` process: no AUTHSERVER_* of the caller's,
    a database and a key file in ``tmp_path``, the testing env, then ``settings``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AUTHSERVER_")}
    env.update(
        AUTHSERVER_ENV="testing",
        AUTHSERVER_DATABASE_URL=f"sqlite:///{tmp_path / 'authserver.db'}",
        AUTHSERVER_SIGNING_KEYS=str(tmp_path / "signing-keys.json"),
    )
    env.update({f"AUTHSERVER_{name}": value for name, value in settings.items()})
    return env


def run_console(
    env: dict[str, str], *args: str, input: str | None = None, timeout: float = 60
) -> subprocess.CompletedProcess:
    """Run the installed ``authserver`` console script from the project folder."""
    return subprocess.run(
        [str(AUTHSERVER), *args],
        env=env,
        input=input,
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=PROJECT,
        check=False,
    )


def credentials(output: str) -> tuple[dict[str, tuple[str, str]], str, str, str]:
    """What ``authserver demo setup`` printed: {user: (password, role)}, the confidential
    client's id and secret, the public client's id."""
    found = {name: (password, role) for name, password, role in USER_LINE.findall(output)}
    client_id, secret = SECRET_LINE.search(output).groups()
    return found, client_id, secret, PUBLIC_LINE.search(output).group(1)
