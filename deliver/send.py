"""Send one digest issue (digest × period) to its subscribers, each exactly once, whatever interrupts it.

The send log (``deliveries``) holds one row per subscriber of the issue, and each step of a send is committed
before the next begins: *sending* (claimed; nothing handed over yet, safe to send again), *handed-over* (the
final "." is on its way: the only moment whose outcome can be lost), then *sent*, *failed* (a 5xx, or a
message that cannot be sent at all) or *deferred* (4xx or no connection, after every retry). A re-run sends
to everyone not yet *sent*; a *handed-over* row left by a killed run is reported as in doubt and not sent
again unless asked, because the server may well have it.

Bounces are judged across the run, because a misconfigured server can refuse everyone with replies that
look like dead mailboxes:

- A permanent refusal (5xx) of one recipient marks that subscriber *bouncing* only once the server has
  accepted a message of this run. Until then the refusal is held: logged *failed*, the subscriber left
  active. The first accepted message marks every held one.
- A run in which nothing is accepted marks nobody. If recipients were refused, the run ends with a server
  problem (``SendReport.server_problem``; the command exits non-zero).
- :data:`REFUSALS_BEFORE_STOP` refusals in a row with the same reply (addresses taken out), before anything
  was accepted, stop the run there: the server is refusing everyone.
- A refusal that is not about the recipient (session, login, sender, a 500-504 reply and the like; see
  :mod:`policywatch.deliver.smtp`) stops the run at once and marks nobody.
- Subscribers refused in an earlier run without being marked are tried last, so a row of dead addresses at
  the head of the list cannot stop every later run before it reaches one that works.

One subscriber never stops the others: a stored address or name that cannot go into a message (state.db
edited by hand, or written by an older version), a personal view of the digest that cannot be rendered, or a
non-ASCII local part for a server without SMTPUTF8 logs that delivery *failed* with a one-line reason, marks
nobody, and is tried again on the next run. Subscribers who are not active (bouncing, unsubscribed) are
skipped and counted.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from email.headerregistry import Address
from email.message import EmailMessage
from typing import Any

from markupsafe import escape

from policywatch.core.addresses import AddressError, header_address, parse_mailbox
from policywatch.core.config import LANGUAGES, Config, DigestSpec
from policywatch.core.store import Store
from policywatch.deliver.lock import delivering
from policywatch.deliver.message import CHART_CID, compose, message_id, unsubscribe_links
from policywatch.deliver.smtp import (
    InDoubt,
    Mailer,
    NotSendable,
    PermanentFailure,
    SetupError,
    TemporaryFailure,
    one_line,
)
from policywatch.deliver.tokens import make_token, secret_from
from policywatch.digest.build import Digest, build_digest
from policywatch.digest.period import Period
from policywatch.digest.render import chart_png, render

_LINK = "urn:policywatch:unsubscribe"  # stands in for each subscriber's own link in the rendered issue
REFUSALS_BEFORE_STOP = 10  # identical refusals, before any message is accepted, that stop a run


class SendError(Exception):
    """The send cannot start (no secret, bad --to); nothing was sent and nobody is marked."""


@dataclass(frozen=True)
class Recipient:
    id: int
    email: str
    name: str | None
    spec: DigestSpec  # the digest with this subscriber's topics, regions and language
    problem: str | None = None  # why this stored subscriber cannot be mailed at all


@dataclass
class SendReport:
    digest: str
    period: str
    sent: list[str] = field(default_factory=list)
    already: list[str] = field(default_factory=list)  # sent by an earlier run
    failed: list[tuple[str, str]] = field(default_factory=list)  # refused (5xx) and marked bouncing
    refused: list[tuple[str, str]] = field(default_factory=list)  # refused, not marked: nothing was accepted
    unsendable: list[tuple[str, str]] = field(default_factory=list)  # cannot be built or sent: fix, run again
    deferred: list[tuple[str, str]] = field(default_factory=list)  # temporary after every retry
    in_doubt: list[str] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # not active: (address, status)
    untried: list[str] = field(default_factory=list)  # the run ended before their turn
    would_send: list[str] = field(default_factory=list)  # --dry-run
    stopped: bool = False  # interrupted (shutdown); the rest go out on the next run
    server_problem: str | None = None  # why the run stopped: the server, not a subscriber

    @property
    def complete(self) -> bool:
        """Everyone has been dealt with: nothing deferred, in doubt, refused unmarked, unsendable or left."""
        return not (self.deferred or self.in_doubt or self.stopped or self.refused or self.unsendable
                    or self.untried or self.server_problem)

    def summary(self) -> str:
        """The one-line count of a run, as `digest send` and the service print it."""
        failed = len(self.failed) + len(self.refused) + len(self.unsendable)
        return (f"{self.digest} {self.period}: {len(self.sent)} sent, {len(self.already)} already sent, "
                f"{failed} failed, {len(self.deferred)} deferred, {len(self.in_doubt)} in doubt, "
                f"{len(self.skipped)} skipped (bouncing or unsubscribed)"
                + (f", {len(self.untried)} not tried" if self.untried else ""))


def recipients(
    config: Config, store: Store, spec: DigestSpec, to: str | None = None,
) -> tuple[list[Recipient], list[tuple[str, str]]]:
    """The digest's active subscribers (only ``to``, if given), each with their own view of it; and the
    (address, status) of those skipped because they are not active."""
    known = {t.name for t in config.topics}
    chosen, skipped = [], []
    for row in store.subscribers(spec.name):
        email = str(row["email"])
        if to is not None and email.lower() != to.lower():
            continue
        if row["status"] != "active":
            skipped.append((email, str(row["status"])))
            continue
        problem = row.get("problem") or _stored_problem(row)
        if problem is not None:
            chosen.append(Recipient(row["id"], email, None, spec, f"stored subscriber cannot be mailed: {problem}"))
            continue
        topics, regions = row["subscriptions"][spec.name]
        topics = tuple(t for t in topics or () if t in known)  # a topic since removed from config is dropped
        view = replace(spec, topics=topics or spec.topics, regions=regions or spec.regions,
                       language=row["language"] or spec.language)
        chosen.append(Recipient(row["id"], email, row["name"], view))
    if to is not None and not chosen:
        raise SendError(f"{to} is not an active subscriber of digest {spec.name!r} "
                        "(see `policywatch subscribers list`)")
    return chosen, skipped


def _stored_problem(row: dict[str, Any]) -> str | None:
    """Why a stored subscriber cannot go into a message; the door checks the same, but state.db can be edited."""
    if not isinstance(row["email"], str) or not isinstance(row["name"], str | None):
        return "its address or name is not text"
    try:
        header_address(row["email"], row["name"])
    except AddressError as e:
        return str(e)
    if row["language"] is not None and row["language"] not in LANGUAGES:
        return f"language {row['language']!r} is not one of: {', '.join(LANGUAGES)}"
    return None


def send_digest(
    config: Config, store: Store, spec: DigestSpec, period: Period, *, dry_run: bool = False,
    to: str | None = None, resend_in_doubt: bool = False, stop: threading.Event | None = None,
    on_event: Callable[[str, str], None] | None = None, now: Callable[[], datetime] = lambda: datetime.now(UTC),
    draft: str | None = None,
) -> SendReport:
    """Deliver the issue to every subscriber who does not have it yet; see the module docstring.

    ``draft`` is the text of an editor's draft of the issue (policywatch.digest.draft), already checked and approved: it
    is stored with the issue, and everyone gets exactly that. Without one, a draft stored by an earlier send of the
    issue is sent again, so a re-run or the service finishes the issue as approved.

    One run at a time per issue (policywatch.deliver.lock): while another process delivers it, this raises
    ``Held``, a one-line StoreError.
    """
    with delivering(store, spec, period, dry_run):
        return _send_digest(config, store, spec, period, dry_run=dry_run, to=to, resend_in_doubt=resend_in_doubt,
                            stop=stop, on_event=on_event, now=now, draft=draft)


def _send_digest(
    config: Config, store: Store, spec: DigestSpec, period: Period, *, dry_run: bool, to: str | None,
    resend_in_doubt: bool, stop: threading.Event | None, on_event: Callable[[str, str], None] | None,
    now: Callable[[], datetime], draft: str | None,
) -> SendReport:
    smtp = config.require_smtp()
    secret = _secret(config)
    approved = approved_issue(config, store, spec, period, draft, dry_run)
    sender = parse_mailbox(smtp.sender)
    report = SendReport(spec.name, period.key)
    stop = stop or threading.Event()
    log = store.deliveries(spec.name, period.key)
    chosen, report.skipped = recipients(config, store, spec, to)
    pending = []
    for recipient in chosen:
        status = log.get(recipient.id, {}).get("status")
        if status == "sent":
            report.already.append(recipient.email)
        elif status == "handed-over" and not resend_in_doubt:
            report.in_doubt.append(recipient.email)
        else:
            pending.append(recipient)
    pending.sort(key=lambda r: log.get(r.id, {}).get("status") == "failed")  # refused last time: tried last
    if dry_run:
        report.would_send = [r.email for r in pending]
        return report
    issues: dict[DigestSpec, tuple[str, str, str, bytes | None] | str] = {}
    shared = _rendered(config, approved) if approved is not None and pending else None
    for recipient in pending:  # one rendering per distinct view of the digest; an approved draft is everyone's
        if recipient.problem is None and recipient.spec not in issues:
            issues[recipient.spec] = shared or _view_issue(config, store, spec, recipient.spec, period)

    def message_for(recipient: Recipient, mid: str) -> EmailMessage:
        subject, text, html, chart = issues[recipient.spec]
        token = make_token(secret, recipient.id, spec.name, recipient.email)
        links = unsubscribe_links(sender, token, config.delivery.unsubscribe_url)
        return compose(
            subject=subject, sender=sender, to=header_address(recipient.email, recipient.name),
            text=text.replace(_LINK, links[0]), html=html.replace(_LINK, str(escape(links[0]))), chart=chart,
            message_id=mid, list_id=f"{spec.name} <{spec.name}.{sender.domain}>", unsubscribe=links,
            date=now().astimezone(config.zone),  # a Date header in the readers' zone: "+0800", not "+0000"
        )

    run = _Run(store, report, sender, message_for)
    everyone = [r.email for r in pending]
    with Mailer(smtp) as mailer:
        for attempt in range(smtp.max_attempts):
            if attempt and stop.wait(smtp.retry_delay * 2 ** (attempt - 1)):
                break
            for recipient in pending:
                if stop.is_set() or report.server_problem:
                    break
                outcome, detail = run.deliver(mailer, recipient, issues.get(recipient.spec))
                if on_event is not None and outcome != "server":
                    on_event(recipient.email, f"{outcome}: {detail}" if detail else outcome)
            pending = [r for r in pending if r.email in run.deferred]
            if not pending or stop.is_set() or report.server_problem:
                break
    run.finish(everyone, interrupted=stop.is_set())
    return report


class _Run:
    """One send run's outcomes: the report, the refusals held until a message is accepted, what is deferred."""

    def __init__(self, store: Store, report: SendReport, sender: Address,
                 message_for: Callable[[Recipient, str], EmailMessage]) -> None:
        self.store, self.report, self.sender, self.message_for = store, report, sender, message_for
        self.accepted = False  # the server has accepted a message of this run
        self.held: list[tuple[Recipient, str, str]] = []  # refused before that: (recipient, message id, reason)
        self.deferred: dict[str, str] = {}  # address → reason, for those whose last try was temporary
        self.tried: set[str] = set()

    def deliver(self, mailer: Mailer, recipient: Recipient, issue: tuple | str | None) -> tuple[str, str]:
        """Build and send one message; returns (outcome, detail) for the progress line. ``issue`` is the
        subscriber's rendered view of the digest, or why it could not be rendered."""
        report = self.report
        self.tried.add(recipient.email)
        self.deferred.pop(recipient.email, None)
        mid = message_id(report.digest, report.period, recipient.id, recipient.email, self.sender.domain)
        reason = recipient.problem or (issue if isinstance(issue, str) else None)
        if reason is None:
            try:
                message = self.message_for(recipient, mid)
            except Exception as e:  # whatever a stored value does to rendering or headers, the others go on
                reason = f"its message cannot be built: {type(e).__name__}: {one_line(str(e))}"
        if reason is not None:
            self.store.log_delivery(report.digest, report.period, recipient.id, recipient.email, mid, "failed",
                                    reason)
            report.unsendable.append((recipient.email, reason))
            return "not sent", reason
        outcome, error = _send_one(self.store, mailer, message, mid, report.digest, report.period, recipient,
                                   bounce=self.accepted)
        if outcome == "sent":
            report.sent.append(recipient.email)
            self._accepted()
        elif outcome == "refused":
            return self._refused(recipient, mid, error)
        elif outcome == "deferred":
            self.deferred[recipient.email] = error
        elif outcome == "in doubt":
            report.in_doubt.append(recipient.email)
        elif outcome == "not sent":
            report.unsendable.append((recipient.email, error))
        else:  # the server refuses us: this one stays deferred, the run stops
            self.deferred[recipient.email] = error
            report.server_problem = ("the run stopped on the mail server or its settings, not on a subscriber; "
                                     f"nobody was marked: {error}")
        return outcome, error

    def _accepted(self) -> None:
        """The server delivers: every refusal held so far was about its recipient, so mark them bouncing."""
        if self.accepted:
            return
        self.accepted = True
        for recipient, mid, reason in self.held:
            self.store.log_delivery(self.report.digest, self.report.period, recipient.id, recipient.email, mid,
                                    "failed", reason, bounce=True)
            self.report.failed.append((recipient.email, reason))
        self.held.clear()

    def _refused(self, recipient: Recipient, mid: str, reason: str) -> tuple[str, str]:
        """A 5xx to this recipient: bouncing if the server has delivered in this run, else held (and maybe the
        sign that the server refuses everyone)."""
        if self.accepted:  # already marked bouncing, in the same transaction as the log
            self.report.failed.append((recipient.email, reason))
            return "bouncing", reason
        self.held.append((recipient, mid, reason))
        recent = {_without_addresses(r) for _, _, r in self.held[-REFUSALS_BEFORE_STOP:]}
        if len(self.held) >= REFUSALS_BEFORE_STOP and len(recent) == 1:
            self.report.server_problem = (
                f"the mail server refused the first {len(self.held)} recipients with the same reply and accepted "
                f"nothing ({reason}): that is the server, not the subscribers; nobody was marked bouncing")
        return "refused", f"{reason} (not marked bouncing until the server accepts a message)"

    def finish(self, everyone: list[str], interrupted: bool) -> None:
        """Settle the report: held refusals stay unmarked, and a run that delivered nothing says why."""
        report = self.report
        report.refused = [(r.email, reason) for r, _, reason in self.held]
        report.deferred = list(self.deferred.items())
        report.untried = [email for email in everyone if email not in self.tried]
        report.stopped = interrupted and bool(report.untried or report.deferred)
        if self.held and not report.server_problem and not interrupted:
            report.server_problem = (
                f"no message was accepted and {len(self.held)} recipient(s) were refused (e.g. {self.held[0][2]}): "
                "that looks like the mail server, not the subscribers; nobody was marked bouncing")


