"""WriteBatch: the items of every crawl in one process that write to one database, stored a few at a time.

A commit writes every database page its transaction touched: a document's row and its five indexes, its text,
its sixteen duplicate buckets spread over the bucket index. One commit for twenty documents therefore costs a
fraction of twenty commits, and a crawl's storage about a third less CPU per page. The batch is shared by the
process's crawls (one per source, all on one reactor thread), so twenty sources crawled side by side fill it as
fast as one.

Each item stays all or nothing: its writes are a savepoint of the batch, and a batch that fails is written again
one item per transaction, so only the item at fault is lost, as with a transaction per item. A process killed
mid-batch loses the batch's items, which the next crawl fetches again (nothing was stored, so they are still new
or still due); progress events are given out after the commit, so nothing is counted that is not stored.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

from policywatch.core.store import Store

if TYPE_CHECKING:
    from twisted.internet.task import LoopingCall


class Writer(Protocol):
    """What a batch asks of the pipeline an item came from (policywatch.crawler.pipelines.StorePipeline)."""

    def write(self, store: Store, item: Any) -> dict[str, Any]: ...  # store the item; its progress event

    def emit(self, event: dict[str, Any]) -> None: ...  # after the commit

    def failed(self, item: Any, error: Exception) -> None: ...  # it could not be stored


class WriteBatch:
    """Pending items of one database, written when ``items`` are pending, when the oldest has waited ``seconds``
    (a timer on the reactor), and when a crawl using the batch ends."""

    _open: ClassVar[dict[str, WriteBatch]] = {}

    def __init__(self, db: str, items: int, seconds: float) -> None:
        self.db = db
        self.items = max(1, items)
        self.seconds = seconds
        self.store = Store(db, verify=False)  # the crawl that started this process checked it
        self.pending: list[tuple[Writer, Any]] = []
        self.since = 0.0  # when the oldest pending item came
        self.users = 0
        self.timer: LoopingCall | None = None

    @classmethod
    def join(cls, db: str, items: int, seconds: float) -> WriteBatch:
        """The process's batch for ``db``, opened by its first user; every ``join`` is matched by a ``leave``."""
        batch = cls._open.get(db)
        if batch is None:
            batch = cls._open[db] = cls(db, items, seconds)
        batch.users += 1
        return batch

    def leave(self) -> None:
        """A crawl using the batch ends: what is pending is written; the last user closes the store."""
        self.flush()
        self.users -= 1
        if self.users == 0:
            if self.timer is not None and self.timer.running:
                self.timer.stop()
            self.store.close()
            del self._open[self.db]

    def add(self, writer: Writer, item: Any) -> None:
        if not self.pending:
            self.since = time.monotonic()
            self._start_timer()
        self.pending.append((writer, item))
        if len(self.pending) >= self.items:
            self.flush()

    def flush(self) -> None:
        """Write the pending items in one transaction, in the order they came (an attachment after its page);
        if that fails, one transaction each."""
        batch, self.pending = self.pending, []
        if not batch:
            return
        try:
            with self.store.transaction():
                done = [(writer, writer.write(self.store, item)) for writer, item in batch]
        except Exception:
            done = []
            for writer, item in batch:
                try:
                    with self.store.transaction():
                        done.append((writer, writer.write(self.store, item)))
                except Exception as e:
                    writer.failed(item, e)
        for writer, event in done:
            writer.emit(event)

    def _start_timer(self) -> None:
        if self.timer is None:
            from twisted.internet import task

            self.timer = task.LoopingCall(self._flush_stale)
        if not self.timer.running:
            self.timer.start(self.seconds / 2, now=False)

    def _flush_stale(self) -> None:
        if self.pending and time.monotonic() - self.since >= self.seconds:
            self.flush()
