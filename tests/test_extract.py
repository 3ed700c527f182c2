"""Extraction of dates, document numbers, encodings and walls, driven by tables of real cases."""

from __future__ import annotations

import pytest

from policywatch.crawler.extract.dates import labelled_date, parse_date, url_date
from policywatch.crawler.extract.detail import extract_detail
from policywatch.crawler.extract.docnum import find_doc_number
from policywatch.crawler.extract.encoding import decode_html
from policywatch.crawler.extract.walls import detect_wall
from tests.conftest import CORPUS

DATES = [
    ("2023-12-05", "2023-12-05"),
    ("2023/12/05", "2023-12-05"),
    ("2023.12.5", "2023-12-05"),
    ("2023年12月5日", "2023-12-05"),
    ("2023 年 3 月 18 日", "2023-03-18"),
    ("发布时间：2025-10-17 09:00:00", "2025-10-17"),
    ("来源：上海市科学技术委员会 2023年12月06日", "2023-12-06"),
    ("[2026-09-24]", "2026-09-24"),
    ("(2025-10-14)", "2025-10-14"),
    ("2023-02-30 then 2023-03-01", "2023-03-01"),  # an impossible date is skipped
    ("第20231205号", None),
    ("", None),
]


@pytest.mark.parametrize(("text", "expected"), DATES)
def test_parse_date(text: str, expected: str | None) -> None:
    assert parse_date(text) == expected


LABELLED = [
    ("首页 2024年1月1日\n发布时间：2023-12-05\n正文 2023年6月1日", "2023-12-05"),
    ("发布日期: 2023 年 3 月 18 日", "2023-03-18"),
    ("日期：2025-02-26 11:54 来源：", "2025-02-26"),
    ("时间：工作日 08:30-12:00\n时间：2026-09-21 08:53", "2026-09-21"),
    ("成文日期：2023年11月29日\n发布日期：2023年12月05日", "2023-12-05"),
    ("日期：2023-11-29\n发布时间：2023-12-05", "2023-12-05"),
    ("成文日期：2023年11月29日", None),
    ("2023-12-05 没有标签", None),
    ("成文日期：2021年3月1日\n發布時間：2021 年 3 月 18 日", "2021-03-18"),  # Traditional labels
    ("發佈日期：2021-04-08", "2021-04-08"),
    ("日期：2021-05-19", "2021-05-19"),
]


def test_traditional_page_fields() -> None:
    html = ("<html><body><h1>北京市衛生健康委員會發布《2021 年北京市衛生健康科教工作要點》</h1>"
            "<p>發布時間：2021 年 3 月 18 日　來源：北京市衛生健康委員會</p>"
            "<div id='zoom'><p>要點中明確提出：做好干細胞、體細胞臨床研究機構和項目備案的初審工作。</p></div>"
            "</body></html>")
    fields = extract_detail(html, "http://127.0.0.1/a.html")
    assert (fields.published, fields.authority) == ("2021-03-18", "北京市衛生健康委員會")


def test_authority_ends_where_the_view_counter_begins() -> None:
    html = ("<html><body><h2>浙江省印发《关于支持生物医药产业创新发展若干举措》</h2>"
            "<div>发布日期：2023-12-13　来源：浙江省经济和信息化厅　浏览次数：325</div>"
            "<div id='zoom'><p>2023年12月12日，浙江省印发若干举措。</p></div></body></html>")
    assert extract_detail(html, "http://127.0.0.1/a.html").authority == "浙江省经济和信息化厅"


def test_labels_among_thousands_of_decoys_on_one_line_are_still_found() -> None:
    """A page of one long line full of label-like decoys (a label glued to the word before it is no label; one
    script's spelling everywhere, the other nowhere): each is skipped, the real labels found, and a value is read
    from at most 500 characters of its line, so every label's search stays linear in the page."""
    decoys = "x發文字號：甲 x来源：乙 " * 5000
    html = (f"<html><body><h1>关于细胞治疗备案的通知</h1><div>{decoys}发文字号：沪卫规〔2023〕12号　"
            f"来源：上海市卫生健康委员会 发布日期：2023-12-05 {'附' * 800}</div>"
            "<div id='zoom'><p>为规范细胞治疗临床研究，现开展备案工作。</p></div></body></html>")
    fields = extract_detail(html, "http://127.0.0.1/a.html")
    assert (fields.doc_number, fields.authority, fields.published) == ("沪卫规〔2023〕12号", "上海市卫生健康委员会",
                                                                       "2023-12-05")


@pytest.mark.parametrize(("text", "expected"), LABELLED)
def test_labelled_date(text: str, expected: str | None) -> None:
    assert labelled_date(text) == expected


