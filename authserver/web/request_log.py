"""One JSON log line per request, with a request id (X-Request-ID in, or a new one; always out).

Only the path is logged, never the query string, headers or body: those can carry tokens and
passwords.

This runs on every request, so it is written for speed (see README, Performance): called
from the one WSGI layer (``web/edge.py``), so no Flask hook and no context-proxy lookups,
when the app starts its response (the request is still current then, and the line goes to
that request's ``wsgi.errors``); one ``%`` template, strings quoted by the json module's
own C encoder (exactly what ``json.dumps`` of the same dict gives). When the only handler
the line would reach is ours (the default), the request only queues the line's fields: a
writer thread formats them and writes the line to the request's stream, byte for byte what
the handler would write, with no LogRecord and no logging dispatch (and a write can block
on a busy disk: see ``LineWriter``); when anything else listens (a logging config, a test's
capture), a record goes through the logging module at once, made without the caller lookup
``Logger.info`` does, and the formatter splices it after its head.
"""

from __future__ import annotations

import atexit
import collections
import logging
import re
import sys
import threading
import time
from json.encoder import encode_basestring_ascii as _quote
from random import getrandbits

from authserver import forks
from authserver.web.log_format import HANDLER, JSONFormatter, iso_timestamp

log = logging.getLogger("authserver.request")
REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
#: Field for field what ``json.dumps`` gave for the dict this line used to be. The request
#: id needs no quoting: it matches REQUEST_ID or is hexadecimal.
LINE = (
    '{"event": "request", "request_id": "%s", "method": %s, "path": %s, "status": %d, '
    '"duration_ms": %r, "remote_addr": %s}'
)


def request_id_of(environ: dict) -> str:
    """The request's id, for its line and the answer's header: a well-formed X-Request-ID
    it came with, or a new one."""
    incoming = environ.get("HTTP_X_REQUEST_ID")
    if incoming is not None and REQUEST_ID.fullmatch(incoming):
        return incoming
    # A correlation id, not a secret: the random module (reseeded in each forked child)
    # spares the system call os.urandom makes on every request.
    return f"{getrandbits(64):016x}"


def record(environ: dict, request, request_id: str, status: str, seconds: float) -> None:
    """The request's line (``request``: Flask's, or None when Flask never saw it), once
    the answer starts. When only our handler would see it, its fields go to the writer
    thread, which formats and writes them; else a record goes through logging now."""
    if not log.isEnabledFor(logging.INFO):
        return
    if request is not None:
        method, path, address = request.method, request.path, request.remote_addr
    else:  # not reached through Flask: the raw values
        method, path = environ.get("REQUEST_METHOD", ""), environ.get("PATH_INFO", "")
        address = environ.get("REMOTE_ADDR")
    fields = (time.time(), request_id, method, path, int(status[:3]), seconds, address)
    if _only_our_handler():
        WRITER.put(environ.get("wsgi.errors") or sys.stderr, fields)
    else:
        log.handle(_RequestRecord(_message(fields)))


def _only_our_handler() -> bool:
    """Whether the line would reach :data:`HANDLER` and nothing else: no filter on the
    way, no other handler (a test's capture, an operator's logging config), no level
    above INFO. Then the line is written here directly, exactly as HANDLER would write it;
    else it goes through the logging module. Looked at on every line (a few attribute
    reads), so a handler added at any time is honoured at once."""
    if (
        HANDLER.filters
        or HANDLER.level > logging.INFO
        or type(HANDLER.formatter) is not JSONFormatter
    ):
        return False
    found = False
    logger: logging.Logger | None = log
    while logger is not None:
        if logger.filters:
            return False
        for handler in logger.handlers:
            if handler is not HANDLER:
                return False
            found = True
        if not logger.propagate:
            break
        logger = logger.parent
    return found


#: The head of a request line, as JSONFormatter writes it for this logger at INFO.
_HEAD = '{"ts": "%s", "level": "INFO", "logger": "authserver.request", '
#: The whole line HANDLER writes: the head, then LINE's fields, in one template.
_FULL_LINE = _HEAD + LINE[1:] + "\n"


def _line(fields: tuple) -> str:
    """The line HANDLER would write for a request's ``fields`` (see :func:`record`),
    without a LogRecord, the logger's and handler's dispatch or a formatter."""
    return _FULL_LINE % (iso_timestamp(fields[0]), *_values(fields))


