"""How `policywatch crawl` starts its crawl processes: forked from itself, or as new interpreters.

A new ``python -m policywatch.crawler.run`` spends about a second of CPU before its first request: Python's start,
Scrapy's import, and the middlewares, handlers and extensions its settings name. A crawl shared among two processes
paid that twice. Instead the command imports all of it once (policywatch.crawler.run.preload) and forks its crawl
processes, which start with everything loaded.

They are forked before the command opens the store, because a child must not inherit a database connection: SQLite
keeps its file locks per process, and a PostgreSQL connection's socket would be shared. Each child closes the pipes
and sockets it inherited but its standard streams, and waits for its arguments, which the command sends once the run
exists, together with the run's lock (policywatch.core.store: a run is alive while a process holds it). Then it runs
policywatch.crawler.run's main() as the new interpreter would, and exits with its exit code.

Where a fork is not possible (no ``os.fork``, a thread other than the main one, or a Twisted reactor already
imported, so that the child could not install Scrapy's), the crawl process is a new interpreter (:func:`spawn`).
"""

from __future__ import annotations

import asyncio
import atexit
import fcntl
import gc
import io
import json
import logging
import os
import signal
import socket
import stat
import subprocess
import sys
import threading
import time
import traceback
from collections.abc import Callable
from contextlib import suppress
from typing import IO

CRAWL_MODULE = "policywatch.crawler.run"
MAX_MESSAGE = 1 << 20  # bytes of a crawl process's arguments: source names and a few options
MAX_FDS = 8


def reactor_free() -> bool:
    """Whether Scrapy's reactor can start in this process, or a child forked from it: this is the main thread, and no
    Twisted reactor is installed (one starts once per process)."""
    return threading.current_thread() is threading.main_thread() and "twisted.internet.reactor" not in sys.modules


def can_fork() -> bool:
    """Whether crawl processes can be forked from this process (see the module docstring)."""
    return hasattr(os, "fork") and reactor_free()


def spawn(args: list[str], stdout: int, stderr: IO[str], env: dict[str, str], pass_fds: list[int]) -> subprocess.Popen:
    """``python -m policywatch.crawler.run ARGS`` as a new interpreter, with ``env`` on top of this process's
    environment, stdin a pipe this process holds (see ``--watch-parent``), and ``pass_fds`` kept open."""
    return subprocess.Popen([sys.executable, "-m", CRAWL_MODULE, *args], stdin=subprocess.PIPE, stdout=stdout,
                            stderr=stderr, env={**os.environ, **env} if env else None, pass_fds=pass_fds)


class ForkedProcess:
    """What policywatch.crawler.crawl needs of a subprocess.Popen, for a forked child: its pid, its stdin, poll, wait,
    signals and the exit code (negative: the signal that ended it). Thread-safe, as Popen is: a crawl watches its
    processes from a second thread."""

    def __init__(self, pid: int, stdin: IO[bytes] | socket.socket | None) -> None:
        self.pid, self.stdin = pid, stdin
        self.returncode: int | None = None
        self._lock = threading.Lock()

    def poll(self) -> int | None:
        with self._lock:
            if self.returncode is None:
                done, status = os.waitpid(self.pid, os.WNOHANG)
                if done:
                    self.returncode = os.waitstatus_to_exitcode(status)
            return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        deadline = None if timeout is None else time.monotonic() + timeout
        pause = 0.001
        while (code := self.poll()) is None:
            if deadline is not None and time.monotonic() > deadline:
                raise subprocess.TimeoutExpired(CRAWL_MODULE, timeout)
            time.sleep(pause)
            pause = min(pause * 2, 0.02)
        return code

    def send_signal(self, signum: int) -> None:
        with self._lock:
            if self.returncode is None:
                os.kill(self.pid, signum)

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)


