"""A page author who floods the places fields are chosen from: thousands of headings, footer headings that
repeat the list's words, megabyte titles, tables nested deep, decree lines without end. Extraction of title,
issuer and 文号 finishes, raises nothing, and is not talked into chrome or a quoted number."""

from __future__ import annotations

from policywatch.crawler.extract.detail import extract_detail
from policywatch.crawler.extract.docnum import find_doc_number
from policywatch.crawler.extract.issuer import decree_issuer
from policywatch.crawler.extract.title import agree, fold

URL = "http://127.0.0.1/a.html"
TITLE = "关于开展细胞治疗临床研究备案工作的通知"


def page(body: str, head: str = "") -> str:
    return f"<html><head><meta charset='utf-8'>{head}</head><body>{body}</body></html>"


def test_thousands_of_headings_before_the_title() -> None:
    noise = "".join(f"<h2>栏目{n}</h2><div class='title'>推荐阅读{n}</div>" for n in range(5000))
    html = page(noise + f"<h1>{TITLE}</h1><div class='zw'><p>正文。</p></div>",
                f"<title>{TITLE}_某市卫生健康委员会</title>")
    assert extract_detail(html, URL).title == TITLE


def test_footer_headings_that_repeat_the_title_are_still_chrome() -> None:
    footer = "".join(f"<div class='footer'><h1>{TITLE}</h1><h2>友情链接</h2></div>" for _ in range(300))
    html = page(f"<div class='tit'>{TITLE}</div><p>正文。</p>" + footer, f"<title>{TITLE}</title>")
    assert extract_detail(html, URL).title == TITLE


def test_megabyte_title_everywhere() -> None:
    huge = "细胞" * 500_000
    html = page(f"<h1>{huge}</h1><div class='title'>{huge}</div><p>来源：{huge}</p><p>发文字号：{huge}令第1号</p>",
                f"<title>{huge}-{huge}</title><meta name='ArticleTitle' content='{huge}'>")
    fields = extract_detail(html, URL, list_title=huge)
    assert len(fields.title) <= 1000
    assert fields.authority is None


def test_tables_nested_deep_around_the_metadata() -> None:
    nested = "<table><tr><td>" * 400 + "发布机构</td><td>某市人民政府" + "</td></tr></table>" * 400
    html = page(nested + f"<h1>{TITLE}</h1><div class='zw'><p>正文。</p></div>", f"<title>{TITLE}</title>")
    fields = extract_detail(html, URL)
    assert fields.title == TITLE


def test_decree_lines_without_end() -> None:
    body = "\n".join(["国家卫生健康委员会 " * 5000 + "令"] * 20)
    assert decree_issuer("x", body, None) is None  # no line names a body before 令 within reach
    assert find_doc_number("某" * 200_000 + "公告" + "2023年第5号" * 10) is not None


def test_agreement_needs_a_real_overlap() -> None:
    assert not agree(fold("通知"), fold("关于印发某办法的通知"))  # too short to confirm anything
    assert agree(fold("关于印发 某办法的通知！"), fold("关于印发某办法的通知"))
