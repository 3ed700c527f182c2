"""Source health: after each crawl, decide whether a source has broken, and open or close its alert.

A source is broken when its latest run met an anti-bot wall, or fetched its list pages and found no items
on them (the selectors no longer match) or fewer than its ``expect_items``, or when its last N runs
(``[alerts] consecutive_errors``) all errored: the crawl failed or timed out, or a list page could not be
fetched. Failing detail pages are not counted: a withdrawn policy's 404 is news, not breakage. One alert
stays open per broken source until a healthy run closes it, so maintainers hear about a breakage once,
not on every run.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Iterable

    from policywatch.core.config import Config
    from policywatch.core.store import Store


def problem(runs: list[dict[str, Any]], consecutive_errors: int, expect_items: int | None = None) -> str | None:
    """What is wrong with a source, given its latest runs (newest first); None when it is healthy."""
    if not runs:
        return None
    latest = runs[0]
    if latest["wall"]:
        return f"blocked by an {latest['wall']}"
    if latest["outcome"] == "ok" and latest["list_pages"] > latest["list_errors"] and not latest["items"]:
        return "found 0 items on its list pages: its list selectors may no longer match"
    if latest["outcome"] == "ok" and not latest["list_errors"] and expect_items and latest["items"] < expect_items:
        return f"found {latest['items']} items on its list pages, fewer than the {expect_items} expected"
    recent = runs[:consecutive_errors]
    if len(recent) == consecutive_errors and all(_errored(run) for run in recent):
        reason = latest["list_error"] if latest["outcome"] == "ok" else f"crawl {latest['outcome']}"
        return f"errors on {consecutive_errors} consecutive runs (latest: {reason})"
    return None


def trouble(runs: list[dict[str, Any]], consecutive_errors: int, expect_items: int | None = None) -> str | None:
    """Why a source's latest run leaves it broken (:func:`problem`) or unreachable (a list page could not be fetched
    this time, which one run alone does not make an alert); None when its latest run went well. What a crawl's exit
    code tells (see README, Exit codes)."""
    found = problem(runs, consecutive_errors, expect_items)
    if found is None and runs and runs[0]["outcome"] == "ok" and runs[0]["list_errors"]:
        latest = runs[0]
        pages = "its list page" if latest["list_pages"] == 1 else f"{latest['list_errors']} of its list pages"
        return f"{pages} could not be fetched ({latest['list_error']})"
    return found


def troubled(config: Config, store: Store, sources: Iterable[str]) -> dict[str, str]:
    """The sources whose latest run left them broken or unreachable (:func:`trouble`), with why."""
    expected = {s.name: s.expect_items for s in config.sources}
    found = {}
    for source in sources:
        runs = store.source_runs(source, config.alerts.consecutive_errors)
        if (why := trouble(runs, config.alerts.consecutive_errors, expected.get(source))) is not None:
            found[source] = why
    return found


def _errored(run: dict[str, Any]) -> bool:
    return run["outcome"] != "ok" or run["list_errors"] > 0


def update_alerts(config: Config, store: Store, sources: Iterable[str]) -> list[str]:
    """Open an alert for each newly broken source and close those of recovered ones; returns the new problems."""
    raised = []
    expected = {s.name: s.expect_items for s in config.sources}
    for source in sources:
        runs = store.source_runs(source, config.alerts.consecutive_errors)
        found = problem(runs, config.alerts.consecutive_errors, expected.get(source))
        alert = store.open_alert(source)
        if found and alert is None:
            store.raise_alert(source, found)
            raised.append(f"{source}: {found}")
        elif not found and alert is not None:
            store.clear_alert(alert["id"])
    return raised
