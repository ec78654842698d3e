"""Pieces of ``make bench``: a prepared database, gunicorn servers, wrk runs, argon2's ceiling."""

from __future__ import annotations

import contextlib
import json
import multiprocessing
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
PASSWORD = "bench-password-0123456789"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def bench_database_url() -> str:
    """SQLite in a temporary folder, or a fresh ``authserver_bench`` PostgreSQL database
    (``AUTHSERVER_BENCH_DATABASE`` names another: two benches at once on one server)."""
    url = os.environ.get("AUTHSERVER_TEST_DATABASE_URL")
    if not url:
        return ""
    import psycopg

    name = os.environ.get("AUTHSERVER_BENCH_DATABASE", "authserver_bench")
    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}"')
        connection.execute(f'CREATE DATABASE "{name}"')
    return url.rsplit("/", 1)[0] + "/" + name


@dataclass
class Fixture:
    env: dict[str, str]
    workdir: Path
    username: str = "bench"
    password: str = PASSWORD
    client_id: str = ""
    client_secret: str = ""
    introspector_id: str = ""
    introspector_secret: str = ""
    access_token: str = ""
    refresh_tokens: list[str] = field(default_factory=list)


def _cli(fixture: Fixture, *args: str, stdin: str | None = None) -> str:
    result = subprocess.run(
        [str(BIN / "authserver"), *args],
        input=stdin,
        env=fixture.env,
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise SystemExit(f"authserver {' '.join(args)} failed: {result.stderr.strip()}")
    return result.stdout


@contextlib.contextmanager
def prepare(database_url: str) -> Iterator[Fixture]:
    workdir = Path(tempfile.mkdtemp(prefix="authserver-bench-"))
    port = free_port()
    env = {
        **os.environ,
        "AUTHSERVER_ENV": "development",
        "AUTHSERVER_DATABASE_URL": database_url or f"sqlite:///{workdir / 'bench.db'}",
        "AUTHSERVER_SIGNING_KEYS": str(workdir / "signing-keys.json"),
        "AUTHSERVER_ISSUER": f"http://127.0.0.1:{port}",
        "AUTHSERVER_BIND": f"127.0.0.1:{port}",
        "AUTHSERVER_WORKERS": "2",
    }
    fixture = Fixture(env=env, workdir=workdir)
    try:
        _cli(fixture, "db", "upgrade")
        _cli(fixture, "users", "create", fixture.username, "--role", "viewer", stdin=PASSWORD)
        grants = ["--grant-type", "password", "--grant-type", "refresh_token"]
        client = json.loads(_cli(fixture, "clients", "create", "bench", *grants))
        fixture.client_id, fixture.client_secret = client["client_id"], client["client_secret"]
        reader = json.loads(_cli(fixture, "clients", "create", "resource", "--introspect"))
        fixture.introspector_id = reader["client_id"]
        fixture.introspector_secret = reader["client_secret"]
        yield fixture
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def login(url: str, fixture: Fixture) -> dict:
    response = requests.post(
        f"{url}/oauth/token",
        data={"grant_type": "password", "username": fixture.username, "password": PASSWORD},
        auth=(fixture.client_id, fixture.client_secret),
        timeout=10,
    )
    response.raise_for_status()
    return response.json()


class Server:
    """A gunicorn process group on a free port, stopped on exit."""

    def __init__(self, command: list[str], env: dict[str, str], url: str, log: Path) -> None:
        self.command, self.env, self.url, self.log = command, env, url, log
        self.process: subprocess.Popen | None = None

    @classmethod
    def authserver(cls, fixture: Fixture) -> Server:
        command = [str(BIN / "gunicorn"), "-c", str(ROOT / "config" / "gunicorn.conf.py")]
        url = "http://" + fixture.env["AUTHSERVER_BIND"]
        return cls(command, fixture.env, url, fixture.workdir / "authserver.log")

    @classmethod
    def bare(cls) -> Server:
        port = free_port()
        command = [
            str(BIN / "gunicorn"), "--no-control-socket", "-w", "2", "-k", "sync",
            "-b", f"127.0.0.1:{port}", "--chdir", str(ROOT / "bench"), "bare_app:app",
        ]  # fmt: skip
        if os.path.isdir("/dev/shm"):  # as config/gunicorn.conf.py: the same worker settings
            command[-1:-1] = ["--worker-tmp-dir", "/dev/shm"]
        log = Path(tempfile.gettempdir()) / "authserver-bench-bare.log"
        return cls(command, dict(os.environ), f"http://127.0.0.1:{port}", log)

    def __enter__(self) -> Server:
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(
                self.command, env=self.env, stdout=log, stderr=log, start_new_session=True
            )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with contextlib.suppress(requests.RequestException):
                if requests.get(self.url + "/", timeout=1).status_code < 500:
                    return self
            time.sleep(0.2)
        raise SystemExit(f"{self.command[0]} did not start: see {self.log}")

    def __exit__(self, *exc) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGTERM)
        self.process.wait(timeout=30)

    def worker_pids(self) -> list[int]:
        children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        return [int(pid) for pid in children.read_text().split()]


