"""Digests built for real: served sites crawled into state.db, then `policywatch digest build` in a subprocess."""

from __future__ import annotations

import base64
import io
import re
import subprocess
import xml.etree.ElementTree as ET
from html import escape

from policywatch.core import config as config_module
from policywatch.core.hanzi import simplified
from policywatch.core.localtime import today
from policywatch.digest.period import period_of
from tests import forkcli
from tests.browser import ARTIFACTS, inspect, require_chromium
from tests.conftest import SEEDS, source_toml

CELL_TOPIC = """
[topics.cell-therapy]
title = "细胞与基因治疗"
include = ["干细胞", "细胞治疗", "免疫细胞", "CAR-T", "NK细胞", "基因治疗", "外泌体"]
exclude = []
"""
PAGE = ("<html><head><meta charset='utf-8'><title>{title}</title></head><body>"
        "<div class='nav'>首页 &gt; 行业资讯</div><h1>{title}</h1>"
        "<p class='info'>{label}：{date}　浏览次数：{views}</p>"
        "<div id='zoom'>{body}</div><div class='footer'>版权所有 打印本页 关闭窗口</div></body></html>")


def digest_toml(name: str = "monthly", layout: str = "list", language: str = "zh-Hans", extra: str = "") -> str:
    return (f'\n[[digests]]\nname = "{name}"\nperiod = "month"\ntopics = ["cell-therapy"]\nlayout = "{layout}"\n'
            f'language = "{language}"\n{extra}\n')


def with_digests(config, *tables: str):
    """The test config with topics and digests added, as a user would add them to config.toml."""
    text = config.path.read_text(encoding="utf-8")
    head, sources = text.split("[[sources]]", 1) if "[[sources]]" in text else (text, "")
    config.path.write_text(head + "\n".join(tables) + ("\n[[sources]]" + sources if sources else ""), "utf-8")
    return config_module.load(config.path)


def build(config, name: str, period: str, fmt: str = "text", check: bool = True) -> subprocess.CompletedProcess:
    return forkcli.run(
        ["digest", "build", "--config", str(config.path), "--digest", name, "--period", period,
         "--format", fmt], check=check,
    )


def write_site(root, pages: list[tuple[str, str, str]], label: str = "发布时间") -> None:
    """index.html listing one page per (title, date, body); titles are text, bodies are HTML."""
    (root / "news").mkdir(parents=True)
    links = []
    for n, (title, day, body) in enumerate(pages, 1):
        paragraphs = "".join(f"<p>{p}</p>" for p in body.split("\n"))
        (root / "news" / f"{n}.html").write_text(
            PAGE.format(title=escape(title), date=day, label=label, views=n * 7, body=paragraphs), encoding="utf-8")
        links.append(f"<li><a href='/news/{n}.html'>{escape(title)}</a></li>")
    (root / "index.html").write_text(f"<html><body><ul>{''.join(links)}</ul></body></html>", encoding="utf-8")


def seed_000() -> list[tuple[str, str, str]]:
    """(region heading, date line, paragraph) for every dated entry of seed 000, in its order."""
    entries, region, day = [], None, None
    for line in (SEEDS / "000_673f80595c7e58f6.txt").read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if re.fullmatch(r"\d{4}\s*年\s*\d{1,2}\s*月\s*\d{1,2}\s*日", line):
            day = line
        elif len(line) <= 5 and not re.search(r"\d", line):
            region = line
        elif line:
            entries.append((region, day, line))
    return entries


def headline(paragraph: str) -> str:
    """A news headline from an entry: its first sentence, cut at a comma when it runs long."""
    first = paragraph.split("。")[0]
    if len(first) > 80:
        cut = max(first.rfind(",", 0, 80), first.rfind("，", 0, 80))
        first = first[:cut] if cut > 0 else first[:80]
    return first


def bare(title: str) -> str:
    """A title to compare: Simplified, without the spaces extraction drops ("第 0255 号" → "第0255号")."""
    return re.sub(r"\s+", "", simplified(title))


