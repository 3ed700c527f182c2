"""Title choice on pages nobody configured: agreement among candidates, never page chrome, no markup left."""

from __future__ import annotations

from pathlib import Path

from policywatch.crawler.extract.detail import extract_detail
from policywatch.crawler.extract.encoding import decode_html
from tests.conftest import read_corpus

URL = "http://127.0.0.1/a.html"


def page(body: str, head: str = "") -> str:
    return f"<html><head><meta charset='utf-8'>{head}</head><body>{body}</body></html>"


def test_footer_heading_never_wins_over_the_title_block_confirmed_by_title_tag() -> None:
    html = page(
        "<div class='title'>关于做好细胞治疗产品医保支付工作的通知</div><div class='zw'><p>正文。</p></div>"
        "<div class='footer'><h2>友情链接</h2><a href='/x'>国家医保局</a></div>",
        "<title>关于做好细胞治疗产品医保支付工作的通知_通知公告_某市医疗保障局</title>")
    assert extract_detail(html, URL).title == "关于做好细胞治疗产品医保支付工作的通知"


def test_chrome_headings_are_not_candidates_even_alone() -> None:
    html = page("<h2>网站地图</h2><div id='bottom'><h1>某市人民政府</h1></div><p>正文。</p>",
                "<title>关于印发某办法的通知 - 某市人民政府</title>")
    assert extract_detail(html, URL).title == "关于印发某办法的通知"


def test_a_heading_the_title_tag_confirms_beats_an_earlier_unconfirmed_one() -> None:
    html = page("<h1>政策文件</h1><h3>关于开展2024年度干细胞临床研究备案的通知</h3>",
                "<title>关于开展2024年度干细胞临床研究备案的通知-某省卫生健康委员会</title>")
    assert extract_detail(html, URL).title == "关于开展2024年度干细胞临床研究备案的通知"


def test_list_title_confirms_a_heading() -> None:
    html = page("<h1>新闻中心</h1><div class='tit'>某市促进生物医药产业发展若干措施</div>")
    fields = extract_detail(html, URL, list_title="某市促进生物医药产业发展若干措施")
    assert fields.title == "某市促进生物医药产业发展若干措施"


def test_a_cut_list_title_is_extended_by_the_page_heading() -> None:
    html = page("<h1>关于做好细胞治疗产品医保支付工作的通知</h1>")
    assert extract_detail(html, URL, list_title="关于做好细胞治疗…").title == "关于做好细胞治疗产品医保支付工作的通知"


def test_site_suffix_is_dropped_but_a_year_range_in_the_title_is_kept() -> None:
    html = page("<p>正文。</p>", "<title>某省2023-2025年生物医药产业规划_某省人民政府门户网站</title>")
    assert extract_detail(html, URL).title == "某省2023-2025年生物医药产业规划"


def test_markup_written_as_text_is_removed_and_br_joins_without_a_space() -> None:
    escaped = page("<h1>关于某某的通知&lt;br/&gt;（征求意见稿）</h1>")
    assert extract_detail(escaped, URL).title == "关于某某的通知（征求意见稿）"
    broken = page("<h1>关于印发某某管理办法\n<br>\n的通知</h1>")
    assert extract_detail(broken, URL).title == "关于印发某某管理办法的通知"


def test_meta_article_title_loses_its_markup_too() -> None:
    html = page("<p>正文。</p>", "<meta name='ArticleTitle' content='某市关于&lt;br&gt;加强管理的意见'>")
    assert extract_detail(html, URL).title == "某市关于加强管理的意见"


def test_a_wrapper_holding_title_and_info_line_is_not_the_title() -> None:
    html = page("<div class='detail-title-box'><h2>某局关于开展专项检查的通知</h2>"
                "<span>发布时间：2024-03-01 来源：某局</span></div>",
                "<title>某局关于开展专项检查的通知</title>")
    assert extract_detail(html, URL).title == "某局关于开展专项检查的通知"


def test_real_hanweb_page_title_from_title_block() -> None:
    """lishui: div.xl_title, <title> and ArticleTitle agree; the breadcrumb and footer do not count."""
    fields = extract_detail(read_corpus_fixture("lishui-zwgk-detail-01.html"),
                            "http://www.lishui.gov.cn/art/2023/10/23/art_1229283449_2493752.html")
    assert fields.title == "丽水市人民政府关于下达2023年市区符合政府安排工作条件退役士兵和退出消防员安置任务的通知"


def test_real_gov_cn_page_title_from_title_tag_when_heading_is_hidden() -> None:
    fields = extract_detail(read_corpus("gov-cn-gongbao-detail-01.html"), URL)
    assert fields.title.startswith("全国人民代表大会常务委员会关于批准财政部发行特别国债")
    assert "国务院公报" not in fields.title


def read_corpus_fixture(name: str) -> str:
    """A page of tests/fixtures/real, decoded as a crawl decodes it."""
    return decode_html((Path(__file__).parent / "fixtures" / "real" / name).read_bytes()).text


def test_titles_with_words_of_chrome_inside_are_titles() -> None:
    title = "国家版权局关于医疗器械注册证书版权登记的公告"
    html = page(f"<h2>友情链接</h2><h1>{title}</h1><p>正文。</p>")
    assert extract_detail(html, URL).title == title


def test_site_name_before_the_title_in_article_title_and_title_tag() -> None:
    title = "某市统筹推动城市和产业转型升级 着力构建五大优势产业集群"
    html = page(f"<table class='sj_bt'><tr><td>{title}</td></tr></table><p>正文。</p>",
                "<meta name='SiteName' content='某市人民政府网'>"
                f"<meta name='ArticleTitle' content='某市人民政府网——{title}'>"
                f"<title>某市人民政府网——{title}</title>")
    assert extract_detail(html, URL).title == title


def test_a_title_holding_a_separator_is_kept_whole_when_the_heading_confirms_it() -> None:
    html = page("<h1>某省生物医药产业发展规划 - 征求意见稿</h1>",
                "<title>某省生物医药产业发展规划 - 征求意见稿_某省人民政府</title>")
    assert extract_detail(html, URL).title == "某省生物医药产业发展规划 - 征求意见稿"


def test_title_from_the_metadata_tables_name_label_when_title_tag_is_the_site() -> None:
    """SAIC: <title> is only the site's name, no heading class; the 名称 row and a centred line hold the title."""
    fields = extract_detail(read_corpus_fixture("saic-zwgk-detail-01.html"), URL)
    assert fields.title == "工商总局办公厅关于清理规范外商投资企业授权登记工作的通知"
