"""Regions and issuers in digests, on real pages: measures for one city or zone are filed under that place, the
numbered list follows the by-region sections with one date per item, a ministry's division is shown with its
ministry, and removals keep to the digest's topics."""

from __future__ import annotations

import json
import re
from datetime import date

import pytest

from policywatch.core import config as config_module
from policywatch.core.model import Fetch, Snapshot
from policywatch.core.store import Store
from policywatch.crawler.extract.detail import extract_detail
from policywatch.crawler.extract.encoding import decode_html
from policywatch.crawler.pipelines import store_fetch, store_snapshot
from policywatch.digest.build import Digest, Item, build_digest
from policywatch.digest.issuers import display_issuer
from policywatch.digest.labels import format_date
from policywatch.digest.period import parse_period
from policywatch.digest.regions import NATIONAL, document_region, infer_region, specific_place
from policywatch.digest.render import render
from tests.conftest import CORPUS, ROOT, SEEDS

DEMO = ROOT / "policywatch" / "demo" / "portal" / "round1"
# Real NHC-site pages of the demo portal: a division signs each ("来源：医政医管局", "来源：科技教育司").
NHC_PAGES = {
    "yizheng": "nhc/yzygj/s7657/202204/ccd949f90773a00208c1cfe2a88ba923.html",  # 医政医管局: 限制类技术目录
    "stem-cell": "nhc/qjjys/s7945/202312/856c20e69923c77059444fc55472535b.html",  # 科技教育司, on topic
}
HENGQIN = "cell-news/zcfg/202312/t20231215_1036.html"  # 国家发改委's measure for 横琴, reported by a news site
CONFIG = """
[topics.cell-therapy]
title = "细胞与基因治疗"
include = ["干细胞", "细胞治疗", "免疫细胞", "CAR-T", "NK细胞", "基因治疗", "外泌体"]

[topics.state-council]
title = "国务院文件"
include = ["国务院"]

[topics.hospitals]
title = "公立医院"
include = ["公立医院"]

[topics.medical-technology]
title = "医疗技术"
include = ["医疗技术", "限制类技术"]

[[digests]]
name = "regional"
topics = ["state-council"]
layout = "by-region"

[[digests]]
name = "cells"
topics = ["cell-therapy"]

[[digests]]
name = "technology"
topics = ["medical-technology"]

[[digests]]
name = "technology-regional"
topics = ["medical-technology"]
layout = "by-region"
language = "zh-Hant"

[[digests]]
name = "hospitals"
topics = ["hospitals"]

[[sources]]
name = "gov-cn"
title = "中国政府网 政策文件"
region = "国家"
authority = "国务院"
start_urls = ["http://www.gov.cn/zhengce/"]
[sources.list]
item = "li"

[[sources]]
name = "nhc"
title = "国家卫生健康委员会 委文件"
region = "国家"
authority = "国家卫生健康委员会"
start_urls = ["http://nhc.demo/wjw/index.html"]
[sources.list]
item = "li"

[[sources]]
name = "cell-news"
title = "细胞产业协会 行业动态"
authority = "细胞产业协会"
start_urls = ["http://cell-news.demo/hydt/index.html"]
[sources.list]
item = "li"
"""


def gov_cn_pages() -> dict[int, dict]:
    """The www.gov.cn 国务院 pages of the corpus (2018-12 … 2019-02), by record id."""
    dump = json.loads((CORPUS / "gov-cn-zhengce-detail-fragments-2019.json").read_text(encoding="utf-8"))
    records = next(value for value in dump.values() if isinstance(value, list))
    return {record["id"]: record for record in records}


@pytest.fixture(scope="module")
def gov_cn() -> dict[int, dict]:
    return gov_cn_pages()


@pytest.fixture
def store(tmp_path):
    path = tmp_path / "config.toml"
    path.write_text(CONFIG, encoding="utf-8")
    config = config_module.load(path)
    with Store(config.db) as opened:
        yield config, opened


