"""The CLI and crawl processes as processes of their own, forked from the test process instead of started as new
interpreters.

A `policywatch` command started with subprocess pays about 0.4 s of CPU before its first line of work: Python's
start and the libraries' imports (sqlite-utils with numpy, parsel, click, rich, jinja2). The suite runs the CLI
hundreds of times, so that was a third of its CPU. A forked child already has the libraries; PolicyWatch's own
modules are imported afresh in it (their module state, such as the consoles, starts clean, as in a new process),
and it gets the command's argv, environment, working folder and standard streams, runs the command, runs its atexit
functions and exits with its exit code.

The same goes for the crawl processes a crawl starts (`python -m policywatch.crawler.run`, a second of CPU each,
most of it Scrapy's import): in the test process and in forked commands, policywatch.crawler.crawl starts them
with start_crawl_process, forked from a process that has Scrapy imported already (see tests.conftest).

A command can be forked as another user (``run(user=…)``, for the tests of a reader who may not write state.db):
the child drops root before it becomes the command, and finds every library already imported
(import_every_module), since that user may not read the interpreter's own files.

What only a real start shows (signals, process groups, a terminal, what gets imported) is
tested with subprocesses (tests.conftest.POLICYWATCH).
"""

from __future__ import annotations

import asyncio
import atexit
import importlib
import io
import logging
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import warnings
from collections.abc import Callable, Mapping, Sequence
from contextlib import suppress
from pathlib import Path
from typing import IO

_DEFAULT_WARNINGS = list(warnings.filters)  # as pytest found them when the tests were collected


def run(args: Sequence[str], *, env: Mapping[str, str] | None = None, cwd: str | Path | None = None,
        timeout: float = 120, check: bool = False, user: int | None = None) -> subprocess.CompletedProcess[str]:
    """`policywatch ARGS`, as ``subprocess.run([*POLICYWATCH, *args], capture_output=True, text=True)`` gives it
    (stdin empty), with ``env`` set on top of the test process's environment; ``user``: run as that user id (and
    group id, no other groups), as ``setpriv --reuid --regid --clear-groups`` would (the test process is root)."""
    return start(args, env=env, cwd=cwd, user=user).finish(timeout, check)


def start(args: Sequence[str], *, env: Mapping[str, str] | None = None, cwd: str | Path | None = None,
          user: int | None = None) -> Command:
    """`policywatch ARGS` started, not waited for (Command.finish waits): for commands that must run at once."""
    return Command([str(a) for a in args], env, cwd, user)


class Command:
    """A forked `policywatch` command; its standard streams are temporary files, so no pipe can fill up."""

    def __init__(self, args: list[str], env: Mapping[str, str] | None, cwd: str | Path | None,
                 user: int | None = None) -> None:
        self.args = ["policywatch", *args]
        self.stdin, self.stdout, self.stderr = (tempfile.TemporaryFile() for _ in range(3))  # noqa: SIM115 (finish closes them)
        streams = (self.stdin.fileno(), self.stdout.fileno(), self.stderr.fileno())
        environment = {**os.environ, **env} if env else None
        self.process = ForkedProcess(_fork(lambda: _command(args, environment, cwd, user, *streams)), None)

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


def _fork(child: Callable[[], int]) -> int:
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


def _command(args: list[str], env: Mapping[str, str] | None, cwd: str | Path | None, user: int | None,
             stdin: int, stdout: int, stderr: int) -> int:
    """In the child: become a fresh `policywatch` process (of ``user``, if given), run the command, return its exit
    code."""
    if user is not None:
        os.setgroups([])
        os.setgid(user)
        os.setuid(user)
    _become(["policywatch", *args], env, cwd, stdin, stdout, stderr)
    from policywatch.cli import main

    try:
        main.main(args, prog_name="policywatch")
        code = 0
    except SystemExit as e:
        code = _exit_code(e)
    return _exit(code)


