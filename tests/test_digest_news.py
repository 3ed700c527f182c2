"""News sources (``kind = "news"``): their items follow the policies as 行业动态, as in seed 002, in every format and
in the archive site. The fixture serves seed 002's own items: its policies from a government portal, its 动态
from an industry news site, crawled for real."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import date
from html import escape, unescape
from pathlib import Path

import pytest
import yaml

from policywatch.core import config as config_module
from policywatch.core.model import Fetch, Snapshot
from policywatch.core.store import Store
from policywatch.crawler.crawl import crawl
from policywatch.crawler.pipelines import store_fetch, store_snapshot
from policywatch.digest import build as build_module
from policywatch.digest.build import NEWS_SUMMARY_CHARS, build_digest
from policywatch.digest.draft import (
    DraftError,
    check_draft,
    draft_digest,
    draft_of,
    dump_draft,
    new_items,
    parse_draft,
    with_new_items,
)
from policywatch.digest.period import parse_period, period_of
from policywatch.digest.render import render
from policywatch.digest.summary import MAX_CHARS
from policywatch.portal import serve
from tests import forkcli
from tests.conftest import SEEDS, crawl_config_text

SEED_002 = SEEDS / "002_ef1bdd762e4e1ef5.txt"
# Seed 002's 动态: a newspaper article, a research finding and an undated research report; the rest are policies.
NEWS = ("《长沙晚报》发表关于干细胞的文章", "糖尿病群体内NK细胞活性明显降低",
        "运用mRNA技术的新型干细胞疗法可以激发肝脏自我修复")
OFF_TOPIC_NEWS = "医疗器械注册人制度试点工作交流会在杭州召开"
REPOST = "浙江省印发《关于支持生物医药产业创新发展若干举措》"  # the news site reposts this policy too
TOPICS = """
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

[[digests]]
name = "english"
topics = ["cell-therapy"]
language = "en"
"""
PAGE = ("<html><head><meta charset='utf-8'><title>{title}</title></head><body><h1>{title}</h1>"
        "<p class='info'>{published}来源：{authority}　浏览次数：12</p><div id='zoom'>{body}</div></body></html>")


@dataclass(frozen=True)
class SeedItem:
    """One item section of seed 002."""

    title: str
    day: date | None
    authority: str
    paragraph: str

    @property
    def shown_day(self) -> str:
        return f"{self.day.year}年{self.day.month}月{self.day.day}日" if self.day else ""


def seed_items() -> list[SeedItem]:
    """Every item section of seed 002, in its order: title (its lines joined), date, authority, paragraph."""
    items = []
    for section in SEED_002.read_text(encoding="utf-8").split("►►►")[1:]:
        lines = [line.strip() for line in section.strip().splitlines() if line.strip()]
        source = next(i for i, line in enumerate(lines) if line.startswith("来源"))
        found = re.search(r"(\d{4})年(\d{1,2})月(\d{1,2})", lines[source])
        authority = lines[source + 1] if source + 1 < len(lines) and found else re.split(r"[:：]", lines[source])[1]
        items.append(SeedItem("".join(lines[: source - 1]), found and date(*map(int, found.groups())), authority,
                              lines[source - 1]))
    return items


def seed_summary_list() -> list[str]:
    """The titles of seed 002's numbered "12月政策摘要", in its order."""
    text = SEED_002.read_text(encoding="utf-8").split("12月政策摘要")[1].split("►►►")[0]
    return [title.rstrip(";；") for title in re.findall(r"^\d+\.(.+)$", text, re.MULTILINE)]


def write_portal(root: Path, items: list[SeedItem]) -> None:
    """A list page linking one detail page per item, each with its date and 来源 as the seed gives them."""
    root.mkdir(parents=True)
    links = []
    for n, item in enumerate(items, 1):
        published = f"发布时间：{item.day.isoformat()}　" if item.day else ""
        (root / f"{n}.html").write_text(PAGE.format(title=escape(item.title), published=published,
                                                    authority=escape(item.authority),
                                                    body=f"<p>{escape(item.paragraph)}</p>"), encoding="utf-8")
        links.append(f"<li><a href='/{n}.html'>{escape(item.title)}</a></li>")
    (root / "index.html").write_text(f"<html><body><ul>{''.join(links)}</ul></body></html>", encoding="utf-8")


def source(name: str, base: str, kind: str | None) -> str:
    """A [[sources]] entry with no region: each item's region is read from its issuer, title or text."""
    kind_line = f'kind = "{kind}"\n' if kind else ""
    return (f'[[sources]]\nname = "{name}"\ntitle = "{name} 测试"\nauthority = "{name}"\n{kind_line}'
            f'start_urls = ["{base}/index.html"]\n[sources.list]\nitem = "li"\ntitle = "a::text"\n')


