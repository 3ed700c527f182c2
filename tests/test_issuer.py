"""Issuer choice: ranked labels, metadata table over byline, divisions with their parent, decrees."""

from __future__ import annotations

import pytest

from policywatch.crawler.extract.detail import extract_detail
from policywatch.crawler.extract.issuer import deck_issuer, decree_issuer, signature_issuer, with_parent
from tests.test_titles import read_corpus_fixture

URL = "http://127.0.0.1/a.html"


def page(body: str, head: str = "") -> str:
    return f"<html><head><meta charset='utf-8'>{head}</head><body>{body}</body></html>"


def test_metadata_table_issuer_beats_an_abbreviated_byline_source() -> None:
    html = page("<table><tr><td>索引号</td><td>1133/2023-1</td><td>发布机构</td><td>丽水市人民政府</td></tr></table>"
                "<h1>关于某事的通知</h1>"
                "<div class='info'><span>发布时间：2023-10-23</span><span>信息来源：市府办</span></div>"
                "<div class='zoom'><p>各单位：现将有关事项通知如下。</p></div>")
    assert extract_detail(html, URL).authority == "丽水市人民政府"


def test_issuer_label_outranks_source_label_wherever_they_stand() -> None:
    html = page("<p>来源：市府办</p><p>发文机关：某市人民政府办公室</p><p>正文。</p>")
    assert extract_detail(html, URL).authority == "某市人民政府办公室"


def test_byline_source_is_used_when_nothing_better_is_named() -> None:
    html = page("<div>发布时间：2024-01-02 来源：某省市场监督管理局 浏览次数：3</div><p>正文。</p>")
    assert extract_detail(html, URL).authority == "某省市场监督管理局"


def test_footer_owner_is_not_the_issuer() -> None:
    html = page("<p>正文。</p><div class='footer'>主办单位：某市人民政府办公厅 联系电话：12345</div>")
    assert extract_detail(html, URL).authority is None


def test_a_division_is_given_with_the_site_body() -> None:
    html = page("<div>发布时间：2024-01-02 来源：科技教育司</div><p>正文。</p>",
                "<title>关于某事的通知 - 国家卫生健康委员会</title>")
    assert extract_detail(html, URL).authority == "国家卫生健康委员会 科技教育司"


def test_a_division_takes_its_parent_from_the_footer_owner() -> None:
    html = page("<p>正文。</p><div class='foot'>主办单位：甘肃省发展和改革委员会 地址：兰州</div>",
                "<meta name='ContentSource' content='产业处'>")
    assert extract_detail(html, URL).authority == "甘肃省发展和改革委员会 产业处"


@pytest.mark.parametrize(("value", "expected"), [
    ("科技教育司", "国家卫生健康委员会 科技教育司"),
    ("省能源局节能处", "省能源局节能处"),  # names its parent already
    ("广州市住房保障办公室", "广州市住房保障办公室"),  # a body, not a division
    ("保险和非银机构检查局", "保险和非银机构检查局"),
    ("办公室", "国家卫生健康委员会 办公室"),
    ("市场监管处", "国家卫生健康委员会 市场监管处"),
    ("医院管理处", "国家卫生健康委员会 医院管理处"),
])
def test_with_parent(value: str, expected: str) -> None:
    assert with_parent(value, ["国家卫生健康委员会网站"]) == expected


@pytest.mark.parametrize(("title", "body", "number", "expected"), [
    ("国家卫生健康委员会令", "国家卫生健康委员会令\n第6号\n《某办法》已经审议通过。", None, "国家卫生健康委员会"),
    ("某条例", "（2021年7月27日中华人民共和国国务院令第746号公布）", "中华人民共和国国务院令第746号", "国务院"),
    ("某规定", "国家发展和改革委员会\n工业和信息化部\n财政部\n令\n2023年第20号\n正文", None,
     "国家发展和改革委员会、工业和信息化部、财政部"),
    ("某办法", "国家发展改革委 工业和信息化部 财政部 八部委令第20号", None, "国家发展改革委、工业和信息化部、财政部"),
    ("某办法", "国家发展改革委\n工业和信息化部\n财政部\n国家发展改革委等八部委令第20号", None,
     "国家发展改革委、工业和信息化部、财政部"),
    ("某规定", "中华人民共和国主席令\n第三十一号", None, None),
    ("关于贯彻落实国务院令第746号的通知", "各区：现将有关事项通知如下。", None, None),
    ("某某通知", "责令改正。", None, None),
])
def test_decree_issuer(title: str, body: str, number: str | None, expected: str | None) -> None:
    assert decree_issuer(title, body, number) == expected


def test_decree_page_names_its_issuer_over_a_database_source() -> None:
    html = page("<p>来源：国家法律法规数据库</p>"
                "<div class='zw'><p>（2021年7月27日中华人民共和国国务院令第746号公布）</p>"
                "<p>第一条 为了规范市场主体登记管理行为，制定本条例。</p></div>")
    fields = extract_detail(html, URL)
    assert (fields.authority, fields.doc_number) == ("国务院", "中华人民共和国国务院令第746号")


