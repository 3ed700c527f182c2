"""List items linked by script: ``onclick="window.open('./detail2.html?id=…')"`` (the national law database),
``href="javascript:openDetail('…')"``, ``data-href``/``data-url``. The URL is read out of them with the default
link selector; a link that is no URL is never requested, and `sources check` warns about it."""

from __future__ import annotations

import json

import pytest

from policywatch.core.config import ListRule
from policywatch.crawler.extract.listing import extract_list
from policywatch.portal import PortalHandler
from tests import forkcli
from tests.conftest import source_toml

LIST = "https://flk.example.gov.cn/list.html"


def links(item_html: str, **rule: str) -> tuple[list[str], tuple[str, ...]]:
    """(item URLs, links that are no URL) of a one-item list."""
    listing = extract_list(f"<html><body><ul><li>{item_html}</li></ul></body></html>", LIST,
                           ListRule(item="li", **rule))
    return [item.url for item in listing.items], listing.not_urls


@pytest.mark.parametrize(("item_html", "url"), [
    # The law database: no href, the page opened by script, relative to the list page.
    ("""<a onclick="window.open('./detail2.html?MmM5MDlmZGQ2NzhiZjE3OTAxNjc4YmY3NzQ0ODA2ZWM%3D', '_blank')">
        中华人民共和国药品管理法</a>""",
     "https://flk.example.gov.cn/detail2.html?MmM5MDlmZGQ2NzhiZjE3OTAxNjc4YmY3NzQ0ODA2ZWM%3D"),
    ("""<a href="javascript:void(0)" onclick="window.open('/detail2.html?id=5','_blank')">药品管理法</a>""",
     "https://flk.example.gov.cn/detail2.html?id=5"),
    ("""<a href="javascript:openDetail('/zcfg/2024/07/detail_7.html')">规定</a>""",
     "https://flk.example.gov.cn/zcfg/2024/07/detail_7.html"),
    ("""<a href="#" onclick="location.href='detail.jsp?id=9';return false;">办法</a>""",
     "https://flk.example.gov.cn/detail.jsp?id=9"),
    ("""<a href="window.open('./detail2.html?id=3', '_blank')">条例</a>""",  # a call where the href should be
     "https://flk.example.gov.cn/detail2.html?id=3"),
    ("""<a data-href="/laws/8.html">通知</a>""", "https://flk.example.gov.cn/laws/8.html"),
    ("""<div class="row" data-url="https://flk.example.gov.cn/laws/9.html"><span>公告</span></div>""",
     "https://flk.example.gov.cn/laws/9.html"),
    ("""<span onclick="window.open(&quot;https://other.example.gov.cn/a/1.html&quot;)">决定</span>""",
     "https://other.example.gov.cn/a/1.html"),
    ("""<a href="/plain/1.html" onclick="track('x')">普通链接</a>""", "https://flk.example.gov.cn/plain/1.html"),
])
def test_script_links_are_read(item_html: str, url: str) -> None:
    assert links(item_html) == ([url], ())


@pytest.mark.parametrize(("item_html", "not_url"), [
    ("""<a href="javascript:void(0)">草案</a>""", "javascript:void(0)"),
    ("""<a href="javascript:openDetail('2c909fdd678bf17901678bf774480')">条例</a>""",
     "javascript:openDetail('2c909fdd678bf17901678bf774480')"),
    ("""<a onclick="showDetail(12345, 'law')">规章</a>""", "showDetail(12345, 'law')"),
    ("""<a href="javascript:;" onclick="window.open('javascript:alert(1)')">x</a>""", "javascript:;"),
    ("""<a href="javascript:void(0)" onclick="window.open('http://[::1/x.html')">y</a>""", "javascript:void(0)"),
])
def test_links_that_are_no_url_are_reported_not_requested(item_html: str, not_url: str) -> None:
    assert links(item_html) == ([], (not_url,))


def test_an_item_without_any_link_is_no_warning() -> None:
    assert links("<span>无链接</span>") == ([], ())


def write_law_site(site) -> None:
    """A list of four items as a law database writes it: two opened by script, two whose links are no URL."""
    site.mkdir()
    rows = "".join((
        """<li><a href="javascript:void(0)" onclick="window.open('./detail2.html?id=1', '_blank')">"""
        """中华人民共和国药品管理法</a><span>2019-08-26</span></li>""",
        """<li><a onclick="window.open('./detail2.html?id=2', '_blank')">医疗器械监督管理条例</a>"""
        """<span>2021-02-09</span></li>""",
        """<li><a href="javascript:void(0)">药品注册管理办法</a><span>2020-01-22</span></li>""",
        """<li><a href="javascript:openDetail('ff8081817ab2')">生物安全法</a><span>2020-10-17</span></li>""",
    ))
    (site / "list.html").write_text(f"<html><meta charset='utf-8'><body><ul>{rows}</ul></body></html>",
                                    encoding="utf-8")
    for n, title in ((1, "中华人民共和国药品管理法"), (2, "医疗器械监督管理条例")):
        (site / f"law{n}.html").write_text(
            f"<html><head><meta charset='utf-8'><title>{title}</title></head><body><h1>{title}</h1>"
            f"<p>公布日期：2019-08-26</p><div id='zoom'><p>{'第一条 为了加强管理，保障公众用药安全，制定本法。' * 3}"
            "</p></div></body></html>", encoding="utf-8")


class LawPortal(PortalHandler):
    """detail2.html?id=N answers with law N, as the database's page does; records each requested path."""

    requested: list[str] = []  # noqa: RUF012 (per test)

    def do_GET(self) -> None:
        self.requested.append(self.path)
        if self.path.startswith("/detail2.html?id="):
            self.path = f"/law{self.path.rsplit('=', 1)[-1]}.html"
        super().do_GET()


def test_a_crawl_follows_script_links_and_never_requests_the_rest(tmp_path, portal, write_config, run_crawl,
                                                                  open_store) -> None:
    write_law_site(tmp_path / "site")
    LawPortal.requested = []
    base = portal(tmp_path / "site", LawPortal)
    config = write_config(source_toml("laws", f"{base}/list.html", date="span::text"))  # the generic entry

    run_crawl(config)

    store = open_store(config.db)
    titles = {doc["url"]: doc["title"] for doc in store.documents("laws")}
    assert titles == {f"{base}/detail2.html?id=1": "中华人民共和国药品管理法",
                      f"{base}/detail2.html?id=2": "医疗器械监督管理条例"}
    assert sorted(p for p in LawPortal.requested if p != "/robots.txt") == [
        "/detail2.html?id=1", "/detail2.html?id=2", "/list.html"]


def test_sources_check_warns_about_links_that_are_no_url(tmp_path, write_config) -> None:
    write_law_site(tmp_path / "site")
    config = write_config(source_toml("laws", "https://flk.example.gov.cn/list.html", date="span::text"))
    result = forkcli.run(["sources", "check", "laws", "--file", str(tmp_path / "site" / "list.html"),
                          "--json", "--config", str(config.path)])
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert [item["url"] for item in report["items"]] == ["https://flk.example.gov.cn/detail2.html?id=1",
                                                          "https://flk.example.gov.cn/detail2.html?id=2"]
    assert report["warnings"] == ["2 of 4 items have a link that is not a URL: javascript:void(0)"]