def save(store: Store, source: str, url: str, html: str, seen: str) -> Snapshot:
    """Extract a page as a crawl does and store it, first seen at ``seen``."""
    fields = extract_detail(html, url)
    fetch = Fetch(source, url, "detail", seen, status=200)
    snapshot = Snapshot(fetch, url, fields.title, fields.text, fields.published, fields.authority,
                        fields.doc_number)
    store_snapshot(store, 1, snapshot, seen)
    return snapshot


def save_gov_cn(store: Store, record: dict) -> Snapshot:
    html = f"<html><head><meta charset='utf-8'></head><body>{record['html']}</body></html>"
    return save(store, "gov-cn", record["url"], html, "2019-02-17T07:09:45+00:00")


def save_demo(store: Store, source: str, path: str, seen: str, host: str = "http://127.0.0.1:8000") -> Snapshot:
    page = decode_html((DEMO / path).read_bytes()).text
    return save(store, source, f"{host}/{path.split('/', 1)[1]}", page, seen)


def digest(config, store: Store, name: str, period: str) -> Digest:
    spec = config.digest(name)
    return build_digest(config, store, spec, parse_period(period, spec.period))


# --- measures for one city or zone ----------------------------------------------------------------------------

@pytest.mark.parametrize(("record", "place"), [
    (16, "海南省"),  # 国务院关于在海南博鳌乐城国际医疗旅游先行区暂时调整实施…的决定
    (14, "河北省"),  # 国务院关于河北雄安新区总体规划…的批复: a province beside its own zone
    (53, "新疆维吾尔自治区"),  # 国务院关于同意乌鲁木齐、昌吉、石河子高新技术产业开发区…的批复
    (31, "广东省"),  # …关于同意以深圳市名义申办…的复函
    (46, "北京市"),  # 国务院关于同意组建2008年北京奥运会首都国际机场协调委员会的批复: a municipality is a city
    (44, None),  # 国务院关于授权香港特别行政区实施管辖的深圳湾口岸…: two places, in two provinces
    (43, None),  # 国务院办公厅关于广东与香港、澳门合建自动气象站网…的复函
    (52, None),  # …关于内地西藏班（校）扩大规模…: a province's name alone makes no measure local
    (57, None),  # 国务院关于支持自由贸易试验区深化改革创新若干措施的通知
    (10, None),  # 国务院办公厅关于推广第二批支持创新相关改革举措的通知
])
def test_a_central_measure_for_one_city_or_zone_belongs_to_that_place(gov_cn, record, place) -> None:
    title = gov_cn[record]["title"]
    assert specific_place(title) == place
    assert document_region(NATIONAL, "国务院", title, "") == (place or NATIONAL)
    assert infer_region(gov_cn[record]["release_office"], title) == (place or NATIONAL)


def test_a_zone_in_the_title_outweighs_a_central_issuer_but_not_a_provincial_source() -> None:
    title = "商务部关于支持横琴粤澳深度合作区放宽市场准入特别措施的意见"
    assert infer_region("国家发改委", title, "国家发展改革委、商务部于2023年12月15日发布了…") == "广东省"
    assert document_region("上海市", "国家发改委", title, "") == "上海市"  # a provincial portal's own region stands
    assert specific_place("关于在全国推广深圳前海改革创新经验的通知") is None
    assert specific_place("全国人民代表大会常务委员会关于授权国务院在海南博鳌乐城国际医疗旅游先行区…的决定") == "海南省"


