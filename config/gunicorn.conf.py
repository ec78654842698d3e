"""gunicorn settings: ``gunicorn -c config/gunicorn.conf.py wsgi:app``.

AUTHSERVER_BIND (default 127.0.0.1:5000) and AUTHSERVER_WORKERS (default 2) choose the
address and the number of worker processes; any value can also be overridden on the command
line or with GUNICORN_CMD_ARGS. The master checks the whole configuration once before it
forks (``on_starting``): a bad setting prints one line naming it and stops gunicorn with
status 4, instead of every worker printing the same line.
"""

import atexit
import contextlib
import glob
import os
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _fail(message: str, status: int = 1) -> None:
    print(f"authserver: {message}", file=sys.stderr, flush=True)
    raise SystemExit(status)


def _workers(text: str) -> int:
    try:
        number = int(text)
    except ValueError:
        number = 0
    if not 1 <= number <= 64:
        _fail(f"AUTHSERVER_WORKERS: expected a whole number from 1 to 64, got {text!r}")
    return number


bind = os.environ.get("AUTHSERVER_BIND") or "127.0.0.1:5000"
workers = _workers(os.environ.get("AUTHSERVER_WORKERS", "2"))
wsgi_app = "wsgi:app"
pythonpath = str(ROOT)  # wsgi.py is importable whatever the working directory
worker_class = "sync"
# Each worker's heartbeat touches a file (os.utime) at every turn of its loop, once per
# request. On a disk-backed filesystem that update goes through the journal and waits
# whenever another process's fsync is committing it (a database on the same disk); in
# memory it never waits (gunicorn's documentation advises tmpfs here).
worker_tmp_dir = "/dev/shm" if os.path.isdir("/dev/shm") else None
timeout = 30
graceful_timeout = 20
# gunicorn 27 opens a control socket at one fixed path: several instances on one host would
# fight over it, and nothing here uses it.
control_socket_disable = True
accesslog = None
errorlog = "-"
limit_request_line = 8190
limit_request_fields = 100
limit_request_field_size = 8190

# prometheus-client multiprocess mode: each worker writes its samples here and /metrics
# merges them. Set before anything imports prometheus_client (the master below does). A
# folder given in PROMETHEUS_MULTIPROC_DIR must be this instance's alone (production: set
# it); without one, a temporary folder is made here and removed when the master exits,
# also when it fails to start (atexit; workers are forks and must not remove it).
METRICS_DIR = os.environ.get("PROMETHEUS_MULTIPROC_DIR") or ""
METRICS_DIR_IS_OURS = not METRICS_DIR
MASTER_PID = os.getpid()
if METRICS_DIR_IS_OURS:
    METRICS_DIR = os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(
        prefix="authserver-metrics-"
    )


def on_starting(server) -> None:
    """Build the app once in the master: bad configuration stops the start here, with one
    line, and an http issuer that is not the bound address gets one warning line. It also
    creates the signing-key file and seeds the policy before any worker runs.
    The master's database connections are closed; each worker builds its own app."""
    _remove_samples(METRICS_DIR)  # samples of an earlier run are stale
    from authserver.app import create_app
    from authserver.config import ConfigError, issuer_bind_mismatch
    from authserver.extensions import db
    from authserver.services.errors import ServiceError

    try:
        app = create_app()
    except (ConfigError, ServiceError) as exc:
        _fail(str(exc), status=4)
    warning = issuer_bind_mismatch(app.config, {"AUTHSERVER_BIND": (server.cfg.bind or [bind])[0]})
    if warning:
        print(f"authserver: {warning}", file=sys.stderr, flush=True)
    with app.app_context():
        db.engine.dispose()
    # The master serves nothing: its live gauges (0 since import) must not count in the
    # livemin/livemax merge (authserver_live_feed_up would read 0 for ever).
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(os.getpid())


def pre_fork(server, worker) -> None:
    """Re-read the signing-key file in the master just before a worker is forked: the
    worker inherits the last good key set, so a file that broke since the start (SPEC
    §13) does not stop it from booting (exit 4 would take the master down); it serves
    with the keys of the last good file, and /readyz says so."""
    from authserver.security.keys import refresh_remembered

    refresh_remembered()


def post_worker_init(worker) -> None:
    """Once the worker has built its app: collect what the start left, then move every
    object it keeps (the app, its modules, ~127,000 objects) out of the garbage
    collector's sight (``gc.freeze``). Every full collection walked them all: measured,
    a 70 ms pause every few tens of thousands of requests, 1.5 µs per request on average."""
    import gc

    gc.collect()
    gc.freeze()


def _remove_samples(folder: str) -> None:
    """Delete prometheus-client's sample files (``*.db``), and nothing else: the folder
    may be one the operator chose, with other files in it."""
    os.makedirs(folder, exist_ok=True)
    for path in glob.glob(os.path.join(folder, "*.db")):
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)


@atexit.register
def _remove_own_metrics_dir() -> None:
    """Remove the temporary metrics folder made above (never one the operator gave)."""
    if METRICS_DIR_IS_OURS and os.getpid() == MASTER_PID:
        shutil.rmtree(METRICS_DIR, ignore_errors=True)


def on_exit(server) -> None:
    _remove_own_metrics_dir()


def child_exit(server, worker) -> None:
    """Drop a dead worker's live gauges from the merged metrics."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)
