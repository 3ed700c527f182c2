"""A small change history for the archive-site tests, made for real: two portals served on 127.0.0.1, crawled by
real crawl subprocesses, a planted edit crawled again, and ``policywatch site`` run as a user runs it.

A helper for tests, not a test module. The Shanghai portal carries a cell-therapy notice whose text gains PLANTED
in round two, a routine notice, and a page whose title and body are HTML/JS (HOSTILE_TITLE); the Jilin portal
carries its own notice, whose Word attachment gains MEASURES_PLANTED in round two, and a repost of the Shanghai
one, so the archive has a duplicate group.
"""

from __future__ import annotations

import subprocess
from contextlib import ExitStack
from dataclasses import dataclass
from html import escape
from pathlib import Path

from policywatch.core import config as config_module
from policywatch.core.config import Config
from policywatch.core.store import Store
from policywatch.crawler.crawl import crawl
from policywatch.portal import serve
from tests import forkcli
from tests.conftest import crawl_config_text, make_docx

PLANTED = "并开展异种细胞移植临床研究监管试点"
MEASURES = ["一、支持建设免疫细胞制备中心。", "二、对新获批的细胞治疗产品给予奖励。"]
MEASURES_PLANTED = "每个产品最高奖励一千万元"
HOSTILE_TITLE = '<script>window.__pwned = 1</script>关于<img src=x onerror="window.__pwned = 2">细胞测试的通知'
HOSTILE_TITLE_SHOWN = "关于细胞测试的通知"  # markup written as text is no part of a title
HOSTILE_BODY = '<script>window.__pwned = 3</script>正文提到<b onmouseover="window.__pwned = 4">细胞</b>。'
CELL_TITLE = "关于开展干细胞临床研究项目备案工作的通知"
CELL_BODY = ("为规范干细胞临床研究，上海市卫生健康委员会现就干细胞临床研究项目备案工作通知如下。"
             "一、各医疗机构开展干细胞临床研究，应当完成机构备案。二、细胞治疗产品的制备应当符合质量管理要求。"
             "三、请各单位于2024年1月31日前报送材料。")
PAGE = ("<html><head><meta charset='utf-8'><title>{title}</title></head><body><h1>{title}</h1>"
        "<p class='date'>发布时间：{day}</p><div id='zoom'>{body}</div></body></html>")
PAGES = {
    "sh": {
        "p/1.html": (CELL_TITLE, "2023-12-05", f"<p>{CELL_BODY}</p>"),
        "p/2.html": ("关于开展2024年度科技型中小企业评价工作的通知", "2023-12-20",
                     "<p>为做好本市2024年度科技型中小企业评价工作，现将有关事项通知如下。请各区科技管理部门做好服务。</p>"),
        "p/3.html": (HOSTILE_TITLE, "2023-11-15", f"<p>{escape(HOSTILE_BODY)}</p>"
                     "<p><a href='JavaScript:window.__pwned=5//x.pdf'>附件</a></p>"),
    },
    "jl": {
        "zw/1.html": ("吉林省关于促进免疫细胞治疗产业发展的若干措施", "2023-12-11",
                      "<p>为促进免疫细胞治疗产业发展，吉林省人民政府办公厅制定若干措施。支持开展CAR-T细胞治疗临床研究。</p>"
                      "<p><a href='/files/cuoshi.docx'>附件：若干措施全文</a></p>"),
        "zw/2.html": ("转发" + CELL_TITLE, "2023-12-07", f"<p>各有关单位：</p><p>{CELL_BODY}</p>"),
    },
}
REGIONS = {"sh": "上海市", "jl": "吉林省"}
CONFIG = """
[topics.cell-therapy]
title = "细胞与基因治疗"
include = ["干细胞", "细胞治疗", "免疫细胞", "CAR-T"]

[[digests]]
name = "monthly"
period = "month"
topics = ["cell-therapy"]

[[digests]]
name = "weekly"
period = "week"
topics = ["cell-therapy"]
"""
SOURCE = """
[[sources]]
name = "{name}"
title = "{name} 测试门户"
region = "{region}"
authority = "{region}人民政府"
start_urls = ["{base}/index.html"]
[sources.list]
item = "li"
link = "a::attr(href)"
title = "a::text"
[sources.detail]
title = "h1::text"
body = "#zoom"
"""


@dataclass
class Archive:
    config: Config
    out: Path  # the generated site
    sites: Path  # the served portal folders
    ids: dict[str, int]  # document id by the page's path, e.g. ids["p/1.html"]
    bases: dict[str, str]


def write_portal(sites: Path, name: str, pages: dict[str, tuple[str, str, str]]) -> None:
    folder = sites / name
    for path, (title, day, body) in pages.items():
        (folder / path).parent.mkdir(parents=True, exist_ok=True)
        (folder / path).write_text(PAGE.format(title=escape(title), day=day, body=body), encoding="utf-8")
    items = "".join(f"<li><a href='/{path}'>{escape(title)}</a></li>" for path, (title, _, _) in pages.items())
    (folder / "index.html").write_text(f"<html><body><ul>{items}</ul></body></html>", encoding="utf-8")


def write_measures(sites: Path, paragraphs: list[str]) -> None:
    """The Jilin notice's attachment, a Word file."""
    (sites / "jl" / "files").mkdir(parents=True, exist_ok=True)
    make_docx(sites / "jl" / "files" / "cuoshi.docx", paragraphs)


def edit_cell_notice(sites: Path, *paragraphs: str) -> None:
    """Round two: the Shanghai cell-therapy notice's text changes."""
    pages = dict(PAGES["sh"])
    pages["p/1.html"] = (CELL_TITLE, "2023-12-05", "".join(f"<p>{p}</p>" for p in paragraphs))
    write_portal(sites, "sh", pages)


def site(config: Path, out: Path, *extra: str) -> subprocess.CompletedProcess:
    """``policywatch site`` with config file ``config``, in a subprocess, as a user runs it."""
    return forkcli.run(["--config", str(config), "site", "--out", str(out), *extra], timeout=300)


def build_archive(root: Path, stack: ExitStack) -> Archive:
    """Serve both portals (for as long as ``stack`` is open), crawl, plant the edit, crawl again, build the site."""
    sites = root / "sites"
    for name, pages in PAGES.items():
        write_portal(sites, name, pages)
    write_measures(sites, MEASURES)
    bases = {name: stack.enter_context(serve(sites / name)) for name in PAGES}
    text = crawl_config_text() + CONFIG
    text += "".join(SOURCE.format(name=name, region=REGIONS[name], base=base) for name, base in bases.items())
    (root / "config.toml").write_text(text, encoding="utf-8")
    config = config_module.load(root / "config.toml")
    crawl(config, [], False)
    edit_cell_notice(sites, CELL_BODY.replace("完成机构备案。", "完成机构备案，" + PLANTED + "。"))
    write_measures(sites, [MEASURES[0], MEASURES[1].replace("给予奖励。", f"给予奖励，{MEASURES_PLANTED}。")])
    crawl(config, [], True)
    out = root / "site"
    done = site(config.path, out)
    assert done.returncode == 0, done.stderr
    with Store(config.db) as store:
        ids = {doc["url"].split("/", 3)[3]: doc["id"] for doc in store.documents()}
    return Archive(config, out, sites, ids, bases)
