"""``python -m bench.site [--changes N --edits K --out DIR]``: the time the archive site takes to build, and what a
rebuild after a crawl rewrites.

``policywatch site`` has two requirements: the whole site for 10,000 documents builds in under a minute, and
regenerating it after a crawl rewrites only what changed. The site is built from the digest benchmark's month
(``bench.digests``: ``changes`` change records over about as many documents, written through the crawl's own
write path, reused from ``DIR`` when it was built with the same changes and seed). The builds work on a copy of
that state.db in ``DIR/site-bench``, since the edits below would otherwise change what the digest step measures.

Four builds are timed in this process, wall and CPU seconds, from opening state.db to the last file written:

1. a full build into an empty folder;
2. a rebuild with nothing changed, which should write nothing;
3. a rebuild after a crawl a month later that edited the text of ``edits`` documents (chosen by the seed, written
   as ``bench.digests`` writes its text edits), which should write those documents' pages, their sources' pages,
   and the pages made from every document (the index and its data, the chart, the digest archive);
4. a rebuild with ``full=True``, which renders every page again and writes only those whose bytes differ: any
   page it writes is one the incremental rebuild should have written and did not.

Rebuild times are given as a share of the full build in the same run, not as absolute bars. The results are
printed as JSON.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
import sys
import time
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench.digests import Generator, Policy, month_arguments, month_state, portals, save_policy
from bench.workload import seeded
from policywatch.archive.build import MANIFEST, build_site, source_file
from policywatch.core import config as config_module
from policywatch.core.config import Config
from policywatch.core.store import Store
from policywatch.digest.period import period_of

BAR_SECONDS = 60.0
WORK = "site-bench"  # the copy of the month and the site, inside the month's folder
EDITED_AT = datetime(2024, 1, 15, 9, tzinfo=UTC)  # the crawl that finds the edits, in the month after the digest's
EDIT_KEYS = 1_000_000  # seeds the edits' choices past every key the month's own edits use
TOP = "."  # the folder name reported for pages at the top of the site


def measure_site(folder: Path, changes: int = 10_000, seed: int = 1, edits: int = 20) -> dict[str, Any]:
    """Build the month's site in full, again unchanged, after ``edits`` text edits, and in full over itself."""
    month = month_state(folder, changes, seed)
    config = copy_state(month.config, folder / WORK)
    out = folder / WORK / "site"
    shutil.rmtree(out, ignore_errors=True)
    full = timed_build(config, out, list_paths=False)  # every page: the counts say enough
    unchanged = timed_build(config, out)
    edited, fields = edit_documents(config, seed, edits)
    after = timed_build(config, out)
    rerender = timed_build(config, out, full=True)
    for step in (unchanged, after, rerender):
        step["ratio_to_full"] = round(step["seconds"] / full["seconds"], 3)
    expected = expected_pages(config, edited)
    written = {path for paths in after["written_paths"].values() for path in paths}
    files = site_files(out)
    size = sum(p.stat().st_size for p in files)
    return {
        "changes": month.counts, "reused_state": month.reused, **site_shape(config, out, files),
        "site_bytes": size, "site_mb": round(size / 1e6, 1), "manifest_bytes": (out / MANIFEST).stat().st_size,
        "edits": len(edited), "edited_documents": [doc["id"] for doc in edited], "edit_fields": fields,
        "builds": {"full": full, "no_change": unchanged, "after_edits": after, "full_rerender": rerender},
        # documents/ after the edits holds exactly the edited documents' pages
        "only_changed_written": {p for p in written if p.startswith("documents/")} == {
            f"documents/{doc['id']}.html" for doc in edited},
        "unexpected_written": sorted(written - expected),
        "meets_bar": full["seconds"] < BAR_SECONDS,
    }


def copy_state(config: Config, work: Path) -> Config:
    """A copy of the config and state.db in ``work``, taken with SQLite's backup API (the database is in WAL
    mode, so the file alone may lack its latest commits); returns the copy's config."""
    work.mkdir(parents=True, exist_ok=True)
    for name in ("state.db", "state.db-wal", "state.db-shm"):
        (work / name).unlink(missing_ok=True)
    shutil.copyfile(config.path, work / "config.toml")
    copy = config_module.load(work / "config.toml")
    if copy.db.resolve() != (work / "state.db").resolve():
        raise SystemExit(f"{config.path} names a state.db outside its folder; the copy would write to it")
    source, target = sqlite3.connect(f"file:{config.db}?mode=ro", uri=True), sqlite3.connect(copy.db)
    try:
        source.backup(target)
    finally:
        target.close()
        source.close()
    return copy


