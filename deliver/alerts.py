"""Maintainer alerts: each open alert is mailed once, when it opens (see policywatch.crawler.health), and posted to the
``[alerts] notify`` chat groups and webhooks (policywatch.deliver.notify)."""

from __future__ import annotations

from datetime import UTC, datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from zoneinfo import ZoneInfo

from policywatch.core.addresses import header_address, parse_mailbox
from policywatch.core.config import Config
from policywatch.core.localtime import local_time
from policywatch.core.store import Store
from policywatch.deliver.smtp import (
    InDoubt,
    Mailer,
    NotSendable,
    PermanentFailure,
    SetupError,
    TemporaryFailure,
    one_line,
)


def notify_maintainers(config: Config, store: Store) -> list[str]:
    """Mail every alert not yet mailed to the configured maintainers, and post every open alert to each
    ``[alerts] notify`` URL that lacks it; returns one line per alert mailed or posted.

    Without maintainers or an [smtp] table, alerts wait in state.db (and show in `sources list`). An alert
    whose mail or post cannot go out now is tried after the next crawl.
    """
    from policywatch.deliver.notify import post_alerts

    mailed = [f"mailed maintainers: {line}" for line in _mail(config, store)]
    return mailed + (post_alerts(config, store) if config.alerts.notify else [])


def _mail(config: Config, store: Store) -> list[str]:
    """Mail every alert not yet mailed; one line per alert mailed."""
    alerts = store.unnotified_alerts()
    if not alerts or not config.alerts.maintainers or config.smtp is None:
        return []
    sender = parse_mailbox(config.smtp.sender)
    mailed = []
    with Mailer(config.smtp) as mailer:
        for alert in alerts:
            runs = store.source_runs(alert["source"], 5)
            delivered = False
            for maintainer in config.alerts.maintainers:
                try:
                    mailer.send(_message(alert, runs, sender, maintainer, config.timezone))
                    delivered = True
                except (TemporaryFailure, PermanentFailure, InDoubt, SetupError, NotSendable):
                    continue
            if delivered:
                store.alert_notified([alert["id"]])
                mailed.append(f"{alert['source']}: {alert['problem']}")
    return mailed


def _message(alert: dict, runs: list[dict], sender: Address, maintainer: str, timezone: str) -> EmailMessage:
    """The alert's mail; its times are in the config's ``timezone``, as the maintainers read the rest."""
    zone = ZoneInfo(timezone)
    message = EmailMessage()
    message["Subject"] = one_line(f"[PolicyWatch] source {alert['source']} needs attention: {alert['problem']}")
    message["From"] = sender
    message["To"] = header_address(maintainer)  # IDNA domain, like every address this package writes
    message["Date"] = format_datetime(datetime.now(UTC).astimezone(zone))
    message["Message-ID"] = make_msgid(domain=sender.domain)
    message["Auto-Submitted"] = "auto-generated"
    lines = [
        f"Source {alert['source']} {alert['problem']}.",
        f"Noticed at {local_time(alert['opened_at'], zone)} ({timezone}).", "",
        f"Its latest runs (newest first, times in {timezone}):",
        *(f"  run {r['run_id']}  {local_time(r['started_at'], zone)}  {r['outcome']}  {r['items']} items, "
          f"{r['errors']} errors"
          f"{'  ' + r['wall'] if r['wall'] else ''}{'  ' + r['list_error'] if r['list_error'] else ''}"
          for r in runs),
        "", f"See what it extracts now: policywatch crawl {alert['source']}; policywatch sources list.",
        "This alert is sent once; it closes by itself after a healthy run.",
    ]
    message.set_content("\n".join(lines) + "\n", charset="utf-8")
    return message
