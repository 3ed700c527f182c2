"""The CLI and crawl processes as processes of their own, forked from the test process instead of started as new
interpreters.

A `policywatch` command started with subprocess pays about 0.4 s of CPU before its first line of work: Python's
start and the libraries' imports (sqlite-utils with numpy, parsel, click, rich, jinja2). The suite runs the CLI
hundreds of times, so that was a third of its CPU. A forked child already has the libraries; PolicyWatch's own
modules are imported afresh in it (their module state, such as the consoles, starts clean, as in a new process),
and it gets the command's argv, environment, working folder and standard streams, runs the command, runs its atexit
functions and exits with its exit code.

Commands are forked from a zygote: a child of the test process forked once it is warm, before any test has run
(start_zygote), which imports PolicyWatch's modules afresh once and then forks a command for each request the test
process sends it (the command's arguments, environment, folder and user, and its standard streams as descriptors).
Each command so starts from the same fresh modules, without paying for their import (about 50 ms of CPU) every time.
A process forked from the test process (a crawl process, a command) that runs a command itself forks it directly.

The crawl processes a crawl starts are forked too, by PolicyWatch itself (policywatch.crawler.processes), from the
test process or the forked command, which have Scrapy imported already (see tests.conftest).

A command can be forked as another user (``run(user=…)``, for the tests of a reader who may not write state.db):
the child drops root before it becomes the command, and finds every library already imported
(import_every_module), since that user may not read the interpreter's own files.

What only a real start shows (signals, process groups, a terminal, what gets imported) is
tested with subprocesses (tests.conftest.POLICYWATCH).
"""

from __future__ import annotations

import importlib
import json
import os
import select
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from collections.abc import Mapping, Sequence
from contextlib import suppress
from pathlib import Path

from policywatch.crawler.processes import ForkedProcess, begin_afresh, end, fork

_DEFAULT_WARNINGS = list(warnings.filters)  # as pytest found them when the tests were collected


def run(args: Sequence[str], *, env: Mapping[str, str] | None = None, cwd: str | Path | None = None,
        timeout: float = 120, check: bool = False, user: int | None = None) -> subprocess.CompletedProcess[str]:
    """`policywatch ARGS`, as ``subprocess.run([*POLICYWATCH, *args], capture_output=True, text=True)`` gives it
    (stdin empty), with ``env`` set on top of the test process's environment; ``user``: run as that user id (and
    group id, no other groups), as ``setpriv --reuid --regid --clear-groups`` would (the test process is root)."""
    return start(args, env=env, cwd=cwd, user=user).finish(timeout, check)


def start(args: Sequence[str], *, env: Mapping[str, str] | None = None, cwd: str | Path | None = None,
          user: int | None = None, stderr: Path | None = None) -> Command:
    """`policywatch ARGS` started, not waited for (Command.finish waits): for commands that must run at once or
    alongside others (``Command.process`` is the running process); ``stderr``: a file for its standard error, to be
    read while it runs."""
    return Command([str(a) for a in args], env, cwd, user, stderr)


class Command:
    """A forked `policywatch` command; its standard streams are temporary files (or the file asked for its standard
    error), so no pipe can fill up."""

    def __init__(self, args: list[str], env: Mapping[str, str] | None, cwd: str | Path | None,
                 user: int | None = None, stderr: Path | None = None) -> None:
        self.args = ["policywatch", *args]
        self.stdin, self.stdout = (tempfile.TemporaryFile() for _ in range(2))  # noqa: SIM115 (finish closes them)
        self.stderr = open(stderr, "w+b") if stderr else tempfile.TemporaryFile()  # noqa: SIM115 (likewise)
        streams = (self.stdin.fileno(), self.stdout.fileno(), self.stderr.fileno())
        environment = {**os.environ, **env} if env else None
        if _zygote is not None and _zygote.owner == os.getpid():
            self.process: ForkedProcess = _zygote.start(args, environment or dict(os.environ),
                                                        str(cwd or os.getcwd()), user, streams)
        else:
            self.process = ForkedProcess(fork(lambda: _command(args, environment, cwd, user, *streams)), None)

    def finish(self, timeout: float = 120, check: bool = False) -> subprocess.CompletedProcess[str]:
        """Wait for the command (SIGKILL and subprocess.TimeoutExpired after ``timeout`` seconds); what it did."""
        try:
            try:
                returncode = self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
                raise subprocess.TimeoutExpired(self.args, timeout) from None
            for stream in (self.stdout, self.stderr):
                stream.seek(0)
            done = subprocess.CompletedProcess(self.args, returncode, self.stdout.read().decode("utf-8"),
                                               self.stderr.read().decode("utf-8"))
        finally:
            for stream in (self.stdin, self.stdout, self.stderr):
                stream.close()
        if check:
            done.check_returncode()
        return done