@dataclass
class Crawled:
    config: config_module.Config
    policies: list[SeedItem]  # seed 002's December policies, in publish-date order
    news: list[SeedItem]  # its dated 动态, in publish-date order


@pytest.fixture(scope="module")
def crawled(tmp_path_factory):
    """Seed 002's policies on a government portal (a source of the default kind) and its 动态 on a news site
    (kind = "news") that also reposts one of the policies and carries an off-topic item; crawled once."""
    root = tmp_path_factory.mktemp("news")
    items = seed_items()
    policies = [i for i in items if i.title not in NEWS]
    repost = next(i for i in policies if i.title == REPOST)
    off_topic = SeedItem(OFF_TOPIC_NEWS, date(2023, 12, 21), "浙江省药品监督管理局",
                         "12月21日，医疗器械注册人制度试点工作交流会在杭州召开，与会代表交流了试点经验。")
    news = [i for i in items if i.title in NEWS]
    write_portal(root / "gov", policies)
    # The repost is a later copy of the same text: one policy, "also reported by" the news site.
    write_portal(root / "media", [*news, off_topic, SeedItem(repost.title, date(2023, 12, 14), "细胞产业资讯",
                                                             repost.paragraph)])
    with ExitStack() as stack:
        gov, media = (stack.enter_context(serve(root / name)) for name in ("gov", "media"))
        path = root / "config.toml"
        path.write_text(crawl_config_text() + TOPICS + source("gov", gov, None) + source("media", media, "news"),
                        encoding="utf-8")
        config = config_module.load(path)
        crawl(config)
        yield Crawled(config, sorted(policies, key=lambda i: i.day),
                      sorted((i for i in news if i.day), key=lambda i: i.day))


def build(config, fmt: str, digest: str = "monthly", period: str = "2023-12") -> str:
    return forkcli.run(
        ["digest", "build", "--config", str(config.path), "--digest", digest, "--period", period,
         "--format", fmt], check=True,
    ).stdout


def layout(text: str) -> list[str]:
    """A text digest without its prose: headings, the numbered list, item titles and their 来源 lines."""
    return [line for line in text.splitlines()
            if re.match(r"^(\d+\. |►►► |== |来源：|\d+月政策摘要$)", line)]


def expected_layout(crawled: Crawled) -> list[str]:
    """Seed 002's items laid out as its list layout reads: the 摘要 numbering the policies, then the 动态; each
    policy's section; then the 行业动态 section with the 动态, each with its date and source."""
    ordered = [*crawled.policies, *crawled.news]
    lines = ["12月政策摘要", *(f"{n}. {item.title}" for n, item in enumerate(ordered, 1))]
    for item in crawled.policies:
        lines += [f"►►► {item.title}", f"来源：{item.shown_day} {item.authority}"]
    lines.append("== 行业动态 ==")
    for item in crawled.news:
        lines += [f"►►► {item.title}", f"来源：{item.shown_day} {item.authority}"]
    return lines


def test_the_fixture_is_seed_002() -> None:
    items = seed_items()
    assert len(items) == 8 and sum(i.title in NEWS for i in items) == 3
    assert [i.title for i in items if i.day is None] == [NEWS[2]]  # the seed gives the report no date


def test_text_digest_lays_out_policies_then_news_like_seed_002(crawled) -> None:
    text = build(crawled.config, "text")
    title = text.splitlines()[0]
    assert "12月份行业政策及动态汇总" in title
    assert layout(text) == expected_layout(crawled)
    # The seed's own 摘要 (three policies, then two 动态) is in that order among ours.
    numbered = re.findall(r"^\d+\. (.*)$", text, re.MULTILINE)
    seed = seed_summary_list()
    assert [t for t in numbered if t in seed] == seed
    # The reposting news site is named under the policy, and its copy is not news.
    assert text.count(REPOST) == 2 and "同时发布：细胞产业资讯" in text
    assert OFF_TOPIC_NEWS not in text


