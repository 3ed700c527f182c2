"""A crawl killed with SIGKILL leaves a consistent state.db, and the next crawl completes it; a crawl whose parent
dies winds down with it; a programming error stops a crawl with one line instead of failing every page."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from contextlib import suppress

import pytest

from policywatch.crawler.crawl import CrawlError, crawl
from policywatch.crawler.faults import describe_programming_error, is_programming_error
from policywatch.portal import PortalHandler
from tests.conftest import POLICYWATCH, make_docx, source_toml
from tests.processes import children, kill_all, wait_gone

PAGES = 300


class SlowPortal(PortalHandler):
    """Each detail page takes a little while, so the crawl is still running when killed."""

    def do_GET(self) -> None:
        if self.path.startswith("/p/"):
            time.sleep(0.05)
        super().do_GET()


def make_site(root, pages: int = PAGES) -> None:
    """A list of ``pages`` notices at /index.html, each text its own (none a near-duplicate of another)."""
    (root / "p").mkdir(parents=True)
    items = []
    for n in range(pages):
        title = f"关于第{n}批细胞治疗临床研究项目备案的通知"
        (root / "p" / f"{n}.html").write_text(
            f"<html><body><h1>{title}</h1><p>发布时间：2023-12-{n % 28 + 1:02d}</p>"
            f"<div id='zoom'><p>根据干细胞临床研究管理办法，第{n}批{n * 3 + 2}个项目予以备案。</p>"
            f"<p>请各备案机构按期完成第{n}批研究任务，并报送进展情况。</p></div></body></html>", encoding="utf-8")
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
        [sys.executable, "-m", "policywatch.crawler.run", "--config", str(config.path)],
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
            time.sleep(5)
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


def test_the_crawl_processes_die_with_their_parent(tmp_path, portal, write_config, run_crawl):
    make_site(tmp_path / "site")
    config = write_config(source_toml("slow", f"{portal(tmp_path / 'site', SlowPortal)}/index.html"), processes=1)
    parent = subprocess.Popen([*POLICYWATCH, "--config", str(config.path), "crawl"], stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, start_new_session=True)
    workers: list[int] = []
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not (config.db.exists() and count(
                config.db, "SELECT count(*) FROM sqlite_master WHERE name = 'documents'") and count(
                config.db, "SELECT count(*) FROM documents") >= 20):
            time.sleep(0.05)
        workers = children(parent.pid)
        assert workers, "the crawl process was not running"
        os.kill(parent.pid, signal.SIGKILL)  # the parent alone: its crawl process is not told
        parent.wait()

        assert wait_gone(workers) == [], "the crawl process outlived its parent"
    finally:
        kill_all(workers)
        with suppress(ProcessLookupError):
            os.killpg(parent.pid, signal.SIGKILL)
    log = (config.db.parent / "logs" / "crawl.log").read_text(encoding="utf-8")
    assert "the parent process is gone: stopping the crawl" in log
    assert "BrokenPipeError" not in log  # one stop, not an error per item
    with sqlite3.connect(config.db) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        stored = conn.execute("SELECT count(*) FROM documents").fetchone()[0]
    assert 20 <= stored < PAGES

    run_crawl(config)
    assert count(config.db, "SELECT count(*) FROM documents") == PAGES


def crawl_without(tmp_path, module: str, config) -> subprocess.CompletedProcess[str]:
    """`policywatch crawl` with ``module`` impossible to import (a shim first on PYTHONPATH), as in an
    installation that lacks it."""
    shim = tmp_path / "shim" / module
    shim.mkdir(parents=True)
    (shim / "__init__.py").write_text(f'raise ModuleNotFoundError("No module named {module!r}", name="{module}")\n')
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(shim.parent), os.environ.get("PYTHONPATH", "")])}
    return subprocess.run([*POLICYWATCH, "--config", str(config.path), "crawl"], capture_output=True, text=True,
                          env=env, timeout=120)


def test_a_programming_error_stops_the_crawl_with_one_line(tmp_path, portal, write_config):
    """lxml_html_clean missing: trafilatura cannot be imported, so no page without a known body container can be
    read. That is the installation's fault, not the pages': one line, exit 1, and no page marked as failed."""
    site = tmp_path / "site"
    (site / "p").mkdir(parents=True)
    items = []
    for n in range(5):
        title = f"关于第{n}批项目的通知"
        (site / "p" / f"{n}.html").write_text(
            f"<html><body><h1>{title}</h1><p>发布时间：2023-12-0{n + 1}</p><section><p>根据管理办法，第{n}批项目"
            f"予以备案，请各单位按期完成研究任务，并及时报送进展情况。</p></section></body></html>", encoding="utf-8")
        items.append(f'<li><a href="/p/{n}.html">{title}</a></li>')
    (site / "index.html").write_text(f"<ul>{''.join(items)}</ul>", encoding="utf-8")
    config = write_config(source_toml("plain", f"{portal(site)}/index.html"))

    done = crawl_without(tmp_path, "lxml_html_clean", config)

    assert done.returncode == 1
    [line] = done.stderr.strip().splitlines()
    assert line.startswith("Error: crawl failed: programming error, crawl stopped: ImportError: lxml.html.clean "
                           "module is now a separate project lxml_html_clean. (crawler/extract/content.py line "), line
    assert "reading http://127.0.0.1:" in line
    with sqlite3.connect(config.db) as conn:
        assert conn.execute("SELECT count(*) FROM fetches WHERE error LIKE '%ImportError%'").fetchone()[0] == 0
        assert conn.execute("SELECT count(*) FROM fetches WHERE kind = 'detail'").fetchone()[0] == 0
        assert conn.execute("SELECT status FROM runs").fetchall() == [("failed",)]


def test_a_programming_error_in_the_attachment_reader_stops_the_crawl_with_one_line(tmp_path, portal, write_config):
    """python-docx missing: the attachment reader's worker process cannot import it. That is the installation's
    fault, not the file's: the crawl stops with one line naming the ImportError, and no file is called corrupt."""
    site = tmp_path / "site"
    (site / "p").mkdir(parents=True)
    make_docx(site / "p" / "fa.docx", ["第一条 为规范管理，制定本办法。"])
    title = "关于印发管理办法的通知"
    (site / "p" / "1.html").write_text(
        f"<html><body><h1>{title}</h1><p>发布时间：2023-12-01</p><section><p>根据管理办法，现将有关事项通知如下，"
        "请各单位认真贯彻执行，并及时报送进展情况。</p><p><a href=\"/p/fa.docx\">附件：管理办法</a></p></section>"
        "</body></html>", encoding="utf-8")
    (site / "index.html").write_text(f'<ul><li><a href="/p/1.html">{title}</a></li></ul>', encoding="utf-8")
    config = write_config(source_toml("plain", f"{portal(site)}/index.html"))

    done = crawl_without(tmp_path, "docx", config)

    assert done.returncode == 1
    [line] = done.stderr.strip().splitlines()
    assert line.startswith("Error: crawl failed: programming error, crawl stopped: ModuleNotFoundError: No module "
                           "named 'docx' (crawler/extract/sandbox.py line "), line
    assert line.endswith("/p/fa.docx)") and "reading http://127.0.0.1:" in line, line
    with sqlite3.connect(config.db) as conn:
        assert conn.execute("SELECT count(*) FROM fetches WHERE error LIKE '%corrupt%' OR error LIKE '%reader%'"
                            ).fetchone()[0] == 0
        assert conn.execute("SELECT count(*) FROM attachments").fetchone()[0] == 0
        assert conn.execute("SELECT status FROM runs").fetchall() == [("failed",)]


def test_page_errors_and_programming_errors_are_told_apart():
    from lxml import etree, html

    def raised(call) -> BaseException:
        try:
            call()
        except Exception as e:
            return e
        raise AssertionError("nothing raised")

    # Malformed input makes libraries raise, even TypeError deep inside them: the page's fault.
    for error in (raised(lambda: html.fromstring("")), raised(lambda: etree.fromstring(b"<a><b></a>")),
                  raised(lambda: json.loads(b"\xff")), raised(lambda: json.JSONDecoder().decode(None))):
        assert not is_programming_error(error), error
    # An error of PolicyWatch's own code, a failed import, a module that does not compile: the code's fault.
    own = raised(lambda: describe_programming_error(None))
    assert isinstance(own, AttributeError) and is_programming_error(own)
    assert is_programming_error(ModuleNotFoundError("No module named 'trafilatura'"))
    assert is_programming_error(raised(lambda: compile("def (", "crawler/spiders/broken.py", "exec")))
