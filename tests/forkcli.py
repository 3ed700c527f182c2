"""The CLI and crawl processes as processes of their own, forked from the test process instead of started as new
interpreters.

A `policywatch` command started with subprocess pays about 0.4 s of CPU before its first line of work: Python's
start and the libraries' imports (sqlite-utils with numpy, parsel, click, rich, jinja2). The suite runs the CLI
hundreds of times, so that was a third of its CPU. A forked child already has the libraries; PolicyWatch's own
modules are imported afresh in it (their module state, such as the consoles, starts clean, as in a new process),
and it gets the command's argv, environment, working folder and standard streams, runs the command, runs its atexit
functions and exits with its exit code.

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
import os
import subprocess
import sys
import tempfile
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
    return end(code)


def _become(argv: list[str], env: Mapping[str, str] | None, cwd: str | Path | None,
            stdin: int, stdout: int, stderr: int) -> None:
    """In a forked child: take these standard streams, folder and environment, and start as a new process would
    (policywatch.crawler.processes.begin_afresh): default signal handlers, warning filters and logging, no exit
    functions, no event loop, PolicyWatch's modules not yet imported."""
    begin_afresh(stdin, stdout, stderr)
    if cwd is not None:
        os.chdir(cwd)
    if env is not None:
        os.environ.clear()
        os.environ.update(env)
    time.tzset()
    warnings.filters[:] = _DEFAULT_WARNINGS
    for name in [n for n in sys.modules if n == "policywatch" or n.startswith("policywatch.")]:
        del sys.modules[name]
    sys.argv = list(argv)


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