def test_news_entries_carry_a_one_line_summary_of_their_own_text(crawled) -> None:
    """Whole sentences of the article, within NEWS_SUMMARY_CHARS; a first sentence longer than that stands alone
    (within a policy summary's budget) rather than leaving the entry without one."""
    text = build(crawled.config, "text")
    news = text.split("== 行业动态 ==")[1]
    for item in crawled.news:
        entry = news.split(f"►►► {item.title}\n")[1].split("\n►►► ")[0]
        summary, source = entry.splitlines()[:2]
        sentences = summary.removesuffix("。").split("。")
        assert summary.endswith("。") and source.startswith("来源："), entry
        assert len(summary) <= NEWS_SUMMARY_CHARS or (len(sentences) == 1 and len(summary) <= MAX_CHARS), summary
        assert all(sentence in item.paragraph for sentence in sentences), summary


def test_markdown_and_html_have_the_same_sections(crawled) -> None:
    ordered = [i.title for i in (*crawled.policies, *crawled.news)]
    md = build(crawled.config, "md")
    assert re.findall(r"^\d+\. (.*)$", md, re.MULTILINE) == [t.replace("*", "\\*") for t in ordered]
    policies_md, news_md = md.split("\n## 行业动态\n")
    assert re.findall(r"^### (.*)$", news_md, re.MULTILINE) == [i.title for i in crawled.news]
    assert re.findall(r"^### (.*)$", policies_md, re.MULTILINE) == [i.title for i in crawled.policies]
    assert f"来源：{crawled.news[1].shown_day} 干细胞与外泌体" in news_md

    html = build(crawled.config, "html")
    assert [unescape(t) for t in re.findall(r"<li[^>]*>([^<]*)</li>", html.split("</ol>")[0])] == ordered
    assert re.findall(r"<h2[^>]*>([^<]*)</h2>", html) == ["12月政策摘要", "行业动态"]
    policies_html, news_html = html.split(">行业动态</h2>")
    assert [unescape(t) for t in re.findall(r"<h3[^>]*>([^<]*)</h3>", news_html)] == [i.title for i in crawled.news]
    assert [unescape(t) for t in re.findall(r"<h3[^>]*>([^<]*)</h3>", policies_html)] == [
        i.title for i in crawled.policies]
    # The chart counts the policies only: news is not a policy.
    alt = re.search(r'<img[^>]*alt="([^"]*)"', html).group(1)
    assert sum(int(n) for n in re.findall(r" (\d+)(?:,|$)", alt)) == len(crawled.policies)


def test_atom_feed_lists_the_news_after_the_policies(crawled) -> None:
    atom = "{http://www.w3.org/2005/Atom}"
    feed = ET.fromstring(build(crawled.config, "atom").encode("utf-8"))
    assert "行业政策及动态汇总" in feed.findtext(f"{atom}title")
    entries = list(feed.iter(f"{atom}entry"))
    assert [e.findtext(f"{atom}title") for e in entries] == [i.title for i in (*crawled.policies, *crawled.news)]
    for entry in entries:
        is_news = entry.findtext(f"{atom}title") in NEWS
        assert [c.get("label") for c in entry.iter(f"{atom}category") if c.get("term") == "news"] == (
            ["行业动态"] if is_news else [])
        assert entry.findtext(f"{atom}summary")
    assert entries[-1].find(f"{atom}author").findtext(f"{atom}name") == "干细胞与外泌体"


def test_by_region_and_english_digests_end_with_the_news(crawled) -> None:
    regional = build(crawled.config, "text", "regional")
    headings = re.findall(r"^== (.*) ==$", regional, re.MULTILINE)
    assert headings[-1] == "行业动态" and "国家层面" in headings
    assert re.findall(r"^►►► (.*)$", regional.split("== 行业动态 ==")[1], re.MULTILINE) == [
        i.title for i in crawled.news]
    english = build(crawled.config, "text", "english")
    assert "\n== Industry news ==\n" in english and "Policies and news" in english.splitlines()[0]


def test_an_undated_news_item_belongs_to_the_month_it_was_first_seen(crawled) -> None:
    now = build(crawled.config, "text", period=period_of("month", date.today()).key)
    assert re.findall(r"^►►► (.*)$", now.split("== 行业动态 ==")[1], re.MULTILINE) == [NEWS[2]]
    assert "来源：" in now and "《细胞干细胞》杂志" in now
    assert re.findall(r"^\d+\. (.*)$", now, re.MULTILINE) == [NEWS[2]]  # the 摘要 lists the news alone


def test_archive_issue_page_has_the_news_section(crawled, tmp_path) -> None:
    out = tmp_path / "site"
    forkcli.run(["--config", str(crawled.config.path), "site", "--out", str(out)], check=True)
    page = (out / "digests" / "monthly" / "2023-12.html").read_text(encoding="utf-8")
    assert page == build(crawled.config, "html")  # the issue as subscribers got it
    listing = (out / "digests.html").read_text(encoding="utf-8")
    december = listing.split('href="digests/monthly/2023-12.html"')[1].split("</li>")[0]
    assert f"{len(crawled.policies)} 条，动态 {len(crawled.news)} 条" in december