@pytest.mark.parametrize(("url", "expected"), [
    ("http://gsj.wuhan.gov.cn:9091/zwgk/zcfg/fl/201803/t20180314_224599.html", "2018-03-14"),
    ("http://www.lishui.gov.cn/art/2023/10/23/art_1229283449_2493752.html", "2023-10-23"),
    ("https://www.cac.gov.cn/2026-09/07/c_1.htm", "2026-09-07"),
    ("http://www.nea.gov.cn/20260928/ccc0e6f6/c.html", "2026-09-28"),
    ("https://www.wanzai.gov.cn/wzxrmzf/tjsj/202305/a1.shtml", None),  # a month folder names no day
    ("http://x.gov.cn/t20230231_1.html", None),
    ("http://x.gov.cn/a.html?d=20230101", None),  # the query is no path
])
def test_url_date(url: str, expected: str | None) -> None:
    assert url_date(url) == expected


def page_dated(label: str, meta: str) -> str:
    return (f"<html><head><meta name='PubDate' content='{meta}'></head><body><h1>中华人民共和国反不正当竞争法</h1>"
            f"<div>{label}</div><div id='zoom'><p>为了促进社会主义市场经济健康发展，鼓励和保护公平竞争，制定本法。</p>"
            "</div></body></html>")


@pytest.mark.parametrize(("label", "meta", "url", "expected"), [
    # The label wins over the meta date...
    ("公开日期：2018-01-01", "2018-03-20 10:00", "http://x.gov.cn/201803/t20180314_1.html", "2018-01-01"),
    # ...unless the meta date and the URL agree on another day: the label then holds some other date.
    ("公开日期：2018-01-01", "2018-03-14 10:00", "http://x.gov.cn/201803/t20180314_1.html", "2018-03-14"),
    ("生成日期：2023-05-11", "2023-08-16 10:33:59", "http://x.gov.cn/202305/a.shtml", "2023-05-11"),
    ("", "2023-08-16 10:33:59", "http://x.gov.cn/202305/a.shtml", "2023-08-16"),
])
def test_publication_date_label_meta_and_url(label: str, meta: str, url: str, expected: str) -> None:
    assert extract_detail(page_dated(label, meta), url).published == expected


DOC_NUMBERS = [
    ("沪科指南〔2023〕18号", "沪科指南〔2023〕18号"),
    ("粤发改能源〔2026〕290号", "粤发改能源〔2026〕290号"),
    ("穗府办规 〔2021〕 7号", "穗府办规〔2021〕7号"),
    ("京卫科教[2021]3号", "京卫科教[2021]3号"),
    ("中华人民共和国国务院令第746号", "中华人民共和国国务院令第746号"),
    ("吉政办发（2023）38号", "吉政办发（2023）38号"),
    ("2023年12月5日", None),
]


@pytest.mark.parametrize(("text", "expected"), DOC_NUMBERS)
def test_find_doc_number(text: str, expected: str | None) -> None:
    assert find_doc_number(text) == expected


ENCODINGS = [
    # (file, codec that must be chosen, a string the decoded title holds)
    ("people-cn-shizheng-detail-gb2312-01.html", "gb18030", "揪揪耳朵"),
    ("people-cn-meta-gb2312-bytes-utf8-01.html", "utf-8", "郑板桥"),  # declares GB2312, is UTF-8
    ("gd-drc-ywtz-detail-01.html", "utf-8", "节能降碳"),
]


@pytest.mark.parametrize(("name", "codec", "needle"), ENCODINGS)
def test_decode_real_pages(name: str, codec: str, needle: str) -> None:
    decoded = decode_html((CORPUS / name).read_bytes())
    assert decoded.encoding == codec
    assert needle in decoded.text


def test_gbk_header_beats_nothing() -> None:
    body = "<html><body>关于印发《实施方案》的通知</body></html>".encode("gbk")
    assert decode_html(body, "text/html; charset=GBK").text.endswith("的通知</body></html>")
    # No declaration at all: still decoded, not mojibake.
    assert "实施方案" in decode_html(body * 20).text


@pytest.mark.parametrize("name", [
    "hubei-zscqj-ruishu-challenge-01.html",
    "chuangyudun-waf-challenge-01.html",
    "yngp-panyun-challenge-mojibake-01.html",
])
def test_challenge_pages_are_walls(name: str) -> None:
    assert detect_wall(200, decode_html((CORPUS / name).read_bytes()).text)


