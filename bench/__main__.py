"""``python -m bench [--sites N --pages M --out DIR]``: PolicyWatch against bare Scrapy, in one sitting.

Generates the sites (bench.workload), serves them on 127.0.0.1 (bench.server: nginx, else policywatch.portal),
then runs, each in a measuring subprocess (bench.measure):

1. bare Scrapy fetching every list and detail page (bench.bare): once doing nothing else, and once extracting each
   detail page's title, date and text into a JSON Lines feed, the spider PRODUCT.md's first-crawl bar names;
2. urlwatch watching every list and detail page as one URL each (bench.urlwatch): its first check, which fills
   its cache, and a re-check with nothing changed;
3. PolicyWatch's first crawl (``policywatch crawl``) into a fresh state.db;
4. a scheduled re-check with nothing changed (``policywatch crawl``): lists again, no stored page due yet;
5. a re-check of every stored page with nothing changed (``policywatch crawl --recheck-all``);
6. ``--pairs N`` back-to-back pairs of PolicyWatch against an anchor (first crawl / the extracting bare Scrapy
   spider, scheduled crawl / urlwatch re-check, ``--recheck-all`` / urlwatch re-check; each PolicyWatch side from
   the CLI alone and with ``policywatch serve`` running), reported as medians and the median of the per-pair
   ratios, with state.db's size against urlwatch's cache;
7. a re-check of every stored page after editing 2% of the detail pages and adding a few list items;

then times the diff of 100 KB document pairs (bench.diffs), the digest of a month of 10,000 changes
(bench.digests), and the archive site of that month's documents, built in full and rebuilt after a few edits
(bench.site). It prints wall time, pages/s, CPU seconds and peak RSS of each step's process tree, state.db
size, and whether the performance bars of PRODUCT.md hold. Results are also written to DIR/results.json.
"""

from __future__ import annotations

import argparse
import compileall
import json
import os
import shutil
import sqlite3
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from bench import urlwatch, workload
from bench.diffs import measure_diffs
from bench.digests import BAR_SECONDS as DIGEST_BAR
from bench.digests import measure_digest
from bench.server import static_server
from bench.serving import serving, tree_cpu
from bench.site import BAR_SECONDS as SITE_BAR
from bench.site import measure_site

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("core", "crawler", "detection", "digest", "deliver", "archive", "web", "scheduler", "policywatch", "bench")
BARE_FETCH = "bare Scrapy, fetch only"
BARE = "bare Scrapy, extracting"  # title, date and text of each detail page, kept as JSON Lines: PRODUCT.md's anchor
URLWATCH_FIRST = "urlwatch first check"
URLWATCH_RECHECK = "urlwatch re-check, no change"
FIRST = "PolicyWatch first crawl"
FIRST_SERVED = "PolicyWatch first crawl, serve running"  # handed to a running serve's warm workers
SCHEDULED = "scheduled re-check, no change"  # lists again; no stored page is due yet (recheck_days)
EVERY_PAGE = "re-check every page, no change"  # --recheck-all: every stored page, conditionally
SERVED = "scheduled re-check, serve running"  # the same crawl, handed to a running serve's warm workers
EVERY_PAGE_SERVED = "re-check every page, serve running"
PAIRS = [  # (row label, PolicyWatch's side, the anchor it is set against), each run as back-to-back pairs
    ("first crawl vs bare Scrapy", FIRST, BARE),
    ("first crawl with serve running vs bare Scrapy", FIRST_SERVED, BARE),
    ("scheduled crawl, nothing due vs urlwatch re-check", SCHEDULED, URLWATCH_RECHECK),
    ("scheduled crawl with serve running vs urlwatch re-check", SERVED, URLWATCH_RECHECK),
    ("crawl --recheck-all, no change vs urlwatch re-check", EVERY_PAGE, URLWATCH_RECHECK),
    ("crawl --recheck-all with serve running vs urlwatch re-check", EVERY_PAGE_SERVED, URLWATCH_RECHECK),
]
LABEL = {side: label for label, side, _ in PAIRS}  # PolicyWatch's side → its comparison's label


