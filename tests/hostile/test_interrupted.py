"""An operator (or the OOM killer) kills crawls at random moments, attachments half fetched; a portal's file server
fails now and then. The next plain crawl stores exactly what one clean crawl stores, files included."""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import time
from contextlib import suppress
from pathlib import Path
from typing import ClassVar

import pytest

from policywatch.core import config as config_module
from policywatch.core.store import now_iso
from policywatch.portal import PortalHandler
from tests.conftest import POLICYWATCH, crawl_config_text, make_docx, make_pdf, source_toml

PAGES = 40
KILLS = 10


class SlowPortal(PortalHandler):
    """Pages take a moment and files longer, so kills land between a page and its files."""

    def do_GET(self) -> None:
        if self.path.startswith("/p/"):
            time.sleep(0.05)
        elif self.path.startswith("/files/"):
            time.sleep(0.15)
        with suppress(BrokenPipeError, ConnectionResetError):  # the crawl that asked was killed
            super().do_GET()


def make_site(root: Path) -> None:
    """PAGES notices, each linking one to three files (Word and PDF), listed on one index page."""
    (root / "p").mkdir(parents=True)
    (root / "files").mkdir()
    items = []
    for n in range(PAGES):
        title = f"关于第{n}批细胞治疗临床研究项目备案的通知"
        links = []
        for k in range(1 + n % 3):
            if (n + k) % 2:
                name = f"{n}-{k}.docx"
                make_docx(root / "files" / name, [f"第{n}批备案项目名单（附件{k + 1}）", f"项目{n}-{k}：临床研究。"])
            else:
                name = f"{n}-{k}.pdf"
                (root / "files" / name).write_bytes(make_pdf(f"Annex {k + 1} to notice {n}: project list."))
            links.append(f"<a href='/files/{name}'>附件{k + 1}</a>")
        (root / "p" / f"{n}.html").write_text(
            f"<html><body><h1>{title}</h1><p>发布时间：2023-12-{n % 28 + 1:02d}</p>"
            f"<div id='zoom'><p>根据干细胞临床研究管理办法，第{n}批项目予以备案。</p>"
            f"<p>请各单位按期完成研究任务。</p><p>{' '.join(links)}</p></div></body></html>", encoding="utf-8")
        items.append(f'<li><a href="/p/{n}.html">{title}</a></li>')
    (root / "index.html").write_text(f"<ul>{''.join(items)}</ul>", encoding="utf-8")


def config_in(folder: Path, base: str) -> config_module.Config:
    """A config.toml (and so a state.db) of its own in ``folder``, for the one portal."""
    folder.mkdir()
    path = folder / "config.toml"
    path.write_text(crawl_config_text(processes=1) + source_toml("slow", f"{base}/index.html"), encoding="utf-8")
    return config_module.load(path)


def crawl_command(config: config_module.Config) -> list[str]:
    return [*POLICYWATCH, "--config", str(config.path), "crawl"]


def stored(db: Path) -> dict[str, list[tuple]]:
    """What a crawl keeps, as comparable rows: documents, every version, every attachment."""
    with sqlite3.connect(db) as conn:
        return {
            "documents": sorted(conn.execute("SELECT url, status, title, published, attachments FROM documents")),
            "versions": sorted(conn.execute(
                "SELECT d.url, v.text_hash, v.title, v.published, v.attachments FROM versions v "
                "JOIN documents d ON d.id = v.document_id")),
            "attachments": sorted(conn.execute(
                "SELECT a.url, a.sha256, a.kind, a.size, a.text_hash, a.error, d.url FROM attachments a "
                "JOIN documents d ON d.id = a.document_id")),
        }


def fetch_count(db: Path) -> int:
    """Fetch rows so far (0 before the crawl has made its tables)."""
    try:
        with sqlite3.connect(f"{db.as_uri()}?mode=ro", uri=True, timeout=5) as conn:
            return conn.execute("SELECT count(*) FROM fetches").fetchone()[0]
    except sqlite3.OperationalError:
        return 0


