"""Lists served as JSON, or assigned to a script variable, read with `json:` paths.

The real cases (NEA's list API, Jiangxi's `var listData`) are tested on saved pages in test_real_sources.py;
these pages are written for the test, in the shapes public portals use, to pin down each rule of the paths.
"""

from __future__ import annotations

import json

from policywatch.core.config import ListRule
from policywatch.crawler.extract.listing import extract_list


def items(page: str, **rule: str) -> list[tuple[str, str | None, str | None]]:
    listing = extract_list(page, "https://www.example.gov.cn/col/list.html", ListRule(**rule))
    return [(i.url, i.title, i.published) for i in listing.items]


def test_a_top_level_array_is_json_dollar() -> None:
    feed = json.dumps([{"TITLE": "国务院办公厅关于印发《细胞治疗产业发展行动方案》的通知",
                        "URL": "/zhengce/content/1.htm", "DOCRELPUBTIME": "2026-09-11"}], ensure_ascii=False)
    assert items(feed, item="json:$", link="json:URL", title="json:TITLE", date="json:DOCRELPUBTIME") == [
        ("https://www.example.gov.cn/zhengce/content/1.htm", "国务院办公厅关于印发《细胞治疗产业发展行动方案》的通知",
         "2026-09-11")]


def test_a_script_variable_with_json_in_strings_markup_in_titles_and_epoch_dates() -> None:
    page = """<html><head><script>
      var itemObj = [
        {aT: '<p>关于开展<em>干细胞</em>临床研究备案的通知</p>', aPd: 1789430400000,
         aU: "{\\"common\\": \\"/jbkzzx/c100014/common/content/content_1.html\\"}"},
        {aT: '没有链接的条目', aPd: 1789430400},
      ];
    </script></head><body><ul id="list"></ul></body></html>"""
    assert items(page, item="json:itemObj", link="json:aU.common", title="json:aT", date="json:aPd") == [
        ("https://www.example.gov.cn/jbkzzx/c100014/common/content/content_1.html",
         "关于开展干细胞临床研究备案的通知", "2026-09-15")]


def test_alternatives_take_the_first_present_value() -> None:
    page = json.dumps({"data": {"list": [
        {"externalLink": "https://www.nhc.gov.cn/a.html", "url": "/b.html", "title": "甲", "date": "2026-01-02"},
        {"url": "/c.html", "title": "乙", "created": "2026-01-03"},
    ]}}, ensure_ascii=False)
    assert items(page, item="json:data.list", link="json:externalLink|url", title="json:title",
                 date="json:date|created") == [
        ("https://www.nhc.gov.cn/a.html", "甲", "2026-01-02"),
        ("https://www.example.gov.cn/c.html", "乙", "2026-01-03"),
    ]


def test_a_page_without_the_json_finds_nothing() -> None:
    assert items("<html><body>维护中</body></html>", item="json:listData.articleList", link="json:url") == []


def test_json_links_that_are_no_url_are_counted_not_requested() -> None:
    feed = json.dumps([{"t": "一", "u": "javascript:void(0)"}, {"t": "二", "u": "/a/2.html"}])
    listing = extract_list(feed, "https://www.example.gov.cn/col/list.html", ListRule(item="json:$", link="json:u"))
    assert [i.url for i in listing.items] == ["https://www.example.gov.cn/a/2.html"]
    assert listing.not_urls == ("javascript:void(0)",)
