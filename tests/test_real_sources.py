"""The real sources in config.toml read their saved pages correctly, and each platform's shared rules fit its sites.

The saved pages are ../shared/corpus/real (see its MANIFEST.md); expected values were read off the pages.
"""

from __future__ import annotations

import json

import parsel
import pytest

from policywatch.core import config as config_module
from policywatch.core.config import DetailRule, ListRule, select
from policywatch.core.normalize import normalise
from policywatch.core.platforms import PLATFORMS
from policywatch.crawler.extract.content import parse_html
from policywatch.crawler.extract.detail import extract_detail
from policywatch.crawler.extract.listing import extract_list
from tests import forkcli
from tests.conftest import EXPECTED_PAGES, ROOT, read_corpus

# source name → (saved list page, items, first item's URL, title and date)
SAVED_LISTS = {
    "nmpa-ypggtg": ("nmpa-yaopin-ggtg-list-01.html", 20,
                    "https://www.nmpa.gov.cn/xxgk/ggtg/ypggtg/ypshmshxdgg/20251014104752137.html",
                    "国家药监局关于修订人纤维蛋白原说明书的公告（2025年第101号）", "2025-10-14"),
    "nmpa-ypjgdt": ("nmpa-yaopin-jgdt-list-01.html", 20,
                    "https://www.nmpa.gov.cn/zhuanti/cxylqx/cxypxx/20251013084802179.html",
                    "国家药监局批准莫米司特片上市", "2025-10-13"),
    "nea-zcfb": ("nea-www-list-api-excerpt-01.json", 1,
                 "http://www.nea.gov.cn/20260928/ccc0e6f629384053b0bf50cc3f018187/c.html",
                 "关于披露中国能源传媒集团有限公司负责人2025年度薪酬情况的通知", "2026-09-28"),
    "nea-nfj-tzgs": ("nea-nfj-tzgs-list-01.html", 15, "https://www.nea.gov.cn/20250908/20e47a93222a4f4ca5c824a792ae1a65/c.html",
                     "国家能源局关于防范违规代办电力业务资质许可的通告", "2025-08-29"),
    "gd-drc-ywtz": ("gd-drc-ywtz-list-01.html", 20, "https://drc.gd.gov.cn/ywtz/content/post_4960402.html",
                    "关于印发《广东省重点行业节能降碳改造攻坚三年行动方案》的通知", "2026-09-24"),
    "sh-wsjkw-yqtb": ("shanghai-wsjkw-yqtb-list-01.html", 20, "https://mp.weixin.qq.com/s/SIuDbITNdgWwYyM3eiyrgg",
                      "4月26日（0-24时）本市各区确诊病例、无症状感染者居住地信息", "2022-04-27"),
    "jx-sthjt-zcjd": ("jiangxi-sthjt-zcjd-list-01.html", 50,
                      "http://sthjt.jiangxi.gov.cn/jxssthjt/col/col42150/content/content_1951206363677671424.html",
                      "《江西省生态环境分类执法监管办法》政策解读", "2025-07-29"),
}

# API sources verified on a saved answer of their API and a detail page (tests/test_api_spiders.py).
VERIFIED_BY_API = {"govcn-zhengceku"}


@pytest.fixture(scope="module")
def project_config():
    return config_module.load(ROOT / "config.toml")


def test_sources_list_shows_the_shipped_sources_and_which_are_verified(tmp_path) -> None:
    result = forkcli.run(["sources", "list", "--json", "--config", str(ROOT / "config.toml"),
                          "--db", str(tmp_path / "state.db")], check=True)
    rows = json.loads(result.stdout)
    assert len(rows) >= 30
    assert all(row["region"] and row["authority"] and isinstance(row["verified"], bool) for row in rows)
    assert {row["name"] for row in rows if row["verified"]} == set(SAVED_LISTS) | VERIFIED_BY_API
    regions = {row["region"] for row in rows}
    assert {"国家", "北京市", "上海市", "天津市", "广东省", "浙江省", "海南省"} <= regions


