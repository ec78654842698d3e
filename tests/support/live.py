"""Helpers for the live-authorization process tests (no tests here): gunicorn instances whose
access log names the poll each request belongs to, and a poller that finds, for every worker,
when it first refused a token (SPEC §12: every worker and instance within 1 second).

A poll is 2 requests at a time to each instance, every ``POLL_SECONDS``: a sync worker busy
with one leaves the other to its sibling, so both workers answer nearly every poll. The
access log (worker pid, status, the request's X-Poll header) says which worker answered
which request; a trial ends when every worker has refused. Its delay is, per worker, the
time from just before the change was sent to the answer of that worker's first refusal
(an upper bound on the delay from the commit), and the trial's is the largest of them.
The worker that made a change through the admin API must refuse every request after it
(SPEC §12: before its response); it is left out of the figure, since while it waits on
its own write (a PUBLISH to a hung Redis: 0.5 s) it answers no poll at all.
"""

from __future__ import annotations

import itertools
import statistics
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import requests

from tests.support.deploy import password_grant
from tests.support.gunicorn import CONFIG, GUNICORN, Gunicorns, Server, wait_until_up
from tests.support.http import bearer, free_port

POLL_SECONDS = 0.05
BOUND_SECONDS = 1.0  # SPEC §12
GIVE_UP_SECONDS = 5.0  # a trial that takes this long has failed long ago
POLL_FORMAT = "%(p)s %(s)s %({x-poll}i)s"  # worker pid, status, the poll id
_ids = itertools.count()


def launch(servers: Gunicorns, env: dict[str, str], name: str, workers: int = 2) -> Server:
    """gunicorn with the project's config whose access log names each request's X-Poll."""
    port = free_port()
    env = {**env, "AUTHSERVER_BIND": f"127.0.0.1:{port}", "AUTHSERVER_WORKERS": str(workers)}
    env.setdefault("PROMETHEUS_MULTIPROC_DIR", str(servers.folder / f"{name}-metrics"))
    Path(env["PROMETHEUS_MULTIPROC_DIR"]).mkdir(parents=True, exist_ok=True)
    access_log = servers.folder / f"{name}-access.log"
    argv = [str(GUNICORN), "-c", str(CONFIG), "--access-logfile", str(access_log)]
    argv += ["--access-logformat", POLL_FORMAT, "wsgi:app"]
    return servers.spawn(argv, env, name, f"http://127.0.0.1:{port}")


def start_all(servers: Gunicorns, env: dict[str, str], names: list[str]) -> list[Server]:
    """Launch every instance, then wait until all answer with all their workers."""
    started = [launch(servers, env, name) for name in names]
    for server in started:
        wait_until_up(server)
    return started


# -- requests -----------------------------------------------------------------------------------
Probe = Callable[[Server, dict[str, str]], int]  # sends one request, returns its status


def me(token: str) -> Probe:
    """GET /api/me with ``token``: 200 accepted, 401 refused."""

    def probe(server: Server, headers: dict[str, str]) -> int:
        answer = requests.get(
            server.url("/api/me"), headers={**headers, **bearer(token)}, timeout=5
        )
        return answer.status_code

    return probe


def write_document(token: str) -> Probe:
    """POST /api/documents with ``token``: 201 accepted, 403 narrowed (documents:write)."""

    def probe(server: Server, headers: dict[str, str]) -> int:
        answer = requests.post(
            server.url("/api/documents"),
            headers={**headers, **bearer(token)},
            json={"title": "poll", "body": "x"},
            timeout=5,
        )
        return answer.status_code

    return probe


# -- the poller ---------------------------------------------------------------------------------
@dataclass
class Answer:
    poll: str
    server: str
    status: int
    at: float  # monotonic time the answer arrived


