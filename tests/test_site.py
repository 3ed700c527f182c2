"""`policywatch site`: the static archive built from real crawls — what each page shows, that scraped HTML/JS is
escaped everywhere, and that a rebuild after a crawl rewrites only what changed."""

from __future__ import annotations

import json
import re
import shutil
import xml.etree.ElementTree as ET
from contextlib import ExitStack
from pathlib import Path

import pytest

from policywatch.archive.build import MANIFEST
from policywatch.archive.chart import NARROW, policy_chart, region_colours
from policywatch.core.localtime import local_time
from policywatch.core.store import Store
from policywatch.digest.render import web_link
from policywatch.scheduler.jobs import crawl_source
from tests.archive_site import (
    CELL_BODY,
    CELL_TITLE,
    HOSTILE_BODY,
    HOSTILE_TITLE_SHOWN,
    MEASURES_PLANTED,
    PLANTED,
    build_archive,
    edit_cell_notice,
    site,
)


def read(path: Path) -> str:
    return path.read_text(encoding="utf-8")


def pages(out: Path) -> dict[str, str]:
    return {str(p.relative_to(out)): read(p) for p in sorted(out.rglob("*")) if p.suffix in (".html", ".js")}


def test_every_document_source_and_digest_has_its_page(archive):
    out = archive.out
    for doc_id in archive.ids.values():
        assert (out / "documents" / f"{doc_id}.html").is_file()
    assert {p.name for p in (out / "sources").iterdir()} == {"sh.html", "jl.html"}
    for name in ("index.html", "sources.html", "digests.html", "chart.html", "assets/data.js", "assets/site.css",
                 "assets/site.js"):
        assert (out / name).is_file(), name
    digests = read(out / "digests.html")
    assert 'href="digests/monthly/2023-12.html"' in digests and 'href="digests/weekly/2023-W49.html"' in digests
    december = read(out / "digests" / "monthly" / "2023-12.html")
    assert "2023年12月份行业政策及动态汇总" in december and CELL_TITLE in december
    # Every relative link of every page leads to a file of the site.
    for name, html in pages(out).items():
        for href in re.findall(r'href="([^"#:]+)(?:#[^"]*)?"', html):
            if not href.startswith(("http", "data", "mailto")):
                assert (out / name).parent.joinpath(href).resolve().is_file(), f"{name} links to missing {href}"


def test_document_page_shows_metadata_timeline_and_both_diffs(archive):
    html = read(archive.out / "documents" / f"{archive.ids['p/1.html']}.html")
    assert f"<h1>{CELL_TITLE}</h1>" in html
    for fact in ("2023-12-05", "上海市", "sh 测试门户", "细胞与基因治疗"):
        assert fact in html
    timeline = html.split('id="timeline-h"')[1].split("</section>")[0]
    assert timeline.count("<li>") == 2 and "新增" in timeline and "更新" in timeline and 'href="#v2"' in timeline
    shown = [" ".join(re.sub(r"<[^>]+>", "", item).split()) for item in re.findall(r"<li>(.*?)</li>", timeline, re.S)]
    assert shown[1].endswith(" 更新 版本 2 · 正文"), shown  # the version apart from what changed in it
    step = html.split('id="v2"')[1]
    inline = step.split('class="diff-inline"')[1].split("</div>")[0]
    side = step.split('class="pw-sbs"')[1].split("</table>")[0]
    for rendering in (inline, side):
        inserted = "".join(re.findall(r'<ins class="pw-ins">([^<]*)</ins>', rendering))
        assert PLANTED in inserted
    assert '<td class="pw-old">' in side and '<td class="pw-new">' in side
    # The latest text, in full.
    assert PLANTED in html.split('id="text-h"')[1]


def test_attachment_changes_have_their_own_diff(archive):
    html = read(archive.out / "documents" / f"{archive.ids['zw/1.html']}.html")
    files = html.split('id="files-h"')[1].split("</section>")[0]
    assert ">cuoshi.docx</a>" in files and "DOCX" in files
    diff = files.split('class="file-diff"')[1].split("</details>")[0]
    assert MEASURES_PLANTED in "".join(re.findall(r'<ins class="pw-ins">([^<]*)</ins>', diff))
    assert "附件内容：cuoshi.docx" in html.split('id="timeline-h"')[1].split("</section>")[0]


def test_reposts_are_listed_as_also_reported_by_on_both_copies(archive):
    original, repost = (read(archive.out / "documents" / f"{archive.ids[p]}.html") for p in ("p/1.html", "zw/2.html"))
    assert f'href="../documents/{archive.ids["zw/2.html"]}.html"' in original.split('id="also-h"')[1]
    assert f'href="../documents/{archive.ids["p/1.html"]}.html"' in repost.split('id="also-h"')[1]


