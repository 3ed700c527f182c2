"""Every detail page of the real corpus (../shared/corpus/real) extracts as a reader would read it.

The pages are served byte for byte from ../shared on 127.0.0.1 (never copied
into the project) and crawled for real. Each page gets a source of its own,
whose list page links to it, as a maintainer would configure that portal.
The expected values in corpus_expected.toml were read off the pages by hand.
"""

from __future__ import annotations

import json
import unicodedata
from pathlib import Path

import pytest

from policywatch.core.normalize import normalise
from policywatch.core.store import Store
from policywatch.crawler.extract.walls import detect_wall
from tests.conftest import CORPUS, CORPUS_EXPECTED, read_corpus, source_toml

PAGES = CORPUS_EXPECTED["detail"]
FALLBACK_AUTHORITY = "测试机关"  # what the test sources configure; only "site" pages expect theirs


def page_id(page: dict) -> str:
    return page["file"] + (f"#{page['record']}" if "record" in page else "")


def served_name(page: dict) -> str:
    return f"record-{page['record']}.html" if "record" in page else page["file"]


def build_site(root: Path) -> list[tuple[dict, str]]:
    """Link each saved page into root (records of a JSON dump become pages); one list page each."""
    (root / "lists").mkdir(parents=True)
    records_cache: dict[str, list] = {}
    sources = []
    for n, page in enumerate(PAGES):
        name = served_name(page)
        if "record" in page:
            records = records_cache.setdefault(page["file"], json.loads((CORPUS / page["file"]).read_text())["records"])
            html = records[page["record"]]["html"]
            (root / name).write_text(f"<html><head><meta charset='utf-8'></head><body>{html}</body></html>",
                                     encoding="utf-8")
        elif not (root / name).exists():
            (root / name).symlink_to(CORPUS / page["file"])
        (root / "lists" / f"{n}.html").write_text(f"<ul><li><a href='/{name}'>link</a></li></ul>")
        sources.append((page, f"/lists/{n}.html"))
    return sources


@pytest.fixture(scope="module")
def crawled(tmp_path_factory):
    """Crawl every corpus page once; yields {page id: stored document or fetch error}."""
    from policywatch.core import config as config_module
    from policywatch.crawler.crawl import crawl
    from policywatch.portal import serve

    root = tmp_path_factory.mktemp("corpus")
    sources = build_site(root / "site")
    with serve(root / "site") as base:
        entries = []
        for n, (page, list_path) in enumerate(sources):
            authority = page["authority"] if page.get("authority_label") == "site" else FALLBACK_AUTHORITY
            entry = source_toml(f"page-{n}", base + list_path, title=None)
            entries.append(entry.replace('authority = "测试机关"', f'authority = "{authority}"'))
        path = root / "config.toml"
        path.write_text("[crawl]\ndownload_delay = 0\nautothrottle = false\nretries = 0\nconcurrency_per_domain = 8\n"
                        'allow_hosts = ["127.0.0.1"]\n' + "\n".join(entries), encoding="utf-8")
        config = config_module.load(path)
        crawl(config)
    store = Store(config.db)
    found = {}
    for page, _ in sources:
        url = f"{base}/{served_name(page)}"
        doc = store.document(url)
        if doc is None:
            row = store.db.execute("SELECT error FROM fetches WHERE url = ?", [url]).fetchone()
            doc = {"error": row[0] if row else "not fetched"}
        found[page_id(page)] = doc
    store.close()
    return found


@pytest.mark.parametrize("page", PAGES, ids=page_id)
def test_detail_page(crawled, page: dict) -> None:
    doc = crawled[page_id(page)]
    assert "error" not in doc, doc.get("error")
    assert doc["title"] == page["title"]
    assert doc["published"] == page["published"]
    assert doc["authority"] == page["authority"]
    assert doc["doc_number"] == page.get("doc_number")
    for key in ("index_number", "written", "subject"):  # the metadata table's; None where a page has none
        assert doc[key] == page.get(key), key
    attachments = page.get("attachments", 0)  # their URLs, or a count where the page's address is unknown
    assert len(doc["attachments"]) == (attachments if isinstance(attachments, int) else len(attachments))
    text = normalise(doc["text"])
    assert normalise(page["body_start"]) in text[:300]
    assert normalise(page["body_contains"]) in text
    raw = unicodedata.normalize("NFKC", doc["text"])
    for chrome in page.get("not_in_body", []):
        assert unicodedata.normalize("NFKC", chrome).strip() not in raw, chrome


@pytest.mark.parametrize("name", CORPUS_EXPECTED["walls"])
def test_wall_pages_are_recognised(name: str) -> None:
    assert detect_wall(200, read_corpus(name))
