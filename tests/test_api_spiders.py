"""API spiders crawl their JSON list APIs for real: the requests they build, the items they read, the walls.

Each test serves the saved API answers (tests/fixtures/api, see its README) on 127.0.0.1 behind the paths the
real portals use, points the source's start URL there, and runs a real crawl subprocess. The server records
what it was asked, so the assertions are about the method, form and query the spider actually sent.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl

import pytest

from policywatch.portal import PortalHandler
from tests.conftest import ROOT

if TYPE_CHECKING:
    from collections.abc import Callable

FIXTURES = Path(__file__).parent / "fixtures" / "api"
BODY = "为贯彻落实党中央、国务院决策部署，现将有关事项通知如下，请各单位结合实际认真组织实施。"
# Detail pages carry no date of their own, so a stored date can only be the list's.
PAGE = ("<html><head><meta charset='utf-8'><title>{title}</title></head><body><h1>{title}</h1>"
        "<div id='zoom'><p>{body}</p><p>{body}</p></div></body></html>")
# The shape of the Ruishu (瑞数) challenge the CDE serves instead of pages and JSON: a meta with r="m", $_ts.
RUISHU = ("<html><head><meta http-equiv='Content-Type' content='text/html; charset=utf-8'>"
          "<meta id='9DhefwqGPrzGxEp9hPaoag' content='q0Y9sZ3ogGYbwXQvVKcGfA' r='m'>"
          "<script type='text/javascript'>$_ts=window['$_ts'];if(!$_ts)$_ts={};$_ts.nsd=84431;</script>"
          "<script type='text/javascript' src='/chl8ZQuB7Z9v/b9s0Pd.b4c45da.js' r='m'></script></head>"
          "<body></body></html>")

# The [[sources]] entries exactly as the shipped config.toml has them, with this test's server for the portal.
SHIPPED = {re.search(r'name = "([^"]+)"', block).group(1): "[[sources]]\n" + block
           for block in (ROOT / "config.toml").read_text(encoding="utf-8").split("\n[[sources]]\n")[1:]}


def entries(base: str, *names: str) -> list[str]:
    return [re.sub(r'(start_urls = \[")https?://[^/"]+', lambda m: m.group(1) + base, SHIPPED[name])
            for name in names]


def fixture(name: str) -> bytes | None:
    path = FIXTURES / name
    return path.read_bytes() if path.is_file() else None


Answer = tuple[int, str, bytes]
JSON = "application/json;charset=UTF-8"


@dataclass
class FakePortal:
    """A portal's API and pages: ``api`` answers (method, path, params), or None when the path is no API."""

    api: Callable[[str, str, dict[str, str]], Answer | None]
    pages: dict[str, str] = field(default_factory=dict)  # path with query → detail page HTML
    hosts: tuple[str, ...] = ()  # the real hosts in the answers, rewritten to this server's
    asked: list[tuple[str, str, dict[str, str]]] = field(default_factory=list)

    def handler(self) -> type[PortalHandler]:
        portal = self

        class Handler(PortalHandler):
            def do_GET(self) -> None:
                path, _, query = self.path.partition("?")
                self.respond("GET", path, dict(parse_qsl(query, keep_blank_values=True)))

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
                self.respond("POST", self.path.partition("?")[0], dict(parse_qsl(body, keep_blank_values=True)))

            def respond(self, method: str, path: str, params: dict[str, str]) -> None:
                if path != "/robots.txt":
                    portal.asked.append((method, path, params))
                answer = portal.api(method, path, params)
                if answer is None and self.path in portal.pages:
                    answer = (200, "text/html; charset=utf-8", portal.pages[self.path].encode())
                if answer is None:
                    self.send_error(404, "Not Found")
                    return
                status, content_type, body = answer
                base = f"http://127.0.0.1:{self.server.server_address[1]}"
                for host in portal.hosts:
                    body = body.replace(host.encode(), base.encode())
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        return Handler

    def calls(self, path: str) -> list[tuple[str, dict[str, str]]]:
        return [(method, params) for method, asked, params in self.asked if asked == path]


