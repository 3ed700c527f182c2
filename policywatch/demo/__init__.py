"""``policywatch demo``: the whole crawl → store → digest cycle offline, against a bundled portal.

The bundled portal (``portal/round1``) is four small sites with different HTML
structures: three government portals (one served as GBK) and an industry
association's site, whose news section (a news source, ``kind = "news"``) and
reposted policies carry the items of a real December 2023 roundup. The demo
serves each on its own loopback port, crawls them into a fresh state.db, applies the edits in
``portal/round2`` (new items, changed texts, a removed page), re-checks
everything, and re-checks everything once more: the removed page, still
missing, is then confirmed gone (one failed check is not a removal). It prints
what it found, renders the December 2023 digests and this month's (which
report what the re-checks found, the removal among it), and writes the archive
site.
"""

from __future__ import annotations

import shutil
from contextlib import ExitStack
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from rich.table import Table

from policywatch.archive.build import build_site
from policywatch.cliutil import printable, safe
from policywatch.core import config as config_module
from policywatch.core.store import Store
from policywatch.portal import serve
from policywatch.tables import add_column, print_table

if TYPE_CHECKING:
    from collections.abc import Callable

    from rich.console import Console

    from policywatch.core.config import Config
    from policywatch.crawler.crawl import CrawlResult

HERE = Path(__file__).parent
PORTAL = HERE / "portal"
MARKER = ".policywatch-demo"
DIGEST_PERIOD = "2023-12"  # the month the bundled portal's policies come from
# Loopback needs no politeness delay, and its address must be allowed (the crawler refuses internal addresses
# by default); everything else stays at the defaults.
CRAWL_SETTINGS = """db = "state.db"

[crawl]
download_delay = 0
autothrottle = false
concurrency_per_domain = 4
timeout = 10
retries = 1
allow_hosts = ["127.0.0.1"]

"""


def prepare(workdir: Path) -> Path:
    """A fresh demo folder holding a copy of the round-1 portal; returns the portal path."""
    if workdir.exists():
        if any(workdir.iterdir()) and not (workdir / MARKER).exists():
            raise FileExistsError(f"{workdir} exists and is not a demo folder; choose another --dir")
        shutil.rmtree(workdir)
    workdir.mkdir(parents=True)
    (workdir / MARKER).write_text("created by policywatch demo; safe to delete\n")
    portal = workdir / "portal"
    shutil.copytree(PORTAL / "round1", portal)
    return portal


def apply_edits(portal: Path) -> list[str]:
    """Apply round 2: overlay its files and delete the ones listed in REMOVED."""
    round2 = PORTAL / "round2"
    changed = []
    for path in sorted(round2.rglob("*")):
        if path.is_file() and path.name != "REMOVED":
            target = portal / path.relative_to(round2)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, target)
            changed.append(str(path.relative_to(round2)))
    removed = (round2 / "REMOVED").read_text(encoding="utf-8").split()
    for name in removed:
        (portal / name).unlink(missing_ok=True)
    return changed + [f"{name} (removed)" for name in removed]


def write_config(workdir: Path, bases: dict[str, str]) -> Config:
    """The demo config with each site's placeholder host replaced by its loopback address."""
    text = (HERE / "config.toml").read_text(encoding="utf-8")
    for site, base in bases.items():
        text = text.replace(f"http://{site}.demo", base)
    path = workdir / "config.toml"
    path.write_text(CRAWL_SETTINGS + text, encoding="utf-8")
    return config_module.load(path)


