"""A busy period: past MAX_ITEMS a digest writes up the most relevant policies and lists the rest by title."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from policywatch.core import config as config_module
from policywatch.core.model import Fetch, Snapshot
from policywatch.core.store import Store
from policywatch.crawler.pipelines import store_snapshot
from policywatch.digest import build
from policywatch.digest.build import build_digest
from policywatch.digest.formats import FORMATS
from policywatch.digest.period import parse_period
from policywatch.digest.render import render

CONFIG = """
[topics.cell-therapy]
title = "细胞与基因治疗"
include = ["干细胞", "细胞治疗", "免疫细胞", "CAR-T", "NK细胞", "基因治疗", "外泌体"]

[[digests]]
name = "monthly"
topics = ["cell-therapy"]

[[digests]]
name = "regional"
topics = ["cell-therapy"]
layout = "by-region"
language = "zh-Hant"

[[digests]]
name = "english"
topics = ["cell-therapy"]
language = "en"

[[sources]]
name = "nhc"
title = "国家卫生健康委员会 通知公告"
region = "国家"
authority = "国家卫生健康委员会"
start_urls = ["https://www.nhc.example/tzgg/"]
[sources.list]
item = "li"
"""
# (title, publish date, text): three name the topic in their title; the last two only twice in their text.
POLICIES = [
    ("关于开展干细胞临床研究机构备案工作的通知", "2023-12-04",
     "为规范干细胞临床研究，现就研究机构备案工作通知如下。一、备案机构应当具备相应的质量管理体系。"),
    ("关于做好2024年元旦春节期间医疗服务保障工作的通知", "2023-12-06",
     "各地要做好节日期间医疗服务保障工作。继续做好干细胞临床研究项目的日常监管。外泌体相关研究按有关规定管理。"),
    ("关于推进免疫细胞治疗产品临床转化的通知", "2023-12-11",
     "免疫细胞治疗产品的临床转化应当遵循科学、规范、安全的原则。试点单位按季度报送工作进展。"),
    ("关于征集生物医药领域重大科技需求的通知", "2023-12-15",
     "现面向社会征集生物医药领域重大科技需求，重点包括细胞治疗与CAR-T新药研发、高端医疗器械等方向。"),
    ("上海市促进基因治疗产业发展的若干措施", "2023-12-20",
     "支持基因治疗药物研发和产业化，建设公共服务平台，对首次进入临床试验的品种给予资助。"),
]
URL = "https://www.nhc.example/tzgg/{}.html"


@pytest.fixture
def busy(tmp_path, monkeypatch, db_target):
    """A month of five on-topic policies, with room to write up only three of them (in state.db, then PostgreSQL)."""
    monkeypatch.setattr(build, "MAX_ITEMS", 3)
    path = tmp_path / "config.toml"
    path.write_text((f'db = "{db_target}"\n' if isinstance(db_target, str) else "") + CONFIG, encoding="utf-8")
    config = config_module.load(path)
    with Store(config.db) as store:
        for n, (title, day, text) in enumerate(POLICIES):
            fetch = Fetch("nhc", URL.format(n), "detail", f"{day}T02:00:00+00:00", status=200)
            snapshot = Snapshot(fetch, fetch.url, title, text, day, "国家卫生健康委员会")
            store_snapshot(store, 1, snapshot, "2024-01-01T00:00:00+00:00")
        yield config, store


def digest_of(config, store, name: str):
    spec = config.digest(name)
    return build_digest(config, store, spec, parse_period("2023-12", spec.period))


def test_the_most_relevant_are_written_up_and_the_rest_listed_by_title(busy):
    config, store = busy
    digest = digest_of(config, store, "monthly")
    assert [i.url for i in digest.items] == [URL.format(n) for n in (0, 2, 4)]  # publish-date order
    assert all(i.summary for i in digest.items)
    assert [(i.url, i.summary) for i in digest.more] == [(URL.format(1), ""), (URL.format(3), "")]
    assert [i.url for s in digest.sections for i in s.items] == [i.url for i in digest.items]

    text = render(digest, "text")
    assert "\n其他2条政策\n本期符合主题的政策较多，以上详列相关度最高的3条，其余按发布日期列出：\n" in text
    assert f"- {POLICIES[1][0]} · 2023年12月6日 · 国家卫生健康委员会\n  {URL.format(1)}\n" in text
    markdown = render(digest, "md")
    assert "\n## 其他2条政策\n\n本期符合主题的政策较多" in markdown
    assert f"- [{POLICIES[3][0]}]({URL.format(3)}) · 2023年12月15日 · 国家卫生健康委员会\n" in markdown
    html = render(digest, "html")
    assert ">其他2条政策</h2>" in html and f'<a href="{URL.format(1)}"' in html
    assert 'alt="条目分布: 12/1-7 2, 12/8-14 1, 12/15-21 2, 12/22-28 0, 12/29-31 0"' in html  # the chart counts all
    for fmt in FORMATS:  # nothing is dropped: every policy's link is in every format
        document = render(digest, fmt)
        assert all(URL.format(n) in document for n in range(len(POLICIES))), fmt


def test_the_feed_has_an_entry_for_every_item_and_a_summary_for_those_written_up(busy):
    config, store = busy
    feed = ET.fromstring(render(digest_of(config, store, "monthly"), "atom").encode("utf-8"))
    atom = "{http://www.w3.org/2005/Atom}"
    entries = {e.find(f"{atom}link").get("href"): e.find(f"{atom}summary") for e in feed.iter(f"{atom}entry")}
    assert set(entries) == {URL.format(n) for n in range(len(POLICIES))}
    assert {url for url, summary in entries.items() if summary is not None} == {URL.format(n) for n in (0, 2, 4)}


def test_the_list_speaks_the_digests_language(busy):
    config, store = busy
    assert "其他2條政策" in render(digest_of(config, store, "regional"), "text")
    english = render(digest_of(config, store, "english"), "md")
    assert "## 2 more policies\n\nA busy period: the 3 most relevant policies are written up above" in english


def test_a_period_within_the_limit_writes_up_every_item(busy, monkeypatch):
    config, store = busy
    monkeypatch.setattr(build, "MAX_ITEMS", len(POLICIES))
    digest = digest_of(config, store, "monthly")
    assert len(digest.items) == len(POLICIES) and digest.more == ()
    assert "其他" not in render(digest, "text") and "<entry>" in render(digest, "atom")
