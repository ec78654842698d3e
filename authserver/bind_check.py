"""``python -m authserver.bind_check``: fail with one line when AUTHSERVER_BIND is taken.

``make run`` runs it before ``db upgrade`` and ``demo setup``: with a server already up, a
second ``make run`` would otherwise reset the demo passwords and secret the first terminal
printed, and only then fail to bind.
"""

from __future__ import annotations

import os
import socket
import sys

DEFAULT_BIND = "127.0.0.1:5000"


def address(bind: str) -> tuple[str, int] | None:
    """(host, port) of a gunicorn ``HOST:PORT`` bind; None for a unix socket or fd."""
    host, sep, port = bind.strip().rpartition(":")
    if not sep or not port.isdigit() or bind.startswith(("unix:", "fd://")):
        return None
    return host.strip("[]") or "0.0.0.0", int(port)


def in_use(bind: str) -> bool:
    """Whether something listens on ``bind`` now: binding it the way gunicorn does
    (SO_REUSEADDR, so connections of a stopped server in TIME_WAIT do not count) fails."""
    where = address(bind)
    if where is None:
        return False
    family = socket.AF_INET6 if ":" in where[0] else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(where)
        except OSError:
            return True
    return False


def main() -> int:
    bind = os.environ.get("AUTHSERVER_BIND") or DEFAULT_BIND
    if in_use(bind):
        print(
            f"authserver: {bind} is already in use (another `make run`?); nothing was changed. "
            "Stop that server or set AUTHSERVER_BIND to a free address",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
