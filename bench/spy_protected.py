"""Sample the gunicorn workers with py-spy while wrk loads the protected route (or the bare
one), and print where the CPU samples fall, component by component.

Run: ``.venv/bin/python bench/spy_protected.py [--seconds 10] [--path /api/me]`` (needs
wrk and py-spy: ``.venv/bin/pip install py-spy``; py-spy needs ptrace rights, as root).
The workers' CPU time per request is read from /proc, and shared out among the components
as py-spy's samples fall (py-spy's own pauses do not count: its sampling is non-blocking).
Each sample's stack is given to the first component whose function appears in it, looking
from the innermost frame outwards; samples outside the Flask app are gunicorn's.
"""

from __future__ import annotations

import argparse
import collections
import os
import shutil
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import BIN, Server, bench_database_url, login, prepare, wrk  # noqa: E402

RATE = 200  # samples per second
#: (component, substrings of a frame "function (file:line)"), matched innermost first.
COMPONENTS = [
    ("request log line", ("request_log.py", "log_format.py", "logging/__init__.py")),
    ("metrics timer", ("web/metrics.py", "prometheus_client")),
    ("security headers", ("web/headers.py",)),
    ("live state / revocation check", ("authserver/live/", "services/revocation.py")),
    ("JWT verify (cached)", ("access_tokens.py", "security/keys.py")),
    ("Flask-Principal identity", ("flask_principal.py", "resource/principal.py")),
    ("ResourceProtector/Authlib", ("authlib/", "resource/challenges.py")),
    ("the view + JSON response", ("api/examples.py", "bare_app.py", "flask/json/")),
    ("edge layer (one WSGI middleware)", ("web/edge.py",)),
    ("Werkzeug/Flask dispatch", ("flask/", "werkzeug/", "flask_sqlalchemy/", "blinker/")),
    ("gunicorn: HTTP parsing, socket I/O", ("gunicorn/",)),
]


def classify(stack: str) -> str:
    frames = stack.split(";")
    for frame in reversed(frames):
        for name, needles in COMPONENTS:
            if any(needle in frame for needle in needles):
                return name
    return "other"


def spy(pids: list[int], seconds: int, out: Path) -> list[subprocess.Popen]:
    command = [str(BIN / "py-spy"), "record", "--format", "raw", "--nonblocking", "-r", str(RATE)]
    return [
        subprocess.Popen(
            [*command, "-d", str(seconds), "-o", f"{out}.{pid}", "-p", str(pid)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for pid in pids
    ]


def tally(paths: list[Path]) -> collections.Counter:
    counts: collections.Counter = collections.Counter()
    for path in paths:
        for line in path.read_text().splitlines():
            stack, _, number = line.rpartition(" ")
            counts[classify(stack)] += int(number)
    return counts


def worker_cpu(pids: list[int]) -> float:
    """CPU seconds (user + system) the processes ``pids`` used so far."""
    ticks = 0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


def _load(rate: list[float], url: str, seconds: int, kwargs: dict) -> None:
    rate.append(wrk(url, duration=seconds, **kwargs))


def leaves(paths: list[Path]) -> collections.Counter:
    counts: collections.Counter = collections.Counter()
    for path in paths:
        for line in path.read_text().splitlines():
            stack, _, number = line.rpartition(" ")
            counts[stack.split(";")[-1]] += int(number)
    return counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--leaves", type=int, default=0, help="print the top innermost frames")
    args = parser.parse_args()
    if shutil.which("wrk") is None or not (BIN / "py-spy").exists():
        raise SystemExit("needs wrk (apt-get install wrk) and py-spy (pip install py-spy)")
    out = Path(tempfile.mkdtemp(prefix="authserver-spy-"))
    with prepare(bench_database_url()) as fixture:
        with Server.authserver(fixture) as server, Server.bare() as bare:
            token = login(server.url, fixture)["access_token"]
            results = {}
            for name, target, kwargs in (
                ("bare", bare, {}),
                (
                    "protected",
                    server,
                    {"path": "/api/me", "headers": [f"Authorization: Bearer {token}"]},
                ),
            ):
                rate: list[float] = []
                load = threading.Thread(
                    target=_load, args=(rate, target.url, args.seconds + 2, kwargs)
                )
                pids = target.worker_pids()
                load.start()
                cpu = worker_cpu(pids)
                spies = spy(pids, args.seconds, out / name)
                for process in spies:
                    process.wait()
                load.join()
                cpu = worker_cpu(pids) - cpu
                counts = tally(sorted(out.glob(f"{name}.*")))
                results[name] = (rate[0], cpu / (rate[0] * (args.seconds + 2)), counts)
    _report(results, args.seconds)
    if args.leaves:
        for name in results:
            print(f"{name}: top innermost frames")
            for frame, count in leaves(sorted(out.glob(f"{name}.*"))).most_common(args.leaves):
                print(f"  {count:>6}  {frame}")
    shutil.rmtree(out, ignore_errors=True)


def _report(results, seconds: int) -> None:
    print("µs of worker CPU per request (from /proc), shared out as py-spy's samples fall")
    names = [name for name, _ in COMPONENTS] + ["other"]
    header = "".join(f"{name:>12}" for name in results)
    print(f"{'component':<38}{header}")
    for component in names:
        row = ""
        for _rate, cpu, counts in results.values():
            row += f"{cpu * 1e6 * counts[component] / max(sum(counts.values()), 1):>12.1f}"
        print(f"{component:<38}{row}")
    print(f"{'total':<38}" + "".join(f"{cpu * 1e6:>12.1f}" for _r, cpu, _c in results.values()))
    for name, (rate, _cpu, counts) in results.items():
        print(f"{name}: {rate:,.0f} requests/s, {sum(counts.values())} samples")


if __name__ == "__main__":
    main()