def test_a_national_sources_digest_files_zone_measures_under_their_province(store, gov_cn) -> None:
    """December 2018 on www.gov.cn, by region: 乐城, 哈尔滨, 深圳 and 北京 measures leave 国家层面."""
    config, opened = store
    for record in gov_cn.values():
        save_gov_cn(opened, record)
    built = digest(config, opened, "regional", "2018-12")
    sections = {s.heading: [i.title for i in s.items] for s in built.sections}
    assert list(sections) == ["国家层面", "北京市", "黑龙江省", "广东省", "海南省"]
    assert sections["海南省"] == [gov_cn[16]["title"]] and sections["北京市"] == [gov_cn[46]["title"]]
    assert sections["广东省"] == [gov_cn[31]["title"]] and gov_cn[44]["title"] in sections["国家层面"]
    # December's 38 pages: those 4, 33 national ones, and a 实施条例 whose title does not name the topic (国务院).
    assert len(sections["国家层面"]) == 33 and gov_cn[33]["title"] not in sections["国家层面"]
    # The numbered list runs down the sections, not by date (乐城's 12-29 comes after the national 12-03 items).
    assert [i.title for i in built.items] == [t for titles in sections.values() for t in titles]
    assert [i.day for i in built.items] != sorted(i.day for i in built.items)


# --- the numbered list and the dates of the by-region layout ----------------------------------------------------

def item_blocks(text: str, marker: str) -> list[str]:
    """The text of each item of a rendered digest, from one item marker to the next."""
    return re.split(marker, text)[1:]


def dated_once(item: Item, block: str, language: str) -> bool:
    """Whether an item's block gives its date once (besides any mention in its summary)."""
    day = format_date(item.day, language)
    return block.count(day) == 1 + item.summary.count(day)


def test_by_region_gives_each_items_date_once_in_every_format(store, gov_cn) -> None:
    config, opened = store
    for record in (16, 31, 44, 46):
        save_gov_cn(opened, gov_cn[record])
    built = digest(config, opened, "regional", "2018-12")
    text, markdown, html = (render(built, fmt) for fmt in ("text", "md", "html"))
    numbered = re.findall(r"^\d+\. (.*)$", text, re.MULTILINE)
    assert numbered == [i.title for s in built.sections for i in s.items]
    for fmt, document, marker in (("text", text, r"\n►►► "), ("md", markdown, r"\n### "),
                                  ("html", html, r'<div class="item"')):
        blocks = item_blocks(document, marker)
        assert len(blocks) == 4, fmt
        for item, block in zip(built.items, blocks, strict=True):
            assert dated_once(item, block, "zh-Hans"), (fmt, block)
            assert item.doc_number in block, fmt
    assert "来源：国务院 国发〔2018〕43号\n" in text  # the date heads the item; the source line names the issuer
    assert "来源：国务院 国发〔2018〕43号  \n" in markdown
    listed = render(digest(config, opened, "regional", "2018-12"), "text")
    assert listed == text  # the same store gives the same bytes


def test_the_list_layout_keeps_the_date_in_the_source_line(store) -> None:
    config, opened = store
    save_demo(opened, "nhc", NHC_PAGES["stem-cell"], "2023-12-11T02:00:00+00:00")
    built = digest(config, opened, "cells", "2023-12")
    text = render(built, "text")
    assert "来源：2023年12月11日 国家卫生健康委 科技教育司 国卫办科教函〔2023〕437号\n" in text
    assert dated_once(built.items[0], text, "zh-Hans")


# --- divisions with their ministry -----------------------------------------------------------------------------