# In state.db directly, as a crawl stores pages: a month of a policy portal and a news site, edits and removals.
STORED = """
[topics.cell-therapy]
title = "细胞与基因治疗"
include = ["干细胞", "细胞治疗", "免疫细胞", "CAR-T", "NK细胞", "基因治疗", "外泌体"]

[[digests]]
name = "monthly"
topics = ["cell-therapy"]

[[sources]]
name = "gov"
title = "国家卫生健康委员会 通知公告"
region = "国家"
authority = "国家卫生健康委员会"
start_urls = ["https://www.nhc.example/tzgg/"]
[sources.list]
item = "li"

[[sources]]
name = "media"
title = "细胞产业资讯"
authority = "细胞产业资讯"
kind = "news"
start_urls = ["https://news.example/hydt/"]
[sources.list]
item = "li"
"""
ARTICLE = ("{n}号研究团队发表了干细胞治疗的最新研究成果。结果显示，与对照组相比，治疗组的NK细胞活性明显提高。"
           "研究者认为，这为免疫细胞治疗提供了新的思路。")


@pytest.fixture
def stored(tmp_path):
    """state.db holding a November policy and November news articles (the config's store, open)."""
    path = tmp_path / "config.toml"
    path.write_text(STORED, encoding="utf-8")
    config = config_module.load(path)
    with Store(config.db) as store:
        yield config, store


def put(store: Store, source: str, url: str, title: str, day: str, text: str, fetched: str) -> None:
    fetch = Fetch(source, url, "detail", fetched, status=200)
    store_snapshot(store, 1, Snapshot(fetch, url, title, text, day, "细胞产业资讯"), "2099-01-01T00:00:00+00:00")


def gone(store: Store, source: str, url: str, fetched: str) -> None:
    store_fetch(store, 1, Fetch(source, url, "detail", fetched, status=404))


def december(config, store):
    spec = config.digest("monthly")
    return build_digest(config, store, spec, parse_period("2023-12", spec.period))


def test_an_edited_or_removed_article_is_not_news_and_not_a_policy(stored):
    config, store = stored
    pages = {"gov": "https://www.nhc.example/tzgg/1.html", "media": "https://news.example/hydt/1.html"}
    others = {"gov": "https://www.nhc.example/tzgg/2.html", "media": "https://news.example/hydt/2.html"}
    for source in pages:
        put(store, source, pages[source], f"{source}关于干细胞临床研究的通知", "2023-11-10", ARTICLE.format(n=1),
            "2023-11-10T02:00:00+00:00")
        put(store, source, others[source], f"{source}关于免疫细胞治疗的通知", "2023-11-12",
            ARTICLE.format(n=2).replace("干细胞", "CAR-T"), "2023-11-12T02:00:00+00:00")
        put(store, source, pages[source], f"{source}关于干细胞临床研究的通知", "2023-11-10",
            ARTICLE.format(n=1) + "研究将于明年扩大样本量。", "2023-12-05T02:00:00+00:00")
        for day in ("05", "12"):  # the second miss confirms the removal
            gone(store, source, others[source], f"2023-12-{day}T02:00:00+00:00")
    digest = december(config, store)
    # The policy portal's edit and removal are reported; the news site's are neither news nor policies.
    assert [(i.url, i.kind) for i in digest.items] == [(pages["gov"], "changed")]
    assert [i.url for i in digest.removed] == [others["gov"]]
    assert digest.news == ()
    assert "行业动态" not in render(digest, "text")


def test_a_busy_month_summarises_the_most_relevant_news_and_lists_the_rest(stored, monkeypatch):
    monkeypatch.setattr(build_module, "MAX_NEWS", 2)
    config, store = stored
    articles = [  # relevance 2 (two terms in the text), 6 (two in the title), 3 (one in the title)
        ("细胞产业年会在上海召开", "12月1日，细胞产业年会在上海召开。会议讨论了干细胞和免疫细胞产业的发展。"),
        ("干细胞外泌体研究取得进展",
         "研究团队发表了干细胞外泌体治疗肝损伤的研究成果。结果显示，治疗组肝功能明显改善。"),
        ("NK细胞活性研究发表",
         "韩国研究团队发表了NK细胞活性与血糖控制关系的研究。与对照组相比，糖尿病患者的NK细胞活性降低。"),
    ]
    for n, (title, text) in enumerate(articles, 1):
        put(store, "media", f"https://news.example/hydt/{n}.html", title, f"2023-12-0{n}", text,
            f"2023-12-0{n}T02:00:00+00:00")
    titles = [title for title, _ in articles]
    digest = december(config, store)
    assert digest.items == () and [i.title for i in digest.news] == titles  # all listed, by date
    assert [bool(i.summary) for i in digest.news] == [False, True, True]  # the first is the least relevant
    text = render(digest, "text")
    assert "本期暂无符合主题的新政策。" not in text
    assert re.findall(r"^\d+\. (.*)$", text, re.MULTILINE) == titles
    assert "►►► 细胞产业年会在上海召开\n来源：2023年12月1日 细胞产业资讯\n" in text
    assert "与对照组相比，糖尿病患者的NK细胞活性降低。" in text


