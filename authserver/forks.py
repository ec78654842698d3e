"""This process's id, read without a system call.

Objects that own threads or connections check, on the request path, that they are still
in the process that made them (gunicorn forks its workers from a master that may have used
them). ``os.getpid()`` is a system call on every read (glibc keeps no cache), and on a
virtual machine with speculative-execution mitigations a system call costs microseconds
and leaves the caches cold: three per protected request were a tenth of its CPU under
gunicorn (see README, Performance). Here the id is read once, and again in the child after
each ``os.fork`` (``os.register_at_fork``: gunicorn and multiprocessing fork through it).
"""

from __future__ import annotations

import os

_pid = os.getpid()


def pid() -> int:
    """This process's id (as ``os.getpid()``)."""
    return _pid


def _forked() -> None:
    global _pid
    _pid = os.getpid()


os.register_at_fork(after_in_child=_forked)
