"""A list URL that answers JSON while its source reads HTML: no items, never an exception that stops the crawl."""

from __future__ import annotations

from policywatch.core.config import ListRule
from policywatch.crawler.extract.listing import extract_list
from tests.conftest import source_toml

API_ANSWER = '{"searchVO": {"listVO": [{"title": "<b>关于印发</b>通知", "url": "https://www.gov.cn/a.htm"}]}}'


def test_css_item_selector_on_a_json_body_finds_nothing() -> None:
    page = extract_list(API_ANSWER, "https://sousuo.www.gov.cn/data", ListRule(item="searchVO li"))
    assert page.items == [] and page.found == 0


def test_json_title_that_looks_like_json_loses_its_markup() -> None:
    """A title with markup is parsed as HTML even when the whole string is itself valid JSON."""
    body = '{"list": [{"title": "[\\"<b>x</b>\\"]", "url": "https://www.gov.cn/a.htm"}]}'
    page = extract_list(body, "https://www.gov.cn/", ListRule(item="json:list", link="json:url", title="json:title"))
    assert [item.title for item in page.items] == ['["x"]']


def test_a_list_nested_too_deep_is_an_error_on_its_fetch_row_and_the_other_lists_are_read(tmp_path, portal,
                                                                                           write_config, run_crawl,
                                                                                           open_store) -> None:
    """A JSON list page a hundred thousand arrays deep (json.loads gives up with RecursionError, not ValueError) is
    one list error, recorded; the crawl goes on, and a sound list of the same source's kind is read."""
    site = tmp_path / "site"
    site.mkdir()
    (site / "deep.json").write_text("[" * 100_000, encoding="utf-8")
    (site / "sound.json").write_text('{"list": [{"title": "关于印发通知", "url": "1.html"}]}', encoding="utf-8")
    text = "为规范细胞治疗临床研究，现印发本通知。" * 3
    (site / "1.html").write_text(f"<h1>关于印发通知</h1><div id='zoom'><p>{text}</p></div>", encoding="utf-8")
    base = portal(site)
    config = write_config(*(source_toml(name, f"{base}/{name}.json", item="json:list", link="json:url",
                                        title="json:title") for name in ("deep", "sound")))

    run_crawl(config)

    store = open_store(config.db)
    lists = {source: (items, error) for source, items, error
             in store.db.execute("SELECT source, items, error FROM fetches WHERE kind = 'list'").fetchall()}
    assert lists["sound"] == (1, None)
    items, error = lists["deep"]
    assert items is None and error.startswith("extraction failed: RecursionError: maximum recursion depth exceeded")
    assert [d["title"] for d in store.documents()] == ["关于印发通知"]