def test_scraped_html_and_script_are_escaped_everywhere(archive):
    hostile = read(archive.out / "documents" / f"{archive.ids['p/3.html']}.html")
    assert f"<h1>{HOSTILE_TITLE_SHOWN}</h1>" in hostile and "__pwned = 1" not in hostile
    assert "&lt;script&gt;window.__pwned = 3&lt;/script&gt;" in hostile
    for name, text in pages(archive.out).items():
        for raw in ("<script>window.__pwned", "<img src=x", "<b onmouseover", 'href="javascript:'):
            assert raw not in text.lower(), f"{name} holds scraped markup unescaped: {raw}"
    assert "x.pdf" not in hostile  # a javascript: link is no attachment, whatever its path ends with
    data = read(archive.out / "assets" / "data.js")
    payload = json.loads(data.removeprefix("window.PW_DATA = ").rstrip().removesuffix(";"))
    titles = [doc[1] for doc in payload["docs"]]
    assert HOSTILE_TITLE_SHOWN in titles
    assert any(HOSTILE_BODY in doc[8] for doc in payload["docs"])


@pytest.mark.parametrize(("url", "link"), [
    ("https://www.nhc.gov.cn/a.html", "https://www.nhc.gov.cn/a.html"), ("HTTP://x.cn/b.pdf", "HTTP://x.cn/b.pdf"),
    ("JavaScript:alert(1)//x.pdf", "#"), (" javascript:alert(1)", "#"), ("data:text/html,<script>", "#"),
    ("file:///etc/passwd", "#"),
])
def test_only_web_links_become_links(url, link):
    assert web_link(url) == link


def test_index_lists_recent_changes_newest_first_with_filter_data(archive):
    index = read(archive.out / "index.html")
    days = re.findall(r'<time datetime="([\d-]+)">', index)
    assert days == sorted(days, reverse=True) and len(days) == 7  # five new documents, a text and an attachment change
    data = json.loads(read(archive.out / "assets" / "data.js").removeprefix("window.PW_DATA = ").rstrip()[:-1])
    assert [r[0] for r in data["regions"]] == ["吉林省", "上海市"]
    assert data["topics"] == [["cell-therapy", "细胞与基因治疗"]]
    relevant = {doc[1] for doc in data["docs"] if doc[4] == [0]}
    assert CELL_TITLE in relevant and "关于开展2024年度科技型中小企业评价工作的通知" not in relevant
    assert data["fold"]["細"] == "细"  # a Traditional query finds Simplified text


def test_source_pages_show_health(archive):
    with Store(archive.config.db) as store:
        overview = {s["name"]: s for s in store.sources_overview()}
    html = read(archive.out / "sources" / "sh.html")
    sh = overview["sh"]
    assert sh["last_items"] == 3 and sh["error_streak"] == 0
    assert f"<dd>{local_time(sh['last_success'], archive.config.zone)}</dd>" in html  # in the config's zone
    assert "<dt>最近找到条目</dt><dd>3</dd>" in html and "<dt>连续出错</dt><dd>0 次</dd>" in html
    assert html.count('class="entry"') == 3


def test_chart_counts_each_policy_once_by_region_and_month(archive):
    html = read(archive.out / "chart.html")
    rows = dict(re.findall(r'<tr><th scope="row">([\d-]+)</th>(.*?)</tr>', html))
    cells = {month: re.findall(r'<td class="num">(\d*)</td>', row) for month, row in rows.items()}
    # Columns: 吉林省, 上海市, total. The repost in Jilin joins the Shanghai original's group: counted once, there.
    assert cells == {"2023-12": ["1", "2", "3"], "2023-11": ["", "1", "1"]}
    # Two drawings of the same bars, one for wide screens and one for phones, under one caption.
    drawings = re.findall(r'<svg class="chart-(wide|narrow)"(.*?)</svg>', html, re.S)
    assert [name for name, _ in drawings] == ["wide", "narrow"]
    assert [svg.count("<rect ") for _, svg in drawings] == [3, 3]
    assert "<figcaption>" in html and "图：各地区每月政策数（堆积柱形图" in html


def test_the_phone_chart_shows_the_last_year_in_the_wide_ones_colours():
    policies = [(f"{2020 + i // 12}-{i % 12 + 1:02d}", "上海市" if i % 3 else "北京市") for i in range(40)]
    policies += [("2023-04", "吉林省")] * 5  # the busiest region of the last year only
    wide, narrow = policy_chart(policies), policy_chart(policies, NARROW, region_colours(policies))
    assert (wide.shown, wide.clipped, len(wide.ticks)) == (36, True, 6)
    assert (narrow.shown, narrow.clipped, len(narrow.ticks)) == (12, True, 4)
    assert narrow.width < wide.width and {b.label.split()[0] for b in narrow.bars} == set(wide.months[-12:])
    colours = {b.label.split()[1]: b.colour for b in wide.bars}
    assert all(colours[b.label.split()[1]] == b.colour for b in narrow.bars)


def test_rebuild_after_a_crawl_rewrites_only_what_changed(tmp_path):
    with ExitStack() as stack:
        rebuilt(build_archive(tmp_path, stack))


