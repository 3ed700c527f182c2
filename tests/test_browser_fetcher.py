"""The browser fetcher: a source with fetcher = "browser" is rendered in headless Chromium (scrapy-playwright).

A loopback portal whose list is built by JavaScript from a fetch() of JSON, whose detail text is partly written by
a script, and a copy of it behind a Ruishu-style cookie challenge (HTTP 412 and a script that sets a cookie and
reloads) with a JSON list API, as Guangdong's gkmlpt portals have. Real crawl subprocesses, real Chromium; the same
source fetched over plain HTTP is the control.
"""

from __future__ import annotations

import json
import threading
import time
from typing import ClassVar

import pytest

from policywatch.portal import PortalHandler
from tests.browser import CHROMIUM, require_chromium
from tests.conftest import make_docx, source_toml

DETAILS = [
    ("20251014/a1b2c3.html", "关于开展2025年度上海市细胞与基因治疗临床研究项目备案工作的通知", "2025-10-14",
     "沪科〔2025〕201号",
     ["根据《干细胞临床研究管理办法（试行）》和《上海市细胞治疗产业高质量发展行动方案》有关要求，"
      "现就2025年度本市细胞与基因治疗临床研究项目备案工作通知如下。",
      "一、备案范围。在本市医疗机构开展的干细胞、免疫细胞及基因治疗临床研究项目。",
      "二、材料报送。请各医疗机构于2025年11月30日前通过上海市科技管理信息系统提交备案材料。"]),
    ("20250926/d4e5f6.html", "上海市科学技术委员会关于发布2025年度“科技创新行动计划”生物医药领域项目申报指南的通知",
     "2025-09-26", "沪科指南〔2025〕18号",
     ["为深入实施创新驱动发展战略，加快推进生物医药产业高质量发展，市科委发布本年度项目申报指南。",
      "一、专题一：细胞治疗关键技术。支持CAR-T、干细胞等细胞治疗产品的工艺开发与质量控制研究。",
      "二、申报要求。申报单位须为在本市注册的独立法人，项目执行期一般不超过3年。"]),
    ("20250815/0a9b8c.html", "关于公布2025年度上海市生物医药产业技术服务平台名单的通知", "2025-08-15",
     "沪科〔2025〕156号",
     ["经单位申报、专家评审和网上公示，确定12家单位为2025年度上海市生物医药产业技术服务平台。",
      "各平台要加强开放共享，为细胞治疗、基因治疗企业提供检测、中试和注册申报服务。"]),
]
# Written by a script in the detail page: only a browser sees it.
SCRIPTED = "三、本通知自发布之日起施行，由市科委负责解释。"
ATTACHMENT = "附件：细胞与基因治疗临床研究项目备案申请表及承诺书"

LIST_PAGE = """<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>通知公告 - 上海市科学技术委员会</title></head>
<body>
<div class="breadcrumb">当前位置：<a href="/">首页</a> &gt; 通知公告</div>
<div class="list-box"><ul class="list" id="list"></ul></div>
<div class="page" id="page"></div>
<script>
fetch('items.json').then((r) => r.json()).then((items) => {
  const ul = document.getElementById('list');
  for (const item of items) {
    const li = document.createElement('li');
    const a = document.createElement('a');
    a.href = item.url; a.title = item.title; a.textContent = item.title;
    const span = document.createElement('span');
    span.textContent = item.date;
    li.append(a, span);
    ul.append(li);
  }
});
</script>
</body></html>
"""

DETAIL_PAGE = """<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>{title}</title></head>
<body>
<div class="breadcrumb">当前位置：<a href="/">首页</a> &gt; <a href="../index.html">通知公告</a> &gt; 正文</div>
<div class="article">
<h1 class="article-title">{title}</h1>
<div class="article-info"><span class="pubdate">发布日期：{date}</span>
<span class="source">来源：上海市科学技术委员会</span></div>
<div class="doc-no">{number}</div>
<div id="zoom" class="article-content">
{paragraphs}
</div>
{attachment}
</div>
<script>
const p = document.createElement('p');
p.textContent = {scripted};
document.getElementById('zoom').append(p);
</script>
</body></html>
"""

# A Ruishu-style wall: HTTP 412, a meta r="m" tag and a $_ts bootstrap that sets a cookie and reloads.
CHALLENGE = """<!DOCTYPE html><html><head><meta charset="utf-8"><meta content="x" r="m">
<script>var $_ts = window['$_ts'] || {}; document.cookie = 'pw_clearance=ok; path=/'; location.reload();</script>
</head><body></body></html>"""


