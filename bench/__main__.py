"""``python -m bench [--sites N --pages M --out DIR]``: PolicyWatch against bare Scrapy, in one sitting.

Generates the sites (bench.workload), serves them on 127.0.0.1 (bench.server: nginx, else policywatch.portal),
then runs, each in a measuring subprocess (bench.measure):

1. bare Scrapy fetching every list and detail page (bench.bare);
2. PolicyWatch's first crawl (``policywatch crawl``) into a fresh state.db;
3. a scheduled re-check with nothing changed (``policywatch crawl``): lists again, no stored page due yet;
4. a re-check of every stored page with nothing changed (``policywatch crawl --recheck-all``);
5. the same after editing 2% of the detail pages and adding a few list items;

then times the diff of 100 KB document pairs (bench.diffs), the digest of a month of 10,000 changes
(bench.digests), and the archive site of that month's documents, built in full and rebuilt after a few edits
(bench.site). It prints wall time, pages/s, CPU seconds and peak RSS of each step's process tree, state.db
size, and whether the performance bars of PRODUCT.md hold. Results are also written to DIR/results.json.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from bench import workload
from bench.diffs import measure_diffs
from bench.digests import BAR_SECONDS as DIGEST_BAR
from bench.digests import measure_digest
from bench.server import static_server
from bench.site import BAR_SECONDS as SITE_BAR
from bench.site import measure_site

ROOT = Path(__file__).resolve().parent.parent
FIRST = "PolicyWatch first crawl"
SCHEDULED = "scheduled re-check, no change"  # lists again; no stored page is due yet (recheck_days)
EVERY_PAGE = "re-check every page, no change"  # --recheck-all: every stored page, conditionally


def measure(command: list[str], log: Path) -> dict[str, Any]:
    """Run ``command`` under bench.measure; its stderr goes to ``log``."""
    with log.open("a", encoding="utf-8") as err:
        done = subprocess.run([sys.executable, "-m", "bench.measure", *command], cwd=ROOT, stdout=subprocess.PIPE,
                              stderr=err, text=True, encoding="utf-8", check=True)
    result = json.loads(done.stdout.strip().splitlines()[-1])
    if result["rc"] != 0:
        raise SystemExit(f"{' '.join(command)} exited with {result['rc']}; see {log}")
    result["cpu"] = result["user"] + result["sys"]
    return result


def db_state(db: Path) -> dict[str, Any]:
    """What state.db holds now, and what its latest run fetched."""
    wal = db.with_name(db.name + "-wal")
    size, wal_size = db.stat().st_size, wal.stat().st_size if wal.exists() else 0
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        run = conn.execute("SELECT max(run_id) FROM fetches").fetchone()[0]
        statuses = dict(conn.execute(
            "SELECT coalesce(status, 0), count(*) FROM fetches WHERE run_id = ? GROUP BY 1", (run,)).fetchall())
        text_bytes, texts = conn.execute("SELECT coalesce(sum(length(body)), 0), count(*) FROM texts").fetchone()
        versions = conn.execute("SELECT count(*) FROM versions").fetchone()[0]
        documents = conn.execute("SELECT count(*) FROM documents").fetchone()[0]
        changes = dict(conn.execute("SELECT kind, count(*) FROM changes WHERE run_id = ? GROUP BY 1", (run,)))
    return {"db_bytes": size, "wal_bytes": wal_size, "run": run, "statuses": statuses, "text_bytes": text_bytes,
            "texts": texts, "versions": versions, "documents": documents, "changes": changes}


def run(out: Path, sites: int, pages: int, seed: int, fraction: float, server: str, workers: int,
        diff_pairs: int = 30, digest_changes: int = 10_000, profile: bool = False, site_changes: int = 10_000,
        site_edits: int = 20) -> dict:
    console = Console()
    if out.exists():
        if not (out / "workload.json").exists() and any(out.iterdir()):
            raise SystemExit(f"{out} exists and is not a benchmark folder; choose another --out")
        shutil.rmtree(out)
    out.mkdir(parents=True)
    log = out / "bench.log"
    with console.status(f"generating {sites} sites x {pages} pages"):
        workload.generate(out, sites, pages, seed)
    page_bytes = sum(p.stat().st_size for p in (out / "site").rglob("*.html"))
    results: dict[str, Any] = {"sites": sites, "pages": pages, "html_bytes": page_bytes, "cpus": os.cpu_count(),
                               "steps": {}}
    with static_server(out / "site", server, workers) as (url, kind):
        results["server"] = kind
        config = workload.write_config(out, url)
        db = out / "state.db"
        pw = [sys.executable, "-m", "policywatch.cli", "--config", str(config), "crawl"]
        steps = results["steps"]
        with console.status("bare Scrapy"):
            bare = measure([sys.executable, "-m", "bench.bare", "--config", str(config)], log)
        bare["fetched"] = json.loads(bare.pop("stdout"))
        bare["pages"] = bare["fetched"]["responses"]
        steps["bare Scrapy"] = bare
        before = None
        for name, extra, change in [
            (FIRST, [], None),
            (SCHEDULED, [], None),
            (EVERY_PAGE, ["--recheck-all"], None),
            (f"re-check every page, {fraction:.0%} changed", ["--recheck-all"], fraction),
        ]:
            if change is not None:
                results["mutation"] = workload.mutate(out, change)
            with console.status(name):
                step = measure(pw + extra, log)
            step.pop("stdout")
            step["db"] = db_state(db)
            step["pages"] = sum(step["db"]["statuses"].values())
            step["new_text_bytes"] = step["db"]["text_bytes"] - (before["text_bytes"] if before else 0)
            step["new_versions"] = step["db"]["versions"] - (before["versions"] if before else 0)
            before = step["db"]
            steps[name] = step
        if profile:
            with console.status("profiling a first crawl"):
                results["profile"] = str(profile_crawl(out, config))
    if diff_pairs:
        with console.status(f"diffing {diff_pairs} pairs of 100 KB documents"):
            results["diff"] = measure_diffs(pairs=diff_pairs, seed=seed)
    if digest_changes:
        with console.status(f"building and rendering a digest of {digest_changes:,} changes"):
            results["digest"] = measure_digest(out / "digest", changes=digest_changes, seed=seed)
    if site_changes:
        # The digest step's month when it is the same size (the site works on a copy of its state.db).
        month = out / ("digest" if site_changes == digest_changes else "site-month")
        with console.status(f"building the archive site of a month of {site_changes:,} changes"):
            results["site"] = measure_site(month, changes=site_changes, seed=seed, edits=site_edits)
    for step in results["steps"].values():
        step["pages_per_s"] = step["pages"] / step["wall"]
        step["cpu_per_page"] = step["cpu"] / step["pages"] if step["pages"] else 0.0
    (out / "results.json").write_text(json.dumps(results, indent=2, ensure_ascii=False), encoding="utf-8")
    return results


def profile_crawl(out: Path, config: Path) -> Path:
    """A first crawl of every site in one crawl process under pyinstrument, into a state.db of its own;
    the HTML profile shows where the pipeline spends its time."""
    target = out / "profile-first-crawl.html"
    subprocess.run([sys.executable, "-m", "pyinstrument", "-r", "html", "-o", str(target), "-m", "crawler.run",
                    "--config", str(config), "--db", str(out / "profile.db")], cwd=ROOT, check=True,
                   stdout=subprocess.DEVNULL)
    return target


def report(results: dict, console: Console) -> None:
    steps = results["steps"]
    bare = steps["bare Scrapy"]
    mutation = results.get("mutation", {})
    table = Table(title=(f"{results['sites']} sites x {results['pages']} pages "
                         f"({results['html_bytes'] / 1e6:.1f} MB HTML), server {results['server']}, "
                         f"{results['cpus']} CPUs; mutation: {mutation}"))
    for column in ("step", "pages (status)", "wall s", "pages/s", "× bare", "CPU s", "CPU s/1000 pages",
                   "peak RSS MB", "state.db (+WAL) MB", "+text KB", "+versions"):
        table.add_column(column, justify="left" if column in ("step", "pages (status)") else "right")
    for name, step in steps.items():
        db = step.get("db")
        statuses = db["statuses"] if db else {200: step["fetched"]["status_200"]}
        table.add_row(
            name, f"{step['pages']} ({', '.join(f'{k}: {v}' for k, v in sorted(statuses.items()))})",
            f"{step['wall']:.2f}", f"{step['pages_per_s']:.0f}", f"{step['pages_per_s'] / bare['pages_per_s']:.2f}",
            f"{step['cpu']:.2f}", f"{step['cpu_per_page'] * 1000:.2f}", f"{step['maxrss_kb'] / 1024:.0f}",
            f"{db['db_bytes'] / 1e6:.2f} (+{db['wal_bytes'] / 1e6:.2f})" if db else "–",
            f"{step['new_text_bytes'] / 1024:.1f}" if db else "–", str(step["new_versions"]) if db else "–",
        )
    console.print(table)
    if "diff" in results:
        diffs = results["diff"]
        console.print(f"diff of {diffs['pairs']} document pairs of {diffs['bytes'] / 1000:.0f} KB: "
                      f"p50 {diffs['p50_ms']:.1f} ms, p95 {diffs['p95_ms']:.1f} ms, max {diffs['max_ms']:.1f} ms; "
                      f"p95 by kind {diffs['p95_ms_by_kind']}")
    if "digest" in results:
        digest = results["digest"]
        console.print(f"digest of {digest['changes']['total']:,} changes ({digest['items']} items): " + ", ".join(
            f"{fmt} median {f['median_s']:.2f} s, first in a fresh process {f['first_run_s']:.2f} s"
            for fmt, f in digest["formats"].items()))
    if "site" in results:
        console.print(site_line(results["site"]))
    bars = Table(title="PRODUCT.md performance bars")
    for column in ("bar", "measured", "holds"):
        bars.add_column(column)
    for bar, measured, holds in bar_rows(results):
        bars.add_row(bar, measured, "–" if holds is None else "[green]yes[/]" if holds else "[red]NO[/]")
    console.print(bars)


def site_line(site: dict) -> str:
    """One line on the archive site: its size, and each build's time, share of the full build and pages written."""
    builds = site["builds"]
    full, after = builds["full"], builds["after_edits"]
    rebuilds = "; ".join(
        f"{name} {builds[key]['seconds']:.2f} s ({builds[key]['ratio_to_full']:.2f} of full), "
        f"{builds[key]['written']} written {builds[key]['written_by_folder']}"
        for name, key in (("no change", "no_change"), (f"after {site['edits']} edits", "after_edits"),
                          ("full=True re-render", "full_rerender")))
    return (f"archive site of {site['documents']:,} documents ({site['pages']:,} pages, {site['site_mb']} MB): "
            f"full build {full['seconds']:.2f} s (CPU {full['cpu_seconds']:.2f} s); {rebuilds}"
            + (f"; unexpected after the edits: {site['unexpected_written']}" if site["unexpected_written"] else "")
            + ("" if after["deleted"] == 0 else f"; deleted {after['deleted_paths']}"))


