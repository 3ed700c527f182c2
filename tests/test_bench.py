"""The benchmark, run small (2 sites x 10 pages), so it cannot rot: every step runs and measures what it says."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.conftest import ROOT


def test_small_benchmark_runs_every_step(tmp_path):
    out = tmp_path / "bench"
    done = subprocess.run(
        [sys.executable, "-m", "bench", "--sites", "2", "--pages", "10", "--out", str(out),
         "--diff-pairs", "2", "--digest-changes", "60", "--site-changes", "60", "--site-edits", "3"],
        cwd=ROOT, capture_output=True, text=True, encoding="utf-8", timeout=600,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "PRODUCT.md performance bars" in done.stdout
    results = json.loads((out / "results.json").read_text(encoding="utf-8"))
    steps = results["steps"]
    assert list(steps) == ["bare Scrapy", "PolicyWatch first crawl", "scheduled re-check, no change",
                           "re-check every page, no change", "re-check every page, 2% changed"]
    bare, first, scheduled, every, changed = steps.values()
    # Two sites, each one list page and ten detail pages: the same 22 pages for Scrapy alone and PolicyWatch.
    assert bare["fetched"] == {"responses": 22, "status_200": 22, "bytes": bare["fetched"]["bytes"], "errors": 0}
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
