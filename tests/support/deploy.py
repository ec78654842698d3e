"""Helpers for the deployment tests (no tests here): real gunicorn processes, own databases.

Every process started here runs in its own process group and is stopped by the fixture or
context manager that started it, also when the test fails. Nothing here mocks our code:
servers are ``gunicorn -c config/gunicorn.conf.py wsgi:app`` (or plain gunicorn where a test
says why), the schema comes from ``authserver db upgrade``.
"""

from __future__ import annotations

import contextlib
import glob
import json
import os
import secrets
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import requests

from authserver.app import create_app
from authserver.extensions import db
from authserver.services import clients, users
from tests.conftest import PASSWORD, PROJECT, free_port

BIN = PROJECT / ".venv" / "bin"
PG_URL = os.environ.get("AUTHSERVER_TEST_DATABASE_URL")
REDIS_URL = os.environ.get("AUTHSERVER_TEST_REDIS_URL")
STARTUP_SECONDS = 60
INHERITED = ("AUTHSERVER_", "PROMETHEUS_", "GUNICORN_")  # only what a test sets reaches a server

__all__ = ["PASSWORD", "free_port"]


def server_env(**settings: str) -> dict[str, str]:
    """The environment of a server or CLI process: the caller's, minus every AUTHSERVER_*,
    PROMETHEUS_* and GUNICORN_* variable, plus the testing env and ``settings`` (names
    without the AUTHSERVER_ prefix)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(INHERITED)}
    env["AUTHSERVER_ENV"] = "testing"
    env.update({f"AUTHSERVER_{name}": str(value) for name, value in settings.items()})
    return env


def run_cli(
    env: dict[str, str], *args: str, stdin: str | None = None, check: bool = True
) -> subprocess.CompletedProcess:
    """``.venv/bin/authserver ARGS`` in the project folder, bounded to 60 s."""
    result = subprocess.run(
        [str(BIN / "authserver"), *args],
        input=stdin,
        env=env,
        cwd=PROJECT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if check:
        assert result.returncode == 0, result.stderr
    return result


# -- databases ---------------------------------------------------------------------------------


def _pg_url(name: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(PG_URL).set(database=name).render_as_string(hide_password=False)


@contextlib.contextmanager
def own_postgres_database(prefix: str) -> Iterator[str]:
    """A new database on the server of AUTHSERVER_TEST_DATABASE_URL, dropped afterwards
    (others use the ``test`` database at the same time)."""
    import psycopg

    name = f"{prefix}_{os.getpid()}_{secrets.token_hex(3)}"
    admin = _pg_url("postgres")
    with psycopg.connect(admin, autocommit=True, connect_timeout=10) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    try:
        yield _pg_url(name)
    finally:
        with psycopg.connect(admin, autocommit=True, connect_timeout=10) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def redis_url(db_number: int) -> str:
    """AUTHSERVER_TEST_REDIS_URL with another database number (others use db 0)."""
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(REDIS_URL)
    return urlunsplit(parts._replace(path=f"/{db_number}"))


def unique(name: str) -> str:
    """A name no other test run uses (lockout counters in a shared Redis are per name)."""
    return f"{name}-{secrets.token_hex(4)}"


@dataclass
class Seeded:
    """What ``seed`` created: users (all with PASSWORD) and clients' credentials."""

    usernames: dict[str, str] = field(default_factory=dict)  # role -> username
    client: tuple[str, str] = ("", "")  # (client_id, secret): password + refresh_token
    resource_server: tuple[str, str] = ("", "")  # may introspect any token


def seed(database_url: str, keys: Path, roles=("viewer", "admin")) -> Seeded:
    """One user per role and two clients, through the services on that database."""
    app = create_app("testing", {"DATABASE_URL": database_url, "SIGNING_KEYS": str(keys)})
    seeded = Seeded()
    with app.app_context():
        try:
            for role in roles:
                seeded.usernames[role] = unique(role)
                users.create(seeded.usernames[role], PASSWORD, [role])
            client, secret = clients.create("app", ["password", "refresh_token"])
            seeded.client = (client.client_id, secret)
            rs, rs_secret = clients.create("rs", [], introspect=True)
            seeded.resource_server = (rs.client_id, rs_secret)
        finally:
            db.session.remove()
            db.engine.dispose()
    return seeded


