"""Send one digest issue (digest × period) to its subscribers, each exactly once, whatever interrupts it.

The send log (``deliveries``) holds one row per subscriber of the issue, and each step of a send is committed
before the next begins: *sending* (claimed; nothing handed over yet, safe to send again), *handed-over* (the
final "." is on its way: the only moment whose outcome can be lost), then *sent*, *failed* (a 5xx: the
subscriber is marked bouncing in the same transaction) or *deferred* (4xx or no connection, after every
retry). A re-run sends to everyone not yet *sent*; a *handed-over* row left by a killed run is reported as in
doubt and not sent again unless asked, because the server may well have it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from email.headerregistry import Address
from email.message import EmailMessage

from markupsafe import escape

from deliver.addresses import parse_mailbox
from deliver.message import CHART_CID, compose, message_id, unsubscribe_links
from deliver.smtp import InDoubt, Mailer, PermanentFailure, SetupError, TemporaryFailure
from deliver.tokens import make_token, secret_from
from digest.build import build_digest
from digest.period import Period
from digest.render import chart_png, render
from policywatch.config import Config, DigestSpec
from policywatch.store import Store

_LINK = "urn:policywatch:unsubscribe"  # stands in for each subscriber's own link in the rendered issue


class SendError(Exception):
    """The send cannot start or go on (no secret, bad --to, the server refuses us); nobody is marked bouncing."""


@dataclass(frozen=True)
class Recipient:
    id: int
    email: str
    name: str | None
    spec: DigestSpec  # the digest with this subscriber's topics, regions and language


@dataclass
class SendReport:
    digest: str
    period: str
    sent: list[str] = field(default_factory=list)
    already: list[str] = field(default_factory=list)  # sent by an earlier run
    failed: list[tuple[str, str]] = field(default_factory=list)  # permanent: (address, reason)
    deferred: list[tuple[str, str]] = field(default_factory=list)  # temporary after every retry
    in_doubt: list[str] = field(default_factory=list)
    would_send: list[str] = field(default_factory=list)  # --dry-run
    stopped: bool = False  # interrupted (shutdown); the rest go out on the next run

    @property
    def complete(self) -> bool:
        """Everyone has been dealt with: nothing deferred, in doubt or left for later."""
        return not (self.deferred or self.in_doubt or self.stopped)


def recipients(config: Config, store: Store, spec: DigestSpec, to: str | None = None) -> list[Recipient]:
    """The digest's active subscribers (only ``to``, if given), each with their own view of it."""
    known = {t.name for t in config.topics}
    chosen = []
    for row in store.subscribers(spec.name, active_only=True):
        if to is not None and row["email"].lower() != to.lower():
            continue
        topics, regions = row["subscriptions"][spec.name]
        topics = tuple(t for t in topics or () if t in known)  # a topic since removed from config is dropped
        view = replace(spec, topics=topics or spec.topics, regions=regions or spec.regions,
                       language=row["language"] or spec.language)
        chosen.append(Recipient(row["id"], row["email"], row["name"], view))
    if to is not None and not chosen:
        raise SendError(f"{to} is not an active subscriber of digest {spec.name!r} "
                        "(see `policywatch subscribers list`)")
    return chosen