REQUESTS = re.compile(r"(\d+) requests in ([\d.]+)(us|ms|s|m)")
NON_2XX = re.compile(r"Non-2xx or 3xx responses: (\d+)")
UNITS = {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0}


def wrk(
    url: str,
    path: str = "/",
    duration: int = 10,
    connections: int = 4,
    headers: list[str] = (),
    script: Path | None = None,
    env: dict[str, str] | None = None,
    threads: int = 2,
    prepare=None,
) -> float:
    """Successful (2xx) requests per second over one wrk run."""
    command = ["wrk", f"-t{min(threads, connections)}", f"-c{connections}", f"-d{duration}s"]
    for header in headers:
        command += ["-H", header]
    if script is not None:
        command += ["-s", str(script)]
    run_env = {**os.environ, **(env or {}), **(prepare() if prepare else {})}
    output = subprocess.run(
        [*command, url + path], env=run_env, capture_output=True, text=True, check=True
    ).stdout
    match = REQUESTS.search(output)
    if match is None:
        raise SystemExit(f"cannot read wrk's output:\n{output}")
    total, seconds = int(match[1]), float(match[2]) * UNITS[match[3]]
    failed = NON_2XX.search(output)
    return (total - (int(failed[1]) if failed else 0)) / seconds


def _verify_loop(seconds: float, params: dict, queue) -> None:
    from argon2 import PasswordHasher, Type

    hasher = PasswordHasher(type=Type.ID, **params)
    stored = hasher.hash(PASSWORD)
    count, deadline = 0, time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        hasher.verify(stored, PASSWORD)
        count += 1
    queue.put(count)


def argon2_ceiling(seconds: int, processes: int = 2) -> float:
    """Raw argon2id verifies per second on ``processes`` cores at the server's parameters."""
    params = {"time_cost": 2, "memory_cost": 19456, "parallelism": 1}
    queue = multiprocessing.Queue()
    workers = [
        multiprocessing.Process(target=_verify_loop, args=(seconds, params, queue))
        for _ in range(processes)
    ]
    for worker in workers:
        worker.start()
    total = sum(queue.get() for _ in workers)
    for worker in workers:
        worker.join()
    return total / seconds


def worker_cpu_seconds(server: Server) -> float:
    """CPU time (user + system) the server's workers have used so far."""
    ticks = 0
    for pid in server.worker_pids():
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


def resident_memory_mb(server: Server) -> list[float]:
    sizes = []
    for pid in server.worker_pids():
        status = Path(f"/proc/{pid}/status").read_text()
        kilobytes = int(re.search(r"VmRSS:\s+(\d+) kB", status)[1])
        sizes.append(kilobytes / 1024)
    return sizes