def rebuilt(archive) -> None:
    out = archive.out
    again = site(archive.config.path, out)
    assert again.returncode == 0, again.stderr
    assert "0 written" in again.stdout

    before = {p: p.stat().st_mtime_ns for p in out.rglob("*.html")}
    edit_cell_notice(archive.sites, "各区卫生健康委，各有关医疗机构：", CELL_BODY, "四、本通知自印发之日起施行。")
    # As `serve` runs it: a scheduled crawl of one source, then the site named in the config brought up to date.
    with Store(archive.config.db) as store:
        store.db.execute("UPDATE documents SET next_check = NULL")  # due for a re-check now
    config = archive.config.path.with_name("serve.toml")
    config.write_text(f'site = "{out.name}"\n' + read(archive.config.path), encoding="utf-8")
    summary = crawl_source(str(config), str(archive.config.db), "sh")
    assert "; site: " in summary and "0 deleted" in summary
    changed = {str(p.relative_to(out)) for p, mtime in before.items() if p.stat().st_mtime_ns != mtime}
    doc = archive.ids["p/1.html"]
    assert {p for p in changed if p.startswith("documents/")} == {f"documents/{doc}.html"}
    assert {"index.html", "sources/sh.html"} <= changed and "sources/jl.html" not in changed
    page = read(out / "documents" / f"{doc}.html")
    assert "本通知自印发之日起施行" in page
    # Side by side, each added paragraph sits beside an empty cell, and the edited one beside its old self.
    rows = re.findall(r"<tr[^>]*>.*?</tr>", page.split('id="v3"')[1].split("</table>")[0])
    empty = ('<tr class="pw-changed"><td class="pw-old pw-empty"></td>'
             '<td class="pw-new"><ins class="pw-ins">{}</ins></td></tr>')
    assert len(rows) == 3
    assert rows[0] == empty.format("各区卫生健康委，各有关医疗机构：")
    assert PLANTED in "".join(re.findall(r'<del class="pw-del">([^<]*)</del>', rows[1]))
    assert '<td class="pw-old">为规范' in rows[1] and '<td class="pw-new">为规范' in rows[1]
    assert rows[2] == empty.format("四、本通知自印发之日起施行。")


def test_pages_of_a_digest_no_longer_configured_are_deleted(archive, tmp_path):
    out = tmp_path / "site"
    shutil.copytree(archive.out, out)
    config = tmp_path / "config.toml"
    text = read(archive.config.path)
    config.write_text(text.replace('name = "weekly"', 'name = "weekly-cell"'), encoding="utf-8")
    done = site(config, out, "--db", str(archive.config.db))
    assert done.returncode == 0, done.stderr
    assert not (out / "digests" / "weekly").exists()
    assert (out / "digests" / "weekly-cell" / "2023-W49.html").is_file()
    manifest = json.loads(read(out / MANIFEST))
    assert not any(path.startswith("digests/weekly/") for path in manifest["pages"])


def test_each_issue_has_an_atom_feed_that_names_its_own_address(archive, tmp_path):
    atom = "{http://www.w3.org/2005/Atom}"

    def self_link(feed: Path) -> str:
        [link] = [link for link in ET.parse(feed).getroot().findall(f"{atom}link") if link.get("rel") == "self"]
        return link.get("href")

    # Where the site will be published is unknown: the feed's own file name, relative to wherever it is served.
    assert self_link(archive.out / "digests" / "monthly" / "2023-12.atom") == "2023-12.atom"
    out = tmp_path / "site"
    shutil.copytree(archive.out, out)
    config = tmp_path / "config.toml"
    config.write_text('site_url = "https://policy.example.org/archive"\n' + read(archive.config.path), encoding="utf-8")
    done = site(config, out, "--db", str(archive.config.db))
    assert done.returncode == 0, done.stderr
    feeds = sorted(out.rglob("*.atom"))
    assert self_link(out / "digests" / "weekly" / "2023-W49.atom") == (
        "https://policy.example.org/archive/digests/weekly/2023-W49.atom")
    assert f"{len(feeds)} written" in done.stdout  # only the feeds: the pages are the same bytes as before


def test_bad_output_folder_and_missing_database_are_one_line_errors(archive, tmp_path):
    file = tmp_path / "taken"
    file.write_text("keep me", encoding="utf-8")
    done = site(archive.config.path, file)
    assert done.returncode == 1 and done.stderr.strip().count("\n") == 0
    assert "is a file, not a folder" in done.stderr and read(file) == "keep me"
    config = tmp_path / "config.toml"
    config.write_text(read(archive.config.path), encoding="utf-8")
    missing = site(config, tmp_path / "out", "--db", str(tmp_path / "none.db"))
    assert missing.returncode == 1 and "does not exist yet" in missing.stderr
    assert missing.stderr.strip().count("\n") == 0 and not (tmp_path / "none.db").exists()
