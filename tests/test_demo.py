"""`policywatch demo` end to end: the bundled portal crawled three times, checked against EXPECTED.toml."""

from __future__ import annotations

import json
import re
import subprocess
import tomllib
import xml.etree.ElementTree as ET
from pathlib import Path
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import pytest

from policywatch.core.localtime import today
from policywatch.core.store import Store
from policywatch.demo import PORTAL
from policywatch.digest.build import NEWS_SUMMARY_CHARS
from tests import forkcli
from tests.conftest import SEEDS

EXPECTED = tomllib.loads((PORTAL / "EXPECTED.toml").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def demo(demo_run):
    """The demo's printed output, its state.db and its folder."""
    output, workdir = demo_run
    store = Store(workdir / "state.db")
    yield output, store, workdir
    store.close()


def documents_by_path(store: Store) -> dict[tuple[str, str], dict]:
    docs = {}
    for row in store.documents():
        docs[(row["source"], urlsplit(row["url"]).path)] = store.document(str(row["id"]))
    return docs


def test_demo_prints_what_it_found_and_where(demo) -> None:
    output, store, workdir = demo
    assert f"state.db: {workdir / 'state.db'}" in output
    # Its document table (printed to a pipe here) has every document's id and whole title on one line, for the
    # `show`, `diff` and `history` the demo suggests next.
    for doc in store.documents():
        assert re.search(rf"│ +{doc['id']} │ {doc['source']} +│.*│ {re.escape(doc['title'])} +│ +{doc['versions']} │",
                         output), doc
    assert "show <id>" not in output
    assert f"policywatch --config {workdir / 'config.toml'} changes" in output
    assert re.search(r"new\s+nhc\s+关于印发免疫细胞治疗临床研究管理工作指引（试行）的通知", output)
    assert re.search(r"changed\s+jl-gov\s+关于打造吉林省生物医药与高端医疗器械产业新赛道的实施方案\s+\(changed: text\)",
                     output)
    assert re.search(r"failed\s+sh-sti\s+.*\(HTTP 404\)", output)
    # The third round finds the page gone a second time in a row: a removal.
    third = output.split("Round 3 found:")[1]
    assert re.search(r"removed\s+sh-sti\s+上海市2023年度“科技创新行动计划”细胞与基因治疗专项拟立项项目公示", third)


def test_demo_writes_the_archive_site(demo) -> None:
    output, store, workdir = demo
    site = workdir / "site"
    assert f"{site / 'index.html'}" in output
    assert {p.stem for p in (site / "documents").glob("*.html")} == {str(d["id"]) for d in store.documents()}
    title = "关于打造吉林省生物医药与高端医疗器械产业新赛道的实施方案"
    changed = next(d for d in store.documents() if d["title"] == title)
    page = (site / "documents" / f"{changed['id']}.html").read_text(encoding="utf-8")
    assert 'id="v2"' in page and '<ins class="pw-ins">' in page


def test_every_page_extracted_as_expected(demo) -> None:
    _, store, _ = demo
    docs = documents_by_path(store)
    pages = [p for p in EXPECTED["page"] if p["round"] == "round1" or p["change"] == "new"]
    assert len(docs) == len(pages)
    for page in pages:
        doc = docs[(page.get("source", page["site"]), page["url"])]
        got = {k: doc[k] for k in ("title", "published", "authority", "doc_number")}
        want = {k: page.get(k) for k in ("title", "published", "authority", "doc_number")}
        assert got == want, page["path"]
        attachments = [urlsplit(u).path for u in doc["attachments"]]
        assert attachments == page.get("attachments", []), page["path"]
        assert len(doc["text"]) > 100 and "浏览次数" not in doc["text"], page["path"]


def test_gbk_site_decoded(demo) -> None:
    _, store, _ = demo
    jl = [d for d in store.documents() if d["source"] == "jl-gov"]
    assert len(jl) == 5
    assert all(re.search(r"[\u4e00-\u9fa5]{6}", d["title"]) and "\ufffd" not in d["title"] for d in jl)
    text = store.document(str(jl[0]["id"]))["text"]
    assert "\ufffd" not in text and "吉林" in text


def test_round_two_edits(demo) -> None:
    _, store, _ = demo
    docs = documents_by_path(store)
    for page in (p for p in EXPECTED["page"] if p["round"] == "round2"):
        doc = docs[(page["site"], page["url"])]
        versions = {"new": 1, "changed": 2, "noise": 1, "removed": 1}[page["change"]]
        assert doc["versions"] == versions, page["path"]
        if page["change"] == "removed":
            assert (doc["last_status"], doc["status"]) == (404, "removed")

    def found(run: int) -> list[tuple[str, str]]:
        return sorted(store.db.execute(
            "SELECT c.kind, d.source FROM changes c JOIN documents d ON d.id = c.document_id WHERE c.run_id = ?",
            [run]).fetchall())

    # The second crawl's change records: exactly the planted edits. The removed page has answered 404 once,
    # which is not yet a removal; the third crawl finds it gone again, and that is one.
    assert [run for (run,) in store.db.execute("SELECT DISTINCT run_id FROM changes ORDER BY run_id")] == [1, 2, 3]
    planted = sorted((p["change"], p["site"]) for p in EXPECTED["page"] if p.get("change") in ("new", "changed"))
    assert found(2) == planted
    assert found(3) == [("removed", p["site"]) for p in EXPECTED["page"] if p.get("change") == "removed"]


def test_show_json_on_the_demo_db(demo) -> None:
    _, store, workdir = demo
    doc = next(d for d in store.documents() if d["doc_number"] == "沪科指南〔2023〕41号")
    result = forkcli.run(["--config", str(workdir / "config.toml"), "show", doc["url"], "--json"], check=True)
    shown = json.loads(result.stdout)
    assert {"url", "title", "published", "authority", "doc_number", "source", "region",
            "attachments", "text"} <= set(shown)
    assert (shown["source"], shown["region"], shown["published"]) == ("sh-sti", "上海市", "2023-12-15")
    assert "干细胞和免疫细胞临床研究" in shown["text"]  # the round-2 text is the latest version


def test_changes_and_history_commands(demo) -> None:
    *_, workdir = demo
    config = ["--config", str(workdir / "config.toml")]
    listed = json.loads(forkcli.run(["changes", "--json", *config], check=True).stdout)
    pages = EXPECTED["page"]
    first_round = sum(p["round"] == "round1" for p in pages)
    assert [c["kind"] for c in listed].count("new") == first_round + sum(p.get("change") == "new" for p in pages)
    changed = [c for c in listed if c["kind"] == "changed"]
    assert {(c["source"], c["fields"][0]) for c in changed} == {("sh-sti", "text"), ("jl-gov", "text")}
    assert {"kind", "url", "title", "published", "source", "region", "detected_at", "group", "diff"} <= set(changed[0])
    only = forkcli.run(["changes", "--json", "--kind", "changed", "--source", "jl-gov", *config], check=True)
    assert [c["title"] for c in json.loads(only.stdout)] == ["关于打造吉林省生物医药与高端医疗器械产业新赛道的实施方案"]
    bad = forkcli.run(["changes", "--since", "12/2023", *config])
    assert bad.returncode == 2 and "'12/2023' is not a date like 2023-12-31" in bad.stderr

    history = forkcli.run(["history", str(changed[1]["document"]), *config], check=True).stdout
    assert "new" in history and "changed" in history


def test_diff_command(demo) -> None:
    _, store, workdir = demo
    config = ["--config", str(workdir / "config.toml")]
    doc = next(d for d in store.documents() if d["doc_number"] == "沪科指南〔2023〕41号")

    def run(*args: str) -> subprocess.CompletedProcess:
        return forkcli.run(["diff", str(doc["id"]), *args, *config])

    text = run("--format", "text")
    assert text.returncode == 0 and "干细胞{+和免疫细胞+}临床研究" in text.stdout
    html = run("--format", "html").stdout
    assert '<table class="pw-sbs">' in html and '<ins class="pw-ins">和免疫细胞</ins>' in html
    coloured, plain = run("--color").stdout, run().stdout
    assert "\x1b[" in coloured and "\x1b[" not in plain and "和免疫细胞" in plain
    [changed] = [c for c in store.changes(kind="changed") if c["document_id"] == doc["id"]]
    assert changed["added"] > 0  # the change record carries the diff's size
    single = next(d for d in store.documents() if d["versions"] == 1)
    one = forkcli.run(["diff", str(single["id"]), *config])
    assert one.returncode == 1 and "has only one version" in one.stderr


def seed_002_items() -> list[tuple[str, str | None, str]]:
    """(title, date as written, authority) of every item section of the December 2023 roundup, in its order."""
    text = (SEEDS / "002_ef1bdd762e4e1ef5.txt").read_text(encoding="utf-8")
    items = []
    for section in text.split("►►►")[1:]:
        lines = [line.strip() for line in section.strip().splitlines() if line.strip()]
        source = next(i for i, line in enumerate(lines) if line.startswith("来源"))
        day = re.search(r"(\d{4})年(\d{1,2})月(\d{1,2})", lines[source])
        authority = lines[source + 1] if source + 1 < len(lines) else lines[source].split(":", 1)[1]
        items.append(("".join(lines[: source - 1]), day and "{}年{}月{}日".format(*day.groups()), authority))
    return items


def seed_002_summary() -> list[str]:
    """The titles of the December 2023 roundup's numbered "12月政策摘要", in its order."""
    text = (SEEDS / "002_ef1bdd762e4e1ef5.txt").read_text(encoding="utf-8").split("12月政策摘要")[1].split("►►►")[0]
    return [title.rstrip(";；") for title in re.findall(r"^\d+\.(.+)$", text, re.MULTILINE)]


def digest_items(text: str) -> list[tuple[str, str, str]]:
    """(title, date, authority) of each item section of a text digest."""
    found = re.findall(r"^►►► (.*)\n(?:.*\n)*?来源：(\d{4}年\d{1,2}月\d{1,2}日) (\S+)", text, re.MULTILINE)
    return [tuple(match) for match in found]


def test_december_digest_reads_like_the_seed(demo) -> None:
    """The roundup's dated portal items, crawled from the demo portal, come out with its titles, dates and
    authorities amid the other portals' December policies: the policies in date order, then the news site's
    items (its 动态) under 行业动态, the order its numbered 摘要 follows. The undated item belongs to the month it
    was first seen."""
    _, store, workdir = demo
    seed = seed_002_items()
    assert len(seed) == 8
    served = [item for item in seed if item[1]]
    undated = next(title for title, day, _ in seed if day is None)
    news = {d["title"] for d in store.documents() if d["source"] == "cell-news"}
    text = (workdir / "digest-monthly-2023-12.txt").read_text(encoding="utf-8")
    built = forkcli.run(["--config", str(workdir / "config.toml"), "digest", "build", "--digest",
                         "monthly", "--period", "2023-12", "--format", "text"], check=True).stdout
    assert built == text
    assert text.startswith("政策汇总 | 2023年12月份行业政策及动态汇总\n发布时间：2024年1月1日\n\n12月政策摘要\n")
    titles = {title for title, *_ in served}
    in_order = [item for item in served if item[0] not in news] + [item for item in served if item[0] in news]
    numbered = re.findall(r"^\d+\. (.*)$", text, re.MULTILINE)
    assert [t for t in numbered if t in titles] == [title for title, *_ in in_order]
    assert [t for t in numbered if t in seed_002_summary()] == seed_002_summary()
    assert [item for item in digest_items(text) if item[0] in titles] == in_order
    section = text.split("\n== 行业动态 ==\n")[1]
    assert [title for title, *_ in digest_items(section)] == ["《长沙晚报》发表关于干细胞的文章",
                                                              "糖尿病群体内NK细胞活性明显降低"]
    # A 动态 entry's one line carries the news: here, the study's finding.
    nk = section.split("►►► 糖尿病群体内NK细胞活性明显降低\n")[1].splitlines()[0]
    assert "即与对照组相比，糖尿病患者的NK细胞活性降低。" in nk and len(nk) <= NEWS_SUMMARY_CHARS
    assert len(numbered) == len(digest_items(text)) == 11 and undated not in numbered
    assert "关于召开2024年度会员代表大会的通知" not in text  # December, but off topic
    now = forkcli.run(["--config", str(workdir / "config.toml"), "digest", "build", "--digest",
                       "monthly", "--format", "text", "--period",
                       today(ZoneInfo("Asia/Shanghai")).strftime("%Y-%m")],  # the demo config's zone
                      check=True).stdout
    assert undated in now.split("\n== 行业动态 ==\n")[1]


def test_this_months_digest_reports_the_changes_and_the_removal(demo) -> None:
    """Changes to older policies and removals belong to the month they were found in: the demo writes that
    month's digest too, with the 已撤下的政策 section a newcomer should see."""
    output, _, workdir = demo
    [removed] = [p for p in EXPECTED["page"] if p.get("change") == "removed"]
    [text] = [p for p in workdir.glob("digest-monthly-*.txt") if p.name != "digest-monthly-2023-12.txt"]
    month = text.stem.removeprefix("digest-monthly-")
    assert f"Digest for {month}: what the re-checks found" in output
    shown = text.read_text(encoding="utf-8")
    assert shown.count("更新：正文") == 2
    section = shown.split("\n已撤下的政策\n")[1]
    assert section.startswith("以下政策页面已连续两次无法访问")
    assert f"\n- {removed['title']} · 2023年11月20日 · {removed['authority']}\n  http://127.0.0.1:" in section
    assert section.rstrip().endswith(removed["url"]) and section.strip() in output
    markdown = (workdir / f"digest-monthly-{month}.md").read_text(encoding="utf-8")
    assert f"## 已撤下的政策\n\n{section.splitlines()[0]}\n\n- [{removed['title']}](" in markdown
    html = (workdir / f"digest-monthly-{month}.html").read_text(encoding="utf-8")
    assert "已撤下的政策" in html
    assert re.search(f'href="http://127.0.0.1:\\d+{re.escape(removed["url"])}"[^>]*>{removed["title"]}</a>', html)


def test_atom_feeds_name_their_own_address(demo) -> None:
    """Each feed the demo writes links to itself (its file name: right wherever the file is served); the archive
    site's feeds sit beside their issues; `digest build` gives the file it writes, and the archive's address
    when the config says where the site is published."""
    *_, workdir = demo
    atom = "{http://www.w3.org/2005/Atom}"
    rfc3339 = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)")

    def self_links(xml: str) -> list[str]:
        """The feed's rel="self" links, once it is checked against RFC 4287's rules for a feed and its entries."""
        feed = ET.fromstring(xml.encode("utf-8"))
        assert feed.tag == f"{atom}feed"
        for element in (feed, *feed.findall(f"{atom}entry")):
            for name in ("id", "title", "updated"):
                assert len(element.findall(f"{atom}{name}")) == 1, name
            assert rfc3339.fullmatch(element.findtext(f"{atom}updated"))
            assert all(link.get("href") for link in element.findall(f"{atom}link"))
        # A feed names an author unless every entry does.
        assert feed.findall(f"{atom}author") or all(e.findall(f"{atom}author") for e in feed.findall(f"{atom}entry"))
        links = [link for link in feed.findall(f"{atom}link") if link.get("rel") == "self"]
        assert all(link.get("type") == "application/atom+xml" for link in links)
        return [link.get("href") for link in links]

    for path in workdir.glob("digest-*.atom"):
        assert self_links(path.read_text(encoding="utf-8")) == [path.name]
    feed = workdir / "site" / "digests" / "monthly" / "2023-12.atom"
    assert self_links(feed.read_text(encoding="utf-8")) == ["2023-12.atom"]
    assert 'href="digests/monthly/2023-12.atom"' in (workdir / "site" / "digests.html").read_text(encoding="utf-8")

    def build(config: Path, *extra: str) -> str:
        return forkcli.run(["--config", str(config), "digest", "build", "--digest", "monthly",
                            "--period", "2023-12", "--format", "atom", *extra], check=True).stdout

    config = workdir / "config.toml"
    assert self_links(build(config)) == []  # on stdout its address is unknown
    out = workdir / "my feed.atom"
    build(config, "--out", str(out))
    assert self_links(out.read_text(encoding="utf-8")) == ["my%20feed.atom"]
    published = workdir / "published.toml"
    published.write_text('site_url = "https://policy.example.org/archive"\n' + config.read_text(encoding="utf-8"),
                         encoding="utf-8")
    assert self_links(build(published)) == ["https://policy.example.org/archive/digests/monthly/2023-12.atom"]


def test_regional_digest_puts_national_first(demo) -> None:
    *_, workdir = demo
    text = (workdir / "digest-regional-2023-12.txt").read_text(encoding="utf-8")
    headings = re.findall(r"^== (.*) ==$", text, re.MULTILINE)
    assert headings == ["国家层面", "吉林省", "上海市", "浙江省", "广东省", "行业动态"]  # the news after every region
    national = text.split("== 国家层面 ==")[1].split("== 吉林省 ==")[0]
    assert "CDE发布" in national and "来源：国家卫生健康委 科技教育司 国卫办科教函〔2023〕437号\n" in national
    guangdong = text.split("== 广东省 ==")[1].split("== 行业动态 ==")[0]  # 国家发改委's measure for 横琴
    assert "商务部关于支持横琴粤澳深度合作区放宽市场准入特别措施的意见" in guangdong
    headed = re.findall(r"^►►► \S+ (.*)$", text.split("== 行业动态 ==")[0], re.MULTILINE)
    news = re.findall(r"^►►► (.*)$", text.split("== 行业动态 ==")[1], re.MULTILINE)
    assert re.findall(r"^\d+\. (.*)$", text, re.MULTILINE) == headed + news  # numbered down the sections