def _without_addresses(reason: str) -> str:
    """A refusal with its addresses taken out, so refusals of different recipients can be compared."""
    return re.sub(r"\S+@\S+", "@", reason).lower()


def _send_one(
    store: Store, mailer: Mailer, message: EmailMessage, mid: str, digest: str, period: str, recipient: Recipient,
    bounce: bool,
) -> tuple[str, str]:
    """One attempt, logged step by step; returns (outcome, error). A 5xx marks the subscriber bouncing only
    when ``bounce`` (the server has accepted a message of this run)."""

    def log(status: str, error: str | None = None, **flags: bool) -> None:
        store.log_delivery(digest, period, recipient.id, recipient.email, mid, status, error, **flags)

    log("sending", attempt=True)
    try:
        mailer.send(message, on_handover=lambda: log("handed-over"))
    except TemporaryFailure as e:
        log("deferred", str(e))
        return "deferred", str(e)
    except PermanentFailure as e:
        log("failed", str(e), bounce=bounce)
        return "refused", str(e)
    except InDoubt as e:
        log("handed-over", str(e))
        return "in doubt", str(e)
    except NotSendable as e:
        log("failed", str(e))
        return "not sent", str(e)
    except SetupError as e:
        log("deferred", str(e))
        return "server", str(e)
    except Exception as e:  # a message smtplib cannot handle: before the handover, so nothing was delivered
        mailer.discard()
        reason = f"cannot be sent: {type(e).__name__}: {one_line(str(e))}"
        log("failed", reason)
        return "not sent", reason
    log("sent")
    return "sent", ""