def test_by_region_groups_the_items_of_seed_000_like_the_seed(db_target, tmp_path, portal, write_config, run_crawl):
    """Traditional-Chinese news items from one site with no region: each is filed under the seed's region."""
    entries = seed_000()
    assert len(entries) == 12
    pages = [(headline(text), day, text) for _, day, text in entries]
    write_site(tmp_path / "site", pages, label="發布時間")
    config = write_config(source_toml("cell-news", f"{portal(tmp_path / 'site')}/index.html", region=None,
                                      authority="細胞產業資訊"))
    config = with_digests(config, CELL_TOPIC.replace('"外泌体"]', '"外泌体", "细胞", "基因"]'),
                          digest_toml("regional", "by-region", "zh-Hant", "min_score = 1"))
    run_crawl(config)

    grouped: dict[str, list[str]] = {}
    numbered: dict[int, list[str]] = {}
    for month in range(1, 7):
        text = build(config, "regional", f"2021-{month:02d}").stdout
        heading = None
        for line in text.splitlines():
            if line.startswith("== "):
                heading = simplified(line.strip("= "))
            elif line.startswith("►►► "):
                grouped.setdefault(heading, []).append(bare(line.split(" ", 2)[2]))
        # The numbered list runs down the sections; each item's date heads it, and its source line has none.
        numbered[month] = [bare(t) for t in re.findall(r"^\d+\. (.*)$", text, re.MULTILINE)]
        assert numbered[month] == [bare(t) for t in re.findall(r"^►►► \S+ (.*)$", text, re.MULTILINE)]
        assert re.findall(r"^►►► \d{4}年\d{1,2}月\d{1,2}日 ", text, re.MULTILINE) and "\n來源：20" not in text
    expected: dict[str, list[str]] = {}
    for (region, _, _), (title, _, _) in zip(entries, pages, strict=True):
        expected.setdefault(simplified(region), []).append(bare(title))
    assert {k: sorted(v) for k, v in grouped.items()} == {k: sorted(v) for k, v in expected.items()}
    # March as the seed lists it: 北京 (18th), 广东 (12th), 云南 (11th), by region and not by date.
    march = [bare(title) for (_, day, _), (title, _, _) in zip(entries, pages, strict=True) if "年 3 月" in day]
    assert numbered[3] == march and len(march) == 3
    june = build(config, "regional", "2021-06").stdout
    assert june.startswith("政策彙總 | 2021年6月份行業政策及動態彙總\n") and "2021年6月8日" in june


# Scraped text that a template or a browser could take for code: a title keeps {{ }} as written (markup written as
# text is dropped from titles), and a body quotes a script as text.
HOSTILE = '关于{{ 7*7 }}干细胞临床研究的通知'
SCRIPT_TEXT = '<script>alert("x")</script>'
POLICY = ("为贯彻落实《关于加快推进生物医药产业高质量发展的意见》，支持开展干细胞临床研究和免疫细胞治疗产品研发，"
          "现就细胞治疗产品临床转化应用试点工作通知如下。\n一、试点期三年，试点单位应当具备细胞制备和质量控制能力。\n"
          "二、各地卫生健康行政部门要加强指导，做好备案和监督管理工作。\n三、试点单位按季度报送工作进展。")


def write_national(root) -> None:
    """The national portal of ``hostile_site``: a notice, a hostile title, an off-topic notice."""
    write_site(root, [
        ("关于开展细胞治疗产品临床转化应用试点工作的通知", "2023-12-08", POLICY),
        ('关于<script>alert("x")</script>{{ 7*7 }}干细胞临床研究的通知', "2023-12-05",
         f"国家卫生健康委员会发布通知{escape(SCRIPT_TEXT)}，支持开展干细胞和免疫细胞临床研究。<b>加粗</b>"),
        ("关于做好2024年元旦春节期间医疗服务保障工作的通知", "2023-12-15", "各地要做好节日期间医疗服务保障工作。"),
    ])


def write_province(root) -> None:
    """The provincial portal of ``hostile_site``: its repost of the national notice."""
    write_site(root, [("转发国家卫生健康委关于开展细胞治疗产品临床转化应用试点工作的通知", "2023-12-12",
                       "各市（州）卫生健康委：\n" + POLICY + "\n请结合实际认真贯彻执行。")])


def hostile_config(write_config, national: str, province: str, *more_sources: str):
    """The config of ``hostile_site`` for its two portals served at these base URLs, with a monthly digest."""
    config = write_config(
        source_toml("national", f"{national}/index.html", authority="国家卫生健康委员会"),
        source_toml("province", f"{province}/index.html", region="四川省", authority="四川省卫生健康委员会"),
        *more_sources,
    )
    return with_digests(config, CELL_TOPIC, digest_toml())


def hostile_site(tmp_path, portal, write_config, *more_sources: str):
    """A national notice, its provincial repost, a hostile title, an off-topic notice; all in December 2023."""
    write_national(tmp_path / "national")
    write_province(tmp_path / "province")
    return hostile_config(write_config, portal(tmp_path / "national"), portal(tmp_path / "province"), *more_sources)


