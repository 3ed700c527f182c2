"""``policywatch``: the command line. Each command parses its arguments, calls one function, prints.

Data goes to stdout (tables, JSON) so it can be piped; progress goes to stderr.
Library errors become one-line ``Error: …`` messages, never tracebacks.
"""

from __future__ import annotations

import json
import os
import sys
import time
from datetime import date, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from rich.table import Table

from policywatch import cli_cluster, cli_delivery, cli_web
from policywatch import progress as progress_module
from policywatch.cliutil import (
    EXIT_BROKEN,
    Group,
    common_options,
    digest_issue,
    err,
    load_config,
    out,
    printable,
    require_db,
    safe,
)
from policywatch.core import config as config_module
from policywatch.core.localtime import day_start, local_iso, local_time
from policywatch.core.model import METADATA_TABLE
from policywatch.core.store import Store
from policywatch.crawler.crawl import CrawlError, CrawlResult, crawl, runs_here
from policywatch.digest.formats import FORMATS
from policywatch.tables import add_column, print_table

if TYPE_CHECKING:
    from policywatch.core.config import Config
    from policywatch.detection.diff import Diff

def _region(config: Config, doc: dict[str, Any]) -> str | None:
    """The region digests file the document under (see policywatch.digest.regions); None when its source is no longer
    configured."""
    from policywatch.core.hanzi import simplified
    from policywatch.digest.regions import document_region

    region = config.region_of(doc["source"])
    if region is None:
        return None
    return document_region(region, simplified(doc["authority"] or ""), simplified(doc["title"] or ""),
                           simplified(doc.get("text", "")))


def _document(store: Store, url_or_id: str, config: Config) -> dict[str, Any]:
    """A stored document, or the one-line error every command gives for an unknown one."""
    doc = store.document(url_or_id)
    if doc is None:
        raise click.ClickException(f"no document with id or URL {url_or_id!r} in {config.db_label}")
    return doc


@click.group(cls=Group, context_settings={"help_option_names": ["-h", "--help"]})
@common_options
@click.version_option(package_name="policywatch")
def main(config_path: str | None, db_path: str | None) -> None:
    """PolicyWatch: watch policy portals, keep every version, report what changed."""


@main.command()
@common_options
@click.pass_context
def init(ctx: click.Context, config_path: str | None, db_path: str | None) -> None:
    """Create state.db (or bring its schema up to date) for a config.

    Example: policywatch init --config config.toml
    """
    config = load_config(ctx, config_path, db_path)
    with Store(config.db) as store:
        store.sync_sources(config.sources)
    out.print(f"state.db ready at {safe(config.db_label)} ({len(config.sources)} sources)")


@main.command("crawl")
@common_options
@click.argument("sources", nargs=-1)
@click.option("--recheck-all", is_flag=True, help="Re-fetch every stored document of these sources now.")
@click.option("--no-wait", is_flag=True, help="With a [cluster]: queue the jobs and return at once.")
@click.option("--progress-every", type=click.FloatRange(min=0, max=progress_module.MAX_EVERY),
              default=progress_module.DEFAULT_EVERY,
              envvar=progress_module.EVERY_ENV, show_envvar=True, show_default=True, metavar="SECONDS",
              help="When stderr is no terminal (cron, systemd, a pipe): a progress line every SECONDS (0: none).")