def _command(args: list[str], env: Mapping[str, str] | None, cwd: str | Path | None, user: int | None,
             stdin: int, stdout: int, stderr: int, fresh_modules: bool = False) -> int:
    """In the child: become a fresh `policywatch` process (of ``user``, if given), run the command, return its exit
    code. ``fresh_modules``: PolicyWatch's modules are fresh already (a zygote's child), not to be imported again."""
    if user is not None:
        os.setgroups([])
        os.setgid(user)
        os.setuid(user)
    _become(["policywatch", *args], env, cwd, stdin, stdout, stderr)
    if not fresh_modules:
        _forget_policywatch()
    from policywatch.cli import main

    try:
        main.main(args, prog_name="policywatch")
        code = 0
    except SystemExit as e:
        code = _exit_code(e)
    return end(code)


def _become(argv: list[str], env: Mapping[str, str] | None, cwd: str | Path | None,
            stdin: int, stdout: int, stderr: int) -> None:
    """In a forked child: take these standard streams, folder and environment, and start as a new process would
    (policywatch.crawler.processes.begin_afresh): default signal handlers, warning filters and logging, no exit
    functions, no event loop."""
    begin_afresh(stdin, stdout, stderr)
    if cwd is not None:
        os.chdir(cwd)
    if env is not None:
        os.environ.clear()
        os.environ.update(env)
    time.tzset()
    warnings.filters[:] = _DEFAULT_WARNINGS
    sys.argv = list(argv)


def _forget_policywatch() -> list[str]:
    """Drop PolicyWatch's modules, to be imported afresh as they are next needed; returns their names."""
    names = [n for n in sys.modules if n == "policywatch" or n.startswith("policywatch.")]
    for name in names:
        del sys.modules[name]
    return names


def _exit_code(e: SystemExit) -> int:
    if e.code is None or isinstance(e.code, int):
        return e.code or 0
    print(e.code, file=sys.stderr)
    return 1


def import_every_module() -> None:
    """Import every PolicyWatch module in this process, and every library any of them imports, at the top or inside
    a function: a forked command then imports only PolicyWatch's own modules afresh (about 30 ms), never a library
    (Apprise, uvicorn, psycopg, rich.progress … up to a quarter of a second each), and a command forked as another
    user (``run(user=…)``) reads no library file that user may not be allowed to read."""
    import ast
    import pkgutil
    import tomllib

    pyproject = tomllib.loads((Path(__file__).parent.parent / "pyproject.toml").read_text(encoding="utf-8"))
    libraries = set()
    for package in pyproject["tool"]["setuptools"]["package-dir"]:  # policywatch and the layers mapped into it
        for module in pkgutil.walk_packages(importlib.import_module(package).__path__, f"{package}."):
            source = importlib.import_module(module.name).__file__
            for node in ast.walk(ast.parse(Path(source).read_text(encoding="utf-8"))):
                if isinstance(node, ast.Import):
                    libraries.update(alias.name for alias in node.names)
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    libraries.add(node.module)
    for name in sorted(libraries):
        if name.split(".")[0] != "policywatch":
            with suppress(ImportError):  # an optional library (the bench's, a platform's) may be missing
                importlib.import_module(name)


def import_what_a_crawl_imports(config: Path) -> None:
    """Import in this process the modules a crawl of ``config`` imports only once it runs (Scrapy's middlewares,
    handlers and extensions, the extraction libraries), learned from that crawl run in a forked child: every crawl
    process forked from this one afterwards starts with them, half a second of CPU less each. The reactor is left
    out: a forked crawl process installs its own."""
    learned = config.parent / "imported.txt"

    def learn() -> int:
        known = set(sys.modules)
        with open(os.devnull, "w") as quiet:
            for fd in (1, 2):
                os.dup2(quiet.fileno(), fd)
        from policywatch.crawler.run import main

        code = main(["--config", str(config)])
        learned.write_text("\n".join(name for name in sys.modules if name not in known), encoding="utf-8")
        return code

    ForkedProcess(fork(learn), None).wait(120)
    for name in learned.read_text(encoding="utf-8").split() if learned.exists() else []:
        if name.split(".")[0] != "policywatch" and not name.startswith("twisted.internet.reactor"):
            with suppress(Exception):  # a module only its own package imports the right way
                importlib.import_module(name)


# -- the zygote -------------------------------------------------------------------------------------------------------

MAX_REQUEST = 1 << 20  # bytes of one command's arguments and environment, at most

