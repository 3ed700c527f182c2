"""Body boundaries (policywatch.crawler.extract.trim) and link-only pages, on small written pages and on real ones.

Page furniture above and below a policy's text goes, whichever path found the body; the policy's own
signature, date and 附件 list stay; a page whose text is only a link says so instead of passing its title off
as the document.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from policywatch.crawler.extract.detail import extract_detail
from policywatch.crawler.extract.trim import link_only, trim_body
from tests.conftest import make_pdf, read_corpus, source_toml

REAL = Path(__file__).parent / "fixtures" / "real"
TITLE = "关于做好2024年度医疗服务价格调整工作的通知"
POLICY = """各省、自治区、直辖市卫生健康委：
为做好2024年度医疗服务价格调整工作，现就有关事项通知如下。
一、高度重视价格调整工作。各地要按照要求，认真组织实施。
国家卫生健康委办公厅
2023年12月1日"""


def trimmed(text: str, title: str | None = TITLE, links: frozenset[str] = frozenset()) -> str:
    result = trim_body(text, title, links)
    assert not result.warnings
    return result.text


@pytest.mark.parametrize("header", [
    # a metadata table as trafilatura renders it
    "| 索引号 | 000014349/2023-00123 | 发布机构 | 国家卫生健康委 |\n| 主题分类 | 卫生、体育 | 成文日期 | 2023-12-01 |\n"
    "| 发文字号 | 国卫办财务函〔2023〕456号 | 有效性 | 有效 |",
    # the same table with one cell a line, labels spaced out, a label with its value under it
    "索 引 号：000014349/2023-00123\n主题分类：卫生、体育\n发文机关\n国家卫生健康委办公厅\n成文日期：2023年12月01日\n"
    "发文字号：国卫办财务函〔2023〕456号\n标 题\n" + TITLE,
    "发布日期：2023-12-01 10:30 文章来源：国家卫生健康委 浏览次数：1234",
    "字体大小：【 A- A A+ 】\n【字体：大 中 小】 【打印本页】 【关闭窗口】\n分享到：",
    "当前位置：首页 > 政务公开 > 通知公告\n您现在的位置：首页 > 政策文件",
    TITLE,  # the title once more, atop the text
    TITLE[:10] + "\n" + TITLE[10:],  # … broken over two lines by the red-head template
    "2023-12-01 10:30",
])
def test_leading_page_header_goes(header: str) -> None:
    assert trimmed(f"{header}\n{POLICY}") == POLICY


@pytest.mark.parametrize("footer", [
    "（责任编辑：王小明）",
    "责任编辑：王小明",
    "编辑：张三 审核：李四",
    "【打印本页】【关闭窗口】",
    "分享到：\n微信 微博 QQ空间\n扫一扫在手机打开当前页",
    "相关文章：\n关于做好2023年度医疗服务价格调整工作的通知\n2023年医疗服务价格调整政策解读",
    "【相关解读】\n一图读懂医疗服务价格调整",
    "相关链接：国家医保局关于医疗服务价格的通知",
    "政策解读：https://www.example.gov.cn/zcjd/post_1.html\n一图读懂：https://www.example.gov.cn/ytdd/post_2.html",
    "上一篇：关于某某的通知\n下一篇：关于某某的公告",
    "发布时间：2023-12-01 浏览次数：88",
    "（责任编辑：王小明）\n相关文章：\n关于医疗服务价格的通知\n【打印本页】【关闭窗口】",
])
def test_trailing_editor_widget_and_link_lines_go(footer: str) -> None:
    assert trimmed(f"{POLICY}\n{footer}") == POLICY


def test_a_run_of_the_pages_link_texts_closes_no_text() -> None:
    departments = ["· 市委组织部", "· 市委宣传部", "· 市发展改革委", "· 市教育局"]
    links = frozenset(d.strip("· ") for d in departments)
    assert trimmed(POLICY + "\n" + "\n".join(departments), links=links) == POLICY
    # Two lines that happen to be link texts are not yet a link list.
    assert trimmed(POLICY + "\n" + "\n".join(departments[:2]), links=links).endswith(departments[1])


def test_signature_and_attachment_list_stay() -> None:
    attachments = "附件：1. 2024年度医疗服务价格项目表.pdf\n2. 价格调整申报表.xlsx"
    text = ("各省卫生健康委：\n现将价格调整方案印发给你们，请遵照执行。\n" + attachments
            + "\n国家卫生健康委办公厅\n2023年12月1日")
    assert trimmed(text) == text
    assert trimmed(text + "\n（责任编辑：王小明）") == text
    # Sentences that merely begin with a label-like word are text, wherever they are.
    text = "时间安排：2024年1月起各地分批实施。\n" + POLICY + "\n编者按语见附件。"
    assert trimmed(text) == text


def test_a_body_that_is_all_furniture_is_kept_with_a_warning() -> None:
    chrome = "发布日期：2023-12-01\n【打印本页】【关闭窗口】\n（责任编辑：王小明）"
    result = trim_body(chrome, TITLE)
    assert result.text == chrome
    assert result.warnings == ["the body is page furniture only (header, widgets, editor or link lines)"]


def test_trimming_applies_to_a_known_container() -> None:
    page = f"""<html><head><title>{TITLE}</title></head><body><h1>{TITLE}</h1>
    <div id="zoom"><p>字体大小：【 A- A A+ 】</p><p>发布日期：2023-12-01 来源：国家卫生健康委</p>
    {"".join(f"<p>{line}</p>" for line in POLICY.split(chr(10)))}
    <p>（责任编辑：王小明）</p><p>相关文章：</p><p><a href="/a.html">关于医疗服务价格的通知</a></p></div>
    </body></html>"""
    fields = extract_detail(page, "http://www.example.gov.cn/c/1.html")
    assert fields.text == POLICY
    assert fields.published == "2023-12-01"  # read from the page before the line went
    assert fields.linked_url is None and fields.warnings == []


def test_a_container_that_is_only_a_header_is_not_the_body() -> None:
    # #content holds the info line and widgets; the text is in a block no rule names.
    paragraphs = "".join(f"<p>{line}</p>" for line in POLICY.split("\n"))
    page = f"""<html><body><div id="content"><p>发布日期：2023-12-01 文章来源：本网 浏览次数：12</p>
    <p>【字体：大 中 小】 【打印本页】 【关闭窗口】</p></div>
    <div class="wenzhang">{paragraphs}</div>
    <div class="footer"><p>主办单位：某某市人民政府办公室 地址：某某市人民路1号 邮编：100000 电话：12345</p></div>
    </body></html>"""
    fields = extract_detail(page, "http://www.example.gov.cn/c/1.html", list_title=TITLE)
    assert fields.text == POLICY


def test_trimming_applies_to_a_configured_body() -> None:
    from policywatch.core.config import DetailRule

    page = f"""<html><body><div class="mine"><p>当前位置：首页 > 通知</p><p>{TITLE}</p>
    {"".join(f"<p>{line}</p>" for line in POLICY.split(chr(10)))}<p>【打印本页】【关闭窗口】</p></div></body></html>"""
    fields = extract_detail(page, "http://www.example.gov.cn/c/1.html", DetailRule(body="div.mine"), TITLE)
    assert fields.text == POLICY


# -- real pages ---------------------------------------------------------------------------------------------


def test_real_hanweb_page_loses_its_metadata_table() -> None:
    """丽水 (Hanweb): the body container opens with the 索引号 / 文号 / 发布机构 table."""
    page = (REAL / "lishui-zwgk-detail-01.html").read_bytes().decode("utf-8", "replace")
    fields = extract_detail(page, "http://www.lishui.gov.cn/art/2023/10/23/art_1229283449_2493752.html")
    assert fields.text.startswith("莲都区人民政府，市直各单位：")
    assert "索引号" not in fields.text and "发布机构" not in fields.text
    assert "丽水市人民政府\n2023年10月16日" in fields.text  # the signature stays


@pytest.mark.parametrize(("name", "start"), [
    ("yuexiu-wjybjyxx-detail-01.html", "1、一次性创业资助"),
    ("yuexiu-zmhd-ywzsk-detail-02.html", "1.先扫二维码，关注粤省事公众号"),
])
def test_real_pages_lose_title_info_line_and_font_widget(name: str, start: str) -> None:
    """越秀区 pages: no known container; the fallback's text opened with the title, then
    "发布日期：… 文章来源：… 字体大小：【 A- A A+ 】"."""
    fields = extract_detail((REAL / name).read_bytes().decode("utf-8", "replace"), "https://www.yuexiu.gov.cn/1.html")
    assert fields.text.startswith(start)
    assert "字体大小" not in fields.text and "文章来源" not in fields.text
    assert fields.published is not None  # read from the info line before it went


def test_real_page_where_the_fallback_found_only_the_metadata_table() -> None:
    """平潭 (TRS + avalon): trafilatura picks the 索 引 号 / 发文机关 list; the text is in div-per-paragraph blocks."""
    page = (REAL / "pingtan-zfxxgk-gfxwj-detail-01.html").read_bytes().decode("utf-8", "replace")
    fields = extract_detail(page, "https://www.pingtan.gov.cn/zwgk/zfxxgk/gwhwj/hzgfxwj/201705/t20170518_79834.htm")
    assert "各片区项目建设指挥部，区直各单位，各乡镇人民政府，各区属公司：" in fields.text[:100]
    assert "PZ00101-1700-2023-00068" not in fields.text
    assert fields.warnings == []


def test_real_page_loses_its_related_interpretation_link() -> None:
    """江西省政府 规范性文件: "相关解读：解读《…》" under the text."""
    page = (REAL / "jiangxi-gov-zcwj-detail-01.html").read_bytes().decode("utf-8", "replace")
    fields = extract_detail(page, "http://www.jiangxi.gov.cn/art/2020/1/6/art_4975_1.html")
    assert fields.text.endswith("省计划生育协会负责参与婴幼儿照护服务的宣传教育和社会监督。")
    assert "相关解读" not in fields.text


def test_real_pages_lose_footer_link_lists_and_labelled_links() -> None:
    gz = extract_detail(read_corpus("gz-gov-gfxwj-szf-detail-01.html"),
                        "https://www.gz.gov.cn/gfxwj/szfgfxwj/gzsrmzfbgt/content/post_7231742.html")
    assert "市委组织部" not in gz.text and "市林业园林局" not in gz.text
    assert gz.text.endswith("2021年4月16日印发")
    reprint = extract_detail(read_corpus("gz-zc-reprint-detail-01.html"), "https://www.gz.gov.cn/zc/1.html")
    assert reprint.text.endswith("（穗民〔2017〕384号）同时废止。")


# -- link-only pages ----------------------------------------------------------------------------------------


def test_real_interpretation_page_that_only_links_to_its_policy() -> None:
    """江西省政府 解读材料: an image and "相关文件：<the policy, linked>"; nothing else."""
    url = "http://www.jiangxi.gov.cn/art/2020/2/18/art_14236_1508394.html"
    page = (REAL / "jiangxi-gov-jdcl-detail-01.html").read_bytes().decode("utf-8", "replace")
    fields = extract_detail(page, url)
    policy = "http://www.jiangxi.gov.cn/art/2020/2/18/art_4969_1506820.html"
    assert fields.linked_url == policy
    assert fields.warnings == [f"no policy text: the page only links to {policy}"]
    assert fields.text == f"相关文件：江西省人民政府办公厅关于印发江西省政务服务“好差评”管理办法的通知\n{policy}"
    assert fields.title == "解读《江西省政务服务“好差评”管理办法》"


@pytest.mark.parametrize(("body", "expected"), [
    ("点击查看原文", "http://a.gov.cn/p/1.html"),
    ("附件：办法全文.pdf", "http://a.gov.cn/f/x.pdf"),
    (TITLE, "http://a.gov.cn/p/2.html"),  # the title, linked
    ("原文链接：http://a.gov.cn/p/3.html", "http://a.gov.cn/p/1.html"),
    ("现将办法印发给你们，请遵照执行。\n附件：办法全文.pdf", None),  # a text with its attachment
    ("首页", None),  # a link, but not one the body names
])
def test_link_only(body: str, expected: str | None) -> None:
    links = [("首页", "http://a.gov.cn/"), ("点击查看原文", "http://a.gov.cn/p/1.html"),
             (TITLE, "http://a.gov.cn/p/2.html"), ("办法全文.pdf", "http://a.gov.cn/f/x.pdf"),
             ("原文链接：http://a.gov.cn/p/3.html", "http://a.gov.cn/p/1.html")]
    if body == "首页":
        links = links[1:]
    assert link_only(body, TITLE, links, "http://a.gov.cn/jd/9.html") == expected


def test_a_body_of_title_and_date_points_only_to_a_link_to_the_original() -> None:
    body = f"{TITLE}\n发布日期：2024-01-05\n【打印本页】【关闭窗口】"
    own = "http://a.gov.cn/jd/9.html"
    assert link_only(body, TITLE, [("查看详情", "http://a.gov.cn/x.html")], own) is None  # a sidebar's link
    assert link_only(body, TITLE, [("查看详情", "http://a.gov.cn/x.html"), ("【查看原文】", "http://a.gov.cn/zc/1.html")],
                     own) == "http://a.gov.cn/zc/1.html"


def test_the_title_linked_to_the_page_itself_is_not_a_link_only_page() -> None:
    assert link_only(TITLE, TITLE, [(TITLE, "http://a.gov.cn/jd/9.html#top")], "http://a.gov.cn/jd/9.html") is None


LINKED_POLICY = "为做好医疗服务价格调整工作，现就有关事项通知如下：各地要认真组织实施，确保平稳有序。"


def test_crawled_link_only_pages_are_flagged_and_their_file_is_read(
        tmp_path, portal, write_config, run_crawl, open_store) -> None:
    """A 解读 page that only links to another page is stored as that link and flagged on its fetch row (the link
    is not followed); one that only links to a PDF is stored with the PDF as its attachment, whose text is read
    and kept (and diffed) as the attachment's."""
    site = tmp_path / "site"
    site.mkdir()
    (site / "list.html").write_text(
        '<ul><li><a href="/jd/1.html">医疗服务价格调整政策解读</a></li>'
        '<li><a href="/jd/2.html">医疗服务价格调整办法全文</a></li></ul>', encoding="utf-8")
    chrome = ('<div class="head"><a href="/">首页</a> <a href="/zc/">政策文件</a></div>'
              '<div class="footer"><a href="/about.html">关于我们</a></div>')
    (site / "jd" / "1.html").parent.mkdir()
    (site / "jd" / "1.html").write_text(
        f"<html><head><title>医疗服务价格调整政策解读</title></head><body>{chrome}<h1>医疗服务价格调整政策解读</h1>"
        '<div class="info">发布日期：2024-01-05</div>'
        '<div id="zoom"><p><a href="/zc/9.html">点击查看原文</a></p></div></body></html>', encoding="utf-8")
    (site / "jd" / "2.html").write_text(
        f"<html><head><title>医疗服务价格调整办法全文</title></head><body>{chrome}<h1>医疗服务价格调整办法全文</h1>"
        '<div class="info">发布日期：2024-01-06</div>'
        '<div id="zoom"><p>附件：<a href="/files/banfa.pdf">医疗服务价格调整办法.pdf</a></p></div></body></html>',
        encoding="utf-8")
    (site / "zc").mkdir()
    (site / "zc" / "9.html").write_text(f"<html><body><div id='zoom'><p>{LINKED_POLICY}</p></div></body></html>",
                                        encoding="utf-8")
    (site / "files").mkdir()
    (site / "files" / "banfa.pdf").write_bytes(make_pdf("Article 1. Prices are adjusted once a year."))
    base = portal(site)
    config = write_config(source_toml("jd", f"{base}/list.html"))

    run_crawl(config)

    store = open_store(config.db)
    to_page = store.document(f"{base}/jd/1.html")
    assert to_page is not None and to_page["title"] == "医疗服务价格调整政策解读"
    assert to_page["text"] == f"点击查看原文\n{base}/zc/9.html"
    warning = store.db.execute("SELECT warning FROM fetches WHERE url = ?", [f"{base}/jd/1.html"]).fetchone()[0]
    assert warning == f"no policy text: the page only links to {base}/zc/9.html"
    assert store.document(f"{base}/zc/9.html") is None  # not followed: not this list's document
    assert not store.db.execute("SELECT 1 FROM fetches WHERE url = ?", [f"{base}/zc/9.html"]).fetchone()

    to_file = store.document(f"{base}/jd/2.html")
    assert to_file is not None and to_file["attachments"] == [f"{base}/files/banfa.pdf"]
    warning = store.db.execute("SELECT warning FROM fetches WHERE url = ?", [f"{base}/jd/2.html"]).fetchone()[0]
    assert warning == f"no policy text: the page only links to {base}/files/banfa.pdf"
    attachment = store.attachment(f"{base}/files/banfa.pdf")
    assert attachment is not None and attachment["document_id"] == to_file["id"]
    assert "Prices are adjusted once a year." in store.text(attachment["text_hash"])
