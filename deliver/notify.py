"""Chat groups and webhooks (``notify`` URLs, through Apprise): each digest issue posted once per URL, source-health
alerts posted to the ``[alerts]`` URLs, and the test message.

A digest issue follows the send log's rules for mail (:mod:`policywatch.deliver.send`): the ``posts`` table holds one
row per (digest, period, URL), and each step is committed before the next begins. *posting* is written before the
request leaves; then *sent*, *failed* (nothing was delivered: posted again on the next run) or *in-doubt* (the request
may have reached the service and its answer was lost; see :mod:`policywatch.deliver.chat`). A row left *posting* by a
run that was killed mid-post is in doubt as well. A re-run posts to every URL not yet *sent* and reports those in doubt
without posting to them again, unless asked (``--resend-in-doubt``): the group most likely has the issue.

Every URL gets the issue as the digest itself shows it (its own topics, regions and language, or the draft an
editor approved), whatever its subscribers chose for their own mail. URLs are known by a hash of their text and
shown with their secrets left out (:mod:`policywatch.core.notifyurl`), so neither state.db nor any message holds a key.

Alerts are posted at least once: an open alert not yet *sent* to a URL is posted after every crawl until it is,
so a post lost in doubt may come twice, and a broken source is never missed.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from policywatch.core import notifyurl
from policywatch.deliver import chat
from policywatch.deliver.lock import delivering
from policywatch.deliver.post_text import alert_post, digest_post, test_post

if TYPE_CHECKING:
    from policywatch.core.config import Config, DigestSpec
    from policywatch.core.store import Store
    from policywatch.digest.build import Digest
    from policywatch.digest.period import Period

# The send log's status for each outcome of policywatch.deliver.chat.post.
_STATUS = {"sent": "sent", "failed": "failed", "in doubt": "in-doubt"}
IN_DOUBT = ("posting", "in-doubt")  # statuses of a post that may have reached its group


@dataclass
class PostReport:
    digest: str
    period: str
    posted: list[str] = field(default_factory=list)  # each URL as it may be shown
    already: list[str] = field(default_factory=list)  # posted by an earlier run
    failed: list[tuple[str, str]] = field(default_factory=list)  # (URL, why): posted again on the next run
    in_doubt: list[tuple[str, str]] = field(default_factory=list)  # (URL, why): not posted again unless asked
    untried: list[str] = field(default_factory=list)  # the run stopped before their turn
    would_post: list[tuple[str, str, str]] = field(default_factory=list)  # --dry-run: (URL, title, text)

    @property
    def complete(self) -> bool:
        """Every URL has the issue: nothing failed, in doubt or left."""
        return not (self.failed or self.in_doubt or self.untried)

    def summary(self) -> str:
        """The one-line count of a run's posts, beside the mail's (policywatch.deliver.send.SendReport.summary)."""
        return (f"{self.digest} {self.period} chat: {len(self.posted)} posted, {len(self.already)} already posted, "
                f"{len(self.failed)} failed, {len(self.in_doubt)} in doubt"
                + (f", {len(self.untried)} not tried" if self.untried else ""))


def post_digest(
    config: Config, store: Store, spec: DigestSpec, period: Period, *, dry_run: bool = False,
    resend_in_doubt: bool = False, stop: threading.Event | None = None,
    on_event: Callable[[str, str], None] | None = None, draft: str | None = None,
) -> PostReport:
    """Post the issue to every ``notify`` URL of the digest that does not have it yet; see the module docstring.
    ``draft`` is an approved draft's text, as for :func:`policywatch.deliver.send.send_digest`. One run at a time
    per issue, as for mail (policywatch.deliver.lock)."""
    with delivering(store, spec, period, dry_run):
        return _post_digest(config, store, spec, period, dry_run, resend_in_doubt, stop, on_event, draft)


def _post_digest(
    config: Config, store: Store, spec: DigestSpec, period: Period, dry_run: bool, resend_in_doubt: bool,
    stop: threading.Event | None, on_event: Callable[[str, str], None] | None, draft: str | None,
) -> PostReport:
    report = PostReport(spec.name, period.key)
    stop = stop or threading.Event()
    log = store.posts(spec.name, period.key)
    pending = []
    for url in dict.fromkeys(spec.notify):
        row, label = log.get(notifyurl.key(url), {}), notifyurl.shown(url)
        if row.get("status") == "sent":
            report.already.append(label)
        elif row.get("status") in IN_DOUBT and not resend_in_doubt:
            report.in_doubt.append((label, row.get("error") or "the run posting it was cut off"))
        else:
            pending.append(url)
    if not pending:
        return report
    issue = _issue(config, store, spec, period, draft, dry_run)
    archive = archive_url(config, spec, period, issue)
    for n, url in enumerate(pending):
        label, target = notifyurl.shown(url), notifyurl.key(url)
        title, text = digest_post(issue, archive, chat.limit(url))
        if dry_run:
            report.would_post.append((label, title, text))
            continue
        if stop.is_set():
            report.untried = [notifyurl.shown(u) for u in pending[n:]]
            break
        store.log_post(spec.name, period.key, target, label, "posting", attempt=True)
        outcome = chat.post(url, title, text)
        store.log_post(spec.name, period.key, target, label, _STATUS[outcome.status], outcome.reason or None)
        if outcome.status == "sent":
            report.posted.append(label)
        elif outcome.status == "failed":
            report.failed.append((label, outcome.reason))
        else:
            report.in_doubt.append((label, outcome.reason))
        if on_event is not None:
            on_event(label, f"{outcome.status}: {outcome.reason}" if outcome.reason else outcome.status)
    return report


def archive_url(config: Config, spec: DigestSpec, period: Period, issue: Digest) -> str | None:
    """Where the archive site shows the issue, when ``site_url`` says where the site is published and the issue
    has a page there (the archive lists no empty issue)."""
    if not config.site_url or not (issue.items or issue.more or issue.removed or issue.news):
        return None
    from policywatch.archive.build import issue_path  # the archive decides where an issue lives

    return config.site_url + issue_path(spec.name, period.key)


def _issue(config: Config, store: Store, spec: DigestSpec, period: Period, draft: str | None,
           dry_run: bool) -> Digest:
    """The issue every URL gets: the approved draft, or the digest as it is built now."""
    from policywatch.deliver.send import approved_issue
    from policywatch.digest.build import build_digest

    return approved_issue(config, store, spec, period, draft, dry_run) or build_digest(config, store, spec, period)


def post_alerts(config: Config, store: Store) -> list[str]:
    """Post every open alert not yet posted to each ``[alerts] notify`` URL; one line per alert posted. A URL that
    fails gets nothing more this time, and everything it lacks after the next crawl."""
    lines = []
    for url in dict.fromkeys(config.alerts.notify):
        label, target = notifyurl.shown(url), notifyurl.key(url)
        for alert in store.unposted_alerts(target):
            title, text = alert_post(alert, config.timezone)
            outcome = chat.post(url, title, text)
            store.log_alert_post(alert["id"], target, label, _STATUS[outcome.status], outcome.reason or None)
            if outcome.status != "sent":
                break
            lines.append(f"posted to {label}: {alert['source']}: {alert['problem']}")
    return lines


def send_test(url: str, now: Callable[[], datetime] = lambda: datetime.now(UTC)) -> chat.Outcome:
    """Post the test message to ``url`` (`policywatch notify test`)."""
    title, text = test_post(now())
    return chat.post(url, title, text)
