"""The shipped config.toml sources, crawled by their real URLs, from list page to detail page.

Every list/detail pair of the real corpus is answered by a replay proxy on 127.0.0.1 (tests/replay_proxy.py):
the crawl is the real one (subprocess, Scrapy, state.db), only the network is the saved pages. What the
list links to but the corpus does not hold is a 404, so the detail requests made also show what the list
extraction found.
"""

from __future__ import annotations

import pytest

from policywatch.core import config as config_module
from policywatch.core.store import Store
from policywatch.crawler.crawl import crawl
from tests.conftest import CORPUS, EXPECTED_PAGES, ROOT
from tests.replay_proxy import replay, save
from tests.tlscert import make_certificate

# source → (saved list page, saved detail page, the detail page's URL, detail requests the list leads to)
PAIRS = {
    "gd-drc-ywtz": ("gd-drc-ywtz-list-01.html", "gd-drc-ywtz-detail-01.html",
                    "https://drc.gd.gov.cn/ywtz/content/post_4960402.html", 20),
    "nea-nfj-tzgs": ("nea-nfj-tzgs-list-01.html", "nea-nfj-tzgs-detail-attachments-01.html",
                     "https://nfj.nea.gov.cn/xwzx/tzgg/202609/t20260921_309284.html", 15),
    "nea-zcfb": ("nea-www-list-api-excerpt-01.json", "nea-www-xxgk-detail-crcrlf-01.html",
                 "http://www.nea.gov.cn/20260928/ccc0e6f629384053b0bf50cc3f018187/c.html", 1),
    "sh-wsjkw-yqtb": ("shanghai-wsjkw-yqtb-list-01.html", "shanghai-wsjkw-yqtb-detail-01.html",
                      "https://wsjkw.sh.gov.cn/xwfb/20220426/d4d847dcf3f64fcab102cf5a65656891.html", 20),
}


@pytest.fixture(scope="module")
def crawled(tmp_path_factory):
    """One crawl of the paired sources through the replay proxy: (store, requests the proxy answered)."""
    root = tmp_path_factory.mktemp("pairs")
    # The shipped file as it is, minus the politeness delay (the crawl subprocess reads the file itself).
    text = (ROOT / "config.toml").read_text(encoding="utf-8")
    for polite, fast in (("download_delay = 1.0", "download_delay = 0"),
                         ("autothrottle = true", "autothrottle = false")):
        assert text.count(polite) == 1, polite
        text = text.replace(polite, fast)
    (root / "config.toml").write_text(text, encoding="utf-8")
    config = config_module.load(root / "config.toml")
    sources = tuple(config.source(name) for name in PAIRS)
    for source in sources:
        list_file, detail_file, detail_url, _ = PAIRS[source.name]
        save(root / "web", source.start_urls[0], CORPUS / list_file)
        save(root / "web", detail_url, CORPUS / detail_file)
    with replay(root / "web", make_certificate(root)) as proxy, pytest.MonkeyPatch.context() as env:
        for name in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY"):
            env.setenv(name, f"http://127.0.0.1:{proxy.server_port}")
        env.delenv("no_proxy", raising=False)
        env.delenv("NO_PROXY", raising=False)
        crawl(config, [s.name for s in sources])
    with Store(config.db) as store:
        yield store, proxy.requests


@pytest.mark.parametrize("name", sorted(PAIRS))
def test_list_leads_to_its_detail_page(crawled, name: str) -> None:
    store, requests = crawled
    _, detail_file, detail_url, items = PAIRS[name]
    expected = EXPECTED_PAGES[detail_file]

    doc = store.document(detail_url)

    assert doc is not None, f"{detail_url} was not stored"
    assert (doc["source"], doc["title"], doc["published"]) == (name, expected["title"], expected["published"])
    assert doc["doc_number"] == expected.get("doc_number")
    attachments = expected.get("attachments", 0)  # their URLs, or a count where the page's address is unknown
    assert len(doc["attachments"]) == (attachments if isinstance(attachments, int) else len(attachments))
    lists = store.db.execute("SELECT items FROM fetches WHERE source = ? AND kind = 'list'", [name]).fetchall()
    assert lists == [(items,)]
    details = store.db.execute("SELECT COUNT(DISTINCT url) FROM fetches WHERE source = ? AND kind = 'detail'",
                               [name]).fetchone()[0]
    assert details == items  # every linked page was asked for; the unsaved ones are 404s
    assert detail_url in requests