@pytest.mark.parametrize(("authority", "url", "configured", "shown"), [
    ("科技教育司", "http://127.0.0.1:8000/qjjys/a.html", "国家卫生健康委员会", "国家卫生健康委 科技教育司"),
    ("医政医管局", "https://www.nhc.gov.cn/yzygj/s7657/a.html", None, "国家卫生健康委 医政医管局"),  # by the site
    ("药品注册管理司", "", None, "国家药监局 药品注册管理司"),  # a division only NMPA has
    ("国家卫生健康委员会 科技教育司", "", None, "国家卫生健康委 科技教育司"),  # as the crawl stores it
    ("办公厅、综合司", "https://www.nmpa.gov.cn/xxgk/a.html", None, "国家药监局 办公厅、国家药监局 综合司"),
    ("办公厅", "", "科学技术部", "科技部 办公厅"),
    ("产业处", "", "甘肃省发展和改革委员会", "甘肃省发展和改革委员会 产业处"),  # any government body is a parent
    ("办公厅", "", None, "办公厅"),  # every ministry has one: whose is unknown
    ("协会秘书处", "", "细胞产业协会", "协会秘书处"),  # an association is no ministry
    ("国家卫生健康委员会", "", None, "国家卫生健康委员会"),  # a body, not a division
    ("国务院办公厅", "", "国家卫生健康委员会", "国务院办公厅"),
    ("科技部办公厅", "", "国家卫生健康委员会", "科技部办公厅"),  # names its parent already
    ("吉林省人民政府办公厅", "", "吉林省人民政府", "吉林省人民政府办公厅"),
    # gov-cn-zhengceku-bmwj-detail-01.html (tests/fixtures/real): eight joint issuers, as extracted
    ("中国人民银行 金融监管总局 中国证监会 国家发展改革委 工业和信息化部 财政部 商务部 文化和旅游部", "", None,
     "中国人民银行 金融监管总局 中国证监会 国家发展改革委 工业和信息化部 财政部 商务部 文化和旅游部"),
    ("CDE", "", "细胞产业协会", "CDE"),
])
def test_a_division_is_shown_with_its_ministry(authority, url, configured, shown) -> None:
    assert display_issuer(authority, url, configured) == shown


def test_digest_names_the_ministry_of_a_division_the_page_signs_alone(store) -> None:
    """The NHC page signed "来源：医政医管局" is stored so, and shown with its ministry in every format."""
    config, opened = store
    snapshot = save_demo(opened, "nhc", NHC_PAGES["yizheng"], "2022-04-20T02:00:00+00:00")
    assert snapshot.authority == "医政医管局"
    built = digest(config, opened, "technology", "2022-04")
    assert [i.authority for i in built.items] == ["国家卫生健康委 医政医管局"]
    assert opened.documents_published("2022-04-01", "2022-05-01")[0]["authority"] == "医政医管局"  # kept as stored
    assert "来源：2022年4月20日 国家卫生健康委 医政医管局 国卫办医发〔2022〕6号\n" in render(built, "text")
    assert "<name>国家卫生健康委 医政医管局</name>" in render(built, "atom")
    hant = render(digest(config, opened, "technology-regional", "2022-04"), "text")
    assert "來源：國家衛生健康委 醫政醫管局 國衛辦醫發〔2022〕6號\n" in hant


# --- removals keep to the digest's topics ----------------------------------------------------------------------

def test_a_removal_is_reported_only_in_digests_whose_topics_it_is_on(store, gov_cn) -> None:
    """Two pages go missing in December 2023: the NHC stem-cell notice, and the State Council's opinion on
    assessing public hospitals (no cell therapy in it). The cell-therapy digest lists only the first."""
    config, opened = store
    hospitals = save_gov_cn(opened, gov_cn[4])
    stem_cell = save_demo(opened, "nhc", NHC_PAGES["stem-cell"], "2023-11-01T02:00:00+00:00")
    for day in ("2023-12-10", "2023-12-17"):  # a removal is confirmed by the second check that finds it gone
        for snapshot in (hospitals, stem_cell):
            store_fetch(opened, 1, Fetch(snapshot.fetch.source, snapshot.fetch.url, "detail", f"{day}T01:00:00+00:00",
                                         status=404))
    cells = digest(config, opened, "cells", "2023-12")
    assert [g.title for g in cells.removed] == [stem_cell.title]
    text = render(cells, "text")
    assert "已撤下的政策" in text and hospitals.title not in text
    assert [g.title for g in digest(config, opened, "hospitals", "2023-12").removed] == [hospitals.title]


# --- seed 004: the English by-region roundup --------------------------------------------------------------------

SEED_004_REGIONS = {"National level": "国家", "Beijing": "北京市", "Shanghai Municipality": "上海市",
                    "Shenzhen, Guangdong Province": "广东省", "Hunan Province": "湖南省", "Yunnan Province": "云南省"}