class ScriptedPortal(PortalHandler):
    """The portal: items.json is slow (the list appears well after load); /wall/ needs the challenge's cookie.
    Remembers each request's path and whether it came from Chromium (Chromium sends Sec-Fetch-Mode)."""

    seen: ClassVar[list[tuple[str, bool, int]]] = []
    lock = threading.Lock()

    def do_GET(self) -> None:
        if self.path.endswith("items.json"):
            time.sleep(0.8)
        if self.path.startswith("/wall/") and "pw_clearance=ok" not in self.headers.get("Cookie", ""):
            body = CHALLENGE.encode()
            self.send_response(412)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        super().do_GET()

    def send_response(self, code: int, message: str | None = None) -> None:
        with self.lock:
            ScriptedPortal.seen.append((self.path, "Sec-Fetch-Mode" in self.headers, code))
        super().send_response(code, message)


def make_site(root) -> None:
    for column in (root / "tzgs", root / "wall" / "tzgs"):
        items = []
        for path, title, date, number, paragraphs in DETAILS:
            page = column / path
            page.parent.mkdir(parents=True, exist_ok=True)
            attachment = ""
            if path == DETAILS[0][0]:
                make_docx(page.parent / "fj1.docx", [ATTACHMENT])
                attachment = '<div class="attachments">附件：<a href="fj1.docx">备案申请表.docx</a></div>'
            page.write_text(DETAIL_PAGE.format(
                title=title, date=date, number=number, paragraphs="\n".join(f"<p>{p}</p>" for p in paragraphs),
                attachment=attachment, scripted=json.dumps(SCRIPTED)), encoding="utf-8")
            items.append({"title": title, "date": date, "url": path})
        (column / "index.html").write_text(LIST_PAGE, encoding="utf-8")
        (column / "items.json").write_text(json.dumps(items, ensure_ascii=False), encoding="utf-8")
        (column / "api.json").write_text(json.dumps({"total": len(items), "articles": items}, ensure_ascii=False),
                                         encoding="utf-8")


def sts_source(name: str, start_url: str, fetcher: str) -> str:
    if start_url.endswith(".json"):
        rules = {"item": "json:articles", "link": "json:url", "title": "json:title", "date": "json:date"}
    else:
        rules = {"item": "ul.list li", "title": "a::attr(title)", "date": "span::text"}
    return source_toml(name, start_url, **rules, extra=f'fetcher = "{fetcher}"', authority="上海市科学技术委员会",
                       region="上海市")


def browser_and_http(prefix: str, start_url: str) -> tuple[str, str]:
    """The same source twice: ``<prefix>-browser`` fetched through Chromium, and ``<prefix>-http``, the control."""
    return sts_source(f"{prefix}-browser", start_url, "browser"), sts_source(f"{prefix}-http", start_url, "http")


def stored(store, source: str) -> list[tuple[str, str, str]]:
    return sorted((row["url"].rsplit("/", 1)[-1], row["title"], row["published"])
                  for row in store.db.query("SELECT url, title, published FROM documents WHERE source = ?", [source]))


EXPECTED = sorted((path.rsplit("/", 1)[-1], title, date) for path, title, date, *_ in DETAILS)


@pytest.fixture
def site(tmp_path, portal):
    make_site(tmp_path / "site")
    ScriptedPortal.seen = []
    return portal(tmp_path / "site", ScriptedPortal)


@pytest.fixture
def chromium(monkeypatch):
    """Chromium for the browser fetcher (skipped without it, as require_chromium says)."""
    require_chromium()
    monkeypatch.setenv("POLICYWATCH_CHROMIUM", CHROMIUM)


