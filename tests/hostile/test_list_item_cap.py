"""A list page that links a hundred thousand documents (the size cap allows that many): one list page may cause at
most ``[crawl] max_items_per_page`` detail requests (1,000 by default; the tests set a small cap), the first it lists;
its fetch row notes the rest, and the source stays healthy."""

from __future__ import annotations

from policywatch.core import config as config_module
from tests.conftest import crawl_config_text, source_toml
from tests.hostile.hostile_web import Site, listing, page


def crawl_list_of(tmp_path, run_crawl, open_store, links: int, extra_crawl: str = ""):
    """Crawl a portal whose list page links ``links`` documents; (the portal's request paths, the store, its base)."""
    portal = Site("127.0.0.1", fallback=(200, {"Content-Type": "text/html; charset=utf-8"}, page("关于细胞治疗的通知")))
    try:
        portal.add("/index.html", listing(*(f"/docs/{n}.html" for n in range(links))))
        path = tmp_path / "config.toml"
        path.write_text(crawl_config_text() + extra_crawl + source_toml("portal", f"{portal.base}/index.html"),
                        encoding="utf-8")
        config = config_module.load(path)
        result = run_crawl(config)
    finally:
        portal.close()
    return portal.paths(), open_store(config.db), portal.base, result


def test_a_list_of_20000_links_costs_only_the_capped_requests(tmp_path, run_crawl, open_store):
    paths, store, base, result = crawl_list_of(tmp_path, run_crawl, open_store, 20_000, "max_items_per_page = 40\n")

    requested = [p for p in paths if p.startswith("/docs/")]
    assert sorted(requested) == sorted(f"/docs/{n}.html" for n in range(40))  # the first 40, in page order
    assert store.db.execute("SELECT url, kind, items, error, warning FROM fetches WHERE kind = 'list'").fetchall() == [
        (f"{base}/index.html", "list", 20_000, None,
         "20000 items listed; only the first 40 followed ([crawl] max_items_per_page)")]
    assert store.db.execute("SELECT count(*) FROM documents").fetchone()[0] == 40
    assert not result.broken and not result.alerts  # a long list is no breakage
    capped = "20000 items listed; only the first 40 followed ([crawl] max_items_per_page)"
    assert result.warnings == [  # in `crawl`'s report
        {"source": "portal", "pages": 1, "url": f"{base}/index.html", "warning": capped}]


def test_a_list_within_the_cap_is_followed_whole(tmp_path, run_crawl, open_store):
    paths, store, _, _ = crawl_list_of(tmp_path, run_crawl, open_store, 12, "max_items_per_page = 12\n")

    assert sorted(p for p in paths if p.startswith("/docs/")) == sorted(f"/docs/{n}.html" for n in range(12))
    assert store.db.execute("SELECT warning FROM fetches WHERE kind = 'list'").fetchone()[0] is None