def kill_at_random(config: config_module.Config, rng: random.Random) -> str:
    """Start `policywatch crawl` and SIGKILL its whole process group at a random moment: after a random number of
    new fetch rows (or, now and then, a random moment that may fall before any), plus a random instant.
    Says where the kill landed: "mid-crawl", "early" (nothing fetched yet), or "none" (the crawl had ended)."""
    before = fetch_count(config.db)
    wait_for = rng.choice([0, *range(1, 30), *range(1, 30), *range(1, 30)])
    started = time.monotonic()
    delay = rng.uniform(0.3, 3.0)
    crawl = subprocess.Popen(crawl_command(config), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                             start_new_session=True)

    def moment_reached() -> bool:
        if wait_for:
            return fetch_count(config.db) - before >= wait_for
        return time.monotonic() - started >= delay

    try:
        while crawl.poll() is None and not moment_reached():
            time.sleep(0.02)
        time.sleep(rng.uniform(0, 0.15))
        if crawl.poll() is not None:
            return "none"
        os.killpg(crawl.pid, signal.SIGKILL)
        return "mid-crawl" if fetch_count(config.db) > before else "early"
    finally:
        crawl.wait()
        with suppress(ProcessLookupError):  # whatever else of its group lives on
            os.killpg(crawl.pid, signal.SIGKILL)


@pytest.mark.slow
def test_ten_random_kills_then_one_crawl_store_what_a_clean_crawl_stores(tmp_path, portal):
    make_site(tmp_path / "site")
    base = portal(tmp_path / "site", SlowPortal)
    killed, clean = config_in(tmp_path / "killed", base), config_in(tmp_path / "clean", base)
    rng = random.Random(16)

    landed = [kill_at_random(killed, rng) for _ in range(KILLS)]
    with sqlite3.connect(killed.db) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        partial = conn.execute("SELECT count(*) FROM attachments").fetchone()[0]
    done = subprocess.run(crawl_command(killed), capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert subprocess.run(crawl_command(clean), capture_output=True, text=True, timeout=120).returncode == 0

    after, expected = stored(killed.db), stored(clean.db)
    counts = {name: len(rows) for name, rows in after.items()}
    print(f"\n{landed.count('mid-crawl')} of {KILLS} kills mid-crawl ({landed.count('early')} before the first "
          f"fetch, {landed.count('none')} after the end); {partial} attachments stored when the kills were over; "
          f"after one more crawl: {counts}; clean crawl: { {k: len(v) for k, v in expected.items()} }")
    assert landed.count("mid-crawl") >= 1
    assert counts == {"documents": PAGES, "versions": PAGES, "attachments": sum(1 + n % 3 for n in range(PAGES))}
    assert after == expected
    assert all(row[5] is None and row[4] for row in after["attachments"])  # each file read, not just hashed


class FlakyFiles(PortalHandler):
    """The file server answers 503 to a file's first request (and always 404 for the one that is gone)."""

    asked: ClassVar[set[str]] = set()

    def do_GET(self) -> None:
        if self.path == "/files/busy.docx" and self.path not in self.asked:
            self.asked.add(self.path)
            self.send_error(503, "Service Unavailable")
            return
        super().do_GET()


def test_a_file_that_failed_for_now_is_fetched_at_the_next_crawl_and_a_gone_one_waits(tmp_path, portal, write_config,
                                                                                     run_crawl, open_store):
    site = tmp_path / "site"
    (site / "files").mkdir(parents=True)
    (site / "index.html").write_text("<ul><li><a href='/a.html'>关于细胞治疗项目备案的通知</a></li></ul>",
                                     encoding="utf-8")
    (site / "a.html").write_text(
        "<html><body><h1>关于细胞治疗项目备案的通知</h1><p>发布时间：2023-12-05</p><div id='zoom'>"
        "<p>根据干细胞临床研究管理办法，现将备案项目名单印发给你们。</p>"
        "<p><a href='/files/busy.docx'>附件1：名单</a> <a href='/files/gone.pdf'>附件2：说明</a></p>"
        "</div></body></html>", encoding="utf-8")
    make_docx(site / "files" / "busy.docx", ["一、备案项目名单。"])
    FlakyFiles.asked = set()
    config = write_config(source_toml("flaky", f"{portal(site, FlakyFiles)}/index.html"))
    store = open_store(config.db)

    run_crawl(config)
    assert store.count("attachments") == 0
    [ref] = store.document_refs("flaky", now_iso())
    assert ref.due  # its re-check is a week away, but a file is missing for a reason that may pass

    run_crawl(config)  # a plain crawl: the page answers 304, and its missing files are asked for again
    [row] = store.db.execute("SELECT url, error FROM attachments").fetchall()
    assert row == (f"{ref.url.rsplit('/', 1)[0]}/files/busy.docx", None)
    details = store.db.execute("SELECT status FROM fetches WHERE kind = 'detail' ORDER BY id").fetchall()
    assert details == [(200,), (304,)]
    [ref] = store.document_refs("flaky", now_iso())
    assert not ref.due  # the other file is gone (404): the page's own re-check will try it again
    assert store.document_refs("flaky", now_iso(), recheck_all=True)[0].attachments == (
        row[0], row[0].replace("busy.docx", "gone.pdf"))