# The seed files the national bodies' Shenzhen measures under Shenzhen; its official title (发改体改〔2022〕135号).
SHENZHEN_MEASURES = "国家发展改革委 商务部关于深圳建设中国特色社会主义先行示范区放宽市场准入若干特别措施的意见"
_DAY = re.compile(r"^(January|February|March|April|May|June|July|August|September|October|November|December) "
                  r"(\d{1,2})(?:st|nd|rd|th)?, (\d{4})$")


def seed_004() -> list[tuple[str, date, str]]:
    """(seed heading, date, paragraph) of every dated entry of seed 004, in its order."""
    months = ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
              "November", "December"]
    entries, heading, day = [], None, None
    for line in (SEEDS / "004_8479a2f9261624a8.txt").read_text(encoding="utf-8").splitlines():
        line = line.strip()
        match = _DAY.match(line)
        if line in SEED_004_REGIONS:
            heading = line
        elif match:
            day = date(int(match[3]), months.index(match[1]) + 1, int(match[2]))
        elif heading and day and len(line) > 80:
            entries.append((heading, day, line))
    return entries


def test_by_region_in_english_groups_and_numbers_the_items_of_seed_004(tmp_path) -> None:
    """Each of the seed's 2022 entries on a portal of its region (the Shenzhen measures of 国家发改委 and 商务部 on
    the national one, under their official title): every month's English digest files them as the seed does,
    numbers them down its sections, and dates each once."""
    entries = seed_004()
    assert len(entries) == 26
    regions = sorted(set(SEED_004_REGIONS.values()))
    sources = "".join(f'\n[[sources]]\nname = "r{n}"\ntitle = "{r}"\nregion = "{r}"\nauthority = "{r}"\n'
                      f'start_urls = ["http://r{n}.example/"]\n[sources.list]\nitem = "li"\n'
                      for n, r in enumerate(regions))
    path = tmp_path / "config.toml"
    path.write_text('[topics.cells]\ntitle = "Cells"\ninclude = ["cell", "gene", "biomedical"]\n\n[[digests]]\n'
                    'name = "en"\ntopics = ["cells"]\nlayout = "by-region"\nlanguage = "en"\nmin_score = 1\n'
                    + sources, encoding="utf-8")
    config = config_module.load(path)
    expected: dict[str, list[str]] = {}
    with Store(config.db) as opened:
        for n, (heading, day, paragraph) in enumerate(entries):
            shenzhen = heading.startswith("Shenzhen") and paragraph.startswith("The National Development")
            title = SHENZHEN_MEASURES if shenzhen else paragraph.split(". ")[0][:120]
            source = f"r{regions.index('国家' if shenzhen else SEED_004_REGIONS[heading])}"
            fetch = Fetch(source, f"http://{source}.example/{n}.html", "detail", f"{day}T02:00:00+00:00", status=200)
            store_snapshot(opened, 1, Snapshot(fetch, fetch.url, title, paragraph, day.isoformat(), "x"),
                           fetch.fetched_at)
            expected.setdefault(heading.split(", ")[-1].replace(" Municipality", ""), []).append(title)
        grouped: dict[str, list[str]] = {}
        for month in range(1, 13):
            built = build_digest(config, opened, config.digest("en"), parse_period(f"2022-{month:02d}", "month"))
            text = render(built, "text")
            headed = []
            for heading in re.split(r"\n== ", text)[1:]:
                name, _, body = heading.partition(" ==\n")
                titles = re.findall(r"^►►► \w+ \d+, \d{4} (.*)$", body, re.MULTILINE)
                grouped.setdefault(name, []).extend(titles)
                headed += titles
            assert re.findall(r"^\d+\. (.*)$", text, re.MULTILINE) == headed
            for item, block in zip(built.items, item_blocks(text, r"\n►►► "), strict=True):
                assert dated_once(item, block, "en")
    assert grouped == expected
    assert SHENZHEN_MEASURES in grouped["Guangdong Province"]
