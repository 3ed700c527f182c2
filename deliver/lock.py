"""One process at a time delivers a digest issue.

The send logs (``deliveries``, ``posts``) make a delivery exactly once across runs that follow each other: each
run sends only to those not yet served. Two runs at once (serve's scheduled send and a `digest send` typed
meanwhile, or two machines sharing one PostgreSQL database) would both read the same subscriber as not served and
both mail them. So a run takes the issue's lock first (``Store.exclusive``: a file lock beside state.db, or a
PostgreSQL advisory lock, released however the process ends), and a second run is refused at once, in one line.
"""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from policywatch.core.config import DigestSpec
    from policywatch.core.store import Store
    from policywatch.digest.period import Period


def delivering(store: Store, spec: DigestSpec, period: Period, dry_run: bool = False) -> AbstractContextManager[None]:
    """The issue's lock, held for a ``with`` block (a dry run, which sends nothing, needs none)."""
    if dry_run:
        return nullcontext()
    return store.exclusive(f"deliver {spec.name} {period.key}",
                           f"{spec.name} {period.key} is being delivered by another process (a `digest send`, or "
                           "serve on its schedule): run it again when that has finished")
