"""A crawl killed with SIGKILL leaves a consistent state.db, and the next crawl completes it."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time

import pytest

from policywatch.crawl import CrawlError, crawl
from policywatch.portal import PortalHandler
from tests.conftest import source_toml

PAGES = 300


class SlowPortal(PortalHandler):
    """Each detail page takes a little while, so the crawl is still running when killed."""

    def do_GET(self) -> None:
        if self.path.startswith("/p/"):
            time.sleep(0.05)
        super().do_GET()


def make_site(root) -> None:
    (root / "p").mkdir(parents=True)
    items = []
    for n in range(PAGES):
        title = f"关于第{n}批细胞治疗临床研究项目备案的通知"
        (root / "p" / f"{n}.html").write_text(
            f"<html><body><h1>{title}</h1><p>发布时间：2023-12-{n % 28 + 1:02d}</p>"
            f"<div id='zoom'><p>根据干细胞临床研究管理办法，第{n}批项目予以备案。</p>"
            f"<p>请各单位按期完成研究任务。</p></div></body></html>", encoding="utf-8")
        items.append(f'<li><a href="/p/{n}.html">{title}</a></li>')
    (root / "index.html").write_text(f"<ul>{''.join(items)}</ul>", encoding="utf-8")


def count(db, sql: str) -> int:
    with sqlite3.connect(db) as conn:
        return conn.execute(sql).fetchone()[0]


def test_sigkill_mid_crawl_then_resume(tmp_path, portal, write_config, run_crawl):
    make_site(tmp_path / "site")
    base = portal(tmp_path / "site", SlowPortal)
    config = write_config(source_toml("slow", f"{base}/index.html"))
    process = subprocess.Popen(
        [sys.executable, "-m", "crawler.run", "--config", str(config.path)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        has_table = config.db.exists() and count(
            config.db, "SELECT count(*) FROM sqlite_master WHERE name = 'documents'")
        if has_table and count(config.db, "SELECT count(*) FROM documents") >= 30:
            break
        time.sleep(0.05)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()

    assert process.returncode == -signal.SIGKILL
    with sqlite3.connect(config.db) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        stored = conn.execute("SELECT count(*) FROM documents").fetchone()[0]
        # Every stored document is whole: its latest version and text are there too.
        assert conn.execute(
            "SELECT count(*) FROM documents d JOIN versions v ON v.id = d.latest_version "
            "JOIN texts t ON t.hash = v.text_hash").fetchone()[0] == stored
    assert 30 <= stored < PAGES

    result = run_crawl(config)

    assert count(config.db, "SELECT count(*) FROM documents") == PAGES
    assert count(config.db, "SELECT count(*) FROM (SELECT url FROM documents "
                            "GROUP BY url HAVING count(*) > 1)") == 0
    assert count(config.db, "SELECT count(*) FROM versions") == PAGES
    # Only the documents the killed crawl did not store were fetched again.
    assert result.summary[0]["new_documents"] == PAGES - stored


class HangingPortal(PortalHandler):
    """The list page takes far longer than the crawl may run."""

    def do_GET(self) -> None:
        if self.path == "/index.html":
            time.sleep(8)
        super().do_GET()


def test_a_crawl_over_its_time_limit_is_stopped_and_recorded(tmp_path, portal, write_config, open_store):
    make_site(tmp_path / "site")
    config = write_config(source_toml("slow", f"{portal(tmp_path / 'site', HangingPortal)}/index.html"), timeout=30)
    started = time.monotonic()
    with pytest.raises(CrawlError, match=r"^crawl timed out$"):
        crawl(config, timeout=3)
    took = time.monotonic() - started
    store = open_store(config.db)
    assert [r["status"] for r in store.db["runs"].rows] == ["timed out"]
    [run] = store.source_runs("slow")
    assert run["outcome"] == "timed out"
    assert store.count("documents") < PAGES  # it wound down (finishing the request in flight) instead of going on
    assert took < 3 + 10, f"stopping took {took:.1f} s"
    assert store.db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