def measure(command: list[str], log: Path, env: dict[str, str] | None = None) -> dict[str, Any]:
    """Run ``command`` under bench.measure, in ``env`` if given; its stderr goes to ``log``."""
    with log.open("a", encoding="utf-8") as err:
        done = subprocess.run([sys.executable, "-m", "bench.measure", *command], cwd=ROOT, stdout=subprocess.PIPE,
                              stderr=err, text=True, encoding="utf-8", check=True, env=env)
    result = json.loads(done.stdout.strip().splitlines()[-1])
    if result["rc"] != 0:
        raise SystemExit(f"{' '.join(command)} exited with {result['rc']}; see {log}")
    result["cpu"] = result["user"] + result["sys"]
    return result


def db_state(db: Path, since: int | None = None) -> dict[str, Any]:
    """What state.db holds now, and what its latest run fetched (every run after run ``since``, when given: a
    crawl by serve's workers makes one run per source)."""
    wal = db.with_name(db.name + "-wal")
    size, wal_size = db.stat().st_size, wal.stat().st_size if wal.exists() else 0
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        run = conn.execute("SELECT max(run_id) FROM fetches").fetchone()[0]
        first = run if since is None else since + 1
        statuses = dict(conn.execute("SELECT coalesce(status, 0), count(*) FROM fetches WHERE run_id >= ? GROUP BY 1",
                                     (first,)).fetchall())
        text_bytes, texts = conn.execute("SELECT coalesce(sum(length(body)), 0), count(*) FROM texts").fetchone()
        versions = conn.execute("SELECT count(*) FROM versions").fetchone()[0]
        documents = conn.execute("SELECT count(*) FROM documents").fetchone()[0]
        changes = dict(conn.execute("SELECT kind, count(*) FROM changes WHERE run_id >= ? GROUP BY 1", (first,)))
    return {"db_bytes": size, "wal_bytes": wal_size, "run": run, "statuses": statuses, "text_bytes": text_bytes,
            "texts": texts, "versions": versions, "documents": documents, "changes": changes}


def bare_step(config: Path, log: Path, items: Path | None = None) -> dict[str, Any]:
    """Bare Scrapy fetching every list and detail page, measured; with ``items``, extracting each detail page's
    title, date and text into that JSON Lines file."""
    extract = ["--items", str(items)] if items else []
    step = measure([sys.executable, "-m", "bench.bare", "--config", str(config), *extract], log)
    step["fetched"] = json.loads(step.pop("stdout"))
    step["pages"] = step["fetched"]["responses"]
    if items:
        with items.open(encoding="utf-8") as lines:
            kept = [json.loads(line) for line in lines]
        step["items"] = {"lines": len(kept), "with_title": sum(bool(i["title"]) for i in kept),
                         "with_date": sum(bool(i["date"]) for i in kept),
                         "text_chars": sum(len(i["text"]) for i in kept)}
    return step


def crawl_step(command: list[str], db: Path, log: Path, before: dict | None = None) -> dict[str, Any]:
    """A ``policywatch crawl`` measured, with what state.db holds after it and what it added since ``before``
    (the previous step's result, None for a first crawl)."""
    last = (db_state(db)["run"] or 0) if db.exists() else 0  # serve may have made an empty state.db
    step = measure(command, log)
    step.pop("stdout")
    step["db"] = db_state(db, since=last)
    step["pages"] = sum(step["db"]["statuses"].values())
    previous = before["db"] if before else {"text_bytes": 0, "versions": 0}
    step["new_text_bytes"] = step["db"]["text_bytes"] - previous["text_bytes"]
    step["new_versions"] = step["db"]["versions"] - previous["versions"]
    return step