# -- gunicorn ----------------------------------------------------------------------------------


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
    found = set()
    for stat in glob.glob("/proc/[0-9]*/stat"):
        try:
            fields = Path(stat).read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue  # gone meanwhile
        if fields[1] == str(pid):
            found.add(int(stat.split("/")[2]))
    return found


def kill_groups(processes: list[subprocess.Popen], grace: float = 10) -> None:
    """SIGINT each process group (gunicorn's quick shutdown), then SIGKILL those that have
    not ended within ``grace`` seconds. All are signalled first, so they stop side by side."""
    running = [process for process in processes if process.poll() is None]
    for process in running:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGINT)
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

    def launch(self, env: dict[str, str], name: str, config: bool = True, workers: int = 2):
        """Start gunicorn without waiting. With ``config``: ``-c config/gunicorn.conf.py``
        (AUTHSERVER_BIND, AUTHSERVER_WORKERS); without it, plain gunicorn, so that every
        worker builds the app on its own (nothing is prepared by the master)."""
        port = free_port()
        env = {**env, "AUTHSERVER_BIND": f"127.0.0.1:{port}", "AUTHSERVER_WORKERS": str(workers)}
        # A metrics folder per instance (given as "": the config file makes its own).
        env.setdefault("PROMETHEUS_MULTIPROC_DIR", str(self.folder / f"{name}-metrics"))
        if env["PROMETHEUS_MULTIPROC_DIR"]:
            os.makedirs(env["PROMETHEUS_MULTIPROC_DIR"], exist_ok=True)
        log, access_log = self.folder / f"{name}.log", self.folder / f"{name}-access.log"
        access_log.touch()
        if config:
            args = ["-c", str(PROJECT / "config" / "gunicorn.conf.py")]
        else:
            args = ["--no-control-socket", "-w", str(workers), "-b", env["AUTHSERVER_BIND"]]
        args += ["--access-logfile", str(access_log), "--access-logformat", ACCESS_FORMAT]
        with log.open("w") as output:
            process = subprocess.Popen(
                [str(BIN / "gunicorn"), *args, "wsgi:app"],
                env=env,
                cwd=PROJECT,
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: the master and its workers
            )
        server = Server(name, f"http://127.0.0.1:{port}", process, log, access_log)
        self.servers.append(server)
        return server

    def start(self, env: dict[str, str], name: str, config: bool = True, workers: int = 2):
        server = self.launch(env, name, config, workers)
        wait_until_up(server, workers)
        return server

    def stop_all(self) -> None:
        kill_groups([server.process for server in self.servers])


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
    pytest.fail(f"gunicorn {server.name} did not start:\n{server.log_text()}")


@contextlib.contextmanager
def gunicorn_instances(folder: Path) -> Iterator[Gunicorns]:
    """For a fixture: every instance started in the block is killed when it ends."""
    servers = Gunicorns(folder)
    try:
        yield servers
    finally:
        servers.stop_all()


# -- HTTP --------------------------------------------------------------------------------------


def fan_out(call: Callable[[int], object], count: int, threads: int = 4) -> list:
    """``call(i)`` for ``count`` values of i, ``threads`` at a time; every sync-worker
    request is a new connection, so the kernel spreads them over the workers."""
    with ThreadPoolExecutor(max_workers=threads) as pool:
        return list(pool.map(call, range(count)))


def until_every_worker(
    server: Server,
    path: str,
    call: Callable[[int], object],
    status: int | None = None,
    workers: int = 2,
) -> list:
    """Results of ``call`` (20 at a time, at most 200) until every worker of ``server``
    answered ``path`` (with ``status``) during this call."""
    since = server.mark()
    results: list = []
    while len(results) < 200:
        results += fan_out(call, 20)
        if len(server.answering_pids(path, status, since)) >= workers:
            return results
    pytest.fail(f"not every worker of {server.name} answered {path}: {results[-5:]}")


def password_grant(base: str, client: tuple[str, str], username: str, password=PASSWORD, **extra):
    return requests.post(
        f"{base}/oauth/token",
        data={"grant_type": "password", "username": username, "password": password, **extra},
        auth=client,
        timeout=10,
    )


