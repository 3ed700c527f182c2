"""``policywatch demo``: the whole crawl → store → digest cycle offline, against a bundled portal.

The bundled portal (``portal/round1``) is four small sites with different HTML
structures: three government portals (one served as GBK) and an industry news
site with items of a real December 2023 roundup. The demo serves each on its
own loopback port, crawls them into a fresh state.db, applies the edits in
``portal/round2`` (new items, changed texts, a removed page), re-checks
everything, prints what it found, renders the December 2023 digests and writes the archive site.
"""

from __future__ import annotations

import shutil
from contextlib import ExitStack
from pathlib import Path
from typing import TYPE_CHECKING

from rich.table import Table

from archive.build import build_site
from policywatch import config as config_module
from policywatch.cliutil import printable, safe
from policywatch.portal import serve
from policywatch.store import Store

if TYPE_CHECKING:
    from collections.abc import Callable

    from rich.console import Console

    from policywatch.config import Config
    from policywatch.crawl import CrawlResult

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

    with Store(config.db) as store:
        print_found(console, store, second.run_id)
        written = write_digests(config, store, workdir)
        site = build_site(config, store, workdir / "site")
    console.rule(f"Digest for {DIGEST_PERIOD}")
    console.print(written["text"].read_text(encoding="utf-8").split("\n►►►")[0].rstrip(), markup=False)
    for fmt, path in written.items():
        console.print(f"  {fmt:<5} {path}")
    console.print(f"\nArchive site ({site.summary()}): [bold]{site.out / 'index.html'}[/]")
    console.print(f"state.db: [bold]{config.db}[/]")
    console.print(f"Try: policywatch --config {config.path} show <id>")
    return config.db


def write_digests(config: Config, store: Store, workdir: Path) -> dict[str, Path]:
    """The demo config's digests for the month its portal covers, in every format, beside its state.db."""
    from digest.build import build_digest
    from digest.formats import FORMATS
    from digest.period import parse_period
    from digest.render import SUFFIXES, render

    written = {}
    for spec in config.digests:
        digest = build_digest(config, store, spec, parse_period(DIGEST_PERIOD, spec.period))
        for fmt in FORMATS:
            path = workdir / f"digest-{spec.name}-{DIGEST_PERIOD}{SUFFIXES[fmt]}"
            path.write_text(render(digest, fmt, config.templates), encoding="utf-8")
            if spec.name == "monthly":
                written[fmt] = path
    return written


def print_found(console: Console, store: Store, run_id: int) -> None:
    table = Table(title="Documents in state.db")
    for column in ("id", "source", "published", "authority"):
        table.add_column(column, no_wrap=True)
    table.add_column("title", no_wrap=True, overflow="ellipsis")
    table.add_column("versions", justify="right")
    for doc in store.documents():
        table.add_row(*(safe(doc[key]) for key in ("id", "source", "published", "authority", "title", "versions")))
    console.print(table)
    console.print("\n[bold]Round 2 found:[/]")
    for item in store.run_activity(run_id):
        console.print(printable(f"  {item['what']:<14} {item['source']:<8} {item['title'] or item['url']}"
                                + (f"  ({item['detail']})" if item["detail"] else "")), markup=False)