@click.pass_context
def crawl_command(
    ctx: click.Context, sources: tuple[str, ...], recheck_all: bool, no_wait: bool, progress_every: float,
    config_path: str | None, db_path: str | None,
) -> None:
    """Crawl sources (all by default): list pages, new items, documents due for a re-check.

    While `policywatch serve` runs, its warm crawl workers do the crawl; with a [cluster] table the crawls are jobs
    for the workers (`policywatch worker`). Either way this waits for them and prints the same table.

    Exits 3 when a source it crawled is broken or could not be reached (see README, Exit codes).

    Example: policywatch crawl sh-sti nhc --recheck-all
    """
    config = load_config(ctx, config_path, db_path)
    try:
        names = [s.name for s in config.select(sources)]
    except config_module.ConfigError as e:
        raise click.ClickException(str(e)) from None
    started = time.monotonic()

    def waiting() -> None:
        err.print(f"crawl: waiting for the workers to crawl {len(names)} source(s); "
                  f"{progress_module.duration(time.monotonic() - started)} so far", markup=False, soft_wrap=True)

    if config.cluster is not None:
        with progress_module.every(progress_every, waiting):
            result = cli_cluster.crawl_on_workers(config, names, recheck_all, wait=not no_wait)
        if result is None:  # --no-wait: the jobs are queued
            return
        print_summary(result)  # each worker mailed its job's alerts as it ended (policywatch.scheduler.crawljob)
    elif no_wait:
        raise click.UsageError("--no-wait queues jobs for workers: it needs a [cluster] table in config.toml")
    else:
        with progress_module.every(progress_every, waiting):
            result = cli_cluster.crawl_on_serve(config, names, recheck_all)
        if result is None:
            result = run_crawl_with_progress(config, names, recheck_all, progress_every)
            print_summary(result)
            _mail_alerts(config)
        else:
            print_summary(result)
    if result.broken:
        ctx.exit(EXIT_BROKEN)


def _mail_alerts(config: Config) -> None:
    """Mail the maintainers the alerts this crawl opened, and post them to the alert URLs, as a worker does after
    its job."""
    from policywatch.deliver.alerts import notify_maintainers

    with Store(config.db) as store:
        for line in notify_maintainers(config, store):
            err.print(printable(line), markup=False)


def run_crawl_with_progress(
    config: Config, names: list[str], recheck_all: bool, every: float = progress_module.DEFAULT_EVERY,
) -> CrawlResult:
    """Crawl with its progress on stderr (policywatch.progress). On a terminal: a live line per source, and the
    totals with the time left. Anywhere else (a log, a pipe): the totals on one line every ``every`` seconds (0:
    never), so a log under cron or systemd shows the crawl is alive, and an error stays one line."""
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    counts = progress_module.CrawlCounts(progress_module.expected_pages(config, names, recheck_all))
    columns = (SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn())
    terminal = err.is_terminal
    with Progress(*columns, console=err, transient=True, disable=not terminal) as progress:
        tasks = {n: progress.add_task(n, total=None) for n in names}
        total = progress.add_task(counts.line(elapsed=False), total=None)

        def on_event(event: dict[str, Any]) -> None:
            name = counts.add(event)
            if name is not None and terminal:
                progress.update(tasks[name], description=counts.source_line(name))
                progress.update(total, description=counts.line(elapsed=False))

        def tick() -> None:
            if terminal:  # the time left changes while no page arrives
                progress.update(total, description=counts.line(elapsed=False))
            else:
                err.print(counts.line(), markup=False, soft_wrap=True)

        try:
            with progress_module.every(1.0 if terminal else every, tick):
                return crawl(config, names, recheck_all, on_event, here=runs_here(config, names, recheck_all))
        except CrawlError as e:
            raise click.ClickException(str(e)) from None


def print_summary(result: CrawlResult) -> None:
    """The run's table and its first errors: error messages quote URLs and pages, so every value goes through
    :func:`policywatch.cliutil.safe`."""
    runs = result.runs or (result.run_id,)
    table = Table(title=f"Crawl run{'s' if len(runs) > 1 else ''} {', '.join(map(str, runs))}")
    for column in ("source", "pages", "new documents", "new versions", "errors"):
        add_column(table, column, justify="left" if column == "source" else "right")
    for row in result.summary:
        table.add_row(*(safe(row[k]) for k in ("source", "pages", "new_documents", "new_versions", "errors")))
    print_table(out, table)
    for error in result.errors[:10]:
        out.print(f"  [yellow]![/] {safe(error['source'])}: {safe(error['url'])}: {safe(error['error'])}")
    if len(result.errors) > 10:
        out.print(f"  … and {len(result.errors) - 10} more errors")
    for name in result.skipped:
        out.print(f"  [yellow]skipped[/] {safe(name)}: another process is crawling it")
    for warning in result.warnings:  # once per source and selector, however many pages
        pages = "1 page:" if warning["pages"] == 1 else f"{warning['pages']} pages, the first"
        out.print(f"  [yellow]warning[/] {safe(warning['source'])}: {safe(warning['warning'])} "
                  f"({pages} {safe(warning['url'])})")
    for alert in result.alerts:
        out.print(f"  [red]alert[/] {safe(alert)}")
    for name, why in sorted(result.broken.items()):
        if f"{name}: {why}" not in result.alerts:  # a new alert says it already
            out.print(f"  [red]broken[/] {safe(name)}: {safe(why)}")