def urlwatch_step(folder: Path, log: Path, expect: str) -> dict[str, Any]:
    """One urlwatch run over every URL of the workload, measured. Its report must list every URL under
    ``expect`` (``new`` on the first check, ``unchanged`` on a re-check): anything else is not the step
    it claims to be."""
    step = measure(urlwatch.command(folder), log, env=urlwatch.environment(folder))
    stdout = step.pop("stdout")
    step["report"] = urlwatch.reported(stdout)
    step["cache"] = urlwatch.cache_state(folder)
    step["pages"] = sum(step["report"].values())
    if step["report"] != {expect: step["cache"]["urls"]}:
        with log.open("a", encoding="utf-8") as err:
            err.write(stdout)
        raise SystemExit(f"urlwatch reported {step['report']}, not {expect} for all {step['cache']['urls']} URLs; "
                         f"see {log}")
    return step


def run(out: Path, sites: int, pages: int, seed: int, fraction: float, server: str, workers: int,
        diff_pairs: int = 30, digest_changes: int = 10_000, profile: bool = False, site_changes: int = 10_000,
        site_edits: int = 20, pairs: int = 5) -> dict:
    console = Console()
    if out.exists():
        if not (out / "workload.json").exists() and any(out.iterdir()):
            raise SystemExit(f"{out} exists and is not a benchmark folder; choose another --out")
        shutil.rmtree(out)
    out.mkdir(parents=True)
    log = out / "bench.log"
    compile_project()
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
        with console.status(BARE_FETCH):
            steps[BARE_FETCH] = bare_step(config, log)
        with console.status(BARE):
            steps[BARE] = bare_step(config, log, out / "bare-items.jsonl")
        watch = urlwatch.prepare(out, url)
        results["urlwatch"] = {**urlwatch.installed(), "folder": str(watch)}
        for name, expect in ((URLWATCH_FIRST, "new"), (URLWATCH_RECHECK, "unchanged")):
            with console.status(name):
                steps[name] = urlwatch_step(watch, log, expect)
        before = None
        for name, extra in ((FIRST, []), (SCHEDULED, []), (EVERY_PAGE, ["--recheck-all"])):
            with console.status(name):
                before = steps[name] = crawl_step(pw + extra, db, log, before)
        if pairs:
            results["pairs"] = run_pairs(out, config, watch, log, pairs, console)
        results["mutation"] = workload.mutate(out, fraction)
        name = f"re-check every page, {fraction:.0%} changed"
        with console.status(name):
            steps[name] = crawl_step([*pw, "--recheck-all"], db, log, before)
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
    if pairs:
        results["pairs"]["chart"] = str(plot_pairs(results["pairs"], out / "pairs.png"))
    (out / "results.json").write_text(json.dumps(results, indent=2, ensure_ascii=False), encoding="utf-8")
    return results


def compile_project() -> None:
    """Byte-compile PolicyWatch's own modules, as installing it does: under PYTHONDONTWRITEBYTECODE (or in a
    fresh editable checkout) every process would otherwise compile them from source, a cost users do not pay
    and bare Scrapy and urlwatch, installed compiled, do not pay either."""
    for package in PACKAGES:
        compileall.compile_dir(ROOT / package, quiet=2)