def refresh_grant(base: str, client: tuple[str, str], refresh_token: str):
    return requests.post(
        f"{base}/oauth/token",
        data={"grant_type": "refresh_token", "refresh_token": refresh_token},
        auth=client,
        timeout=10,
    )


def bearer(access_token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {access_token}"}


def assert_json_503(response: requests.Response) -> None:
    """A 503 a client can act on: JSON, Retry-After, never HTML or a traceback."""
    assert response.status_code == 503, (response.status_code, response.text)
    assert response.headers["Content-Type"].startswith("application/"), response.headers
    assert response.headers["Content-Type"].endswith("json"), response.headers
    assert int(response.headers["Retry-After"]) > 0
    body = response.json()
    assert isinstance(body, dict) and body, body
    assert "Traceback" not in response.text and "<html" not in response.text.lower()


def json_lines(text: str) -> list[dict]:
    """Every line of ``text`` that is a JSON object."""
    found = []
    for line in text.splitlines():
        with contextlib.suppress(ValueError):
            value = json.loads(line)
            if isinstance(value, dict):
                found.append(value)
    return found


# -- throwaway servers ---------------------------------------------------------------------------


def _postgres_bin() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


class ThrowawayPostgres:
    """A PostgreSQL cluster of its own (initdb in a temporary folder) on a free port.

    The server binaries refuse to run as root: as root, they run as the ``postgres`` user,
    in a folder it owns.
    """

    def __init__(self) -> None:
        self.bin = _postgres_bin()
        if self.bin is None:
            pytest.skip("no PostgreSQL server binaries (initdb, pg_ctl)")
        self.as_user: list[str] = []
        if os.geteuid() == 0:
            runuser = shutil.which("runuser")
            if runuser is None:
                pytest.skip("running as root without runuser: cannot start PostgreSQL")
            self.as_user = [runuser, "-u", "postgres", "--"]
        self.folder = Path(tempfile.mkdtemp(prefix="authserver-pg-"))
        if self.as_user:
            shutil.chown(self.folder, "postgres", "postgres")
        self.data = self.folder / "data"
        self.port = free_port()
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, *args: str, timeout: float = 60) -> None:
        result = subprocess.run(
            [*self.as_user, *args], capture_output=True, text=True, timeout=timeout, check=False
        )
        assert result.returncode == 0, result.stdout + result.stderr

    def init(self) -> None:
        initdb = str(self.bin / "initdb")
        self._run(initdb, "-D", str(self.data), "-U", "postgres", "--auth=trust", "--no-sync")

    def start(self) -> None:
        options = f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1 -c fsync=off"
        pg_ctl = str(self.bin / "pg_ctl")
        log = str(self.folder / "server.log")
        self._run(pg_ctl, "-D", str(self.data), "-o", options, "-l", log, "-w", "start")

    def stop(self) -> None:
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop")

    def cleanup(self) -> None:
        """Stop the server if it runs (immediate mode), remove the folder."""
        if (self.data / "postmaster.pid").exists():
            subprocess.run(
                [*self.as_user, str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "immediate"]
                + ["-w", "stop"],
                capture_output=True,
                timeout=60,
                check=False,
            )
        shutil.rmtree(self.folder, ignore_errors=True)


class ThrowawayRedis:
    """``redis-server`` on a free port, no persistence; can be killed and started again."""

    def __init__(self, folder: Path) -> None:
        self.binary = shutil.which("redis-server")
        if self.binary is None:
            pytest.skip("no redis-server binary")
        self.folder = folder
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        import redis

        args = ["--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly"]
        args += ["no", "--dir", str(self.folder)]
        with (self.folder / "redis.log").open("a") as log:
            self.process = subprocess.Popen(
                [self.binary, *args], stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        client = redis.Redis.from_url(self.url, socket_timeout=1, socket_connect_timeout=1)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            assert self.process.poll() is None, (self.folder / "redis.log").read_text()
            with contextlib.suppress(redis.RedisError):
                if client.ping():
                    client.close()
                    return
            time.sleep(0.05)
        pytest.fail("redis-server did not start")

    def kill(self) -> None:
        """SIGKILL, as a crash would: no goodbye to the clients."""
        if self.process is not None and self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)
