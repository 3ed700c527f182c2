"""How far a crawl has got, for whoever waits for it: totals and the time left on a terminal, and a line every few
seconds on stderr anywhere else, so that a log under cron or systemd shows the crawl is alive.

A crawl cannot know its size in advance: list pages name the items it will fetch only once they are read. The
estimate is the larger of two counts per source: what state.db says before the crawl starts (its list pages and the
stored documents due for a re-check, see :func:`expected_pages`), and what the crawl has queued so far (the list
pages read, and the requests its spider scheduled, which each event reports as ``queued``). It only grows, and is
always at least what has been done.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from policywatch.core.config import Config

EVERY_ENV = "POLICYWATCH_PROGRESS_EVERY"  # seconds between progress lines when stderr is no terminal
DEFAULT_EVERY = 30.0
MAX_EVERY = 86_400.0  # a day: more is no sign of life (and an infinite wait is no number a timer takes)


def expected_pages(config: Config, names: list[str], recheck_all: bool) -> dict[str, int]:
    """Per source, the pages state.db says a crawl will fetch at least: its list pages, and its stored documents
    due for a re-check (all of them with ``recheck_all``)."""
    from policywatch.core.store import Store, now_iso

    counts: dict[str, tuple[int, int]] = {}
    if config.db_exists():
        with Store(config.db, read_only=True) as store:
            counts = store.due_counts(names, now_iso())
    expected = {}
    for name in names:
        stored, due = counts.get(name, (0, 0))
        expected[name] = len(config.source(name).start_urls) + (stored if recheck_all else due)
    return expected


class CrawlCounts:
    """A crawl's fetch events counted per source, and the pages it is estimated to fetch in all."""

    def __init__(self, expected: dict[str, int], clock: Callable[[], float] = time.monotonic) -> None:
        self.expected = dict(expected)
        self.counts: dict[str, Counter[str]] = {name: Counter() for name in expected}
        self.queued: dict[str, int] = {}
        self.clock = clock
        self.started = clock()

    def add(self, event: dict[str, Any]) -> str | None:
        """Count one crawl event; returns its source when it was a fetch of one of the crawl's sources."""
        name = event.get("source")
        if event.get("event") != "fetch" or name not in self.counts:
            return None
        count = self.counts[name]
        count.update(pages=1, lists=int(event.get("kind") == "list"), new=int(bool(event.get("new_document"))),
                     errors=int(bool(event.get("error"))))
        queued = event.get("queued")
        if isinstance(queued, int) and queued >= 0:
            self.queued[name] = max(self.queued.get(name, 0), queued)
        return name

    def source_line(self, name: str) -> str:
        count = self.counts[name]
        return f"{name}: {count['pages']} pages, {count['new']} new, {count['errors']} errors"

    def done(self) -> int:
        return sum(count["pages"] for count in self.counts.values())

    def total(self) -> int:
        """The pages the crawl is estimated to fetch in all (never fewer than it has fetched)."""
        return sum(max(self.expected[name], count["lists"] + self.queued.get(name, 0), count["pages"])
                   for name, count in self.counts.items())

    def elapsed(self) -> float:
        return self.clock() - self.started

    def left(self) -> float | None:
        """Seconds the rest is estimated to take at the pace so far; None before anything is done."""
        done, elapsed = self.done(), self.elapsed()
        if not done or elapsed <= 0:
            return None
        return (self.total() - done) * elapsed / done

    def line(self, elapsed: bool = True) -> str:
        """One line of how far the crawl has got: totals, and the time so far (with ``elapsed``) and left."""
        done, total = self.done(), self.total()
        new = sum(count["new"] for count in self.counts.values())
        errors = sum(count["errors"] for count in self.counts.values())
        left = self.left()
        return (f"crawl: {done} of about {total} pages ({100 * done // max(total, 1)}%), {new} new documents, "
                f"{errors} errors; " + (f"{duration(self.elapsed())} so far, " if elapsed else "")
                + (f"about {duration(left)} left" if left is not None else "time left not known yet"))


def duration(seconds: float) -> str:
    """A span as people read it in a log: 45s, 3m05s, 2h04m."""
    whole = round(seconds)
    if whole < 60:
        return f"{whole}s"
    if whole < 3600:
        return f"{whole // 60}m{whole % 60:02d}s"
    return f"{whole // 3600}h{whole % 3600 // 60:02d}m"


@contextmanager
def every(seconds: float, action: Callable[[], None]) -> Iterator[None]:
    """While the block runs, call ``action`` every ``seconds`` seconds, in a thread (never when ``seconds`` is 0)."""
    if seconds <= 0:
        yield
        return
    stop = threading.Event()

    def beat() -> None:
        while not stop.wait(seconds):
            action()

    thread = threading.Thread(target=beat, name="progress", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()