def test_a_js_built_list_is_crawled_through_chromium_and_not_over_plain_http(
        chromium, site, write_config, run_crawl, open_store):
    config = write_config(*browser_and_http("sts", f"{site}/tzgs/index.html"), timeout=30)

    result = run_crawl(config)

    store = open_store(config.db)
    assert stored(store, "sts-browser") == EXPECTED
    # The control: over plain HTTP the list page has no items at all.
    assert stored(store, "sts-http") == []
    [browser_list] = store.db.execute("SELECT items, error FROM fetches WHERE source = 'sts-browser' AND kind = 'list'")
    [http_list] = store.db.execute("SELECT items, error FROM fetches WHERE source = 'sts-http' AND kind = 'list'")
    assert browser_list == (3, None)
    assert http_list == (0, None)
    # Detail pages are rendered too: the paragraph their script writes is in the stored text.
    for row in store.db.query("SELECT title, latest_version FROM documents WHERE source = 'sts-browser'"):
        text = store.text(store.db["versions"].get(row["latest_version"])["text_hash"])
        [paragraphs] = [paragraphs for _, title, *_, paragraphs in DETAILS if title == row["title"]]
        assert text.splitlines() == [*paragraphs, SCRIPTED]
    [number] = store.db.execute("SELECT doc_number FROM documents WHERE url LIKE '%a1b2c3.html'").fetchone()
    assert number == "沪科〔2025〕201号"
    # The attachment was downloaded over plain HTTP, not through Chromium, and read.
    assert [(browser, code) for path, browser, code in ScriptedPortal.seen if path.endswith(".docx")] == [
        (False, 200)]
    [(kind, text_hash)] = store.db.execute("SELECT kind, text_hash FROM attachments").fetchall()
    assert kind == "docx" and ATTACHMENT in store.text(text_hash)
    # The list and detail pages came from Chromium (which also fetched items.json), for the browser source only.
    browser_pages = sorted(path for path, browser, _ in ScriptedPortal.seen if browser)
    assert browser_pages == sorted(["/tzgs/index.html", "/tzgs/items.json",
                                    *(f"/tzgs/{path}" for path, *_ in DETAILS)])
    errors = [(e["source"], e["url"], e["error"]) for e in result.errors]
    assert errors == []


def test_a_js_cookie_challenge_is_passed_by_the_browser_and_reported_over_http(
        chromium, site, write_config, run_crawl, open_store):
    config = write_config(*browser_and_http("wall", f"{site}/wall/tzgs/api.json"), timeout=30)

    result = run_crawl(config)

    store = open_store(config.db)
    assert stored(store, "wall-browser") == EXPECTED
    [browser_list] = store.db.execute("SELECT status, items, error FROM fetches "
                                      "WHERE source = 'wall-browser' AND kind = 'list'")
    # The status of the page shown, not of the challenge before it; the JSON as sent, not as Chromium shows it.
    assert browser_list == (200, 3, None)
    assert stored(store, "wall-http") == []
    assert [(e["source"], e["status"], e["error"]) for e in result.errors] == [
        ("wall-http", 412, "anti-bot wall: HTTP 412 (JS cookie challenge)")]
    # Chromium met the challenge once; the cookie it set opened every later page, and the file fetched over plain
    # HTTP.
    assert [path for path, browser, code in ScriptedPortal.seen if browser and code == 412] == [
        "/wall/tzgs/api.json"]
    assert [(browser, code) for path, browser, code in ScriptedPortal.seen if path.endswith(".docx")] == [
        (False, 200)]

    # A re-check passes the wall again (a new browser; the pages are asked for at once, so each may meet it), and
    # fetches in full: Chromium cannot show a 304.
    ScriptedPortal.seen = []
    again = run_crawl(config, "wall-browser", recheck_all=True)
    assert again.errors == []
    assert again.summary == [{"source": "wall-browser", "pages": 5, "new_documents": 0, "new_versions": 0,
                              "errors": 0}]
    assert sorted(path for path, browser, code in ScriptedPortal.seen if browser and code == 200) == sorted(
        ["/wall/tzgs/api.json", *(f"/wall/tzgs/{path}" for path, *_ in DETAILS)])


def test_without_chromium_a_browser_source_fails_with_one_clear_line(site, write_config, run_crawl, open_store,
                                                                    monkeypatch):
    monkeypatch.setenv("POLICYWATCH_CHROMIUM", "/nonexistent/chromium")
    config = write_config(*browser_and_http("sts", f"{site}/tzgs/index.html"))

    result = run_crawl(config)

    assert [(e["source"], e["url"], e["error"]) for e in result.errors] == [
        ("sts-browser", f"{site}/tzgs/index.html",
         "browser fetcher: POLICYWATCH_CHROMIUM=/nonexistent/chromium is not an executable")]
    # Only the plain source's list was asked for.
    assert [seen for seen in ScriptedPortal.seen if seen[0] != "/robots.txt"] == [("/tzgs/index.html", False, 200)]
    assert open_store(config.db).count("documents") == 0