@main.command()
@common_options
@click.argument("url_or_id")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.pass_context
def show(
    ctx: click.Context, url_or_id: str, as_json: bool, config_path: str | None, db_path: str | None
) -> None:
    """Show a document's fields and the text of its latest version; times are in the config's timezone.

    Example: policywatch show https://stcsm.sh.gov.cn/zwgk/tzgs/2023/1206.html --json
    """
    config = load_config(ctx, config_path, db_path)
    with Store(config.db, read_only=True) as store:
        doc = _document(store, url_or_id, config)
    record = {
        "id": doc["id"], "url": doc["url"], "title": doc["title"], "published": doc["published"],
        "authority": doc["authority"], "doc_number": doc["doc_number"], **{k: doc[k] for k in METADATA_TABLE},
        "source": doc["source"],
        "region": _region(config, doc), "attachments": doc["attachments"],
        "first_seen": local_iso(doc["first_seen"], config.zone),
        "last_checked": local_iso(doc["last_checked"], config.zone), "versions": doc["versions"], "text": doc["text"],
    }
    record = printable(record)
    if as_json:
        click.echo(json.dumps(record, ensure_ascii=False, indent=2))
        return
    shown = record | {key: local_time(doc[key], config.zone) or None for key in ("first_seen", "last_checked")}
    for key in ("id", "title", "url", "published", "authority", "doc_number", *METADATA_TABLE, "source", "region",
                "first_seen", "last_checked", "versions"):
        if key in METADATA_TABLE and record[key] is None:
            continue  # only pages with a metadata table (规范性文件, 政府信息公开) have these
        out.print(f"[bold]{key:>12}[/]  {safe(shown[key])}", markup=True)
    for url in record["attachments"]:
        out.print(f"[bold]{'attachment':>12}[/]  {safe(url)}")
    out.print()
    out.print(record["text"], markup=False)


KINDS = ("new", "changed", "removed", "restored")


def _day(value: str | None, option: str) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a date like 2023-12-31", param_hint=option) from None


@main.command()
@common_options
@click.option("--since", help="Changes detected on or after this date (YYYY-MM-DD).")
@click.option("--until", help="Changes detected on or before this date (YYYY-MM-DD).")
@click.option("--source", help="Only this source.")
@click.option("--kind", type=click.Choice(KINDS), help="Only this kind of change.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON array.")
@click.pass_context
def changes(
    ctx: click.Context, since: str | None, until: str | None, source: str | None, kind: str | None,
    as_json: bool, config_path: str | None, db_path: str | None,
) -> None:
    """New, changed, removed and restored documents, oldest first; dates and times in the config's timezone.

    Example: policywatch changes --since 2023-12-01 --until 2023-12-31 --kind changed --json
    """
    config = load_config(ctx, config_path, db_path)
    zone = config.zone
    first, last = _day(since, "--since"), _day(until, "--until")
    start = day_start(first, zone) if first else None  # the days' bounds in the zone, as stored (UTC) times
    end = day_start(last + timedelta(days=1), zone) if last else None
    with Store(config.db, read_only=True) as store:
        rows = store.changes(start, end, source, kind)
        edits = _edits_told(store, rows)
    records = [
        {"kind": r["kind"], "url": r["url"], "title": r["title"], "published": r["published"],
         "source": r["source"], "region": _region(config, r), "detected_at": local_iso(r["detected_at"], zone),
         "group": r["group"], "document": r["document_id"],
         "fields": r["fields"].split(",") if r["fields"] else [],
         "diff": {"added": r["added"], "removed": r["removed"]}, "edits": edits.get(r["id"])}
        for r in rows
    ]
    records = printable(records)
    if as_json:
        click.echo(json.dumps(records, ensure_ascii=False, indent=2))
        return
    table = Table()
    for column in ("id", "detected", "kind", "source", "published", "title", "what changed", "url"):
        add_column(table, column, "wrap" if column in ("title", "what changed") else "whole",
                   justify="right" if column == "id" else "left")
    for r in records:
        what = ", ".join(r["fields"]) + (f": {r['edits']}" if r["edits"] else "")
        table.add_row(*(safe(cell) for cell in (r["document"], r["detected_at"][:10], r["kind"], r["source"],
                                                r["published"], r["title"], what, r["url"])))
    print_table(out, table)


