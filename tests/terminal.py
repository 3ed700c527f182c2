"""A command run on a real pseudo-terminal of a given width, for tests of what the CLI shows a person at a terminal
(and not a pipe): colours, tables fitted to the width, live progress."""

from __future__ import annotations

import fcntl
import os
import pty
import re
import select
import struct
import subprocess
import termios
import time
from collections.abc import Callable

# CSI sequences (colours, cursor moves, erasing) and the few other escapes rich writes (hide/show the cursor).
_ESCAPES = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b[=>]")


def plain(text: str) -> str:
    """What the terminal shows, without colours or cursor control; line ends as \\n."""
    return _ESCAPES.sub("", text).replace("\r\n", "\n").replace("\r", "\n")


def run_on_terminal(args: list[str], columns: int, env: dict[str, str] | None = None,
                    when: tuple[Callable[[str], bool], Callable[[], None]] | None = None,
                    timeout: float = 120) -> tuple[int, str]:
    """Run ``args`` with stdin, stdout and stderr on one pseudo-terminal ``columns`` wide; returns its exit code and
    everything it wrote (raw, escapes included). ``when`` = (condition, action): the action runs once, as soon as
    the output so far (raw) meets the condition."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, columns, 0, 0))
    environ = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "FORCE_COLOR", "TTY_COMPATIBLE")}
    environ |= {"TERM": "xterm-256color", "COLUMNS": str(columns), **(env or {})}
    process = subprocess.Popen(args, stdin=slave, stdout=slave, stderr=slave, env=environ, close_fds=True)
    os.close(slave)
    output = bytearray()
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.1)
            if ready:
                try:
                    chunk = os.read(master, 65536)
                except OSError:  # EIO: the other end is closed, the command has ended
                    break
                if not chunk:
                    break
                output += chunk
                if when is not None and when[0](output.decode("utf-8", "replace")):
                    when[1]()
                    when = None
            elif process.poll() is not None:
                break
        return process.wait(timeout=max(1.0, deadline - time.monotonic())), output.decode("utf-8", "replace")
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        os.close(master)