def crawled_hostile_site(shared_crawls, write_config):
    """``hostile_site`` crawled: its portals served, and crawled, once per session (SharedCrawls); the test's
    database gets a copy of what the crawl stored."""
    config = hostile_config(write_config, shared_crawls.site("hostile-national", write_national),
                            shared_crawls.site("hostile-province", write_province))
    shared_crawls.crawl("hostile", config)
    return config


def test_reposts_collapse_and_scraped_text_stays_text_in_every_format(
    db_target, write_config, shared_crawls,
):
    config = crawled_hostile_site(shared_crawls, write_config)

    text = build(config, "monthly", "2023-12").stdout
    listed = re.findall(r"^\d+\. (.*)$", text, re.MULTILINE)
    assert listed == [HOSTILE, "关于开展细胞治疗产品临床转化应用试点工作的通知"]  # publish-date order, off-topic out
    assert "同时发布：四川省卫生健康委员会" in text  # the title line above shows {{ 7*7 }} as written

    html = build(config, "monthly", "2023-12", "html").stdout
    assert "<script" not in html and '&lt;script&gt;alert("x")&lt;/script&gt;' in html and "{{ 7*7 }}" in html
    assert "<b>" not in html and "style=" in html  # CSS inlined
    markdown = build(config, "monthly", "2023-12", "md").stdout
    assert "<script" not in markdown and "&lt;script&gt;" in markdown
    feed = ET.fromstring(build(config, "monthly", "2023-12", "atom").stdout.encode("utf-8"))
    atom = "{http://www.w3.org/2005/Atom}"
    assert [e.findtext(f"{atom}title") for e in feed.iter(f"{atom}entry")] == listed


def test_same_state_gives_the_same_bytes(db_target, write_config, shared_crawls):
    config = crawled_hostile_site(shared_crawls, write_config)
    for fmt in ("html", "text", "md", "atom"):
        assert build(config, "monthly", "2023-12", fmt).stdout == build(config, "monthly", "2023-12", fmt).stdout


def test_a_quiet_period_is_a_short_digest_not_an_error(db_target, write_config, shared_crawls):
    config = crawled_hostile_site(shared_crawls, write_config)
    assert "本期暂无符合主题的新政策。" in build(config, "monthly", "2022-01").stdout
    assert "本期暂无符合主题的新政策。" in build(config, "monthly", "2022-01", "html").stdout
    feed = ET.fromstring(build(config, "monthly", "2022-01", "atom").stdout.encode("utf-8"))
    assert feed.findtext("{http://www.w3.org/2005/Atom}title") == "政策汇总 | 2022年1月份行业政策及动态汇总"


def test_changes_and_removals_belong_to_the_month_they_were_detected(
    db_target, tmp_path, portal, write_config, run_crawl,
):
    site = tmp_path / "site"
    write_site(site, [
        ("关于开展干细胞临床研究机构备案工作的通知", "2023-12-05", "一、支持开展干细胞临床研究。\n二、做好备案管理。"),
        ("关于征集细胞治疗领域重大科技需求的通知", "2023-11-20", "现面向社会征集细胞治疗和基因治疗领域重大科技需求。"),
    ])
    config = with_digests(write_config(source_toml("sh", f"{portal(site)}/index.html", region="上海市")),
                          CELL_TOPIC, digest_toml())
    run_crawl(config)
    page = site / "news" / "1.html"
    edited = page.read_text("utf-8").replace("支持开展干细胞临床研究", "支持开展干细胞和免疫细胞临床研究")
    page.write_text(edited, "utf-8")
    (site / "news" / "2.html").unlink()
    run_crawl(config, recheck_all=True)
    run_crawl(config, recheck_all=True)  # the second check that finds page 2 gone confirms the removal

    now = build(config, "monthly", period_of("month", today(config.zone)).key).stdout  # the crawl's month, there
    assert re.findall(r"^\d+\. (.*)$", now, re.MULTILINE) == ["关于开展干细胞临床研究机构备案工作的通知"]
    assert "更新：正文。在“支持开展干细胞”后新增“和免疫细胞”" in now
    assert "已撤下的政策" in now and "- 关于征集细胞治疗领域重大科技需求的通知 · 2023年11月20日" in now
    december = build(config, "monthly", "2023-12").stdout
    assert "支持开展干细胞和免疫细胞临床研究" in december and "更新" not in december  # its latest text, as new