def bar_rows(results: dict) -> list[tuple[str, str, bool | None]]:
    """(bar, what was measured, whether it holds) for each performance bar of PRODUCT.md."""
    steps = results["steps"]
    bare, first, scheduled, every = steps["bare Scrapy"], steps[FIRST], steps[SCHEDULED], steps[EVERY_PAGE]
    ratio = first["pages_per_s"] / bare["pages_per_s"]
    share = scheduled["wall"] / first["wall"]
    added = [(s["new_text_bytes"], s["new_versions"]) for s in (scheduled, every)]
    rows = [
        ("first crawl ≥ 0.8× bare Scrapy pages/s", f"{ratio:.2f}×", ratio >= 0.8),
        ("re-check, no change: ≤ 1/5 of first crawl wall time",
         f"{share:.2f} ({scheduled['wall']:.2f} s; every page re-checked: {every['wall'] / first['wall']:.2f})",
         share <= 0.2),
        ("re-check, no change: no stored text added",
         "; ".join(f"{b} bytes, {v} versions" for b, v in added), all(a == (0, 0) for a in added)),
    ]
    if "diff" in results:
        diff = results["diff"]
        rows.append((f"diff of two 100 KB documents p95 < {diff['bar_ms']:g} ms", f"{diff['p95_ms']:.1f} ms",
                     diff["holds"]))
    if "digest" in results:
        digest = results["digest"]
        changes = digest["changes"]["total"]
        slowest = max(f["median_s"] for f in digest["formats"].values())
        # A smaller month (a smoke run) says nothing about the bar.
        rows.append((f"digest of {changes:,} changes < {DIGEST_BAR:g} s", f"{slowest:.2f} s (slowest format)",
                     digest["meets_bar"] if changes >= 10_000 else None))
    if "site" in results:
        rows += site_rows(results["site"])
    return rows