def test_every_verified_source_has_a_saved_list_or_api_answer(project_config) -> None:
    assert {s.name for s in project_config.sources if s.verified} == set(SAVED_LISTS) | VERIFIED_BY_API


@pytest.mark.parametrize("name", sorted(SAVED_LISTS))
def test_saved_list_page(project_config, name: str) -> None:
    file, count, first_url, first_title, first_date = SAVED_LISTS[name]
    source = project_config.source(name)

    listing = extract_list(read_corpus(file), source.start_urls[0], source.list)

    assert len(listing.items) == count
    first = listing.items[0]
    assert (first.url, first.title, first.published) == (first_url, first_title, first_date)
    assert all(item.published for item in listing.items)
    assert len({item.url for item in listing.items}) == count


def test_a_list_that_is_not_date_sorted_keeps_page_order(project_config) -> None:
    """nfj pins an older notice on top: items keep the page's order, and each keeps its own date."""
    source = project_config.source("nea-nfj-tzgs")
    items = extract_list(read_corpus("nea-nfj-tzgs-list-01.html"), source.start_urls[0], source.list).items
    assert [i.published for i in items[:2]] == ["2025-08-29", "2026-09-21"]
    assert items[1].url == "https://nfj.nea.gov.cn/xwzx/tzgg/202609/t20260921_309284.html"


# platform → saved detail pages of sites on it; each must be read by the platform's own detail rules.
PLATFORM_PAGES = {
    "trs": ["nea-nfj-tzgs-detail-attachments-01.html", "gov-cn-gongbao-detail-01.html"],
    "hanweb": ["zj-fgw-detail-01.html"],
    "gkmlpt": ["gz-wjw-policy-detail-01.html"],
}


@pytest.mark.parametrize(("platform", "file"), [(p, f) for p, files in PLATFORM_PAGES.items() for f in files])
def test_platform_detail_rules_fit_its_sites(platform: str, file: str) -> None:
    rule = DetailRule(**PLATFORMS[platform].detail)
    page, expected = read_corpus(file), EXPECTED_PAGES[file]
    assert select(parsel.Selector(root=parse_html(page), type="html"), rule.body), f"{rule.body!r} matches nothing"

    fields = extract_detail(page, "https://example.gov.cn/a.html", rule)

    assert (fields.title, fields.published) == (expected["title"], expected["published"])
    assert normalise(expected["body_start"]) in normalise(fields.text)[:300]
    assert normalise(expected["body_contains"]) in normalise(fields.text)


def test_hanweb_records_are_list_items() -> None:
    """Hanweb column pages carry their items as CDATA records inside <script type="text/xml">.

    The page is written for this test in the layout public Hanweb sites (国家医保局, 江苏) use; no saved
    Hanweb column page is in the corpus, so hanweb sources stay unverified.
    """
    page = """<html><body><div id="4467415"><script type="text/xml"><datastore>
<nextgroup><![CDATA[<a href="/module/web/jpage/dataproxy.jsp?page=1&webid=1&columnid=104"></a>]]></nextgroup>
<recordset>
<record><![CDATA[<li><span>1</span><span><a href="/art/2026/7/17/art_104_13001.html" title="关于做好细胞治疗产品医保支付工作的通知">关于做好细胞治疗…</a></span><span>医保办函〔2026〕12号</span><span>2026-07-17</span></li>]]></record>
<record><![CDATA[<li><a href="/art/2026/7/2/art_104_12877.html" title="医保目录调整工作方案">医保目录调整工作方案</a><span>2026-07-02</span></li>]]></record>
</recordset></datastore></script></div></body></html>"""  # noqa: E501
    rule = ListRule(**PLATFORMS["hanweb"].list)

    listing = extract_list(page, "https://www.nhsa.gov.cn/col/col104/index.html", rule)

    assert [(i.url, i.title, i.published) for i in listing.items] == [
        ("https://www.nhsa.gov.cn/art/2026/7/17/art_104_13001.html", "关于做好细胞治疗产品医保支付工作的通知",
         "2026-07-17"),
        ("https://www.nhsa.gov.cn/art/2026/7/2/art_104_12877.html", "医保目录调整工作方案", "2026-07-02"),
    ]