def test_real_page_with_wall_script_is_not_a_wall() -> None:
    # The Gansu portal keeps the Ruishu bootstrap on its real content pages.
    page = decode_html((CORPUS / "gansu-fzgg-tzgg-detail-01.html").read_bytes()).text
    assert detect_wall(200, page) is None
    assert detect_wall(412, page) == "anti-bot wall: HTTP 412 (JS cookie challenge)"


@pytest.mark.parametrize("opening", ["<font>", "<div>", "<span><b>"])
def test_text_nested_deeper_than_libxml2s_default_limit_is_kept(opening: str) -> None:
    """A legacy page that never closes its <font> (or <div>) tags nests its text hundreds of elements deep; libxml2
    would drop everything past 256 levels without a word, and a recursive walk would fail past a thousand."""
    body = "为规范细胞治疗临床研究，现就备案工作通知如下。" * 4
    title = "关于开展细胞治疗备案工作的通知"
    deep = opening * (1800 // opening.count("<"))  # 1,800 levels: libxml2's own hard limit is 2,048
    page = f"<html><body><h1>{title}</h1><div id='zoom'>{deep}{body}</div></body></html>"
    fields = extract_detail(page, "https://www.nhc.gov.cn/yzygj/s7659/202312/1.shtml")
    assert (fields.title, fields.text) == (title, body)


def test_a_tree_deeper_than_trafilatura_can_take_gets_the_other_fallbacks(monkeypatch: pytest.MonkeyPatch) -> None:
    """trafilatura's time grows with the square of a tree's depth (seconds for a page of 2,000 nested tables, which
    huge_tree now lets through): past TRAFILATURA_DEPTH it is not asked, and the page is still read."""
    import trafilatura

    from policywatch.crawler.extract import content

    asked: list[int] = []
    real = trafilatura.extract
    monkeypatch.setattr(trafilatura, "extract", lambda tree, **kw: asked.append(1) or real(tree, **kw))
    label = "<table><tr><td>发布机构</td><td>某市人民政府</td></tr></table>"
    nested = "<table><tr><td>" * 680 + label + "</td></tr></table>" * 680  # 2,040 levels: libxml2 keeps them all
    title = "关于开展细胞治疗备案工作的通知"
    page = f"<html><body>{nested}<h1>{title}</h1><div class='wrap'><p>正文。</p></div></body></html>"
    fields = extract_detail(page, "https://www.example.gov.cn/2023/1.html")
    assert (fields.title, fields.authority, asked) == (title, "某市人民政府", [])
    shallow = page.replace(nested, label)
    assert extract_detail(shallow, "https://www.example.gov.cn/2023/1.html").authority == "某市人民政府"
    assert asked == [1]  # a page of ordinary depth still gets trafilatura's pick
    assert content._beyond(content.parse_html(page), content.TRAFILATURA_DEPTH, content.TRAFILATURA_ELEMENTS)
    assert not content._beyond(content.parse_html(shallow), content.TRAFILATURA_DEPTH, content.TRAFILATURA_ELEMENTS)


def test_a_tree_larger_than_trafilatura_can_take_gets_the_other_fallbacks(monkeypatch: pytest.MonkeyPatch) -> None:
    """trafilatura's time grows with a tree's size too (seconds for a page of tens of thousands of elements, well
    under the page size cap): past TRAFILATURA_ELEMENTS it is not asked, and the densest block is the body."""
    import trafilatura

    from policywatch.crawler.extract import content

    asked: list[int] = []
    real = trafilatura.extract
    monkeypatch.setattr(trafilatura, "extract", lambda tree, **kw: asked.append(1) or real(tree, **kw))
    title = "关于开展细胞治疗备案工作的通知"
    body = "".join(f"<p>第{n}条 为规范细胞治疗临床研究，现就备案工作通知如下。</p>" for n in range(1, 9))
    links = "<ul>" + "<li><a href='/x.html'>相关链接</a></li>" * 200 + "</ul>"
    page = f"<html><body><h1>{title}</h1>{links}<div class='wrap'>{body}</div></body></html>"
    many = page.replace(links, links * 60)  # 24,000 links, 48,000 elements
    assert sum(1 for _ in content.parse_html(many).iter()) > content.TRAFILATURA_ELEMENTS
    fields = extract_detail(many, "https://www.example.gov.cn/2023/1.html")
    assert asked == []
    assert fields.title == title
    assert fields.text.splitlines()[::7] == ["第1条 为规范细胞治疗临床研究，现就备案工作通知如下。",
                                             "第8条 为规范细胞治疗临床研究，现就备案工作通知如下。"]
    assert extract_detail(page, "https://www.example.gov.cn/2023/1.html").text == fields.text
    assert asked == [1]  # a page of ordinary size still gets trafilatura's pick
