"""authserver.forks: the process id without a system call, right after a fork too."""

import os

from authserver import forks


def test_pid_is_this_process():
    assert forks.pid() == os.getpid()


def test_a_forked_child_reads_its_own_pid():
    read, write = os.pipe()
    child = os.fork()
    if child == 0:  # the child: report what forks.pid() says, then leave at once
        os.write(write, f"{forks.pid()} {os.getpid()}".encode())
        os._exit(0)
    os.close(write)
    seen, real = os.read(read, 100).decode().split()
    os.close(read)
    os.waitpid(child, 0)
    assert int(seen) == int(real) == child
    assert forks.pid() == os.getpid() != child