def _edits_told(store: Store, rows: list[dict[str, Any]]) -> dict[int, str]:
    """Per change record of a text edit, its edited sentences in context, as digests tell them
    (policywatch.detection.edits)."""
    from policywatch.detection.edits import describe, sentence_edits

    pairs = {r["id"]: (r["from_version"], r["to_version"]) for r in rows
             if r["kind"] == "changed" and "text" in (r["fields"] or "").split(",") and r["from_version"]
             and r["to_version"]}
    hashes = store.version_hashes(v for pair in pairs.values() for v in pair)
    texts = store.texts(hashes.values())
    return {change: describe(sentence_edits(texts.get(hashes.get(old), ""), texts.get(hashes.get(new), "")), "zh")
            for change, (old, new) in pairs.items()}


@main.command()
@common_options
@click.argument("url_or_id")
@click.pass_context
def history(ctx: click.Context, url_or_id: str, config_path: str | None, db_path: str | None) -> None:
    """Every stored version of a document, with its time (in the config's timezone) and size.

    Example: policywatch history https://stcsm.sh.gov.cn/zwgk/tzgs/2023/1206.html
    """
    config = load_config(ctx, config_path, db_path)
    with Store(config.db, read_only=True) as store:
        doc = _document(store, url_or_id, config)
        versions = store.history(doc["id"])
    out.print(f"[bold]{safe(doc['title'])}[/]  {safe(doc['url'])}  (document {safe(doc['id'])}, {safe(doc['status'])})",
              markup=True)
    table = Table()
    for column in ("version", "stored", "bytes", "change", "title"):
        add_column(table, column, "wrap" if column == "title" else "whole",
                   justify="right" if column in ("version", "bytes") else "left")
    for v in versions:
        table.add_row(*(safe(cell) for cell in (v["id"], local_time(v["created_at"], config.zone), v["size"],
                                                v["change"] or "", v["title"])))
    print_table(out, table)


@main.command("diff")
@common_options
@click.argument("url_or_id")
@click.option("--from", "from_version", type=int, help="Older version id (default: the one before --to).")
@click.option("--to", "to_version", type=int, help="Newer version id (default: the latest).")
@click.option("--format", "fmt", type=click.Choice(("term", "html", "text")), default="term", show_default=True,
              help="The changes in context, coloured on a terminal (marked [-x-]{+y+} when piped or with NO_COLOR), "
                   "an HTML fragment (side by side, then inline), or the whole text marked [-x-]{+y+}.")
