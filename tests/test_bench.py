"""The benchmark, run small (2 sites x 10 pages), so it cannot rot: every step runs and measures what it says."""

from __future__ import annotations

import hashlib
import html
import json
import os
import sqlite3
import statistics
import subprocess
import sys
from urllib.parse import urlsplit

import pytest
import yaml

from tests.conftest import ROOT


@pytest.mark.slow
def test_small_benchmark_runs_every_step(tmp_path):
    out = tmp_path / "bench"
    home = tmp_path / "home"  # the user's HOME as the benchmark sees it: urlwatch must leave it alone
    env = {k: v for k, v in os.environ.items() if k not in ("XDG_CONFIG_HOME", "XDG_CACHE_HOME")} | {"HOME": str(home)}
    done = subprocess.run(
        [sys.executable, "-m", "bench", "--sites", "2", "--pages", "10", "--out", str(out),
         "--diff-pairs", "2", "--digest-changes", "60", "--site-changes", "60", "--site-edits", "3", "--pairs", "2"],
        cwd=ROOT, capture_output=True, text=True, encoding="utf-8", timeout=600, env=env,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "PRODUCT.md performance bars" in done.stdout
    assert "2 back-to-back pairs" in done.stdout
    results = json.loads((out / "results.json").read_text(encoding="utf-8"))
    steps = results["steps"]
    assert list(steps) == ["bare Scrapy, fetch only", "bare Scrapy, extracting", "urlwatch first check",
                           "urlwatch re-check, no change", "PolicyWatch first crawl", "scheduled re-check, no change",
                           "re-check every page, no change", "re-check every page, 2% changed"]
    fetch_only, bare, watch_first, watch_again, first, scheduled, every, changed = steps.values()
    # Two sites, each one list page and ten detail pages: the same 22 pages for Scrapy alone and PolicyWatch.
    for step, items in ((fetch_only, 0), (bare, 20)):
        assert step["fetched"] == {"responses": 22, "status_200": 22, "bytes": step["fetched"]["bytes"],
                                   "errors": 0, "items": items}
    # The extracting spider kept every detail page's title, date and text (bench-out/bare-items.jsonl).
    assert bare["items"] | {"text_chars": 0} == {"lines": 20, "with_title": 20, "with_date": 20, "text_chars": 0}
    assert bare["items"]["text_chars"] > 20 * 200
    assert first["db"]["statuses"] == {"200": 22} and first["new_versions"] == 20
    assert scheduled["db"]["statuses"] == {"200": 2}  # the lists; no stored page is due yet
    assert every["db"]["statuses"] == {"200": 2, "304": 20}
    assert [(s["new_text_bytes"], s["new_versions"]) for s in (scheduled, every)] == [(0, 0), (0, 0)]
    mutation = results["mutation"]
    assert changed["new_versions"] == mutation["edited"] + mutation["new"] > 0
    assert all(step["wall"] > 0 and step["cpu"] > 0 and step["maxrss_kb"] > 0 for step in steps.values())

    assert results["diff"]["pairs"] == 2 and 0 < results["diff"]["p50_ms"] <= results["diff"]["p95_ms"]
    digest = results["digest"]
    assert digest["changes"]["total"] == 60 and digest["items"] > 0
    assert all(f["bytes"] > 0 and f["same_bytes_every_run"] for f in digest["formats"].values())

    site = results["site"]
    builds = site["builds"]
    full, unchanged, after, rerender = (builds[k] for k in ("full", "no_change", "after_edits", "full_rerender"))
    # The full build wrote a page per document; a rebuild with nothing changed wrote nothing.
    assert site["documents"] == site["changes"]["documents"] == site["document_pages"] > 0
    assert full["written_by_folder"]["documents"] == site["documents"] and full["unchanged"] == 0
    assert unchanged["written"] == 0 and unchanged["unchanged"] == full["written"]
    # After three text edits: exactly the edited documents' pages among documents/, and their sources' pages.
    edited = site["edited_documents"]
    assert len(set(edited)) == 3 and site["edit_fields"] == {"text": 3}
    assert after["written_paths"]["documents"] == sorted(f"documents/{i}.html" for i in edited)
    assert site["only_changed_written"] and site["unexpected_written"] == []
    assert "index.html" in after["written_paths"]["."] and after["written_paths"]["assets"] == ["assets/data.js"]
    assert 1 <= len(after["written_paths"]["sources"]) <= 3
    # Rendering every page again finds nothing the incremental rebuild missed.
    assert rerender["written"] == 0 and rerender["deleted"] == 0

    # urlwatch watched the same 22 URLs: all new on its first check, all unchanged on the re-check, and its cache
    # (in the bench folder, not under HOME) holds one entry per URL with the very page the server sent.
    assert watch_first["report"] == {"new": 22} and watch_again["report"] == {"unchanged": 22}
    assert watch_again["cache"] | {"cache_bytes": 0, "data_chars": 0} == {
        "cache_bytes": 0, "entries": 22, "jobs": 22, "data_chars": 0, "urls": 22, "urls_cached": 22}
    assert results["urlwatch"]["workers"] == 10 and results["urlwatch"]["version"].startswith("2.")
    folder = out / "urlwatch"
    urls = [job["url"] for job in yaml.safe_load_all((folder / "urls.yaml").read_text(encoding="utf-8"))]
    assert sum("/list/" in url for url in urls) == 2 and len(set(urls)) == 22
    with sqlite3.connect(folder / "cache.db") as conn:
        cached = dict(conn.execute("SELECT guid, data FROM CacheEntry"))
    # Each URL's entry (a job's guid is the SHA-1 of its URL) is that URL's page: a detail page with its item's
    # title, or a list page (the mutation step has since edited some pages, not their titles).
    manifest = json.loads((out / "workload.json").read_text(encoding="utf-8"))
    titles = {f"/site{int(s):02d}/{i['path']}": i["title"] for s, items in manifest["sites"].items() for i in items}
    for url in urls:
        page, path = cached[hashlib.sha1(url.encode()).hexdigest()], urlsplit(url).path
        assert f"<title>{html.escape(titles.get(path, '通知公告'))}_" in page, url
    assert not [p for p in home.rglob("*") if "urlwatch" in p.name]

    # The paired runs: each pair ran both sides, alternating which went first, and did the real work.
    pairs = results["pairs"]
    assert pairs["n"] == 2 and len(pairs["runs"]) == 2
    for i, run in enumerate(pairs["runs"]):
        first_pair, first_served_pair, scheduled_pair, served_pair, every_pair, every_served_pair = run.values()
        assert list(first_pair) == (["PolicyWatch first crawl", "bare Scrapy, extracting"] if i == 0
                                    else ["bare Scrapy, extracting", "PolicyWatch first crawl"])
        assert first_pair["PolicyWatch first crawl"]["db"]["statuses"] == {"200": 22}
        assert first_pair["PolicyWatch first crawl"]["db"]["run"] == 1  # a fresh state.db in every pair
        assert first_pair["bare Scrapy, extracting"]["fetched"]["items"] == 20
        first_served = first_served_pair["PolicyWatch first crawl, serve running"]
        assert first_served["db"]["statuses"] == {"200": 22} and first_served["db"]["documents"] == 20
        assert first_served["serve_cpu"] > 0 and first_served["cpu"] >= first_served["serve_cpu"]
        assert scheduled_pair["scheduled re-check, no change"]["db"]["statuses"] == {"200": 2}
        served = served_pair["scheduled re-check, serve running"]
        assert served["db"]["statuses"] == {"200": 2}  # the same crawl, by serve's warm workers
        assert served["serve_cpu"] > 0 and served["cpu"] >= served["serve_cpu"]  # serve's CPU is counted
        assert every_pair["re-check every page, no change"]["db"]["statuses"] == {"200": 2, "304": 20}
        assert every_served_pair["re-check every page, serve running"]["db"]["statuses"] == {"200": 2, "304": 20}
        assert all(p["urlwatch re-check, no change"]["report"] == {"unchanged": 22}
                   for p in (scheduled_pair, served_pair, every_pair, every_served_pair))
    assert pairs["serve_cpu_per_run_ms"] == statistics.median(
        run["scheduled crawl with serve running vs urlwatch re-check"]["scheduled re-check, serve running"][
            "serve_cpu_per_run_ms"] for run in pairs["runs"])
    # The table's medians and ratios come from the measured runs.
    table = {row["step"]: row for row in pairs["table"]}
    assert len(table) == 13
    labels = [("first crawl vs bare Scrapy", "PolicyWatch first crawl", "bare Scrapy, extracting"),
              ("first crawl with serve running vs bare Scrapy", "PolicyWatch first crawl, serve running",
               "bare Scrapy, extracting"),
              ("scheduled crawl, nothing due vs urlwatch re-check", "scheduled re-check, no change",
               "urlwatch re-check, no change"),
              ("scheduled crawl with serve running vs urlwatch re-check", "scheduled re-check, serve running",
               "urlwatch re-check, no change"),
              ("crawl --recheck-all, no change vs urlwatch re-check", "re-check every page, no change",
               "urlwatch re-check, no change"),
              ("crawl --recheck-all with serve running vs urlwatch re-check", "re-check every page, serve running",
               "urlwatch re-check, no change")]
    for label, side, anchor in labels:
        for key, unit in (("wall", "wall s"), ("cpu", "CPU s")):
            row = table[f"{label}, {unit}"]
            measured = [(run[label][side][key], run[label][anchor][key]) for run in pairs["runs"]]
            assert row["values"] == [list(m) for m in measured]
            assert row["ratio"] == statistics.median(p / a for p, a in measured) > 0
            assert row["policywatch"] == statistics.median(p for p, _ in measured)
    size = table["state.db after the first crawl vs urlwatch's cache, MB"]
    dbs = [run["first crawl vs bare Scrapy"]["PolicyWatch first crawl"]["db"] for run in pairs["runs"]]
    assert [p for p, _ in size["values"]] == [(db["db_bytes"] + db["wal_bytes"]) / 1e6 for db in dbs]
    assert all(a == watch_again["cache"]["cache_bytes"] / 1e6 for _, a in size["values"])
    assert (out / "pairs.png").read_bytes().startswith(b"\x89PNG")