def _become(argv: list[str], env: Mapping[str, str] | None, cwd: str | Path | None,
            stdin: int, stdout: int, stderr: int) -> None:
    """In a forked child: take these standard streams, folder and environment, and start as a new process would:
    default signal handlers, warning filters and logging, no exit functions, no event loop, PolicyWatch's modules
    not yet imported; and forked crawl processes (start_crawl_process) for whatever crawl it starts."""
    for fd, target in ((stdin, 0), (stdout, 1), (stderr, 2)):
        if fd != target:
            os.dup2(fd, target)
    sys.stdin = sys.__stdin__ = io.TextIOWrapper(io.BufferedReader(io.FileIO(0, "r", closefd=False)),
                                                 encoding="utf-8")
    sys.stdout = sys.__stdout__ = io.TextIOWrapper(io.BufferedWriter(io.FileIO(1, "w", closefd=False)),
                                                   encoding="utf-8")
    sys.stderr = sys.__stderr__ = io.TextIOWrapper(io.BufferedWriter(io.FileIO(2, "w", closefd=False)),
                                                   encoding="utf-8", errors="backslashreplace", line_buffering=True)
    if cwd is not None:
        os.chdir(cwd)
    if env is not None:
        os.environ.clear()
        os.environ.update(env)
    time.tzset()
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    atexit._clear()  # the test process's exit functions are not the command's
    asyncio.set_event_loop_policy(None)  # a loop the test process made shares its selector with it: never reuse it
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    root.setLevel(logging.WARNING)
    warnings.filters[:] = _DEFAULT_WARNINGS
    for name in [n for n in sys.modules if n == "policywatch" or n.startswith("policywatch.")]:
        del sys.modules[name]
    sys.argv = list(argv)
    import policywatch.crawler.crawl

    policywatch.crawler.crawl.start_process = start_crawl_process


def _exit_code(e: SystemExit) -> int:
    if e.code is None or isinstance(e.code, int):
        return e.code or 0
    print(e.code, file=sys.stderr)
    return 1


def _exit(code: int) -> int:
    """What a process does on its way out: exit functions, logging's last flush, the streams flushed."""
    atexit._run_exitfuncs()
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    return code


CRAWL_MODULE = "policywatch.crawler.run"


def start_crawl_process(args: list[str], stdout: int, stderr: IO[str], env: dict[str, str] | None,
                        pass_fds: list[int]) -> ForkedProcess:
    """policywatch.crawler.crawl.start_process, forked: `python -m policywatch.crawler.run ARGS` in a child of
    this process, which has Scrapy imported already (tests.conftest imports it once per test process), so the
    child skips the second of CPU a crawl process spends on Python's start and its imports. The child runs the
    module's main() with the same arguments, streams and environment. A child that cannot start a reactor (the
    test process imported one) executes the real command instead."""
    reading, writing = os.pipe()

    def child() -> int:
        os.close(writing)  # the parent's end: its close (or the parent's death) is the child's end of file
        return _crawl_process(args, env, reading, stdout, stderr.fileno(), pass_fds)

    pid = _fork(child)
    os.close(reading)
    return ForkedProcess(pid, open(writing, "wb"))


def _crawl_process(args: list[str], env: Mapping[str, str] | None, stdin: int, stdout: int, stderr: int,
                   pass_fds: list[int]) -> int:
    command = [sys.executable, "-m", CRAWL_MODULE, *args]
    if "twisted.internet.reactor" in sys.modules:  # installed in the test process: this child cannot start another
        for fd, target in ((stdin, 0), (stdout, 1), (stderr, 2)):
            os.dup2(fd, target)
        for fd in pass_fds:
            os.set_inheritable(fd, True)
        os.execve(sys.executable, command, dict(env if env is not None else os.environ))
    _become(command, env, None, stdin, stdout, stderr)
    from policywatch.crawler.run import main

    try:
        code = main(args)
    except SystemExit as e:
        code = _exit_code(e)
    return _exit(code)


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

    ForkedProcess(_fork(learn), None).wait(120)
    for name in learned.read_text(encoding="utf-8").split() if learned.exists() else []:
        if name.split(".")[0] != "policywatch" and not name.startswith("twisted.internet.reactor"):
            with suppress(Exception):  # a module only its own package imports the right way
                importlib.import_module(name)


class ForkedProcess:
    """What policywatch.crawler.crawl needs of a subprocess.Popen, for a forked child: its pid, its stdin pipe,
    poll, wait, signals and the exit code (negative: the signal that ended it). Thread-safe, as Popen is: the crawl
    watches its processes from a second thread."""

    def __init__(self, pid: int, stdin: IO[bytes] | None) -> None:
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
        while self.poll() is None:
            if deadline is not None and time.monotonic() > deadline:
                raise subprocess.TimeoutExpired(CRAWL_MODULE, timeout)
            time.sleep(pause)
            pause = min(pause * 2, 0.02)
        return self.returncode

    def send_signal(self, signum: int) -> None:
        with self._lock:
            if self.returncode is None:
                os.kill(self.pid, signum)

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)