def send_digest(
    config: Config, store: Store, spec: DigestSpec, period: Period, *, dry_run: bool = False,
    to: str | None = None, resend_in_doubt: bool = False, stop: threading.Event | None = None,
    on_event: Callable[[str, str], None] | None = None, now: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> SendReport:
    """Deliver the issue to every subscriber who does not have it yet; see the module docstring."""
    smtp = config.require_smtp()
    secret = _secret(config)
    sender = parse_mailbox(smtp.sender)
    report = SendReport(spec.name, period.key)
    stop = stop or threading.Event()
    log = store.deliveries(spec.name, period.key)
    issues: dict[DigestSpec, tuple[str, str, str, bytes | None]] = {}
    pending = []
    for recipient in recipients(config, store, spec, to):
        status = log.get(recipient.id, {}).get("status")
        if status == "sent":
            report.already.append(recipient.email)
        elif status == "handed-over" and not resend_in_doubt:
            report.in_doubt.append(recipient.email)
        else:
            if recipient.spec not in issues:  # one rendering per distinct view of the digest
                issues[recipient.spec] = _issue(config, store, recipient.spec, period)
            pending.append(recipient)
    if dry_run:
        report.would_send = [r.email for r in pending]
        return report

    def message_for(recipient: Recipient) -> tuple[EmailMessage, str]:
        subject, text, html, chart = issues[recipient.spec]
        token = make_token(secret, recipient.id, spec.name, recipient.email)
        links = unsubscribe_links(sender, token, config.delivery.unsubscribe_url)
        mid = message_id(spec.name, period.key, recipient.id, recipient.email, sender.domain)
        to_address = Address(display_name=recipient.name or "", addr_spec=recipient.email)
        return compose(
            subject=subject, sender=sender, to=to_address, text=text.replace(_LINK, links[0]),
            html=html.replace(_LINK, str(escape(links[0]))), chart=chart, message_id=mid,
            list_id=f"{spec.name} <{spec.name}.{sender.domain}>", unsubscribe=links, date=now(),
        ), mid

    everyone = [r.email for r in pending]
    with Mailer(smtp) as mailer:
        for attempt in range(smtp.max_attempts):
            if attempt and stop.wait(smtp.retry_delay * 2 ** (attempt - 1)):
                break
            retry: list[tuple[Recipient, str]] = []
            for recipient in pending:
                if stop.is_set():
                    break
                message, mid = message_for(recipient)
                outcome, error = _send_one(store, mailer, message, mid, spec.name, period.key, recipient)
                if outcome == "deferred":
                    retry.append((recipient, error))
                elif outcome == "sent":
                    report.sent.append(recipient.email)
                elif outcome == "in doubt":
                    report.in_doubt.append(recipient.email)
                else:
                    report.failed.append((recipient.email, error))
                if on_event is not None:
                    on_event(recipient.email, outcome if outcome != "deferred" else f"deferred: {error}")
            pending = [r for r, _ in retry]
            report.deferred = [(r.email, e) for r, e in retry]
            if not pending or stop.is_set():
                break
    finished = {*report.sent, *report.in_doubt, *(email for email, _ in report.failed)}
    report.stopped = stop.is_set() and any(email not in finished for email in everyone)
    return report


def _send_one(
    store: Store, mailer: Mailer, message: EmailMessage, mid: str, digest: str, period: str, recipient: Recipient,
) -> tuple[str, str]:
    """One attempt, logged step by step; returns (outcome, error)."""

    def log(status: str, error: str | None = None, **flags: bool) -> None:
        store.log_delivery(digest, period, recipient.id, recipient.email, mid, status, error, **flags)

    log("sending", attempt=True)
    try:
        mailer.send(message, on_handover=lambda: log("handed-over"))
    except TemporaryFailure as e:
        log("deferred", str(e))
        return "deferred", str(e)
    except PermanentFailure as e:
        log("failed", str(e), bounce=True)
        return "failed", str(e)
    except InDoubt as e:
        log("handed-over", str(e))
        return "in doubt", str(e)
    except SetupError as e:
        log("deferred", str(e))
        raise SendError(str(e)) from None
    log("sent")
    return "sent", ""


def _issue(config: Config, store: Store, spec: DigestSpec, period: Period) -> tuple[str, str, str, bytes | None]:
    """(subject, text, HTML, chart PNG) of one view of the digest, with a placeholder unsubscribe link."""
    digest = build_digest(config, store, spec, period)
    text = render(digest, "text", config.templates, unsubscribe_url=_LINK)
    html = render(digest, "html", config.templates, unsubscribe_url=_LINK, chart_cid=CHART_CID)
    return digest.title, text, html, chart_png(digest)


def _secret(config: Config) -> bytes:
    try:
        return secret_from(config.delivery.secret_env)
    except ValueError as e:
        raise SendError(str(e)) from None