def timed_build(config: Config, out: Path, full: bool = False, list_paths: bool = True) -> dict[str, Any]:
    """Wall and CPU seconds of one ``policywatch site`` build, and the pages it wrote, kept and deleted (with
    their paths by top folder when ``list_paths``)."""
    started, cpu = time.perf_counter(), time.process_time()
    with Store(config.db) as store:
        report = build_site(config, store, out, full)
    seconds, cpu_seconds = time.perf_counter() - started, time.process_time() - cpu
    by_folder = _by_folder(report.written)
    build = {"seconds": round(seconds, 3), "cpu_seconds": round(cpu_seconds, 3), "written": len(report.written),
             "unchanged": report.unchanged, "deleted": len(report.deleted),
             "written_by_folder": {top: len(paths) for top, paths in by_folder.items()}}
    if list_paths:
        build |= {"written_paths": by_folder, "deleted_paths": report.deleted}
    return build


def edit_documents(config: Config, seed: int, edits: int) -> tuple[list[dict[str, Any]], dict[str, int]]:
    """Edit the text of ``edits`` live documents, chosen by the seed, in one crawl run at EDITED_AT, as the
    digest month's text edits are made; returns the edited documents' rows as they were, and how many edits
    the change detector found each field changed in (text alone, as each policy is rebuilt from its stored row)."""
    gen = Generator(seed, portals())
    by_name = {portal.name: portal for portal in gen.sources}
    with Store(config.db) as store:
        live = [doc for doc in store.archive_documents() if doc["status"] == "active"]
        chosen = seeded(seed, "site-edits").sample(live, min(edits, len(live)))
        texts = store.texts(doc["text_hash"] for doc in chosen)
        run = store.start_run(sorted({doc["source"] for doc in chosen}))
        fields: dict[str, int] = defaultdict(int)
        for i, doc in enumerate(chosen):
            policy = Policy(by_name[doc["source"]], doc["url"], doc["title"], texts[doc["text_hash"]],
                            doc["published"], doc["doc_number"], json.loads(doc["attachments"] or "[]"))
            result, verdict = save_policy(store, run, gen.edit_text(policy, EDIT_KEYS + i),
                                          EDITED_AT + timedelta(minutes=i))
            if not result.new_version:
                raise SystemExit(f"editing document {doc['id']} made no new version")
            for name in verdict.fields:
                fields[name] += 1
        store.finish_run(run)
    return chosen, dict(fields)


def expected_pages(config: Config, edited: list[dict[str, Any]]) -> set[str]:
    """The pages an edit may rewrite: the document's, its source's, the pages made from every document, and each
    digest's page and Atom feed for the period the edit was found in."""
    pages = {f"documents/{doc['id']}.html" for doc in edited}
    pages |= {f"sources/{source_file(doc['source'])}.html" for doc in edited}
    pages |= {"index.html", "sources.html", "digests.html", "chart.html", "assets/data.js"}
    for spec in config.digests:
        found = {period_of(spec.period, (EDITED_AT + timedelta(minutes=i)).date()) for i in range(len(edited))}
        pages |= {f"digests/{source_file(spec.name)}/{period.key}{suffix}" for period in found
                  for suffix in (".html", ".atom")}
    return pages


def site_files(out: Path) -> list[Path]:
    """The files a web server would publish: pages and assets, not the build's own bookkeeping (dot files)."""
    return [p for p in out.rglob("*") if p.is_file() and not p.relative_to(out).as_posix().startswith(".")]


def site_shape(config: Config, out: Path, files: list[Path]) -> dict[str, int]:
    """How many documents the site shows, and how many pages and files (``site_files``) it has."""
    with Store(config.db) as store:
        documents = store.count("documents")
    return {"documents": documents, "pages": sum(p.suffix == ".html" for p in files), "files": len(files),
            "document_pages": len(list((out / "documents").glob("*.html")))}


def _by_folder(paths: list[str]) -> dict[str, list[str]]:
    """Paths grouped by the site's top folder (TOP for pages at the top), each group sorted."""
    groups: dict[str, list[str]] = defaultdict(list)
    for path in paths:
        groups[path.split("/", 1)[0] if "/" in path else TOP].append(path)
    return {top: sorted(found) for top, found in sorted(groups.items())}


def main(argv: list[str] | None = None) -> int:
    parser = month_arguments("python -m bench.site", __doc__,
                             "the month's folder (shared with the digest step); the site goes in DIR/" + WORK)
    parser.add_argument("--edits", type=int, default=20, help="documents whose text the crawl after the month edits")
    args = parser.parse_args(argv)
    result = measure_site(args.out.resolve(), args.changes, args.seed, args.edits)
    print(json.dumps(result, indent=2, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