def run_demo(
    workdir: Path,
    crawl_with_progress: Callable[[Config, list[str], bool], CrawlResult],
    print_summary: Callable[[CrawlResult], None],
    console: Console,
) -> Path:
    """Run the demo in ``workdir``; returns the path of its state.db."""
    workdir = workdir.resolve()
    portal = prepare(workdir)
    with ExitStack() as stack:
        bases = {site.name: stack.enter_context(serve(site))
                 for site in sorted(portal.iterdir()) if site.is_dir()}
        config = write_config(workdir, bases)
        names = [s.name for s in config.sources]
        for site, base in bases.items():
            console.print(f"Serving [bold]{site}[/] at {base}")

        console.rule("Round 1: first crawl")
        first = crawl_with_progress(config, names, False)
        print_summary(first)

        console.rule("Editing the portal")
        for edit in apply_edits(portal):
            console.print(f"  edited {edit}")

        console.rule("Round 2: crawl again, re-checking every stored document")
        second = crawl_with_progress(config, names, True)
        print_summary(second)

        console.rule("Round 3: re-check everything again")
        third = crawl_with_progress(config, names, True)
        print_summary(third)

    this_month = datetime.now(config.zone).strftime("%Y-%m")  # when the crawls found the changes and the removal
    with Store(config.db) as store:
        print_documents(console, store)
        for number, result in ((2, second), (3, third)):
            print_found(console, store, result.run_id, number)
        written = write_digests(config, store, workdir, (DIGEST_PERIOD, this_month))
        site = build_site(config, store, workdir / "site")
    print_digests(console, written)
    console.print(f"\nArchive site ({site.summary()}): [bold]{site.out / 'index.html'}[/]")
    console.print(f"state.db: [bold]{config.db}[/]")
    console.print(f"Try: policywatch --config {config.path} changes  (then `diff ID` or `history ID` with an id from "
                  "its table)", markup=False)
    return config.db


def write_digests(config: Config, store: Store, workdir: Path, months: tuple[str, ...]) -> dict[str, dict[str, Path]]:
    """The demo config's digests for each of ``months``, in every format, beside its state.db; returns the monthly
    digest's files by month and format. An Atom feed names its own file as its address."""
    from policywatch.digest.build import build_digest
    from policywatch.digest.formats import FORMATS
    from policywatch.digest.period import parse_period
    from policywatch.digest.render import SUFFIXES, render

    written: dict[str, dict[str, Path]] = {}
    for month in dict.fromkeys(months):
        for spec in config.digests:
            digest = build_digest(config, store, spec, parse_period(month, spec.period))
            for fmt in FORMATS:
                path = workdir / f"digest-{spec.name}-{month}{SUFFIXES[fmt]}"
                feed = path.name if fmt == "atom" else None
                path.write_text(render(digest, fmt, config.templates, feed_url=feed), encoding="utf-8")
                if spec.name == "monthly":
                    written.setdefault(month, {})[fmt] = path
    return written


def print_digests(console: Console, written: dict[str, dict[str, Path]]) -> None:
    """The December 2023 digest's head (its numbered list), then this month's digest whole: the changes and the
    removal the re-checks found, which belong to the month they were found in."""
    for period, paths in written.items():
        text = paths["text"].read_text(encoding="utf-8")
        if period == DIGEST_PERIOD:
            console.rule(f"Digest for {period}")
            text = text.split("\n►►►")[0]
        else:
            console.rule(f"Digest for {period}: what the re-checks found")
        console.print(text.rstrip(), markup=False)
        for fmt, path in paths.items():
            console.print(f"  {fmt:<5} {path}")


def print_documents(console: Console, store: Store) -> None:
    """Every document with its id (what `show`, `diff` and `history` take); on a terminal, long authorities and
    titles are shortened, never the id (policywatch.tables)."""
    table = Table(title="Documents in state.db")
    for column in ("id", "source", "published", "authority", "title", "versions"):
        add_column(table, column, "shorten" if column in ("authority", "title") else "whole",
                   justify="right" if column in ("id", "versions") else "left")
    for doc in store.documents():
        table.add_row(*(safe(doc[key]) for key in ("id", "source", "published", "authority", "title", "versions")))
    print_table(console, table)


def print_found(console: Console, store: Store, run_id: int, number: int) -> None:
    """What crawl round ``number`` (run ``run_id``) found: its change records and failed requests."""
    console.print(f"\n[bold]Round {number} found:[/]")
    for item in store.run_activity(run_id):
        console.print(printable(f"  {item['what']:<14} {item['source']:<8} {item['title'] or item['url']}"
                                + (f"  ({item['detail']})" if item["detail"] else "")), markup=False)
