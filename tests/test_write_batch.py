"""A crawl stores its items a few per transaction (policywatch.crawler.batch): a document the database refuses loses
only itself, and what is stored shows while the crawl still runs."""

from __future__ import annotations

import sqlite3
import threading
import time

from policywatch.portal import PortalHandler
from tests import forkcli
from tests.conftest import source_toml
from tests.test_crawl_kill import make_site

PAGES = 8
REFUSED = 5


class LastPageHangs(PortalHandler):
    """Every page but the last answers at once; the last waits until the test lets it go (at most 20 s, well inside
    the crawl's timeout), so the crawl is surely still running while the test looks at state.db."""

    release = threading.Event()

    def do_GET(self) -> None:
        if self.path == f"/p/{PAGES - 1}.html":
            self.release.wait(20)
        super().do_GET()


def test_a_document_the_database_refuses_loses_only_itself(tmp_path, portal, write_config, run_crawl, open_store):
    make_site(tmp_path / "site", PAGES)
    config = write_config(source_toml("batch", f"{portal(tmp_path / 'site')}/index.html"))
    store = open_store(config.db)  # creates state.db; then the database itself refuses one page's document
    store.db.execute(f"""CREATE TRIGGER refuse BEFORE INSERT ON documents WHEN NEW.url LIKE '%/p/{REFUSED}.html'
                         BEGIN SELECT RAISE(ABORT, 'refused by the test'); END""")
    store.db.conn.commit()

    run_crawl(config)

    with sqlite3.connect(config.db) as conn:
        urls = sorted(url.rsplit("/", 1)[1] for (url,) in conn.execute("SELECT url FROM documents"))
        assert urls == sorted(f"{n}.html" for n in range(PAGES) if n != REFUSED)
        # Each stored document is whole: its version, its text and its fetch row.
        assert conn.execute("SELECT count(*) FROM versions").fetchone()[0] == PAGES - 1
        assert conn.execute("""SELECT count(*) FROM documents d JOIN versions v ON v.id = d.latest_version
                               JOIN texts t ON t.hash = v.text_hash""").fetchone()[0] == PAGES - 1
        assert conn.execute("SELECT count(*) FROM fetches WHERE kind = 'detail'").fetchone()[0] == PAGES - 1
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    log = (config.db.parent / "logs" / "crawl.log").read_text(encoding="utf-8")
    assert "could not store http://127.0.0.1:" in log
    assert f"/p/{REFUSED}.html: IntegrityError: refused by the test" in log


def test_stored_pages_show_while_the_crawl_still_runs(tmp_path, portal, write_config):
    """A batch that does not fill is written when its oldest item has waited half a second, not at the end."""
    make_site(tmp_path / "site", PAGES)
    config = write_config(source_toml("batch", f"{portal(tmp_path / 'site', LastPageHangs)}/index.html"),
                          processes=1, timeout=60)
    LastPageHangs.release.clear()
    crawl = forkcli.start(["--config", str(config.path), "crawl"])
    try:
        seen: set[int] = set()  # the document counts seen while the crawl runs
        while crawl.process.poll() is None and PAGES - 1 not in seen:
            time.sleep(0.05)
            if config.db.exists():
                try:
                    with sqlite3.connect(config.db) as conn:
                        seen.add(conn.execute("SELECT count(*) FROM documents").fetchone()[0])
                except sqlite3.OperationalError:  # state.db is being created
                    continue
        # Every page but the hanging last one was stored while that one was still on its way.
        assert PAGES - 1 in seen, f"documents seen during the crawl: {sorted(seen)}"
    finally:
        LastPageHangs.release.set()
        done = crawl.finish(60)
    assert done.returncode == 0, done.stderr
    with sqlite3.connect(config.db) as conn:
        assert conn.execute("SELECT count(*) FROM documents").fetchone()[0] == PAGES