def detail_pages(*titles: tuple[str, str]) -> dict[str, str]:
    return {path: PAGE.format(title=title, body=BODY) for path, title in titles}


def list_fetches(store, source: str) -> list[tuple[int | None, str | None]]:
    sql = "SELECT items, error FROM fetches WHERE source = ? AND kind = 'list' ORDER BY id"
    return [tuple(row) for row in store.db.execute(sql, [source]).fetchall()]


def stored(store, source: str) -> dict[str, tuple[str, str | None]]:
    return {doc["url"]: (doc["title"], doc["published"]) for doc in store.documents(source)}


# -- CDE: a POST form, paged until the API's page count ----------------------------------------------

CDE_GUIDELINES = {
    "981efd549bda05ee430ec550583776fc": ("关于开发适宜药品包装规格的指导原则", "2026-06-01"),
    "9c92f5cfa79fc44da0ac28d2b3a0f6b3": ("预防用mRNA疫苗临床试验技术指导原则（试行）", "2026-06-01"),
    "6b02391b10ae8dab7868d00cadd3cce4": ("化学仿制药生物等效性研究重大缺陷情形", "2026-05-20"),
    "ec63a8e714557462ab2c20700a688ed5": ("研发期间安全性更新报告的问答文件", "2026-02-24"),
    "4607f5142a77d16f82f7f0d21457670f": (
        "新药全球同步研发中基于多区域临床试验数据进行获益-风险评估的指导原则（试行）", "2026-02-24"),
}
CDE_NOTICES = {
    "/main/news/viewInfoCommon/5d7f3e1c9a2b4c6d8e0f1a2b3c4d5e6f": (
        "国家药监局药审中心关于发布《关于开发适宜药品包装规格的指导原则》的通告", "2026-06-01"),
    "/main/news/viewInfoCommon/0a1b2c3d4e5f60718293a4b5c6d7e8f9": (
        "国家药监局药审中心关于发布《化学仿制药生物等效性研究重大缺陷情形》的通告", "2026-05-20"),
}


def cde_api(method: str, path: str, params: dict[str, str]) -> Answer | None:
    if (method, path) != ("POST", "/zdyz/getDomesticGuideList"):
        return None
    name = "cde-zdyz-fbtg" if params.get("isFbtg") == "1" else "cde-zdyz"
    body = fixture(f"{name}-page{params.get('pageNum')}.json")
    return (200, JSON, body) if body else (404, "text/plain", b"no such page")


def test_cde_posts_its_form_and_pages_until_the_api_page_count(
        tmp_path, portal, write_config, run_crawl, open_store):
    pages = {f"/zdyz/domesticinfopage?zdyzIdCODE={code}": title for code, (title, _) in CDE_GUIDELINES.items()}
    pages |= {path: title for path, (title, _) in CDE_NOTICES.items()}
    fake = FakePortal(cde_api, detail_pages(*pages.items()), hosts=("https://www.cde.org.cn",))
    base = portal(tmp_path, fake.handler())
    config = write_config(*entries(base, "cde-zdyz", "cde-zdyz-fbtg"))

    run_crawl(config)

    forms = [params for method, params in fake.calls("/zdyz/getDomesticGuideList") if method == "POST"]
    guideline_forms = [form for form in forms if "isFbtg" not in form]
    assert guideline_forms == [
        {"pageNum": str(n), "pageSize": "20", "searchTitle": "", "zyfl1": "", "zyfl2": "", "issueDate1": "",
         "issueDate2": ""} for n in (1, 2)]  # the API says 2 pages: no 3rd request despite max_pages = 3
    assert [form for form in forms if "isFbtg" in form] == [
        {"pageNum": "1", "pageSize": "20", "searchTitle": "", "isFbtg": "1",
         "classid": "2853510d929253719601db17b8a9fd81", "issueDate1": "", "issueDate2": ""}]
    store = open_store(config.db)
    assert list_fetches(store, "cde-zdyz") == [(3, None), (2, None)]
    assert list_fetches(store, "cde-zdyz-fbtg") == [(2, None)]
    # The guideline records have no link: the spider builds it from zdyzIdCODE; 20260601 becomes a date.
    assert stored(store, "cde-zdyz") == {
        f"{base}/zdyz/domesticinfopage?zdyzIdCODE={code}": hint for code, hint in CDE_GUIDELINES.items()}
    assert stored(store, "cde-zdyz-fbtg") == {f"{base}{path}": hint for path, hint in CDE_NOTICES.items()}

    # Nothing stored is due yet: the next crawl asks the API again but fetches no detail page.
    fake.asked.clear()
    run_crawl(config)
    assert len(fake.calls("/zdyz/getDomesticGuideList")) == 3
    assert [path for _, path, _ in fake.asked if path != "/zdyz/getDomesticGuideList"] == []