@dataclass
class Poller:
    """Polls every worker of ``servers`` until each has answered ``wanted``."""

    servers: list[Server]
    pool: ThreadPoolExecutor = field(init=False)
    _offsets: dict[str, int] = field(default_factory=dict)
    _pids: dict[str, str] = field(default_factory=dict)  # poll id -> pid that answered
    _order: dict[str, int] = field(default_factory=dict)  # poll id -> its line in the log
    changes: list[str] = field(default_factory=list)  # X-Poll ids of the writes (tag())

    def __post_init__(self) -> None:
        self.pool = ThreadPoolExecutor(max_workers=2 * len(self.servers))
        self.workers = {s.name: {str(pid) for pid in s.worker_pids()} for s in self.servers}

    def close(self) -> None:
        self.pool.shutdown()

    def tag(self) -> dict[str, str]:
        """Headers for a write through an instance: the log then says which worker made it."""
        poll = f"c{next(_ids)}"
        self.changes.append(poll)
        return {"X-Poll": poll}

    def _ask(self, server: Server, probe: Probe) -> Answer:
        poll = f"p{next(_ids)}"
        status = probe(server, {"X-Poll": poll, "Connection": "close"})
        return Answer(poll, server.name, status, time.monotonic())

    def _read_logs(self) -> None:
        for server in self.servers:
            with server.access_log.open() as log:
                log.seek(self._offsets.get(server.name, 0))
                text = log.read()
            complete = text[: text.rfind("\n") + 1]
            self._offsets[server.name] = self._offsets.get(server.name, 0) + len(complete)
            for line in complete.splitlines():
                parts = line.split()
                if len(parts) == 3:
                    self._pids[parts[2]] = parts[0].strip("<>")  # %(p)s is "<pid>"
                    self._order[parts[2]] = len(self._order)

    def until(
        self, probe: Probe, wanted: Callable[[int], bool], since: float, changes: int = -1
    ) -> float:
        """Poll until every worker has answered ``wanted``; returns the largest delay from
        ``since`` to a worker's first wanted answer. Fails if a worker answers otherwise
        after that, or if it takes ``GIVE_UP_SECONDS``.

        ``changes``: the writes tagged from this index of ``self.changes`` on are the
        change. A worker that made one must answer ``wanted`` to every request after it
        (SPEC §12: before its response); its own delay is not a propagation delay (while
        it waits on the write it answers nobody) and is left out of the figure."""
        answers: list[Answer] = []
        while True:
            tick = time.monotonic()
            jobs = [self.pool.submit(self._ask, s, probe) for s in self.servers for _ in "ab"]
            answers += [job.result() for job in jobs]
            if all(wanted(a.status) for a in answers[-len(jobs) :]):
                firsts = self._firsts(
                    answers, wanted, self.changes[changes:] if changes >= 0 else []
                )
                if firsts is not None:
                    return max((at - since for at in firsts.values()), default=0.0)
            if tick - since > GIVE_UP_SECONDS:
                statuses = [(a.server, self._pids.get(a.poll), a.status) for a in answers]
                pytest.fail(f"not every worker answered as wanted: {statuses[-12:]}")
            time.sleep(max(0.0, tick + POLL_SECONDS - time.monotonic()))

    def _firsts(self, answers: list[Answer], wanted: Callable[[int], bool], changes: list[str]):
        """Per worker that did not make the change, when its first wanted answer arrived;
        None while some worker has not answered so yet (or a log line is not written yet)."""
        self._read_logs()
        if any(change not in self._pids for change in changes):
            return None
        writers: dict[str, int] = {}  # pid -> the log line of its first write
        for change in changes:
            writers.setdefault(self._pids[change], self._order[change])
        firsts: dict[str, float] = {}
        covered: set[str] = set()
        # In the order each worker answered (its log lines), not the order the answers were
        # read here: a client thread may read an earlier answer later.
        logged = [answer for answer in answers if answer.poll in self._pids]
        for answer in sorted(logged, key=lambda answer: self._order[answer.poll]):
            pid = self._pids[answer.poll]
            if pid in writers and self._order[answer.poll] > writers[pid]:
                assert wanted(answer.status), f"worker {pid} made the change, then {answer}"
                covered.add(pid)
            elif wanted(answer.status):
                firsts.setdefault(pid, answer.at)
                covered.add(pid)
            else:
                assert pid not in covered, f"worker {pid} went back: {answer}"
        every = set().union(*self.workers.values())
        return firsts if every <= covered else None