NEWS_ARTICLES = (  # (title, December day, text)
    ("干细胞外泌体研究取得进展", "05",
     "研究团队发表了干细胞外泌体治疗肝损伤的研究成果。结果显示，治疗组肝功能明显改善。"),
    ("NK细胞活性研究发表", "18",
     "韩国研究团队发表了NK细胞活性与血糖控制关系的研究。与对照组相比，糖尿病患者的NK细胞活性降低。"),
)


def test_an_editors_draft_lists_the_news_apart_and_the_issue_shows_them_as_drafted(stored):
    """`digest draft` writes the news items under `news`; the editor drops one, rewrites one, adds an outside
    item kept out of the 摘要; the issue shows exactly those. A news item that arrives later goes to `news`."""
    config, store = stored
    put(store, "gov", "https://www.nhc.example/tzgg/1.html", "关于开展干细胞临床研究备案工作的通知", "2023-12-04",
        "为规范干细胞临床研究，现就备案工作通知如下。备案机构应当具备相应的质量管理体系。", "2023-12-04T02:00:00+00:00")
    for n, (title, day, text) in enumerate(NEWS_ARTICLES, 1):
        put(store, "media", f"https://news.example/hydt/{n}.html", title, f"2023-12-{day}", text,
            f"2023-12-{day}T02:00:00+00:00")
    automatic = december(config, store)
    front = yaml.safe_load(dump_draft(draft_of(automatic)).split("---\n")[1])
    assert [i["title"] for i in front["news"]] == ["干细胞外泌体研究取得进展", "NK细胞活性研究发表"]
    assert [i["title"] for i in front["items"]] == ["关于开展干细胞临床研究备案工作的通知"]

    outside = {"title": "《细胞》杂志：CAR-T疗法进展", "link": "https://example.com/n/7", "date": "2023-12-28",
               "source": "新华网", "summary": "外部条目。", "top": False}
    front["news"] = [*front["news"][1:], outside]
    front["news"][0]["summary"] = "编辑改写的一句话。"
    edited = "---\n" + yaml.safe_dump(front, allow_unicode=True, sort_keys=False) + "---\n"
    draft = parse_draft(edited, "draft.md")
    spec, period = config.digest("monthly"), parse_period("2023-12", "month")
    issue = draft_digest(config, store, spec, period, draft, check_draft(draft, "draft.md", spec, period, store))
    text = render(issue, "text")
    news = text.split("== 行业动态 ==")[1]
    assert re.findall(r"^►►► (.*)$", news, re.MULTILINE) == ["NK细胞活性研究发表", "《细胞》杂志：CAR-T疗法进展"]
    assert "编辑改写的一句话。\n来源：2023年12月18日 细胞产业资讯" in news and "干细胞外泌体" not in text
    assert re.findall(r"^\d+\. (.*)$", text, re.MULTILINE) == ["关于开展干细胞临床研究备案工作的通知",
                                                               "NK细胞活性研究发表"]

    put(store, "media", "https://news.example/hydt/3.html", "CAR-T细胞疗法新进展", "2023-12-20",
        "研究团队发表了CAR-T细胞治疗的新成果。", "2023-12-20T02:00:00+00:00")
    arrived = new_items(draft, december(config, store))
    assert [i.title for i in arrived] == ["CAR-T细胞疗法新进展"]
    assert [i.title for i in with_new_items(draft, arrived).news][-1] == "CAR-T细胞疗法新进展"

    front["news"][0]["id"] = front["items"][0]["id"]
    with pytest.raises(DraftError, match=r"^draft.md: news\[1\].id: document \d+ is already items\[1\]$"):
        parse_draft("---\n" + yaml.safe_dump(front, allow_unicode=True) + "---\n", "draft.md")