# -- MIIT: GET with page parameters, bounded by max_pages --------------------------------------------

MIIT_FILES = {
    "/zwgk/zcwj/wjfb/tz/art/2026/art_c3b698fbaf0d42259de3e48d36a0d107.html": (
        "工业和信息化部印发《创新型产业集群建设管理办法》", "2026-09-23"),  # deploytime, epoch ms in a string
    "/zwgk/zcwj/wjfb/tz/art/2026/art_6fbc038bf15c445ab53b2a94a3f9d4e4.html": (
        "工业和信息化部办公厅关于开展人工智能应用服务商培育专项行动的通知", "2026-08-31"),
    "/zwgk/zcwj/wjfb/tz/art/2026/art_58259bfb30924d6bb225b82b66d1008d.html": (
        "关于开展普惠算力赋能中小企业发展专项行动的通知", "2026-03-27"),
    "/zwgk/zcwj/wjfb/tz/art/2026/art_01010414608a4226b30687773bb21bdf.html": (
        "“人工智能+制造”专项行动实施意见", "2026-01-07"),
}


def paged_api(endpoint: str, fixtures: str):
    """An API at ``endpoint`` answering page ``p`` with the fixture ``<fixtures>-page<p>.json``."""

    def answer(method: str, path: str, params: dict[str, str]) -> Answer | None:
        if path != endpoint:
            return None
        body = fixture(f"{fixtures}-page{params.get('p')}.json")
        return (200, JSON, body) if body else (404, "text/plain", b"no such page")

    return answer


miit_api = paged_api("/search-front-server/api/search/info", "miit-wjfb")


def test_miit_asks_the_search_api_page_by_page_up_to_max_pages(
        tmp_path, portal, write_config, run_crawl, open_store):
    fake = FakePortal(miit_api, detail_pages(*((path, title) for path, (title, _) in MIIT_FILES.items())))
    base = portal(tmp_path, fake.handler())
    config = write_config(*entries(base, "miit-wjfb"))

    run_crawl(config)

    # The search page's websiteid and category go to the API; the total (2361) would allow 119 pages.
    assert fake.calls("/search-front-server/api/search/info") == [
        ("GET", {"websiteid": "110000000000000", "category": "51", "q": "", "pg": "20", "p": str(n)})
        for n in (1, 2)]
    store = open_store(config.db)
    assert list_fetches(store, "miit-wjfb") == [(2, None), (2, None)]
    assert stored(store, "miit-wjfb") == {f"{base}{path}": hint for path, hint in MIIT_FILES.items()}


# -- gov.cn: grouped answers merged, paging stops at an empty page ------------------------------------

GOVCN_FILES = {
    "/zhengce/zhengceku/202607/content_7076509.htm": (
        "国务院关于同意将山东省潍坊市列为国家历史文化名城的批复", "2026-07-24"),
    "/zhengce/zhengceku/202607/content_7076565.htm": ("综合运输服务发展规划", "2026-07-24"),
    "/zhengce/zhengceku/202407/content_6965771.htm": (  # pubtimeStr null: ptime (epoch ms) gives the date
        "五部门关于公布智能网联汽车“车路云一体化”应用试点城市名单的通知", "2024-07-04"),
}


