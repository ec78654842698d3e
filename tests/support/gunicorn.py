"""The one gunicorn harness of the tests (no tests here): start, wait until up, stop.

Every server runs in its own process group (the master and its workers) and is stopped by
whoever started it, also when the test fails: the ``gunicorns`` fixture of conftest.py for
servers that keep running, ``run_until_exit`` for those that must stop by themselves (a
refused setting). Servers run ``gunicorn -c config/gunicorn.conf.py wsgi:app``, or plain
gunicorn where a test says why, from the project folder with the venv's binaries.
"""

from __future__ import annotations

import contextlib
import glob
import os
import signal
import subprocess
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from tests.support import PROJECT
from tests.support.http import free_port

BIN = PROJECT / ".venv" / "bin"
GUNICORN = BIN / "gunicorn"
CONFIG = PROJECT / "config" / "gunicorn.conf.py"
STARTUP_SECONDS = 60
ACCESS_FORMAT = "%(p)s %(s)s %(m)s %(U)s"  # worker pid, status, method, path (no query)


@dataclass
class Server:
    """One gunicorn instance: its master process, base URL and log files."""

    name: str
    base: str
    process: subprocess.Popen
    log: Path
    access_log: Path

    def url(self, path: str) -> str:
        return self.base + path

    def running(self) -> bool:
        return self.process.poll() is None

    def worker_pids(self) -> set[int]:
        """The master's live child processes (the workers), read from /proc."""
        return children(self.process.pid)

    def mark(self) -> int:
        """The access log's length in lines: ``answering_pids(since=...)`` looks after it."""
        return len(self.access_log.read_text().splitlines())

    def answering_pids(self, path: str, status: int | None = None, since: int = 0) -> set[str]:
        """Pids of the workers that answered ``path`` (with ``status``), per the access log."""
        pids = set()
        for line in self.access_log.read_text().splitlines()[since:]:
            parts = line.split()
            if len(parts) == 4 and parts[3] == path:
                if status is None or parts[1] == str(status):
                    pids.add(parts[0])
        return pids

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")


def children(pid: int) -> set[int]:
    """Pids of the live processes whose parent is ``pid``."""
    found = set()
    for stat in glob.glob("/proc/[0-9]*/stat"):
        try:
            fields = Path(stat).read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue  # gone meanwhile
        if fields[1] == str(pid):
            found.add(int(stat.split("/")[2]))
    return found


def kill_groups(
    processes: list[subprocess.Popen], grace: float = 10, first: int = signal.SIGINT
) -> None:
    """Send ``first`` to each process group (SIGINT: gunicorn's quick shutdown), then
    SIGKILL those that have not ended within ``grace`` seconds. All are signalled first, so
    they stop side by side."""
    running = [process for process in processes if process.poll() is None]
    for process in running:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, first)
    deadline = time.monotonic() + grace
    for process in running:
        try:
            process.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)