# -- a cluster ----------------------------------------------------------------------------------
@dataclass
class Cluster:
    """The instances of one backend (A first), their environment and poller, the client
    everyone logs in with, an admin's token, and the users and clients of the trials."""

    backend: str
    servers: list[Server]
    env: dict[str, str]
    poller: Poller
    client: tuple[str, str]
    admin_token: str = ""
    users: dict[str, list[str]] = field(default_factory=dict)  # kind -> one user a trial
    clients: list[tuple[str, str]] = field(default_factory=list)  # one client a trial

    @property
    def a(self) -> Server:
        return self.servers[0]

    def token(self, username: str, client: tuple[str, str] | None = None) -> dict:
        """The password grant through A."""
        response = password_grant(self.a.base, client or self.client, username)
        assert response.status_code == 200, response.text
        return response.json()

    def admin(self, method: str, path: str, **kwargs) -> requests.Response:
        """An admin API call through A with the admin's token (a write is tagged)."""
        headers = {**bearer(self.admin_token), **kwargs.pop("headers", {})}
        if method != "GET":
            headers.update(self.poller.tag())
        return requests.request(method, self.a.url(path), headers=headers, timeout=10, **kwargs)


def delay_of(cluster: Cluster, probe: Probe, change: Callable[[], object], wanted) -> float:
    """Every worker accepts ``probe`` first (status < 300); then ``change()`` runs while the
    poller polls (a change whose own answer is slow does not hold the polls back); returns
    the delay from just before the change until every worker answers ``wanted``."""
    cluster.poller.until(probe, lambda status: status < 300, time.monotonic())
    changes = len(cluster.poller.changes)
    with ThreadPoolExecutor(max_workers=1) as changer:
        started = time.monotonic()
        changing = changer.submit(change)
        delay = cluster.poller.until(probe, wanted, started, changes)
        changing.result()
    return delay


# -- the figures --------------------------------------------------------------------------------
@dataclass
class Delays:
    """Delays measured per (backend, what changed), printed in the terminal summary."""

    title: str
    found: dict[tuple[str, str], list[float]] = field(default_factory=dict)

    def add(self, backend: str, kind: str, delay: float) -> None:
        self.found.setdefault((backend, kind), []).append(delay)

    def lines(self) -> Iterator[str]:
        backends = sorted({backend for backend, _ in self.found})
        for backend in backends:
            rows = {kind: d for (b, kind), d in self.found.items() if b == backend}
            every = [delay for delays in rows.values() for delay in delays]
            yield f"{backend:<18} {'all':<13} n={len(every):3d}  {_figures(every)}"
            for kind, delays in sorted(rows.items()):
                yield f"{'':<18} {kind:<13} n={len(delays):3d}  {_figures(delays)}"

    def pytest_terminal_summary(self, terminalreporter) -> None:
        if self.found:
            terminalreporter.write_sep("-", self.title)
            for line in self.lines():
                terminalreporter.write_line(line)


def _figures(delays: list[float]) -> str:
    return f"p50 {statistics.median(delays) * 1000:6.1f} ms  p100 {max(delays) * 1000:6.1f} ms"


def delays_collector(config: pytest.Config, title: str) -> Delays:
    """A Delays registered as a plugin, so its table ends the terminal summary."""
    name = f"live-delays-{title}"
    found = config.pluginmanager.get_plugin(name)
    if found is None:
        found = Delays(title)
        config.pluginmanager.register(found, name)
    return found