govcn_api = paged_api("/search-gov/data", "govcn-zhengceku")


def test_govcn_merges_the_library_groups_and_stops_at_an_empty_page(
        tmp_path, portal, write_config, run_crawl, open_store):
    interpretation = "/zhengce/202311/content_6915789.htm"
    pages = detail_pages(*((path, title) for path, (title, _) in GOVCN_FILES.items()),
                         (interpretation, "《关于开展智能网联汽车准入和上路通行试点工作的通知》解读"))
    fake = FakePortal(govcn_api, pages, hosts=("https://www.gov.cn",))
    base = portal(tmp_path, fake.handler())
    config = write_config(*entries(base, "govcn-zhengceku"))

    run_crawl(config)

    query = {"t": "zhengcelibrary", "q": "", "timetype": "timeqb", "mintime": "", "maxtime": "", "sort": "pubtime",
             "sortType": "1", "searchfield": "title", "n": "20"}
    # gongwen's totalCount (23) makes 2 pages; page 2 answers "没有找到相关结果" (code 1001): nothing more.
    assert fake.calls("/search-gov/data") == [("GET", query | {"p": "1"}), ("GET", query | {"p": "2"})]
    store = open_store(config.db)
    assert list_fetches(store, "govcn-zhengceku") == [(3, None), (0, None)]
    # 国务院文件 and 部门文件 are read; the 解读 group (otherfile) is not.
    assert stored(store, "govcn-zhengceku") == {f"{base}{path}": hint for path, hint in GOVCN_FILES.items()}
    assert interpretation not in [path for _, path, _ in fake.asked]


# -- answers that are no list ---------------------------------------------------------------------------

@pytest.fixture
def crawl_the_apis(tmp_path, portal, write_config, run_crawl, open_store):
    """Crawl cde-zdyz, miit-wjfb and govcn-zhengceku from a FakePortal with this ``api``: (the portal, its store)."""

    def crawl(api: Callable[[str, str, dict[str, str]], Answer | None]):
        fake = FakePortal(api)
        base = portal(tmp_path, fake.handler())
        config = write_config(*entries(base, "cde-zdyz", "miit-wjfb", "govcn-zhengceku"))

        run_crawl(config)

        return fake, open_store(config.db)

    return crawl


def test_a_wall_instead_of_json_is_a_list_error_and_stores_nothing(crawl_the_apis):
    def wall(method: str, path: str, params: dict[str, str]) -> Answer | None:
        if path == "/zdyz/getDomesticGuideList":  # the CDE answers its challenge with HTTP 412
            return 412, "text/html; charset=utf-8", RUISHU.encode()
        if path in ("/search-front-server/api/search/info", "/search-gov/data"):
            return 200, "text/html; charset=utf-8", RUISHU.encode()
        return None

    fake, store = crawl_the_apis(wall)

    assert list_fetches(store, "cde-zdyz") == [(None, "anti-bot wall: HTTP 412 (JS cookie challenge)")]
    assert list_fetches(store, "miit-wjfb") == [(None, "anti-bot wall: Ruishu JS challenge")]
    assert list_fetches(store, "govcn-zhengceku") == [(None, "anti-bot wall: Ruishu JS challenge")]
    assert store.count("documents") == 0
    assert len(fake.asked) == 3  # one list request each: no paging past a wall, no detail page


def test_an_html_page_or_a_failed_call_is_a_list_error(crawl_the_apis):
    def broken(method: str, path: str, params: dict[str, str]) -> Answer | None:
        if path == "/search-front-server/api/search/info":
            return 200, JSON, '{"success": false, "code": "200", "message": "参数错误"}'.encode()
        if path == "/search-gov/data":
            return 200, "text/html; charset=utf-8", b"<html><body><h1>Sorry, Page Not Found</h1></body></html>"
        if path == "/zdyz/getDomesticGuideList":
            return 200, JSON, '{"code": 500, "msg": "系统繁忙"}'.encode()
        return None

    _, store = crawl_the_apis(broken)

    assert list_fetches(store, "miit-wjfb") == [(None, "API error: 参数错误")]
    assert list_fetches(store, "govcn-zhengceku") == [
        (None, "not JSON: <html><body><h1>Sorry, Page Not Found</h1></body></html>")]
    assert list_fetches(store, "cde-zdyz") == [(None, "API error: code 500: 系统繁忙")]
    assert store.count("documents") == 0