def site_rows(site: dict) -> list[tuple[str, str, bool | None]]:
    """The archive site's bar (a full build in under a minute) and its incremental rebuild's."""
    builds = site["builds"]
    full, unchanged, after = builds["full"], builds["no_change"], builds["after_edits"]
    only_changed = unchanged["written"] == 0 and site["only_changed_written"] and not site["unexpected_written"]
    return [
        # A smaller month (a smoke run) says nothing about the bar.
        (f"archive site of {site['documents']:,} documents < {SITE_BAR:g} s",
         f"{full['seconds']:.2f} s (CPU {full['cpu_seconds']:.2f} s)",
         site["meets_bar"] if site["changes"]["total"] >= 10_000 else None),
        (f"rebuild after {site['edits']} edits rewrites only what changed",
         f"{'yes' if only_changed else 'no'}: {after['written']} pages "
         f"({after['written_by_folder'].get('documents', 0)} documents), {after['ratio_to_full']:.2f} of the full "
         f"build; no change: {unchanged['written']} pages, {unchanged['ratio_to_full']:.2f}", only_changed),
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sites", type=int, default=20)
    parser.add_argument("--pages", type=int, default=50, help="detail pages per site")
    parser.add_argument("--out", type=Path, default=Path("bench-out"), help="work folder (replaced)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--mutate", type=float, default=0.02, help="share of pages edited before the last step")
    parser.add_argument("--server", choices=("auto", "portal"), default="auto",
                        help="auto: nginx when on PATH, else policywatch.portal")
    parser.add_argument("--nginx-workers", type=int, default=1)
    parser.add_argument("--diff-pairs", type=int, default=30, help="100 KB document pairs to diff (0: skip)")
    parser.add_argument("--digest-changes", type=int, default=10_000,
                        help="changes in the month whose digest is rendered (0: skip)")
    parser.add_argument("--site-changes", type=int, default=10_000,
                        help="changes in the month whose archive site is built (0: skip)")
    parser.add_argument("--site-edits", type=int, default=20,
                        help="documents edited before the archive site is rebuilt")
    parser.add_argument("--profile", action="store_true",
                        help="also profile a first crawl with pyinstrument (DIR/profile-first-crawl.html)")
    args = parser.parse_args(argv)
    results = run(args.out.resolve(), args.sites, args.pages, args.seed, args.mutate, args.server,
                  args.nginx_workers, args.diff_pairs, args.digest_changes, args.profile, args.site_changes,
                  args.site_edits)
    console = Console()
    report(results, console if console.is_terminal else Console(width=180))
    return 0


if __name__ == "__main__":
    sys.exit(main())
