"""The workers benches, run small so they cannot rot: the scale bench stores every page once per worker count, the
kill bench kills a worker mid-job and finds what its comparison is for; no time is asserted."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections import Counter

import pytest
from lxml import html

from bench import workload
from bench.kill import compare, kill_point
from policywatch.crawler.extract.attachment_links import attachment_links
from policywatch.crawler.extract.attachments import attachment_text
from tests.conftest import ROOT
from tests.redisserver import in_ci

needs_servers = pytest.mark.skipif(
    not in_ci() and not (shutil.which("redis-server") and (shutil.which("nginx") or shutil.which("/usr/sbin/nginx"))),
    reason="needs redis-server and nginx")


def test_workload_pages_link_files_the_crawl_reads(tmp_path):
    workload.generate(tmp_path, sites=1, pages=2, attachments=3)
    page = tmp_path / "site" / "site00" / "art" / "202312" / "t0000.html"
    links = attachment_links(html.fromstring(page.read_text(encoding="utf-8")), "http://127.0.0.2/site00/x.html")
    assert [link.rsplit("/", 1)[1] for link in links] == ["t0000_1.pdf", "t0000_2.docx", "t0000_3.pdf"]
    pdf = attachment_text((page.parent / "t0000_1.pdf").read_bytes(), "t0000_1.pdf")
    word = attachment_text((page.parent / "t0000_2.docx").read_bytes(), "t0000_2.docx")
    assert (pdf.kind, pdf.error) == ("pdf", None) and pdf.text.startswith("Annex 1 to notice t0000 of site 00")
    assert (word.kind, word.error) == ("docx", None) and word.text.startswith("附件2：")
    # Without attachments the pages are what the main bench has always measured.
    workload.generate(tmp_path / "plain", sites=1, pages=1)
    assert "attachments" not in (tmp_path / "plain" / "site" / "site00" / "art" / "202312" / "t0000.html").read_text(
        encoding="utf-8")


def contents(documents=("a", "b"), versions=(("a", "h1"), ("b", "h2")), files=(("a.pdf", "a"),), runs=("finished",)):
    return {"documents": Counter(documents), "versions": Counter(versions), "attachments": Counter(files),
            "changes": Counter((d, "new") for d in documents), "runs": Counter(runs)}


def test_the_comparison_finds_what_is_lost_doubled_or_left_running():
    clean = contents()
    assert compare(clean, contents())["ok"]
    lost = compare(clean, contents(files=()))
    assert not lost["ok"] and lost["attachments_missing"] == ["('a.pdf', 'a')"]
    doubled = compare(clean, contents(versions=(("a", "h1"), ("b", "h2"), ("b", "h3"))))
    assert not doubled["ok"] and doubled["pages_with_extra_versions"] == ["b"]
    assert not compare(clean, contents(versions=(("a", "h1"), ("b", "h2"), ("b", "h2"))))["ok"]
    assert compare(clean, contents(runs=("interrupted", "finished")))["ok"]
    assert not compare(clean, contents(runs=("running", "finished")))["ok"]


def test_kill_points_spread_over_a_job_from_its_first_item_to_its_last_but_one():
    assert [kill_point(n, 10, 18) for n in range(1, 11)] == [1, 2, 4, 6, 8, 9, 11, 13, 15, 17]
    assert kill_point(1, 1, 9) == 1


@needs_servers
@pytest.mark.slow
def test_kill_bench_kills_a_worker_mid_job_and_finds_every_page_and_file_once(tmp_path):
    done = subprocess.run([sys.executable, "-m", "bench.kill", "--rounds", "1", "--hosts", "2", "--pages", "3",
                           "--delay", "0.2", "--out", str(tmp_path)], cwd=ROOT, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr[-2000:]
    report = json.loads((tmp_path / "kill.json").read_text(encoding="utf-8"))
    assert report["clean"]["contents"] == {"documents": 6, "versions": 6, "attachments": 12, "changes": 6,
                                           "runs": {"finished": 2}}
    (round_,) = report["rounds"]
    assert round_["comparison"]["ok"] and round_["crawl_exit"] == 0
    assert 1 <= round_["killed_at_pages"] + round_["killed_at_files"] < 9  # mid-job: not all 3 pages and 6 files
    assert [status for _, status in round_["source_runs"]] == ["interrupted", "finished"]


@needs_servers
@pytest.mark.slow
def test_scale_bench_stores_every_page_once_for_each_worker_count(tmp_path):
    done = subprocess.run([sys.executable, "-m", "bench.workers", "--hosts", "4", "--pages", "2", "--delay", "0.1",
                           "--workers", "1,2", "--threads", "2", "--out", str(tmp_path)], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr[-2000:]
    report = json.loads((tmp_path / "workers.json").read_text(encoding="utf-8"))
    assert [(r["workers"], r["documents"], r["versions"], r["all_stored"]) for r in report["results"]] == [
        (1, 8, 8, True), (2, 8, 8, True)]
    assert report["threads"] == 2 and (tmp_path / "workers.png").stat().st_size > 0