class ForkedCrawl(ForkedProcess):
    """A crawl process forked now, with ``stdout`` and ``stderr`` as its streams, that waits for its arguments
    (:meth:`start`). Its stdin is one end of a socket pair this process holds: the arguments come through it, and its
    close, or this process's death, is the crawl process's end of file (``--watch-parent``)."""

    def __init__(self, stdout: int, stderr: int) -> None:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        pid = fork(lambda: _crawl_process(theirs, stdout, stderr))
        theirs.close()
        super().__init__(pid, ours)
        self.started = False

    def start(self, args: list[str], env: dict[str, str], pass_fds: list[int]) -> None:
        """Run the crawl: ``python -m policywatch.crawler.run ARGS``, with ``env`` on top of the environment and
        ``pass_fds`` open in the child."""
        socket.send_fds(self.stdin, [json.dumps({"args": args, "env": env}).encode()], pass_fds)
        self.started = True

    def cancel(self) -> None:
        """End the crawl process if it was never started (it exits at the end of file), and reap it; a started one
        is left to end on its own."""
        if not self.started:
            self.stdin.close()
            self.wait()


def fork(child: Callable[[], int]) -> int:
    """Fork: the child runs ``child`` and exits with the code it returns (1, and its traceback on stderr, if it
    raises), never returning here. The parent gets the child's pid."""
    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            code = child()
        except BaseException:
            with open(2, "w", closefd=False) as err:
                traceback.print_exc(file=err)
        finally:
            os._exit(code)
    return pid


def _crawl_process(channel: socket.socket, stdout: int, stderr: int) -> int:
    """In the forked child: keep only the standard streams, wait for the arguments, crawl."""
    gc.freeze()  # the parent's objects are never collected here: none may close a descriptor number reused since
    stdin = channel.detach()
    begin_afresh(stdin, stdout, stderr)
    _close_pipes_and_sockets()
    with socket.socket(fileno=os.dup(0)) as reader:
        # The descriptors sent (the run's lock) stay open for as long as the process lives.
        message, _held, flags, _ = socket.recv_fds(reader, MAX_MESSAGE, MAX_FDS)
    if not message:
        return 0  # cancelled, or the command is gone
    if flags & socket.MSG_TRUNC:
        raise ValueError("crawl process arguments longer than a message")
    job = json.loads(message)
    os.environ.update(job["env"])
    from policywatch.crawler.run import main

    try:
        code = main(job["args"])
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else 0 if e.code is None else 1
    return end(code)


def _close_pipes_and_sockets() -> None:
    """Close the pipes and sockets inherited beyond the standard streams: the command's ends of the other crawl
    processes' sockets (which would keep their end of file from coming when the command dies), the reading end of the
    events pipe (which would keep it from breaking), a port the command listens on. Regular files stay open: should a
    database connection have been inherited after all (policywatch.crawler.crawl forks before it opens the store, but
    the caller may hold one), SQLite in this process goes on using their descriptors for its locks."""
    try:
        names = os.listdir("/proc/self/fd")
    except OSError:  # no /proc (not Linux)
        names = os.listdir("/dev/fd")
    for name in names:
        fd = int(name)
        with suppress(OSError):  # the listing's own descriptor, closed by now
            if fd > 2 and not stat.S_ISREG(os.fstat(fd).st_mode):
                os.close(fd)


def begin_afresh(stdin: int, stdout: int, stderr: int) -> None:
    """In a forked child: take these standard streams, and start as a new process would: default signal handlers,
    no exit functions, no event loop, no logging handlers."""
    # Copied out of 0-2 first: a stream given as 0, 1 or 2 (a parent started with a standard stream closed) must
    # not be overwritten before it is taken.
    sources = [fcntl.fcntl(fd, fcntl.F_DUPFD, 3) for fd in (stdin, stdout, stderr)]
    for target, fd in enumerate(sources):
        os.dup2(fd, target)
        os.close(fd)
    sys.stdin = sys.__stdin__ = io.TextIOWrapper(io.BufferedReader(io.FileIO(0, "r", closefd=False)),
                                                 encoding="utf-8")
    sys.stdout = sys.__stdout__ = io.TextIOWrapper(io.BufferedWriter(io.FileIO(1, "w", closefd=False)),
                                                   encoding="utf-8")
    sys.stderr = sys.__stderr__ = io.TextIOWrapper(io.BufferedWriter(io.FileIO(2, "w", closefd=False)),
                                                   encoding="utf-8", errors="backslashreplace", line_buffering=True)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    atexit._clear()  # the parent's exit functions are not the child's
    asyncio.set_event_loop_policy(None)  # a loop the parent made shares its selector with it: never reuse it
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    root.setLevel(logging.WARNING)


def end(code: int) -> int:
    """What a process does on its way out: exit functions, logging's last flush, the streams flushed."""
    atexit._run_exitfuncs()
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    return code
