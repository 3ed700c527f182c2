"""文号 forms: decrees, joint orders, announcements numbered by year, and numbers that are not the page's own."""

from __future__ import annotations

import pytest

from policywatch.crawler.extract.detail import extract_detail
from policywatch.crawler.extract.docnum import find_doc_number

URL = "http://127.0.0.1/a.html"


@pytest.mark.parametrize(("text", "expected"), [
    ("国家卫生健康委员会令 第6号", "国家卫生健康委员会令第6号"),
    ("国家市场监督管理总局令第156号", "国家市场监督管理总局令第156号"),
    ("国家卫生健康委员会令（第3号）", "国家卫生健康委员会令第3号"),
    ("八部委令第20号", "八部委令第20号"),
    ("《市场监督管理行政许可程序规定》（国家市场监督管理总局令第78号）", "国家市场监督管理总局令第78号"),
    ("国家药监局公告2023年第5号", "国家药监局公告2023年第5号"),
    ("2023年第12号公告", "2023年第12号公告"),
    ("国家药监局通告（2024年第3号）", "国家药监局通告（2024年第3号）"),
    ("浙政办发[2023]12号", "浙政办发[2023]12号"),
    ("粤府办【2022】7号", "粤府办【2022】7号"),
    ("沪卫规（2021）3号", "沪卫规（2021）3号"),
    ("国家能源局南方监管局行政许可通告（2026年第33期）", None),
    ("2023年第3期", None),
])
def test_number_forms(text: str, expected: str | None) -> None:
    assert find_doc_number(text) == expected


def page(body: str, head: str = "") -> str:
    return f"<html><head><meta charset='utf-8'>{head}</head><body>{body}</body></html>"


def test_a_number_quoted_in_the_body_is_not_the_pages_own() -> None:
    html = page("<h1>关于做好某项工作的通知</h1><div class='zw'><p>各区：根据《国务院关于某事的意见》"
                "（国发〔2018〕43号）和国家药监局公告2023年第5号，现通知如下。</p><p>一、加强管理。</p></div>")
    assert extract_detail(html, URL).doc_number is None


def test_a_periodical_issue_in_the_title_is_not_a_number() -> None:
    html = page("<h1>某监管局行政许可通告（2026年第33期）</h1><p>根据有关规定，现予通告。</p>")
    assert extract_detail(html, URL).doc_number is None


def test_an_announcement_title_ending_with_its_number() -> None:
    html = page("<h1>国家药监局关于某某产品的公告（2024年第3号）</h1><p>根据有关规定，现予公告。</p>")
    assert extract_detail(html, URL).doc_number == "公告（2024年第3号）"


def test_red_head_year_serial_under_the_announcement_heading() -> None:
    html = page("<h1>某某管理局公告</h1><div class='zw'><p>某某管理局公告</p><p>2024年第7号</p>"
                "<p>为加强管理，现公告如下。</p></div>")
    assert extract_detail(html, URL).doc_number == "2024年第7号"


@pytest.mark.parametrize("red_head", [
    "<p>国家卫生健康委员会令 第6号</p>",
    "<p>国家卫生健康委员会令</p><p>第 6 号</p>",  # the heading repeats the title and is trimmed off the body
    "<p>国家卫生健康委员会令</p><p>（第6号）</p>",
])
def test_decree_number_standing_alone_in_the_red_head(red_head: str) -> None:
    html = page(f"<h1>国家卫生健康委员会令</h1><div class='zw'>{red_head}"
                "<p>《医疗机构管理办法》已于2023年5月1日经国家卫生健康委员会委务会议审议通过，现予公布。</p>"
                "<p>主任 某某</p><p>2023年5月20日</p></div>")
    fields = extract_detail(html, URL)
    assert (fields.doc_number, fields.authority) == ("国家卫生健康委员会令第6号", "国家卫生健康委员会")


def test_joint_order_with_issuers_listed_above_a_bare_decree_line() -> None:
    html = page("<h1>某某管理规定</h1><div class='zw'><p>国家发展和改革委员会</p><p>工业和信息化部</p><p>财政部</p>"
                "<p>令</p><p>2023年第20号</p><p>《某某管理规定》已经审议通过，现予公布，自2023年7月1日起施行。</p></div>")
    fields = extract_detail(html, URL)
    assert fields.doc_number == "2023年第20号"
    assert fields.authority == "国家发展和改革委员会、工业和信息化部、财政部"


def test_labelled_number_wins_over_a_cited_one() -> None:
    html = page("<p>发文字号：浙政发〔2024〕3号</p><p>根据国发〔2018〕43号文件精神。</p>")
    assert extract_detail(html, URL).doc_number == "浙政发〔2024〕3号"


def test_a_regulation_page_named_with_its_decree() -> None:
    html = page("<h1>《某某管理办法》（国家市场监督管理总局令第78号）</h1>"
                "<div class='zw'><p>第一条 为了规范管理，制定本办法。</p></div>")
    fields = extract_detail(html, URL)
    assert (fields.doc_number, fields.authority) == ("国家市场监督管理总局令第78号", "国家市场监督管理总局")
