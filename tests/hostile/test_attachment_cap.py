"""A page that links thousands of files: one page may cause at most ``[crawl] max_attachments_per_page``
attachment requests (50 by default); the rest are recorded in one fetch row, not fetched."""

from __future__ import annotations

from policywatch.core import config as config_module
from tests.conftest import crawl_config_text, source_toml
from tests.hostile.hostile_web import Site, listing, page

LINKS = 5000


def crawl_page_of_links(tmp_path, run_crawl, open_store, links: int, extra_crawl: str = ""):
    """Crawl a portal whose one detail page links ``links`` PDFs; (the portal's request paths, the store)."""
    portal = Site("127.0.0.1", fallback=(200, {"Content-Type": "application/pdf"}, b"%PDF-1.4 not really"))
    try:
        files = "".join(f'<a href="/files/{n}.pdf">附件{n}</a> ' for n in range(links))
        portal.add("/index.html", listing("/doc.html"))
        portal.add("/doc.html", page("关于公布细胞治疗临床研究备案项目的通知", extra=files))
        path = tmp_path / "config.toml"
        path.write_text(crawl_config_text() + extra_crawl + source_toml("portal", f"{portal.base}/index.html"),
                        encoding="utf-8")
        config = config_module.load(path)
        run_crawl(config)
    finally:
        portal.close()
    return portal.paths(), open_store(config.db), portal.base


def test_a_page_of_5000_files_costs_50_requests(tmp_path, run_crawl, open_store):
    paths, store, base = crawl_page_of_links(tmp_path, run_crawl, open_store, LINKS)

    requested = [p for p in paths if p.endswith(".pdf")]
    assert len(requested) == 50
    assert set(requested) == {f"/files/{n}.pdf" for n in range(50)}  # the first 50, in page order
    overflow = store.db.execute("SELECT url, kind, error FROM fetches WHERE error LIKE '%attachments linked%'"
                                ).fetchall()
    assert overflow == [(f"{base}/doc.html", "attachment",
                         "5000 attachments linked; only the first 50 fetched ([crawl] max_attachments_per_page)")]
    # The page itself is stored, its file list whole: a change to the list is still a change.
    doc = store.document(f"{base}/doc.html")
    assert len(doc["attachments"]) == LINKS
    assert store.db.execute("SELECT count(*) FROM attachments").fetchone()[0] == 50


def test_the_cap_is_configurable(tmp_path, run_crawl, open_store):
    paths, store, _ = crawl_page_of_links(tmp_path, run_crawl, open_store, 10, "max_attachments_per_page = 3\n")

    assert len([p for p in paths if p.endswith(".pdf")]) == 3
    assert store.db.execute("SELECT error FROM fetches WHERE error LIKE '%attachments linked%'").fetchone()[0] == (
        "10 attachments linked; only the first 3 fetched ([crawl] max_attachments_per_page)")


def test_a_page_under_the_cap_records_no_overflow(tmp_path, run_crawl, open_store):
    paths, store, _ = crawl_page_of_links(tmp_path, run_crawl, open_store, 50)

    assert len([p for p in paths if p.endswith(".pdf")]) == 50
    assert store.db.execute("SELECT count(*) FROM fetches WHERE error LIKE '%attachments linked%'").fetchone()[0] == 0
