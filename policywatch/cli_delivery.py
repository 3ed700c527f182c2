"""Commands for delivery and the service: subscribers, unsubscribe, digest send, notify test, serve."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click
from rich.table import Table
from rich.text import Text

from policywatch.cliutil import common_options, digest_issue, draft_issue, err, load_config, new_items_line, out, safe
from policywatch.core import config as config_module
from policywatch.core.localtime import local_iso, today
from policywatch.core.store import Store
from policywatch.tables import add_column, print_table

if TYPE_CHECKING:
    from policywatch.deliver.notify import PostReport
    from policywatch.deliver.send import SendReport
    from policywatch.digest.draft import Draft
    from policywatch.digest.period import Period


@click.group()
def subscribers() -> None:
    """Digest subscribers: add, remove, list, import."""


@subscribers.command("add")
@common_options
@click.argument("email")
@click.option("--digest", "digests", multiple=True, required=True, help="A [[digests]] name; repeat for several.")
@click.option("--name", help="How to address them in the To: header.")
@click.option("--topic", "topics", multiple=True, help="Only this topic (instead of the digest's); repeatable.")
@click.option("--region", "regions", multiple=True, help="Only this region (e.g. 上海市); repeatable.")
@click.option("--language", type=click.Choice(config_module.LANGUAGES), help="Instead of the digest's language.")
@click.pass_context
def subscribers_add(
    ctx: click.Context, email: str, digests: tuple[str, ...], name: str | None, topics: tuple[str, ...],
    regions: tuple[str, ...], language: str | None, config_path: str | None, db_path: str | None,
) -> None:
    """Subscribe an address to digests (again, if it had unsubscribed or bounced).

    Example: policywatch subscribers add li@example.org --digest monthly --name 李雷 --region 上海市
    """
    from policywatch.deliver.subscribers import SubscriberError, new_subscriber

    config = load_config(ctx, config_path, db_path)
    try:
        record = new_subscriber(config, email, digests, name, topics, regions, language)
    except SubscriberError as e:
        raise click.ClickException(str(e)) from None
    with Store(config.db) as store:
        [outcome] = store.add_subscribers([record])
    out.print(f"{outcome} {safe(record.email)}: {safe(', '.join(d for d, _, _ in record.subscriptions))}")


@subscribers.command("remove")
@common_options
@click.argument("email")
@click.option("--digest", help="Only end this subscription (default: forget the address).")
@click.pass_context
def subscribers_remove(
    ctx: click.Context, email: str, digest: str | None, config_path: str | None, db_path: str | None
) -> None:
    """Remove a subscriber, or one of their subscriptions. The send log keeps what was sent.

    Example: policywatch subscribers remove li@example.org --digest regional
    """
    config = load_config(ctx, config_path, db_path)
    with Store(config.db) as store:
        removed = store.remove_subscriber(email.strip(), digest)
    if not removed:
        what = f"a subscription of {email} to {digest!r}" if digest else f"a subscriber {email}"
        raise click.ClickException(f"there is no {what}")
    out.print(f"removed {email}" + (f" from {digest}" if digest else ""), markup=False)


@subscribers.command("list")
@common_options
@click.option("--digest", help="Only subscribers of this digest.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array.")
@click.pass_context
def subscribers_list(
    ctx: click.Context, digest: str | None, as_json: bool, config_path: str | None, db_path: str | None
) -> None:
    """Every subscriber with their subscriptions and status; times in the config's timezone.

    Example: policywatch subscribers list --digest monthly
    """
    config = load_config(ctx, config_path, db_path)
    with Store(config.db, read_only=True) as store:
        rows = store.subscribers(digest)
    for row in rows:
        row |= {k: local_iso(row[k], config.zone) for k in ("created_at", "updated_at")}
    if as_json:
        for row in rows:
            row["subscriptions"] = {d: {"topics": t, "regions": r} for d, (t, r) in row["subscriptions"].items()}
        click.echo(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    table = Table()
    for column in ("email", "name", "digests", "language", "status", "since"):
        add_column(table, column, "wrap" if column in ("name", "digests", "status") else "whole")
    for row in rows:
        subs = ", ".join(
            d + "".join(f" [{'/'.join(v)}]" for v in (t, r) if v) for d, (t, r) in row["subscriptions"].items())
        status = row["status"] + (f" ({row['status_reason']})" if row["status_reason"] else "")
        cells = (row["email"], row["name"] or "", subs or "—", row["language"] or "(digest's)", status,
                 row["created_at"][:10])
        table.add_row(*(Text(_printable(str(cell))) for cell in cells))  # stored text, never markup
    print_table(out, table)


@subscribers.command("import")
@common_options
@click.argument("csv_path", metavar="CSV", type=click.Path(dir_okay=False))
@click.option("--digest", "digests", multiple=True, help="For rows whose digests column is empty; repeatable.")
@click.pass_context
def subscribers_import(
    ctx: click.Context, csv_path: str, digests: tuple[str, ...], config_path: str | None, db_path: str | None
) -> None:
    """Add subscribers from a CSV file with a header row; one bad row imports nothing.

    Columns: email (required), name, digests, topics, regions, language; lists inside a cell are separated by ";".

    Example: policywatch subscribers import people.csv --digest monthly
    """
    from policywatch.deliver.subscribers import SubscriberError, read_csv

    config = load_config(ctx, config_path, db_path)
    try:
        records = read_csv(config, Path(csv_path), digests)
    except SubscriberError as e:
        raise click.ClickException(str(e)) from None
    with Store(config.db) as store:
        outcomes = store.add_subscribers(records)
    counts = {o: outcomes.count(o) for o in ("added", "updated", "reactivated")}
    out.print(f"imported {len(records)} subscribers from {safe(csv_path)}: "
              + ", ".join(f"{n} {o}" for o, n in counts.items()))


@click.command()
@common_options
@click.argument("token")
@click.pass_context
def unsubscribe(ctx: click.Context, token: str, config_path: str | None, db_path: str | None) -> None:
    """Apply an unsubscribe token from a digest's link or List-Unsubscribe mail.

    Example: policywatch unsubscribe 12.monthly.Xq3…
    """
    from policywatch.deliver.subscribers import token_subscriber
    from policywatch.deliver.tokens import TokenError, parse_token, secret_from

    config = load_config(ctx, config_path, db_path)
    with Store(config.db) as store:
        try:
            parse_token(token)  # a malformed token is named before a missing secret
            subscriber, digest = token_subscriber(store, secret_from(config.delivery.secret_env), token)
        except TokenError as e:
            raise click.ClickException(str(e)) from None
        ended = store.unsubscribe(subscriber["id"], digest)
    note = "unsubscribed" if ended else "was already unsubscribed"
    out.print(f"{_printable(str(subscriber['email']))} {note} from {digest}", markup=False)


@click.command("send")
@common_options
@click.option("--digest", "name", help="A [[digests]] name from the config (with --draft: the draft's).")
@click.option("--period", help="Month (2023-12) or ISO week (2023-W50); default: the last complete one, or the "
                               "draft's.")
@click.option("--draft", "draft_path", type=click.Path(dir_okay=False),
              help="Send this edited draft (from `digest draft`) to everyone, and keep it with the issue.")
@click.option("--include-new", is_flag=True, help="With --draft: append items that arrived since it was written.")
@click.option("--as-drafted", is_flag=True, help="With --draft: send it as it is, without items that arrived since.")
@click.option("--dry-run", is_flag=True,
              help="Render, list who would receive it and show what would be posted; send and record nothing.")
@click.option("--unfinished", is_flag=True,
              help="Send an issue whose period has not ended yet in the config's timezone (its items so far).")
@click.option("--to", help="Only this subscriber (and no chat post).")
@click.option("--resend-in-doubt", is_flag=True,
              help="Also send to subscribers, and post to chat groups, whose earlier send was cut off mid-way.")
@click.pass_context
def digest_send(
    ctx: click.Context, name: str | None, period: str | None, draft_path: str | None, include_new: bool,
    as_drafted: bool, dry_run: bool, unfinished: bool, to: str | None, resend_in_doubt: bool,
    config_path: str | None, db_path: str | None,
) -> None:
    """Mail one digest issue to every subscriber who does not have it yet, and post it to the digest's notify URLs
    (chat groups, webhooks) that do not have it yet; safe to run again at any time.

    Exits 1 when someone is left to try again (deferred after retries, in doubt, not sendable yet, a post that
    failed), when the mail server refused the run (then nobody is marked bouncing; see README, Mail), or when
    nothing was delivered: no active subscriber and no notify URL.

    With --draft, items that arrived after the draft was written stop the send (exit 1) unless --include-new or
    --as-drafted says what to do with them. An issue whose draft was sent once is finished with that draft.

    A period that has not ended yet is refused unless --unfinished: each subscriber gets an issue once, so an
    early send would leave them without the items that come later.

    Example: policywatch digest send --digest monthly --period 2023-12
    """
    from policywatch.deliver.notify import post_digest
    from policywatch.deliver.send import SendError, send_digest

    config = load_config(ctx, config_path, db_path)
    if (include_new or as_drafted) and not draft_path:
        raise click.ClickException("--include-new and --as-drafted go with --draft FILE")
    if include_new and as_drafted:
        raise click.ClickException("--include-new and --as-drafted contradict each other: give one")
    if draft_path:
        spec, chosen, draft, text = draft_issue(config, draft_path, name, period)
    elif name:
        spec, chosen, text = *digest_issue(config, name, period), None
    else:
        raise click.ClickException("--digest NAME is required (or --draft FILE, which names its digest)")
    if not chosen.ended(today(config.zone)) and not (unfinished or dry_run):
        raise click.ClickException(
            f"{spec.name} {chosen.key} has not ended in {config.timezone} (it ends {chosen.end.isoformat()}): each "
            "subscriber gets an issue once, so send it then, or pass --unfinished to send its items so far")
    mail = config.smtp is not None or not spec.notify or to is not None  # a digest with notify URLs may only post
    if mail:
        try:
            config.require_smtp()
        except config_module.ConfigError as e:
            raise click.ClickException(str(e)) from None
    def progress(who: str, outcome: str) -> None:
        err.print(f"  {_printable(who)}: {_printable(outcome)}", markup=False, soft_wrap=True)

    with Store(config.db) as store:
        if draft_path:
            text = _approved_text(config, store, spec, chosen, draft, draft_path, text, include_new, as_drafted)
        try:
            report = send_digest(config, store, spec, chosen, dry_run=dry_run, to=to, resend_in_doubt=resend_in_doubt,
                                 on_event=progress, draft=text) if mail else None
            posts = post_digest(config, store, spec, chosen, dry_run=dry_run, resend_in_doubt=resend_in_doubt,
                                on_event=progress, draft=text) if spec.notify and to is None else None
        except SendError as e:
            raise click.ClickException(str(e)) from None
        unmailed = 0 if mail else len(store.subscribers(spec.name, active_only=True))
    heading = f"{spec.name} {chosen.key}"
    if dry_run:
        _print_dry_run(heading, report, posts)
        return
    if report is not None:
        _print_mail_report(report)
    if posts is not None:
        _print_post_report(posts)
    if unmailed:
        out.print(f"  {unmailed} subscriber(s) not mailed: no [smtp] table (see README, Mail)", markup=False)
    if report is not None and report.server_problem:
        raise click.ClickException(report.server_problem)
    if (report is not None and not report.complete) or (posts is not None and not posts.complete) or unmailed:
        sys.exit(1)
    mailed = report is not None and (report.sent or report.already or report.failed)
    if not mailed and not (posts is not None and (posts.posted or posts.already)):  # nothing was delivered
        inactive = f" ({len(report.skipped)} bouncing or unsubscribed)" if report is not None and report.skipped else ""
        raise click.ClickException(f"nothing was delivered: {heading} has no active subscriber{inactive}")


def _print_dry_run(heading: str, report: SendReport | None, posts: PostReport | None) -> None:
    """What `digest send --dry-run` would do: who would be mailed, where it would be posted, and each post."""
    if report is not None:
        out.print(f"{heading} (dry run): would send to {len(report.would_send)}, "
                  f"{len(report.already)} already have it, {len(report.in_doubt)} in doubt, "
                  f"{len(report.skipped)} skipped (bouncing or unsubscribed)", markup=False)
        for email in report.would_send:
            out.print(f"  → {_printable(email)}", markup=False)
    if posts is None:
        return
    out.print(f"{heading} (dry run): would post to {len(posts.would_post)}, {len(posts.already)} already posted, "
              f"{len(posts.in_doubt)} in doubt", markup=False)
    for label, _, _ in posts.would_post:
        out.print(f"  → {_printable(label)}", markup=False)
    messages: dict[tuple[str, str], list[str]] = {}
    for label, title, text in posts.would_post:
        messages.setdefault((title, text), []).append(label)
    for (title, text), labels in messages.items():
        out.print(f"post to {_printable(', '.join(labels))}:", markup=False)
        for line in [title, "", *text.splitlines()]:
            out.print(f"  | {_printable(line)}".rstrip(), markup=False)


def _print_mail_report(report: SendReport) -> None:
    from rich.markup import escape

    out.print(report.summary(), markup=False)
    details = [
        *(("red", "failed", email, f"{reason} (marked bouncing)") for email, reason in report.failed),
        *(("red", "refused", email, f"{reason} (not marked bouncing: the server accepted nothing)")
          for email, reason in report.refused),
        *(("red", "not sent", email, f"{reason} (nobody marked; fix it, then run again)")
          for email, reason in report.unsendable),
        *(("yellow", "deferred", email, f"{reason} (run again to retry)") for email, reason in report.deferred),
        *(("yellow", "in doubt", email, "cut off after the handover; the server may have it "
                                        "(--resend-in-doubt sends it again)") for email in report.in_doubt),
    ]
    for colour, what, email, reason in details:
        out.print(f"  [{colour}]{what}[/] {escape(_printable(email))}: {escape(_printable(reason))}")
    if report.untried:
        out.print(f"  {len(report.untried)} not tried: run again to send to them")
    elif report.stopped:
        out.print("  stopped before everyone was done: run again to finish")


def _print_post_report(posts: PostReport) -> None:
    from rich.markup import escape

    out.print(posts.summary(), markup=False)
    details = [
        *(("red", "failed", label, f"{reason} (posted again on the next run)") for label, reason in posts.failed),
        *(("yellow", "in doubt", label, f"{reason}; the group may have it (--resend-in-doubt posts it again)")
          for label, reason in posts.in_doubt),
    ]
    for colour, what, label, reason in details:
        out.print(f"  [{colour}]{what}[/] {escape(_printable(label))}: {escape(_printable(reason))}")
    if posts.untried:
        out.print(f"  {len(posts.untried)} not posted to: run again to post to them")


def _approved_text(
    config: config_module.Config, store: Store, spec: config_module.DigestSpec, period: Period, draft: Draft,
    path: str, text: str, include_new: bool, as_drafted: bool,
) -> str:
    """The draft text to send: as the editor wrote it, or with the items that arrived since appended; items that
    arrived since and no word on them stop the send with one line."""
    from policywatch.digest.build import build_digest
    from policywatch.digest.draft import DraftError, check_draft, dump_draft, new_items, with_new_items

    try:
        check_draft(draft, path, spec, period, store)
    except DraftError as e:
        raise click.ClickException(str(e)) from None
    new = new_items(draft, build_digest(config, store, spec, period))
    if not new or as_drafted:
        return text
    if not include_new:
        raise click.ClickException(f"{new_items_line(new)}; --include-new appends them, --as-drafted sends the "
                                   "draft without them")
    err.print(f"appending {len(new)} new item(s) to the draft", markup=False)
    return dump_draft(with_new_items(draft, new))


def _printable(text: str) -> str:
    """Text from state.db or a mail server shown on one line: control characters as escapes, not as themselves."""
    return "".join(c if c.isprintable() else ascii(c)[1:-1] for c in text)


@click.command()
@common_options
@click.pass_context
def serve(ctx: click.Context, config_path: str | None, db_path: str | None) -> None:
    """Run unattended: crawl each source on its schedule, send each digest on its own; stop with SIGTERM/Ctrl-C.

    Example: policywatch serve --config /etc/policywatch/config.toml
    """
    from policywatch.deliver.tokens import TokenError, secret_from
    from policywatch.scheduler.service import serve as run_service

    config = load_config(ctx, config_path, db_path)
    if config.smtp is not None and config.digests:
        try:  # fail now, not at the first send weeks from now
            secret_from(config.delivery.secret_env)
        except TokenError as e:
            raise click.ClickException(str(e)) from None
    run_service(config)


@click.group()
def notify() -> None:
    """Chat groups and webhooks (Apprise URLs in notify = [...]): try them."""


@notify.command("test")
@common_options
@click.argument("url", required=False)
@click.pass_context
def notify_test(ctx: click.Context, url: str | None, config_path: str | None, db_path: str | None) -> None:
    """Post a test message to URL, or without one to every notify URL in the config (which keeps their keys out of
    the shell's history).

    Exits 0 when every post was taken, 1 when one failed or may not have arrived (one line each on stderr), 2 when
    a URL is not one Apprise can use.

    Example: policywatch notify test 'wecombot://BOT_KEY'
    """
    from policywatch.core import notifyurl
    from policywatch.deliver.notify import send_test

    if url is not None:
        urls = [url]
    else:
        config = load_config(ctx, config_path, db_path)
        urls = list(dict.fromkeys([*(u for spec in config.digests for u in spec.notify), *config.alerts.notify]))
        if not urls:
            raise click.ClickException(f"{config.path.name} has no notify URLs (in [[digests]] or [alerts]): give "
                                       "one, like policywatch notify test 'json://127.0.0.1:8080/hook'")
    for each in urls:
        if (problem := notifyurl.problem(each)) is not None:
            error = click.ClickException(f"{_printable(notifyurl.shown(each))}: {problem}")
            error.exit_code = 2
            raise error
    failed = []
    for each in urls:
        label = _printable(notifyurl.shown(each))
        outcome = send_test(each)
        if outcome.status == "sent":
            out.print(f"posted a test message to {label}", markup=False)
        else:
            failed.append(f"{label}: {'not posted' if outcome.status == 'failed' else 'in doubt'}: "
                          f"{_printable(outcome.reason)}")
    if len(failed) == 1 and len(urls) == 1:
        raise click.ClickException(failed[0])
    for line in failed:
        err.print(f"Error: {line}", markup=False, soft_wrap=True)
    if failed:
        sys.exit(1)