def run_pairs(out: Path, config: Path, watch: Path, log: Path, n: int, console: Console) -> dict[str, Any]:
    """Each comparison of PAIRS run as ``n`` back-to-back pairs, its two sides in turn, the first side
    alternating from pair to pair so that neither always runs on a machine the other has just warmed.

    PolicyWatch works on ``DIR/pairs/state.db``: each pair's first crawl starts from none, and that pair's re-checks
    use what it crawled. urlwatch re-checks with the cache its first check filled (a re-check with nothing changed
    writes nothing to it)."""
    db = out / "pairs" / "state.db"
    db.parent.mkdir(exist_ok=True)
    pw = [sys.executable, "-m", "policywatch.cli", "--config", str(config), "--db", str(db), "crawl"]

    def first_crawl(served: bool = False) -> dict[str, Any]:
        shutil.rmtree(db.parent)  # state.db, its WAL, lock and check files
        db.parent.mkdir()
        return served_crawl() if served else crawl_step(pw, db, log)

    def served_crawl(*extra: str) -> dict[str, Any]:
        with serving(config, db, log) as serve:
            before, said = tree_cpu(serve), log.stat().st_size
            step = crawl_step([*pw, *extra], db, log)
            step["serve_cpu"] = tree_cpu(serve) - before
        if b"with the warm workers of the running `policywatch serve`" not in log.read_bytes()[said:]:
            raise SystemExit(f"the crawl did not reach serve's warm workers; see {log}")
        step["cpu"] += step["serve_cpu"]
        step["serve_cpu_per_run_ms"] = step["serve_cpu"] / sources * 1000
        return step

    sources = len(json.loads((out / "workload.json").read_text(encoding="utf-8"))["sites"])
    sides = {
        SERVED: served_crawl,
        EVERY_PAGE_SERVED: lambda: served_crawl("--recheck-all"),
        BARE: lambda: bare_step(config, log, out / "bare-items.jsonl"),
        FIRST: first_crawl,
        FIRST_SERVED: lambda: first_crawl(served=True),
        SCHEDULED: lambda: crawl_step(pw, db, log),
        EVERY_PAGE: lambda: crawl_step([*pw, "--recheck-all"], db, log),
        URLWATCH_RECHECK: lambda: urlwatch_step(watch, log, "unchanged"),
    }
    runs = []
    for i in range(n):
        pair: dict[str, dict[str, Any]] = {}
        for label, side, anchor in PAIRS:
            pair[label] = {}
            for name in (side, anchor) if i % 2 == 0 else (anchor, side):
                with console.status(f"pair {i + 1} of {n}: {name}"):
                    pair[label][name] = sides[name]()
        runs.append(pair)
    per_run = [run[LABEL[SERVED]][SERVED]["serve_cpu_per_run_ms"] for run in runs]
    return {"n": n, "runs": runs, "table": pair_table(runs), "serve_cpu_per_run_ms": statistics.median(per_run),
            "serve_cpu_per_run_values": per_run, "sources": sources}


def median_row(step: str, unit: str, anchor: str, sides: list[tuple[float, float]]) -> dict[str, Any]:
    """One row of the paired table: each side's median over the pairs, and the median of the per-pair ratios
    PolicyWatch / anchor (not the ratio of the medians)."""
    ratios = [p / a for p, a in sides]
    return {"step": step, "unit": unit, "anchor_name": anchor,
            "policywatch": statistics.median(p for p, _ in sides), "anchor": statistics.median(a for _, a in sides),
            "ratio": statistics.median(ratios), "values": [list(s) for s in sides], "ratios": ratios}


def pair_table(runs: list[dict[str, dict[str, Any]]]) -> list[dict[str, Any]]:
    """The rows of the paired table, computed from the measured runs."""
    rows = []
    for label, side, anchor in PAIRS:
        for key, unit in (("wall", "wall s"), ("cpu", "CPU s")):
            rows.append(median_row(f"{label}, {unit}", unit, anchor,
                                   [(run[label][side][key], run[label][anchor][key]) for run in runs]))
    sizes = [(run[LABEL[FIRST]][FIRST]["db"]["db_bytes"] + run[LABEL[FIRST]][FIRST]["db"]["wal_bytes"],
              run[LABEL[SCHEDULED]][URLWATCH_RECHECK]["cache"]["cache_bytes"]) for run in runs]
    rows.append(median_row("state.db after the first crawl vs urlwatch's cache, MB", "MB", "urlwatch cache",
                           [(p / 1e6, a / 1e6) for p, a in sizes]))
    return rows