_zygote: _Zygote | None = None


def start_zygote() -> None:
    """Fork this process's zygote (once): call it when the test process is warm and no test has run yet."""
    global _zygote
    if _zygote is None:
        _zygote = _Zygote()


def stop_zygote() -> None:
    """End the zygote (at the end of the test session); commands are then forked directly."""
    global _zygote
    if _zygote is not None and _zygote.owner == os.getpid():
        zygote, _zygote = _zygote, None
        zygote.close()


class _Zygote:
    """The test process's end of its zygote: one socket, requests sent whole (a datagram each, with descriptors)."""

    def __init__(self) -> None:
        self.owner = os.getpid()
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self.pid = fork(lambda: _zygote_main(theirs, ours))
        theirs.close()
        self.socket, self.lock = ours, threading.Lock()

    def start(self, args: list[str], env: dict[str, str], cwd: str, user: int | None,
              streams: tuple[int, int, int]) -> ForkedProcess:
        """The command forked from the zygote with these streams: a process whose exit code the zygote reports."""
        status, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        request = json.dumps({"args": args, "env": env, "cwd": cwd, "user": user}).encode()
        with self.lock, theirs:
            socket.send_fds(self.socket, [request], [*streams, theirs.fileno()])
        answer = status.recv(64)
        if not answer:
            status.close()
            raise RuntimeError(f"the test process's zygote (pid {self.pid}) did not start `policywatch {args}`")
        return _ZygoteChild(int(answer), status)

    def close(self) -> None:
        self.socket.close()  # its end of file: the zygote exits
        zygote = ForkedProcess(self.pid, None)
        try:
            zygote.wait(10)
        except subprocess.TimeoutExpired:
            zygote.kill()
            zygote.wait()


class _ZygoteChild(ForkedProcess):
    """A command the zygote forked: its exit code comes from the zygote, which reaps it, over ``status``."""

    def __init__(self, pid: int, status: socket.socket) -> None:
        super().__init__(pid, None)
        self.status = status
        status.setblocking(False)

    def poll(self) -> int | None:
        with self._lock:
            if self.returncode is None and select.select([self.status], [], [], 0)[0]:
                answer = self.status.recv(64)
                self.returncode = int(answer) if answer else -signal.SIGKILL  # no answer: the zygote died
                self.status.close()
            return self.returncode


def _zygote_main(requests: socket.socket, parents: socket.socket) -> int:
    """The zygote: imports PolicyWatch afresh, then forks a command for each request until the test process's end of
    ``requests`` closes, and tells each command's ``status`` socket its pid and, once it has reaped it, its exit
    code (negative: the signal that ended it)."""
    parents.close()
    quiet = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1):  # the test process's (under xdist, its pipes to pytest's main process): not the zygote's
        os.dup2(quiet, fd)
    os.close(quiet)
    for name in _forget_policywatch():
        importlib.import_module(name)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a Ctrl-C of the test run is the test process's to handle
    woken, wake = os.pipe()
    os.set_blocking(wake, False)
    signal.set_wakeup_fd(wake)
    signal.signal(signal.SIGCHLD, lambda *_: None)  # a command ended: the wake-up pipe says so
    running: dict[int, socket.socket] = {}
    while True:
        ready = select.select([requests, woken], [], [])[0]
        if woken in ready:
            os.read(woken, 512)
            while running and (ended := os.waitpid(-1, os.WNOHANG))[0]:
                with running.pop(ended[0]) as status, suppress(OSError):  # OSError: no one asks any more
                    status.send(str(os.waitstatus_to_exitcode(ended[1])).encode())
        if requests in ready:
            message, fds, _, _ = socket.recv_fds(requests, MAX_REQUEST, 4)
            if not message:
                return 0  # the test process is gone
            *streams, status_fd = fds
            status = socket.socket(fileno=status_fd)
            request = json.loads(message)
            held = [requests, status, *running.values()]
            pid = fork(lambda: _zygote_child(request, streams, held, (woken, wake)))  # noqa: B023 (run at once)
            for fd in streams:
                os.close(fd)
            with suppress(OSError):
                status.send(str(pid).encode())
            running[pid] = status


def _zygote_child(request: dict, streams: list[int], sockets: list[socket.socket], pipe: tuple[int, int]) -> int:
    """In the zygote's child: let go of the zygote's sockets and signals, and become the command."""
    signal.set_wakeup_fd(-1)
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    for held in sockets:
        held.close()
    for fd in pipe:
        os.close(fd)
    return _command(request["args"], request["env"], request["cwd"], request["user"], *streams, fresh_modules=True)