def test_unknown_digest_and_bad_period_are_one_line_errors(tmp_path, portal, write_config):
    config = hostile_site(tmp_path, portal, write_config)
    for name, period, message in (("weekly", "2023-12", "no digest named 'weekly' (known: monthly)"),
                                  ("monthly", "2023-W50", "'2023-W50' is not a month like 2023-12")):
        result = build(config, name, period, check=False)
        assert result.returncode == 1 and result.stderr.strip().endswith(message)
        assert len(result.stderr.strip().splitlines()) == 1


# The chart as the page shows it: its width on screen, the PNG's own width, and the caption under it.
CHART = """(() => {
  const img = document.querySelector('img.chart'), caption = document.querySelector('.chart-caption');
  return {shown: img.getBoundingClientRect().width, natural: img.naturalWidth, caption: caption.textContent,
          captionPx: parseFloat(getComputedStyle(caption).fontSize),
          under: caption.getBoundingClientRect().top >= img.getBoundingClientRect().bottom};
})()"""


def axis_label_height(png: bytes) -> int:
    """How tall the chart's axis labels are in the PNG's pixels: the rows their grey text covers under the axis
    (the one grey line drawn the whole width across)."""
    from PIL import Image

    image = Image.open(io.BytesIO(png)).convert("RGBA")
    width, height = image.size
    pixels = image.load()
    grey = [sum(1 for x in range(width) if pixels[x, y][3] and len(set(pixels[x, y][:3])) == 1) for y in range(height)]
    axis = max(y for y in range(height) if grey[y] > 0.9 * width)
    inked = [y for y in range(axis + 1, height) if grey[y]]
    return max(inked) - min(inked) + 1


def test_html_email_fits_a_phone_and_a_desktop(tmp_path, portal, write_config, run_crawl):
    """Opened in headless Chromium at 375 and 1200 px: nothing sticks out sideways; every link is absolute; the
    chart's labels are as tall on screen as 11 px text (or taller), with a caption saying what it counts."""
    require_chromium()
    long_title = "关于印发《" + "细胞治疗产品生产质量管理指南" * 6 + "》的通知"  # no break opportunity for a while
    write_site(tmp_path / "long", [(long_title, "2023-12-20", "支持开展干细胞临床研究。http://127.0.0.1/" + "a" * 150)])
    long = source_toml("long", f"{portal(tmp_path / 'long')}/index.html")
    config = hostile_site(tmp_path, portal, write_config, long)
    run_crawl(config)
    html = tmp_path / "digest.html"
    html.write_text(build(config, "monthly", "2023-12", "html").stdout, encoding="utf-8")
    for width in (375, 1200):
        report = inspect(html, width, ARTIFACTS / f"digest-email-{width}.png", measure=CHART)
        assert report.overflowing == [] and report.scroll_width <= width, report
        anchors = [link for link in report.links if not link.startswith("data:image/png;base64,")]
        assert len(anchors) >= 4 and all(re.match(r"https?://127\.0\.0\.1:\d+/", a) for a in anchors), anchors
        assert report.screenshot.exists()
        [chart] = [link for link in report.links if link.startswith("data:image/png;base64,")]
        scale = report.measured["shown"] / report.measured["natural"]  # CSS px per pixel of the PNG
        labels = axis_label_height(base64.b64decode(chart.split(",", 1)[1])) * scale
        assert labels >= 8, (width, labels)  # as tall as the digits of 11 px text, or taller (5 px when too small)
        assert report.measured["caption"] == "条目分布：每周条目数，共 3 条" and report.measured["captionPx"] >= 12
        assert report.measured["under"]


def test_a_template_folder_in_config_overrides_the_built_in_one(db_target, tmp_path, write_config, shared_crawls):
    config = crawled_hostile_site(shared_crawls, write_config)
    (tmp_path / "tpl").mkdir()
    (tmp_path / "tpl" / "digest.txt.j2").write_text(
        "{{ digest.title }}: {% for item in digest.items %}[{{ item.title }}]{% endfor %}\n", encoding="utf-8")
    config.path.write_text('templates = "tpl"\n' + config.path.read_text("utf-8"), encoding="utf-8")
    items = f"[{HOSTILE}][关于开展细胞治疗产品临床转化应用试点工作的通知]"
    assert build(config, "monthly", "2023-12").stdout == f"政策汇总 | 2023年12月份行业政策及动态汇总: {items}"
    assert "<!DOCTYPE html>" in build(config, "monthly", "2023-12", "html").stdout  # the others stay built in
