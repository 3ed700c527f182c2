"""Start a crawl subprocess and follow its progress; the caller decides how to show it."""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from policywatch.store import Store

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

    from policywatch.config import Config


class CrawlError(Exception):
    """The crawl process itself failed (not a portal: those are recorded and skipped)."""


@dataclass
class CrawlResult:
    run_id: int
    summary: list[dict[str, Any]]
    errors: list[dict[str, Any]]


def crawl(
    config: Config,
    sources: Iterable[str] = (),
    recheck_all: bool = False,
    on_event: Callable[[dict[str, Any]], None] | None = None,
) -> CrawlResult:
    """Run ``python -m crawler.run`` for ``sources`` (all when empty) and wait for it.

    Progress arrives as JSON lines and is passed to ``on_event``. The per-source
    summary is read back from state.db, so it is right even if the process died.
    """
    log_dir = config.db.parent / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "crawler.run", "--config", str(config.path),
               "--db", str(config.db), "--events", "--log-file", str(log_dir / "crawl.log")]
    if recheck_all:
        command.append("--recheck-all")
    command.extend(sources)
    run_id: int | None = None
    # stderr goes to a file, not a pipe: a chatty process can never block on it.
    with tempfile.TemporaryFile("w+", encoding="utf-8") as err, subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=err, text=True, encoding="utf-8"
    ) as process:
        assert process.stdout is not None
        for line in process.stdout:
            event = _event(line)
            if event.get("event") == "run":
                run_id = int(event["run"])
            if event and on_event is not None:
                on_event(event)
        process.wait()
        err.seek(0)
        stderr = err.read()
    if process.returncode != 0 or run_id is None:
        last = stderr.strip().splitlines()[-1] if stderr.strip() else f"exit code {process.returncode}"
        raise CrawlError(f"crawl failed: {last}")
    with Store(config.db) as store:
        return CrawlResult(run_id, store.run_summary(run_id), store.run_errors(run_id))


def _event(line: str) -> dict[str, Any]:
    try:
        value = json.loads(line)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}