@click.option("--color", "force_color", is_flag=True, help="Colour terminal output even when piped (less -R).")
@click.option("--attachments", is_flag=True, help="Diff the document's changed attachments instead of its page.")
@click.pass_context
def diff_command(
    ctx: click.Context, url_or_id: str, from_version: int | None, to_version: int | None, fmt: str,
    force_color: bool, attachments: bool, config_path: str | None, db_path: str | None,
) -> None:
    """What changed between two versions of a document, word by word (the id is the one `changes` shows).

    Example: policywatch diff 12 --format text
    """
    from policywatch.detection import diff as word_diff

    config = load_config(ctx, config_path, db_path)
    with Store(config.db, read_only=True) as store:
        doc = _document(store, url_or_id, config)
        if attachments:
            pairs = [(printable(f"{c['attachment_url']} ({local_time(c['detected_at'], config.zone)[:10]})"),
                      word_diff.diff(printable(store.text(c["from_text"] or "")),
                                     printable(store.text(c["to_text"] or ""))))
                     for c in store.attachment_changes(doc["id"])]
            if not pairs:
                raise click.ClickException(f"document {doc['id']} has no attachment changes")
            for heading, changes in pairs:
                click.echo(f"== {heading}")
                _echo_diff(changes, fmt, force_color)
            return
        ids = [v["id"] for v in store.history(doc["id"])]
        new = to_version if to_version is not None else ids[-1]
        if new not in ids:
            raise click.ClickException(f"document {doc['id']} has no version {new} (versions: {ids})")
        old = from_version if from_version is not None else (ids[ids.index(new) - 1] if ids.index(new) else None)
        if old is None:
            raise click.ClickException(f"document {doc['id']} has only one version; nothing to compare")
        if old not in ids:
            raise click.ClickException(f"document {doc['id']} has no version {old} (versions: {ids})")
        # Texts stored before crawls cleaned them are cleaned as `show` cleans them, for every format.
        changes = word_diff.diff(printable(store.version_text(old)), printable(store.version_text(new)))
    _echo_diff(changes, fmt, force_color)


def _echo_diff(changes: Diff, fmt: str, force_color: bool) -> None:
    from policywatch.detection import diff as word_diff

    if fmt == "html":
        click.echo(word_diff.to_html_side_by_side(changes) + "\n" + word_diff.to_html(changes))
    elif fmt == "text":
        click.echo(word_diff.to_text(changes))
    elif force_color or _colour_terminal():
        click.echo(word_diff.to_terminal(word_diff.context(changes)), color=True)
    else:  # piped, or NO_COLOR: colours would be stripped, and the changes with them
        click.echo(word_diff.to_text(word_diff.context(changes)), color=False)


def _colour_terminal() -> bool:
    """Whether stdout is a terminal that wants colour (https://no-color.org: NO_COLOR set and not empty says no)."""
    return click.get_text_stream("stdout").isatty() and not os.environ.get("NO_COLOR")


@main.group()
def sources() -> None:
    """Configured sources: list them with their health, check what one extracts."""