class LineWriter:
    """Writes request lines from a daemon thread of the process, in order, in batches.

    A ``write`` to a log file can block: the kernel updates the file's inode in the
    filesystem journal, which waits whenever another process's ``fsync`` is committing it
    (a database next door does that all day). Measured under gunicorn on a busy machine,
    the one synchronous write per request cost protected requests a third of their
    throughput, the worker waiting with the answer already made. Here the request thread
    only appends the line's fields to a deque; every ``every`` seconds the writer thread
    wakes, formats what came (in a batch, its code hot in the caches) and writes it, one
    write per stream (gunicorn's ``wsgi.errors`` is a new wrapper
    per request around the same streams: consecutive lines for the same streams go out
    together). No wake-up per request, one system call per batch. Started on first use
    in each process (after gunicorn's fork); at exit the queue is written out, so no line
    is lost on a normal stop (a worker killed outright may lose its last ``every``
    seconds of lines, as a buffered stream would).
    """

    def __init__(self, every: float = 0.05) -> None:
        self.every = every
        self._lines: collections.deque = collections.deque()
        self._pid = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._starting = threading.Lock()

    def put(self, stream, fields: tuple) -> None:
        """Queue the line of a request's ``fields`` (see :func:`record`) for ``stream``."""
        if self._pid != forks.pid():
            self._start()
        self._lines.append((stream, fields))  # atomic: no lock on the request path

    def _start(self) -> None:
        with self._starting:
            if self._pid == forks.pid():
                return
            self._lines = collections.deque()  # a fork's copy of the parent's lines is not ours
            self._stop = threading.Event()
            self._thread = threading.Thread(
                target=self._run, args=(self._stop,), name="authserver-request-log", daemon=True
            )
            self._thread.start()
            self._pid = forks.pid()
        atexit.register(self.close)

    def _run(self, stop: threading.Event) -> None:
        while not stop.wait(self.every):
            self.flush()
        self.flush()

    def flush(self) -> None:
        """Write every line queued so far."""
        lines = self._lines
        batch: list[str] = []
        key = stream = None
        with _handler_lock():  # as Handler.handle: never interleaved with other lines
            while lines:
                item_stream, fields = lines.popleft()
                item_key = _destination(item_stream)
                if batch and item_key != key:
                    _write_batch(stream, batch)
                    batch = []
                key, stream = item_key, item_stream
                batch.append(_line(fields))
            if batch:
                _write_batch(stream, batch)

    def close(self, wait: float = 5.0) -> None:
        """Write every queued line and stop the thread (at exit; tests). A later line
        starts a new one."""
        thread = self._thread
        if self._pid != forks.pid() or thread is None:
            return
        with self._starting:
            self._stop.set()
            thread.join(wait)
            self._pid, self._thread = 0, None
        self.flush()


def _handler_lock() -> threading.RLock:
    """HANDLER's lock (made by ``Handler.__init__``; typeshed allows None)."""
    lock = HANDLER.lock
    assert lock is not None
    return lock


def _destination(stream) -> object:
    """What ``stream`` writes to: gunicorn's per-request ``wsgi.errors`` wrapper lists the
    streams it writes to (a list: equal lists hold the same stream objects); any other
    stream is its own."""
    targets = getattr(stream, "streams", None)
    return targets if isinstance(targets, list) else stream


def _write_batch(stream, lines: list[str]) -> None:
    try:
        stream.write("".join(lines))
        stream.flush()
    except Exception:  # noqa: BLE001 - as logging does: reported, not raised
        HANDLER.handleError(_RequestRecord(lines[0]))


WRITER = LineWriter()


def _message(fields: tuple) -> str:
    """The request's JSON object (see :func:`record` for ``fields``)."""
    return LINE % _values(fields)


def _values(fields: tuple) -> tuple:
    """LINE's values for a request's ``fields``, quoted as ``json.dumps`` quotes them."""
    _when, request_id, method, path, status, seconds, address = fields
    return (
        request_id,
        _quote(method),
        _quote(path[:200]),
        status,
        round(seconds * 1000, 2),
        "null" if address is None else _quote(address),
    )


class _RequestRecord(logging.LogRecord):
    """The request line's record, made without ``LogRecord.__init__``'s per-record lookups
    (source file name and module, thread and process names): those are the same on every
    line, so they are copied from one record made the usual way. The message is already a
    JSON object: the formatter splices it (``json_message``)."""

    json_message = True
    _fixed: dict | None = None
    _fixed_pid = 0

    def __init__(self, message: str) -> None:
        pid = forks.pid()
        if _RequestRecord._fixed is None or _RequestRecord._fixed_pid != pid:
            model = logging.LogRecord(log.name, logging.INFO, __file__, 0, "", (), None, "start")
            _RequestRecord._fixed, _RequestRecord._fixed_pid = vars(model), pid
        attributes = self.__dict__
        attributes.update(_RequestRecord._fixed)
        attributes["msg"] = message
        now = time.time_ns()
        attributes["created"] = now / 1e9
        attributes["msecs"] = (now % 1_000_000_000) // 1_000_000 + 0.0
        # What LogRecord.__init__ uses: logging's start time, private, so not in typeshed.
        attributes["relativeCreated"] = (now / 1e9 - logging._startTime) * 1000  # type: ignore[attr-defined]
        attributes["thread"] = threading.get_ident()
        attributes["threadName"] = threading.current_thread().name