def plot_pairs(pairs: dict, target: Path) -> Path:
    """Each paired comparison's per-pair ratios PolicyWatch / anchor as dots and their median as a bar: the
    spread shows how far one pair's ratio can be trusted."""
    import matplotlib

    matplotlib.use("Agg")  # files only, no display
    from matplotlib import pyplot

    rows = pairs["table"]
    figure, axes = pyplot.subplots(figsize=(9, 0.5 * len(rows) + 1.2))
    for y, row in enumerate(rows):
        axes.barh(y, row["ratio"], color="#c8d7e6")
        axes.plot(row["ratios"], [y] * len(row["ratios"]), "o", color="#1f4e79", markersize=4)
    axes.axvline(1, color="grey", linewidth=0.8)
    axes.set_yticks(range(len(rows)), [row["step"] for row in rows], fontsize=8)
    axes.invert_yaxis()
    axes.set_xlabel(f"PolicyWatch / anchor ({pairs['n']} pairs: dots; bar: median)")
    figure.tight_layout()
    figure.savefig(target, dpi=100)
    pyplot.close(figure)
    return target


def profile_crawl(out: Path, config: Path) -> Path:
    """A first crawl of every site in one crawl process under pyinstrument, into a state.db of its own;
    the HTML profile shows where the pipeline spends its time."""
    target = out / "profile-first-crawl.html"
    subprocess.run([sys.executable, "-m", "pyinstrument", "-r", "html", "-o", str(target),
                    "-m", "policywatch.crawler.run", "--config", str(config), "--db", str(out / "profile.db")],
                   cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
    return target


def report(results: dict, console: Console) -> None:
    steps = results["steps"]
    bare = steps[BARE_FETCH]
    mutation = results.get("mutation", {})
    table = Table(title=(f"{results['sites']} sites x {results['pages']} pages "
                         f"({results['html_bytes'] / 1e6:.1f} MB HTML), server {results['server']}, "
                         f"{results['cpus']} CPUs; mutation: {mutation}"))
    for column in ("step", "pages (status)", "wall s", "pages/s", "× fetch only", "CPU s", "CPU s/1000 pages",
                   "peak RSS MB", "state.db (+WAL) MB", "+text KB", "+versions"):
        table.add_column(column, justify="left" if column in ("step", "pages (status)") else "right")
    for name, step in steps.items():
        db = step.get("db")
        # HTTP statuses for the crawls; for urlwatch, what its report says of each URL.
        statuses = db["statuses"] if db else step.get("report") or {200: step["fetched"]["status_200"]}
        stored = (f"{db['db_bytes'] / 1e6:.2f} (+{db['wal_bytes'] / 1e6:.2f})" if db
                  else f"cache {step['cache']['cache_bytes'] / 1e6:.2f}" if "cache" in step else "–")
        table.add_row(
            name, f"{step['pages']} ({', '.join(f'{k}: {v}' for k, v in sorted(statuses.items()))})",
            f"{step['wall']:.2f}", f"{step['pages_per_s']:.0f}", f"{step['pages_per_s'] / bare['pages_per_s']:.2f}",
            f"{step['cpu']:.2f}", f"{step['cpu_per_page'] * 1000:.2f}", f"{step['maxrss_kb'] / 1024:.0f}", stored,
            f"{step['new_text_bytes'] / 1024:.1f}" if db else "–", str(step["new_versions"]) if db else "–",
        )
    console.print(table)
    if "pairs" in results:
        console.print(pair_report(results["pairs"], results["urlwatch"]))
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


def pair_report(pairs: dict, watch: dict) -> Table:
    """The paired table: each side's median over the pairs and the median of the per-pair ratios."""
    table = Table(title=(f"{pairs['n']} back-to-back pairs: medians, and the median of the per-pair ratios "
                         f"PolicyWatch / anchor (urlwatch {watch['version']}, its default {watch['workers']} "
                         f"threads)"))
    for column in ("step", "PolicyWatch", "anchor", "ratio"):
        table.add_column(column, justify="left" if column == "step" else "right")
    for row in pairs["table"]:
        table.add_row(row["step"], f"{row['policywatch']:.2f}", f"{row['anchor']:.2f}", f"{row['ratio']:.2f}")
    table.caption = (f"Inside serve: {pairs['serve_cpu_per_run_ms']:.0f} ms of CPU per source run (median of "
                     f"{pairs['n']}; serve's process tree during a crawl of {pairs['sources']} sources, list pages "
                     "included)")
    return table


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
    """(bar, what was measured, whether it holds) for each performance bar of PRODUCT.md. The crawl bars are
    paired ratios: they are judged on the paired table when pairs ran, else on the single runs of the steps."""
    steps = results["steps"]
    paired = {row["step"]: row["ratio"] for row in results["pairs"]["table"]} if "pairs" in results else None

    def ratio(side: str, anchor: str, key: str) -> tuple[float, str] | None:
        if paired is not None:
            return paired[f"{LABEL[side]}, {'wall s' if key == 'wall' else 'CPU s'}"], "paired"
        return (steps[side][key] / steps[anchor][key], "single runs") if side in steps else None

    rows: list[tuple[str, str, bool | None]] = []
    for side, anchor, key, bar, name in (
        (FIRST, BARE, "wall", 1.0, "first crawl wall ≤ 1.0× bare Scrapy extracting"),
        (FIRST_SERVED, BARE, "wall", 1.0, "first crawl, serve running, wall ≤ 1.0× bare Scrapy extracting"),
        (FIRST, BARE, "cpu", 1.3, "first crawl CPU ≤ 1.3× bare Scrapy extracting"),
        (FIRST_SERVED, BARE, "cpu", 1.3, "first crawl, serve running, CPU ≤ 1.3× bare Scrapy extracting"),
        (EVERY_PAGE, URLWATCH_RECHECK, "wall", 0.8, "--recheck-all, no change ≤ 0.8× urlwatch re-check"),
        (EVERY_PAGE_SERVED, URLWATCH_RECHECK, "wall", 0.8,
         "--recheck-all, no change, serve running ≤ 0.8× urlwatch re-check"),
        (SCHEDULED, URLWATCH_RECHECK, "wall", 0.2, "scheduled lists-only run ≤ 0.2× urlwatch re-check"),
        (SERVED, URLWATCH_RECHECK, "wall", 0.2, "scheduled lists-only run, serve running ≤ 0.2× urlwatch re-check"),
    ):
        if measured := ratio(side, anchor, key):
            rows.append((name, f"{measured[0]:.2f}× ({measured[1]})", measured[0] <= bar))
    scheduled, every = steps[SCHEDULED], steps[EVERY_PAGE]
    added = [(s["new_text_bytes"], s["new_versions"]) for s in (scheduled, every)]
    rows.append(("re-check, no change: no stored text added",
                 "; ".join(f"{b} bytes, {v} versions" for b, v in added), all(a == (0, 0) for a in added)))
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
    parser.add_argument("--pairs", type=int, default=5,
                        help="back-to-back pairs for the paired comparisons with bare Scrapy and urlwatch (0: skip)")
    parser.add_argument("--profile", action="store_true",
                        help="also profile a first crawl with pyinstrument (DIR/profile-first-crawl.html)")
    args = parser.parse_args(argv)
    results = run(args.out.resolve(), args.sites, args.pages, args.seed, args.mutate, args.server,
                  args.nginx_workers, args.diff_pairs, args.digest_changes, args.profile, args.site_changes,
                  args.site_edits, args.pairs)
    console = Console()
    report(results, console if console.is_terminal else Console(width=180))
    return 0


if __name__ == "__main__":
    sys.exit(main())