def test_real_hanweb_page_issuer_is_the_publishing_body_not_the_byline() -> None:
    fields = extract_detail(read_corpus_fixture("lishui-zwgk-detail-01.html"), URL)
    assert fields.authority == "市政府"  # 发布机构 in the metadata table; the byline says 市府办


def test_real_joint_issuers_from_the_issuer_label_not_the_source_website() -> None:
    fields = extract_detail(read_corpus_fixture("gov-cn-zhengceku-bmwj-detail-01.html"), URL)
    assert fields.authority == ("中国人民银行 金融监管总局 中国证监会 国家发展改革委 工业和信息化部 财政部 商务部 "
                                "文化和旅游部")
    assert fields.doc_number is None


def test_an_empty_source_label_does_not_take_the_salutation() -> None:
    html = page("<div><span>日期：2025-02-26</span> <span>来源：</span></div>"
                "<div class='zw'><p>各市州发展改革委：</p><p>现将有关事项通知如下。</p></div>")
    assert extract_detail(html, URL).authority is None


@pytest.mark.parametrize(("body", "expected"), [
    ("一、加强管理。\n平潭综合实验区公安局\n2022年12月18日", "平潭综合实验区公安局"),
    ("特此通知。\n国家发展改革委 工业和信息化部\n财政部\n2023年1月5日\n附件：名单",
     "国家发展改革委、工业和信息化部、财政部"),
    ("特此通知。\n某市卫生健康委员会\n二〇二三年十二月十八日", "某市卫生健康委员会"),
    ("会议于2023年1月5日召开，各单位要认真落实。\n2023年1月5日", None),
    ("全年地区生产总值增长8.5%。\n（万载县统计局）", "万载县统计局"),
    ("全年地区生产总值增长8.5%。\n（单位：万元）", None),
])
def test_signature_issuer(body: str, expected: str | None) -> None:
    assert signature_issuer(body) == expected


def test_a_source_naming_the_site_itself_yields_to_the_signature() -> None:
    html = page("<div class='article_title'>区公安局2023年第四季度抽查情况</div><div class='TRS_Editor'>"
                "<p>根据工作安排，对5家企事业进行检查，检查情况详见附件。</p><p>平潭综合实验区公安局</p><p>2023年12月18日</p>"
                "</div><p>来源：平潭综合实验区党工委管委会</p>",
                "<meta name='SiteName' content='平潭综合实验区党工委管委会'>")
    assert extract_detail(html, URL).authority == "平潭综合实验区公安局"


def test_real_page_whose_only_source_label_is_the_site_owner() -> None:
    fields = extract_detail(read_corpus_fixture("pingtan-ghxx-gzjzqk-detail-02.html"), URL)
    assert fields.authority == "平潭综合实验区公安局"


@pytest.mark.parametrize(("body", "expected"), [
    ("某省2022年统计公报\n某省统计局 国家统计局某省调查总队\n2023年3月28日\n2022年，全省经济稳中有进。",
     "某省统计局 国家统计局某省调查总队"),
    ("某市统计局\n（2023年4月12日）\n2022年，全市经济稳中有进。", "某市统计局"),
    ("各单位：\n某市统计局\n2023年4月12日\n现将有关事项通知如下。", None),  # the text had begun
    ("现将有关事项通知如下。\n某市统计局\n2023年4月12日", None),  # a signature, not a deck
])
def test_deck_issuer(body: str, expected: str | None) -> None:
    assert deck_issuer(body) == expected


def test_a_reprinted_text_names_its_issuers_over_the_reposting_sites_label() -> None:
    html = page("<table><tr><td>发布机构</td><td>某市统计局</td></tr></table><h1>某省2022年统计公报</h1>"
                "<div class='zoom'><p>某省2022年统计公报</p><p>某省统计局　国家统计局某省调查总队</p>"
                "<p>2023年3月28日</p><p>2022年，全省经济稳中有进，地区生产总值增长4.7%。</p></div>")
    assert extract_detail(html, URL).authority == "某省统计局 国家统计局某省调查总队"


def test_a_deck_naming_the_labelled_issuer_keeps_the_label() -> None:
    html = page("<table><tr><td>发布机构</td><td>某市统计局</td></tr></table><h1>某市2022年统计公报</h1>"
                "<div class='zoom'><p>某市统计局　国家统计局某市调查队</p><p>（2023年4月12日）</p>"
                "<p>2022年，全市经济稳中有进，地区生产总值增长4.7%。</p></div>")
    assert extract_detail(html, URL).authority == "某市统计局"


@pytest.mark.parametrize(("name", "expected"), [
    ("yichun-gov-tjgb-reprint-detail-02.html", "江西省统计局 国家统计局江西调查总队"),  # reposted by 宜春市统计局
    ("yichun-gov-tjgb-detail-01.html", "宜春市统计局"),  # its own bulletin: the deck names the 发布机构 too
    ("wanzai-gov-tjgb-detail-02.html", "万载县统计局"),  # empty 来源; signed "（万载县统计局）"
])
def test_real_statistical_bulletins(name: str, expected: str) -> None:
    assert extract_detail(read_corpus_fixture(name), URL).authority == expected
