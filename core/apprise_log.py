"""Apprise's own log: kept out of PolicyWatch's logs, and read back one post at a time.

Apprise logs the address it posts to, and its errors can quote a webhook's key, so none of its lines may reach a
log file or a terminal as they are. :func:`quiet` stops them from going anywhere but here; :func:`capture` collects
the lines of one post, in the thread that makes it, for :mod:`policywatch.deliver.chat` to judge how the post ended and
to quote (redacted) why it failed. Threads are kept apart, so posts made at once (a digest and a crawl's alert in
``serve``) never read each other's lines.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Iterator

_LOCAL = threading.local()
_LOCK = threading.Lock()
_INSTALLED: list[logging.Handler] = []


class _PerThread(logging.Handler):
    """Hands each record to the capture open in the thread that logged it, if any."""

    def emit(self, record: logging.LogRecord) -> None:
        lines = getattr(_LOCAL, "lines", None)
        if lines is not None:
            with contextlib.suppress(Exception):  # a record whose arguments do not format is left out
                lines.append((record.levelno, record.getMessage()))


def quiet() -> None:
    """Send Apprise's records only to the per-thread capture (once per process)."""
    with _LOCK:
        if _INSTALLED:
            return
        logger = logging.getLogger("apprise")
        handler = _PerThread(logging.DEBUG)
        logger.addHandler(handler)
        logger.setLevel(logging.DEBUG)  # the connection errors that tell a lost post from a refused one are DEBUG
        logger.propagate = False
        _INSTALLED.append(handler)


@contextlib.contextmanager
def capture() -> Iterator[list[tuple[int, str]]]:
    """The (level, message) of every Apprise record this thread logs inside the block."""
    quiet()
    lines: list[tuple[int, str]] = []
    before = getattr(_LOCAL, "lines", None)
    _LOCAL.lines = lines
    try:
        yield lines
    finally:
        _LOCAL.lines = before