def test_an_answer_nested_too_deep_or_of_the_wrong_shape_is_a_list_error_and_the_crawl_goes_on(crawl_the_apis):
    """JSON a hundred thousand arrays deep (json.loads gives up with RecursionError, not ValueError), and valid JSON
    of a shape no spider expects: each is one list error on its fetch row, never a list page without a row."""
    def hostile(method: str, path: str, params: dict[str, str]) -> Answer | None:
        if path == "/search-front-server/api/search/info":
            return 200, JSON, b"[" * 100_000
        if path == "/search-gov/data":
            return 200, JSON, b'{"searchVO": {"listVO": "not a list", "totalpage": {"x": 1}}, "code": 200}'
        if path == "/zdyz/getDomesticGuideList":
            return 200, JSON, b'{"code": 200, "data": [[[[1]]]], "rows": {"a": [1, 2]}}'
        return None

    _, store = crawl_the_apis(hostile)

    [(items, deep)] = list_fetches(store, "miit-wjfb")
    assert items is None and deep.startswith("extraction failed: RecursionError: maximum recursion depth exceeded")
    # A list where a list should be, a count where a count should be: without them, a page of no items.
    assert list_fetches(store, "govcn-zhengceku") == list_fetches(store, "cde-zdyz") == [(0, None)]
    assert store.count("documents") == 0


# -- gov.cn on a real answer ---------------------------------------------------------------------------

REAL = ROOT / "tests" / "fixtures" / "real"  # see its MANIFEST.md
REAL_PAIR = "/zhengce/zhengceku/202609/content_7082302.htm"  # bumenfile item 3 of the saved answer


def test_govcn_reads_a_real_library_answer_and_its_detail_page(tmp_path, portal, write_config, run_crawl, open_store):
    """The saved search answer (gongwen and bumenfile, 5 each) and the real detail page of one of its items: the
    spider reads 10 items from the groups it merges, and the page stores the values read off it by hand."""
    def api(method: str, path: str, params: dict[str, str]) -> Answer | None:
        if path != "/search-gov/data":
            return None
        page1 = (REAL / "gov-cn-zhengceku-search-api-list-01.json").read_bytes()
        return (200, JSON, page1 if params.get("p") == "1" else fixture("govcn-zhengceku-page2.json"))

    detail = (REAL / "gov-cn-zhengceku-bmwj-detail-01.html").read_text(encoding="utf-8")
    fake = FakePortal(api, {REAL_PAIR: detail}, hosts=("https://www.gov.cn",))
    base = portal(tmp_path, fake.handler())
    config = write_config(*entries(base, "govcn-zhengceku"))

    run_crawl(config)

    store = open_store(config.db)
    assert list_fetches(store, "govcn-zhengceku") == [(10, None), (0, None)]
    detail_paths = [path for _, path, _ in fake.asked if path.startswith("/zhengce/zhengceku/")]
    assert len(set(detail_paths)) == 10 and REAL_PAIR in detail_paths
    [doc] = store.documents("govcn-zhengceku")  # the other nine answer 404 here
    expected = next(entry for entry in tomllib.loads((REAL / "expected.toml").read_text(encoding="utf-8"))["detail"]
                    if entry["file"] == "gov-cn-zhengceku-bmwj-detail-01.html")
    assert doc["url"] == base + REAL_PAIR
    assert (doc["title"], doc["published"], doc["authority"]) == (
        expected["title"], expected["published"], expected["authority"])
    assert doc["doc_number"] is None  # its 发文字号 cell is empty