class Gunicorns:
    """Starts gunicorn instances in ``folder``; ``stop_all`` kills every one of them."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.servers: list[Server] = []

    def spawn(self, argv: Sequence[str], env: dict[str, str], name: str, base: str) -> Server:
        """Run ``argv`` (a whole gunicorn command line) from the project folder, its output
        to ``<name>.log`` (a pipe nobody reads could fill and block it); no waiting."""
        log, access_log = self.folder / f"{name}.log", self.folder / f"{name}-access.log"
        access_log.touch()
        with log.open("w") as output:
            process = subprocess.Popen(
                list(argv),
                env=env,
                cwd=PROJECT,
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: the master and its workers
            )
        server = Server(name, base, process, log, access_log)
        self.servers.append(server)
        return server

    def launch(
        self,
        env: dict[str, str],
        name: str,
        config: bool = True,
        workers: int = 2,
        port: int | None = None,
    ) -> Server:
        """Start gunicorn without waiting, on ``port`` (default: a free one). With
        ``config``: ``-c config/gunicorn.conf.py`` (AUTHSERVER_BIND, AUTHSERVER_WORKERS);
        without it, plain gunicorn, so that every worker builds the app on its own (nothing
        is prepared by the master). The access log has one ``ACCESS_FORMAT`` line a request."""
        port = port or free_port()
        env = {**env, "AUTHSERVER_BIND": f"127.0.0.1:{port}", "AUTHSERVER_WORKERS": str(workers)}
        # A metrics folder per instance (given as "": the config file makes its own).
        env.setdefault("PROMETHEUS_MULTIPROC_DIR", str(self.folder / f"{name}-metrics"))
        if env["PROMETHEUS_MULTIPROC_DIR"]:
            os.makedirs(env["PROMETHEUS_MULTIPROC_DIR"], exist_ok=True)
        if config:
            args = ["-c", str(CONFIG)]
        else:
            args = ["--no-control-socket", "-w", str(workers), "-b", env["AUTHSERVER_BIND"]]
        access_log = self.folder / f"{name}-access.log"
        args += ["--access-logfile", str(access_log), "--access-logformat", ACCESS_FORMAT]
        return self.spawn(
            [str(GUNICORN), *args, "wsgi:app"], env, name, f"http://127.0.0.1:{port}"
        )

    def start(self, env: dict[str, str], name: str, config: bool = True, workers: int = 2):
        """``launch``, then wait until it answers with all its workers."""
        server = self.launch(env, name, config, workers)
        wait_until_up(server, workers)
        return server

    def stop_all(self) -> None:
        """Stop every instance the way an operator would (SIGINT), and wait: a test that
        looks at what a stop leaves behind (logs flushed, folders removed) calls this."""
        kill_groups([server.process for server in self.servers])

    def kill_all(self) -> None:
        """SIGKILL whatever still runs: after the test nothing looks at how it ends, and a
        graceful stop costs about a second per instance."""
        kill_groups([server.process for server in self.servers], first=signal.SIGKILL)


def wait_until_up(server: Server, workers: int = 2, timeout: float = STARTUP_SECONDS) -> None:
    """Until /healthz answers and the master has all its workers."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert server.running(), server.log_text()
        try:
            up = requests.get(server.url("/healthz"), timeout=5).status_code == 200
        except requests.RequestException:  # not listening yet
            up = False
        if up and len(server.worker_pids()) >= workers:
            return
        time.sleep(0.1)
    pytest.fail(
        f"gunicorn {server.name} did not start within {timeout:.0f} s:\n{server.log_text()}"
    )


@contextlib.contextmanager
def gunicorn_instances(folder: Path) -> Iterator[Gunicorns]:
    """For a fixture: every instance started in the block is killed when it ends."""
    servers = Gunicorns(folder)
    try:
        yield servers
    finally:
        servers.kill_all()


def run_until_exit(
    env: dict[str, str], *args: str, timeout: float = 60
) -> subprocess.CompletedProcess:
    """``gunicorn -b <free port> ARGS`` that must stop by itself (a refused setting): its
    exit status and output; the group is killed and the test fails if it keeps running."""
    process = subprocess.Popen(
        [str(GUNICORN), "-b", f"127.0.0.1:{free_port()}", *args],
        env=env,
        cwd=PROJECT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        stdout, stderr = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        kill_groups([process])
        process.communicate()
        pytest.fail(f"gunicorn kept running for {timeout:.0f} s: it should have stopped")
    finally:
        kill_groups([process])  # workers it may have left behind
    return subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)


def one_line_refusal(result: subprocess.CompletedProcess, *fragments: str) -> str:
    """The master stopped with status 4 before booting a worker, with exactly one line of
    ours (``authserver: ...``) containing ``fragments`` and no traceback; returns it."""
    output = result.stdout + result.stderr
    assert result.returncode == 4, output
    assert "Traceback" not in output
    assert "Booting worker" not in result.stderr  # refused before any worker started
    ours = [line for line in result.stderr.splitlines() if line.startswith("authserver:")]
    assert len(ours) == 1, output
    for fragment in fragments:
        assert fragment in ours[0], ours[0]
    return ours[0]
