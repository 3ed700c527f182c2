"""A list URL that answers JSON while its source reads HTML: no items, never an exception that stops the crawl."""

from __future__ import annotations

from policywatch.core.config import ListRule
from policywatch.crawler.extract.listing import extract_list

API_ANSWER = '{"searchVO": {"listVO": [{"title": "<b>关于印发</b>通知", "url": "https://www.gov.cn/a.htm"}]}}'


def test_css_item_selector_on_a_json_body_finds_nothing() -> None:
    page = extract_list(API_ANSWER, "https://sousuo.www.gov.cn/data", ListRule(item="searchVO li"))
    assert page.items == [] and page.found == 0


def test_json_title_that_looks_like_json_loses_its_markup() -> None:
    """A title with markup is parsed as HTML even when the whole string is itself valid JSON."""
    body = '{"list": [{"title": "[\\"<b>x</b>\\"]", "url": "https://www.gov.cn/a.htm"}]}'
    page = extract_list(body, "https://www.gov.cn/", ListRule(item="json:list", link="json:url", title="json:title"))
    assert [item.title for item in page.items] == ['["x"]']