@sources.command("list")
@common_options
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array.")
@click.pass_context
def sources_list(ctx: click.Context, as_json: bool, config_path: str | None, db_path: str | None) -> None:
    """Every configured source with its document count and last crawl (in the config's timezone).

    Example: policywatch sources list --json
    """
    config = load_config(ctx, config_path, db_path)
    stats: dict[str, dict[str, Any]] = {}
    if config.db_exists():
        with Store(config.db, read_only=True) as store:
            stats = {row["name"]: row for row in store.sources_overview()}
    health = ("documents", "last_crawl", "last_success", "last_items", "error_streak", "alert", "warning")
    from policywatch.crawler.spiders import custom_spiders

    spiders = custom_spiders()
    rows = [
        {"name": s.name, "title": s.title, "region": s.region, "authority": s.authority,
         "start_urls": list(s.start_urls), "schedule": s.schedule, "verified": s.verified,
         "expect_items": s.expect_items, "platform": s.platform, "fetcher": s.fetcher,
         "spider": s.name if s.name in spiders else None,
         **{k: stats.get(s.name, {}).get(k, 0 if k in ("documents", "error_streak") else None) for k in health}}
        for s in config.sources
    ]
    for row in rows:
        row |= {k: local_iso(row[k], config.zone) for k in ("last_crawl", "last_success")}
    if as_json:
        click.echo(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    table = Table()
    for column in ("name", "region", "authority", "verified", "documents", "last crawl", "items", "error streak",
                   "alert"):
        add_column(table, column, "wrap" if column in ("region", "authority", "alert") else "whole")
    for row in rows:
        cells = (row["name"], row["region"], row["authority"], "yes" if row["verified"] else "no", row["documents"],
                 local_time(row["last_crawl"], config.zone) or "never", row["last_items"], row["error_streak"],
                 row["alert"] or "")
        table.add_row(*(safe(cell) for cell in cells), style="red" if row["alert"] else None)
    print_table(out, table)
    for row in rows:
        if row["warning"]:
            out.print(f"[yellow]! {safe(row['name'])}: {safe(row['warning'])}[/]")


@sources.command("check")
@common_options
@click.argument("name")
@click.option("--file", "list_file", type=click.Path(dir_okay=False, exists=True),
              help="A saved copy of the list page instead of fetching it (nothing is fetched then).")
@click.option("--detail", help="A detail page to extract: a saved file or a URL (default: the first item's).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.pass_context
def sources_check(
    ctx: click.Context, name: str, list_file: str | None, detail: str | None, as_json: bool,
    config_path: str | None, db_path: str | None,
) -> None:
    """Show what a source extracts now: its list items and one detail page, with warnings. Stores nothing.

    Exits 1 when the source is broken as configured (an anti-bot wall, or no items).

    Example: policywatch sources check nmpa-ypggtg --file saved/nmpa-list.html
    """
    from policywatch.check import CheckError, check_source

    config = load_config(ctx, config_path, db_path)
    try:
        source = config.source(name)
        check = check_source(config, source, Path(list_file) if list_file else None, detail)
    except (config_module.ConfigError, CheckError) as e:
        raise click.ClickException(str(e)) from None
    fields = check.detail
    if as_json:
        click.echo(json.dumps({
            "source": name, "list_url": check.list_page.url, "list_read": not check.list_skipped,
            "matched": check.matched, "next_page": check.next_url,
            "items": [{"title": i.title, "date": i.published, "url": i.url} for i in check.items],
            "detail": None if fields is None else {
                "url": check.detail_page.url, "title": fields.title, "published": fields.published,
                "authority": fields.authority, "doc_number": fields.doc_number,
                **{k: getattr(fields, k) for k in METADATA_TABLE}, "attachments": fields.attachments,
                "text": fields.text},
            "warnings": check.warnings,
        }, ensure_ascii=False, indent=2))
    else:
        _print_check(check)
    if check.broken:
        sys.exit(1)


def _print_check(check: Any) -> None:
    if check.list_skipped:
        out.print(f"[bold]{safe(check.source.name)}[/]  {safe(check.list_page.url)}  (list not read: offline)")
    else:
        out.print(f"[bold]{safe(check.source.name)}[/]  {safe(check.list_page.url)}"
                  f"  ({'saved file' if check.list_page.status is None else f'HTTP {check.list_page.status}'})")
        table = Table()
        for column in ("#", "date", "title", "link"):
            add_column(table, column, "wrap" if column == "title" else "whole",
                       justify="right" if column == "#" else "left")
        for n, item in enumerate(check.items, 1):
            table.add_row(str(n), safe(item.published), safe(item.title), safe(item.url))
        print_table(out, table)
        out.print(f"{len(check.items)} items ({check.matched} elements matched); "
                  f"next page: {safe(check.next_url or 'none')}")
    if check.detail is not None:
        fields = check.detail
        out.print(f"\n[bold]detail[/]  {safe(check.detail_page.url)}")
        for key in ("title", "published", "authority", "doc_number", *METADATA_TABLE):
            if key in METADATA_TABLE and getattr(fields, key) is None:
                continue
            out.print(f"[bold]{key:>12}[/]  {safe(getattr(fields, key) or '—')}", markup=True)
        for url in fields.attachments:
            out.print(f"[bold]{'attachment':>12}[/]  {safe(url)}")
        excerpt = safe(" ".join(fields.text[:200].split()) + ("…" if len(fields.text) > 200 else ""))
        out.print(f"[bold]{'text':>12}[/]  {len(fields.text)} characters: ", excerpt, markup=True)
    for warning in check.warnings:
        out.print(f"[yellow]! {safe(warning)}[/]")


@main.group("digest")
def digest_group() -> None:
    """Periodic digests: build them from what the crawls found, and mail them to subscribers."""


@digest_group.command("build")
@common_options
@click.option("--digest", "name", help="A [[digests]] name from the config (with --draft: the draft's).")
@click.option("--period", help="Month (2023-12) or ISO week (2023-W50); default: the last complete one, or the "
                               "draft's.")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="html", show_default=True)
@click.option("--out", "out_path", type=click.Path(dir_okay=False), help="Write to this file instead of stdout.")
@click.option("--draft", "draft_path", type=click.Path(dir_okay=False),
              help="Render this edited draft (from `digest draft`) instead of the automatic digest.")
@click.option("--as-sent", is_flag=True, help="Render the issue as it was sent: its approved draft, if one was.")
@click.pass_context
def digest_build(
    ctx: click.Context, name: str | None, period: str | None, fmt: str, out_path: str | None,
    draft_path: str | None, as_sent: bool, config_path: str | None, db_path: str | None,
) -> None:
    """Render one digest for one period; the same state.db (and draft) always gives the same bytes.

    Example: policywatch digest build --digest monthly --period 2023-12 --format md --out 2023-12.md
    """
    from policywatch.cliutil import draft_issue, new_items_line
    from policywatch.digest.build import build_digest
    from policywatch.digest.draft import DraftError, check_draft, draft_digest, new_items, parse_draft
    from policywatch.digest.render import render

    config = load_config(ctx, config_path, db_path)
    if draft_path and as_sent:
        raise click.ClickException("--draft and --as-sent name two different issues: give one")
    if draft_path:
        spec, chosen, draft, _ = draft_issue(config, draft_path, name, period)
    else:
        spec, chosen = digest_issue(config, _required_digest(name), period)
    with Store(config.db, read_only=True) as store:
        automatic = build_digest(config, store, spec, chosen)
        try:
            if as_sent and (stored := store.stored_draft(spec.name, chosen.key)) is not None:
                draft_path = f"the draft of {spec.name} {chosen.key}"
                draft = parse_draft(stored["text"], draft_path)
            digest = automatic if not draft_path else draft_digest(
                config, store, spec, chosen, draft, check_draft(draft, draft_path, spec, chosen, store), automatic)
        except DraftError as e:
            raise click.ClickException(str(e)) from None
        document = render(digest, fmt, config.templates,
                          feed_url=_feed_url(config, spec.name, chosen.key, out_path) if fmt == "atom" else None)
    if draft_path and not as_sent and (new := new_items(draft, automatic)):
        err.print(f"note: {safe(new_items_line(new))} (not in this rendering)")
    if out_path:
        Path(out_path).write_text(document, encoding="utf-8")
        err.print(f"wrote {safe(out_path)}")
    else:
        click.echo(document, nl=False)


@digest_group.command("draft")
@common_options
@click.option("--digest", "name", required=True, help="A [[digests]] name from the config.")
@click.option("--period", help="Month (2023-12) or ISO week (2023-W50); default: the last complete one.")
@click.option("--out", "out_path", type=click.Path(dir_okay=False), help="Write to this file instead of stdout.")
@click.pass_context
def digest_draft(
    ctx: click.Context, name: str, period: str | None, out_path: str | None, config_path: str | None,
    db_path: str | None,
) -> None:
    """Write the digest of one period as an editable draft: Markdown with the items in YAML front matter.

    Edit it (reorder, drop, rewrite, pick the summary list, add outside items, an introduction and an editor's
    note), then render it with `digest build --draft FILE` and send it with `digest send --draft FILE`.

    Example: policywatch digest draft --digest monthly --period 2023-12 --out 2023-12.draft.md
    """
    from policywatch.digest.build import build_digest
    from policywatch.digest.draft import draft_of, dump_draft

    config = load_config(ctx, config_path, db_path)
    spec, chosen = digest_issue(config, name, period)
    with Store(config.db, read_only=True) as store:
        text = dump_draft(draft_of(build_digest(config, store, spec, chosen)))
    if out_path:
        Path(out_path).write_text(text, encoding="utf-8")
        err.print(f"wrote {safe(out_path)}")
    else:
        click.echo(text, nl=False)


def _required_digest(name: str | None) -> str:
    if not name:
        raise click.ClickException("--digest NAME is required (or --draft FILE, which names its digest)")
    return name


def _feed_url(config: Config, digest: str, period: str, out_path: str | None) -> str | None:
    """An Atom feed's own address: on the archive site when ``site_url`` says where that is published, else the
    name of the file it is written to (a reference relative to wherever that file is served); unknown on stdout."""
    from urllib.parse import quote

    from policywatch.archive.build import feed_url

    return feed_url(config, digest, period) or (quote(Path(out_path).name) if out_path else None)


@main.command()
@click.option("--dir", "workdir", type=click.Path(file_okay=False), default="policywatch-demo",
              show_default=True, help="Folder for the demo's portal copy, config and state.db.")
def demo(workdir: str) -> None:
    """Offline demo: serve the bundled portal on 127.0.0.1, crawl, edit it, crawl again.

    Example: policywatch demo --dir /tmp/pw-demo
    """
    from policywatch.demo import run_demo

    try:
        run_demo(Path(workdir), crawl_with_progress=run_crawl_with_progress,
                 print_summary=print_summary, console=out)
    except FileExistsError as e:
        raise click.ClickException(str(e)) from None


@main.command("browse")
@common_options
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to serve on.")
@click.option("--port", default=8001, show_default=True, help="Port to serve on.")
@click.option("--open", "open_browser", is_flag=True, help="Open it in a web browser.")
@click.pass_context
def browse_command(
    ctx: click.Context, host: str, port: int, open_browser: bool, config_path: str | None, db_path: str | None,
) -> None:
    """Browse state.db in Datasette: every table, described, and canned queries (changes this month,
    history of a URL, sources with errors, documents by region). Needs the `browse` extra.

    Example: policywatch browse --port 8001 --open
    """
    from policywatch.browse import BrowseError, browse

    config = load_config(ctx, config_path, db_path)
    if config.postgres:
        raise click.ClickException(f"browse opens a SQLite state.db; {config.db_label} is PostgreSQL: use psql or "
                                   "another PostgreSQL client")
    if config.db.is_file():  # damaged, or too old to read: one line now, not an error page per request
        Store(config.db, read_only=True).close()
    try:
        ctx.exit(browse(config.db, host, port, open_browser))
    except BrowseError as e:
        raise click.ClickException(str(e)) from None


@main.command("site")
@common_options
@click.option("--out", "out_dir", type=click.Path(), default=None,
              help="Folder to write the site into (made if missing); default: the config's `site`, else ./site.")
@click.option("--full", is_flag=True, help="Rebuild every page, not only those whose data changed.")
@click.pass_context
def site_command(
    ctx: click.Context, out_dir: str | None, full: bool, config_path: str | None, db_path: str | None
) -> None:
    """Write the archive site: recent changes with filters and search, a page per document with every version's
    diffs, source health, the digest archive and a chart by region. Static files: open index.html from disk or
    put the folder on any web host. Run again after a crawl and only what changed is rewritten.

    Example: policywatch site --out site
    """
    from policywatch.archive.build import SiteError, build_site

    config = load_config(ctx, config_path, db_path)
    require_db(config)
    folder = Path(out_dir) if out_dir else config.site or Path("site")
    try:
        with Store(config.db, read_only=True) as store:
            report = build_site(config, store, folder, full)
    except SiteError as e:
        raise click.ClickException(str(e)) from None
    out.print(f"site: {safe(report.summary())} → {safe(folder / 'index.html')}")


main.add_command(cli_delivery.subscribers)
main.add_command(cli_delivery.unsubscribe)
main.add_command(cli_delivery.serve)
main.add_command(cli_delivery.notify)
main.add_command(cli_cluster.worker)
main.add_command(cli_web.web)
digest_group.add_command(cli_delivery.digest_send)

if __name__ == "__main__":
    main()