def _view_issue(
    config: Config, store: Store, spec: DigestSpec, view: DigestSpec, period: Period,
) -> tuple[str, str, str, bytes | None] | str:
    """The rendered issue of one view, or why a subscriber's own view cannot be rendered. The digest's own
    view failing is everyone's problem, and raises."""
    if view == spec:
        return _issue(config, store, view, period)
    try:
        return _issue(config, store, view, period)
    except Exception as e:  # a stored topic, region or language the renderer cannot take: only theirs fails
        return f"their view of the digest cannot be rendered: {type(e).__name__}: {one_line(str(e))}"


def approved_issue(
    config: Config, store: Store, spec: DigestSpec, period: Period, text: str | None, dry_run: bool,
) -> Digest | None:
    """The issue an editor approved: ``text``, else the draft an earlier send stored with the issue; None for an
    automatic issue. A new draft is stored before anything goes out, and is refused once someone has the issue as
    it was before (a subscriber, or a chat group): every reader of one issue gets the same one."""
    from policywatch.digest.draft import DraftError, check_draft, draft_digest, parse_draft

    stored = store.stored_draft(spec.name, period.key)
    if text is not None and (stored is None or stored["text"] != text):
        sent = sum(row["status"] == "sent" for row in store.deliveries(spec.name, period.key).values())
        posted = sum(row["status"] == "sent" for row in store.posts(spec.name, period.key).values())
        if sent or posted:
            before = f"another draft (approved {stored['sent_at']})" if stored else "the automatic digest"
            readers = " and ".join(part for part in (f"{sent} subscriber(s)" if sent else "",
                                                     f"{posted} chat group(s)" if posted else "") if part)
            raise SendError(f"{spec.name} {period.key} already went to {readers} as {before}; "
                            "run `digest send` without --draft to finish the issue as it went out")
        if not dry_run:
            store.save_draft(spec.name, period.key, text)
    elif text is None:
        if stored is None:
            return None
        text = stored["text"]
    name = f"the draft of {spec.name} {period.key}"
    try:
        draft = parse_draft(text, name)
        return draft_digest(config, store, spec, period, draft, check_draft(draft, name, spec, period, store))
    except DraftError as e:
        raise SendError(str(e)) from None


def _issue(config: Config, store: Store, spec: DigestSpec, period: Period) -> tuple[str, str, str, bytes | None]:
    """(subject, text, HTML, chart PNG) of one view of the digest, with a placeholder unsubscribe link."""
    return _rendered(config, build_digest(config, store, spec, period))


def _rendered(config: Config, digest: Digest) -> tuple[str, str, str, bytes | None]:
    """(subject, text, HTML, chart PNG) of a built digest, with a placeholder unsubscribe link."""
    text = render(digest, "text", config.templates, unsubscribe_url=_LINK)
    html = render(digest, "html", config.templates, unsubscribe_url=_LINK, chart_cid=CHART_CID)
    return digest.title, text, html, chart_png(digest)


def _secret(config: Config) -> bytes:
    try:
        return secret_from(config.delivery.secret_env)
    except ValueError as e:
        raise SendError(str(e)) from None

