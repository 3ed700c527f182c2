"""Pages whose ``<link rel="canonical">`` names another source's document, or another host. A page anywhere can
claim any canonical URL; a claim is believed only for the host the page came from, within its source's hosts.
Otherwise the page is stored under its own URL and the claimed document keeps its text, title and fetch URL.
"""

from __future__ import annotations

from policywatch.core import config as config_module
from tests.conftest import crawl_config_text, source_toml
from tests.hostile.hostile_web import Site, listing, page

GENUINE = "关于开展细胞治疗临床研究备案工作的通知"
GENUINE_TEXT = "为规范干细胞临床研究，现就备案工作通知如下。"
FORGED = "关于暂停全部细胞治疗临床研究的紧急通知"
FORGED_TEXT = "即日起暂停全部细胞治疗临床研究项目，已备案项目一律作废。"


def canonical(url: str) -> str:
    return f'<link rel="canonical" href="{url}">'


def write(tmp_path, *sources: str):
    path = tmp_path / "config.toml"
    path.write_text(crawl_config_text() + "".join(sources), encoding="utf-8")
    return config_module.load(path)


def snapshot_of(store, url: str) -> dict:
    doc = store.document(url)
    assert doc is not None, f"no document for {url}"
    return {k: doc[k] for k in ("source", "url", "fetch_url", "title", "authority")} | {"text": doc["text"]}


def test_a_canonical_link_cannot_take_over_another_sources_document(tmp_path, run_crawl, open_store):
    """Source A's document first; then a page of source B, on another host, claims to be it."""
    genuine, hostile = Site("127.0.0.1"), Site("127.0.0.1")  # two portals: two hosts (host:port)
    try:
        genuine.add("/index.html", listing("/doc.html"))
        genuine.add("/doc.html", page(GENUINE, GENUINE_TEXT, authority="国家卫生健康委员会"))
        target = f"{genuine.base}/doc.html"
        hostile.add("/index.html", listing("/forged.html", "/elsewhere.html"))
        hostile.add("/forged.html", page(FORGED, FORGED_TEXT, head=canonical(target), authority="伪造机关"))
        # Its own host, but a canonical naming a host that is none of its source's.
        hostile.add("/elsewhere.html", page(FORGED, FORGED_TEXT + "另一页。", head=canonical(
            "http://policy.example/doc.html")))
        config = write(tmp_path, source_toml("genuine", f"{genuine.base}/index.html"),
                       source_toml("hostile", f"{hostile.base}/index.html"))
        run_crawl(config, "genuine")
        before = snapshot_of(open_store(config.db), target)

        run_crawl(config, "hostile")
    finally:
        genuine.close()
        hostile.close()

    store = open_store(config.db)
    assert snapshot_of(store, target) == before
    assert before["fetch_url"] == target and GENUINE_TEXT in before["text"]
    forged = snapshot_of(store, f"{hostile.base}/forged.html")
    assert forged["source"] == "hostile" and forged["url"] == f"{hostile.base}/forged.html"
    assert FORGED_TEXT in forged["text"]
    assert store.document("http://policy.example/doc.html") is None
    assert snapshot_of(store, f"{hostile.base}/elsewhere.html")["source"] == "hostile"
    assert store.db.execute("SELECT count(*) FROM versions WHERE document_id = (SELECT id FROM documents "
                            "WHERE url = ?)", [target]).fetchone()[0] == 1


def test_two_sources_on_one_host_cannot_claim_each_others_documents(tmp_path, run_crawl, open_store):
    """Two sections of one portal are two sources on the same host: a canonical link in one section's page that
    names the other section's document is on the page's own host, so the store refuses the takeover itself."""
    portal = Site("127.0.0.1")
    try:
        portal.add("/a/index.html", listing("/a/doc.html"))
        portal.add("/a/doc.html", page(GENUINE, GENUINE_TEXT))
        target = f"{portal.base}/a/doc.html"
        portal.add("/b/index.html", listing("/b/forged.html"))
        portal.add("/b/forged.html", page(FORGED, FORGED_TEXT, head=canonical(target)))
        config = write(tmp_path, source_toml("section-a", f"{portal.base}/a/index.html"),
                       source_toml("section-b", f"{portal.base}/b/index.html"))
        run_crawl(config, "section-a")
        before = snapshot_of(open_store(config.db), target)

        run_crawl(config, "section-b")
    finally:
        portal.close()

    store = open_store(config.db)
    assert snapshot_of(store, target) == before
    forged = snapshot_of(store, f"{portal.base}/b/forged.html")
    assert forged["source"] == "section-b" and FORGED_TEXT in forged["text"]


def test_a_canonical_link_on_the_sources_own_host_is_still_followed(tmp_path, run_crawl, open_store):
    """The legitimate use: a print view or a URL with tracking parameters names the page's real address."""
    portal = Site("127.0.0.1")
    try:
        portal.add("/index.html", listing("/print.html?id=7"))
        portal.add("/print.html", page(GENUINE, GENUINE_TEXT, head=canonical("/doc-7.html")))
        config = write(tmp_path, source_toml("portal", f"{portal.base}/index.html"))
        run_crawl(config)
    finally:
        portal.close()

    doc = snapshot_of(open_store(config.db), f"{portal.base}/doc-7.html")
    assert doc["fetch_url"] == f"{portal.base}/print.html?id=7"
