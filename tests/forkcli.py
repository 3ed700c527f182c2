"""The CLI as a process of its own, forked from the test process instead of started as a new interpreter.

A `policywatch` command started with subprocess pays about 0.4 s of CPU before its first line of work: Python's
start and the libraries' imports (sqlite-utils with numpy, parsel, click, rich, jinja2). The suite runs the CLI
hundreds of times, so that was a third of its CPU. A forked child already has the libraries; PolicyWatch's own
modules are imported afresh in it (their module state, such as the consoles, starts clean, as in a new process),
and it gets the command's argv, environment, working folder and standard streams, runs the command, runs its atexit
functions and exits with its exit code.

What only a real start shows (signals, process groups, a terminal, two commands racing, what gets imported) is
tested with subprocesses (tests.conftest.POLICYWATCH).
"""

from __future__ import annotations

import atexit
import io
import logging
import os
import signal
import subprocess
import sys
import tempfile
import time
import traceback
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path

_DEFAULT_WARNINGS = list(warnings.filters)  # as pytest found them when the tests were collected


def run(args: Sequence[str], *, env: Mapping[str, str] | None = None, cwd: str | Path | None = None,
        input: str | None = None, timeout: float = 120, check: bool = False) -> subprocess.CompletedProcess[str]:
    """`policywatch ARGS`, as ``subprocess.run([*POLICYWATCH, *args], capture_output=True, text=True)`` gives it."""
    args = [str(a) for a in args]
    with tempfile.TemporaryFile() as stdin, tempfile.TemporaryFile() as stdout, tempfile.TemporaryFile() as stderr:
        if input is not None:
            stdin.write(input.encode("utf-8"))
            stdin.seek(0)
        for stream in (sys.stdout, sys.stderr):
            stream.flush()
        pid = os.fork()
        if pid == 0:  # the child: never returns
            code = 1
            try:
                code = _command(args, env, cwd, stdin.fileno(), stdout.fileno(), stderr.fileno())
            except BaseException:
                with open(2, "w", closefd=False) as err:
                    traceback.print_exc(file=err)
            finally:
                os._exit(code)
        returncode = _wait(pid, timeout, args)
        stdout.seek(0)
        stderr.seek(0)
        done = subprocess.CompletedProcess(["policywatch", *args], returncode, stdout.read().decode("utf-8"),
                                           stderr.read().decode("utf-8"))
    if check:
        done.check_returncode()
    return done


def _wait(pid: int, timeout: float, args: list[str]) -> int:
    deadline = time.monotonic() + timeout
    pause = 0.001
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            raise subprocess.TimeoutExpired(["policywatch", *args], timeout)
        time.sleep(pause)
        pause = min(pause * 2, 0.02)


def _command(args: list[str], env: Mapping[str, str] | None, cwd: str | Path | None,
             stdin: int, stdout: int, stderr: int) -> int:
    """In the child: become a fresh `policywatch` process, run the command, return its exit code."""
    for fd, target in ((stdin, 0), (stdout, 1), (stderr, 2)):
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
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    root.setLevel(logging.WARNING)
    warnings.filters[:] = _DEFAULT_WARNINGS
    for name in [n for n in sys.modules if n == "policywatch" or n.startswith("policywatch.")]:
        del sys.modules[name]
    sys.argv = ["policywatch", *args]
    from policywatch.cli import main

    try:
        main.main(args, prog_name="policywatch")
        code = 0
    except SystemExit as e:
        if e.code is None or isinstance(e.code, int):
            code = e.code or 0
        else:
            print(e.code, file=sys.stderr)
            code = 1
    atexit._run_exitfuncs()
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    return code
