"""`policywatch sources check`: what a source extracts, from saved pages or from a portal on 127.0.0.1."""

from __future__ import annotations

import json
import subprocess

from policywatch.portal import PortalHandler
from tests import forkcli
from tests.conftest import CORPUS, ROOT, source_toml
from tests.test_digest import write_site
from tests.test_health import PAGES, RUISHU


def check(config_path, *args: str) -> subprocess.CompletedProcess:
    return forkcli.run(["sources", "check", *args, "--config", str(config_path)])


def test_check_reads_saved_list_and_detail_pages_of_a_real_source(tmp_path) -> None:
    result = check(ROOT / "config.toml", "gd-drc-ywtz", "--file", str(CORPUS / "gd-drc-ywtz-list-01.html"),
                   "--detail", str(CORPUS / "gd-drc-ywtz-detail-01.html"), "--json", "--db", str(tmp_path / "x.db"))
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert len(report["items"]) == 20 and report["warnings"] == []
    assert report["items"][0] == {
        "title": "关于印发《广东省重点行业节能降碳改造攻坚三年行动方案》的通知", "date": "2026-09-24",
        "url": "https://drc.gd.gov.cn/ywtz/content/post_4960402.html"}
    detail = report["detail"]
    assert (detail["title"], detail["published"], detail["doc_number"]) == (
        "关于印发《广东省重点行业节能降碳改造攻坚三年行动方案》的通知", "2026-09-24", "粤发改能源〔2026〕290号")
    assert detail["attachments"] == ["https://drc.gd.gov.cn/attachment/0/626/626328/4960402.xls"]
    assert not (tmp_path / "x.db").exists()  # a check stores nothing


class WalledPortal(PortalHandler):
    def do_GET(self) -> None:
        if self.path == "/walled.html":
            self.send_response(412)
            self.send_header("Content-Type", "text/html")
            self.end_headers()
            self.wfile.write(RUISHU)
        else:
            super().do_GET()


def test_check_fetches_now_and_warns(tmp_path, portal, write_config) -> None:
    write_site(tmp_path / "site", PAGES)
    (tmp_path / "site" / "redesign.html").write_text("<div class='new'><p>改版了</p></div>", encoding="utf-8")
    base = portal(tmp_path / "site", WalledPortal)
    config = write_config(
        source_toml("good", f"{base}/index.html", extra="expect_items = 5"),
        source_toml("walled", f"{base}/walled.html"), source_toml("redesigned", f"{base}/redesign.html"))

    good = check(config.path, "good")
    assert good.returncode == 0, good.stderr
    assert PAGES[0][0] in good.stdout and "2023-12-05" in good.stdout  # the detail page's date, read from it
    assert "1 items, fewer than expect_items = 5" in good.stdout
    assert "1 of 1 items have no date on the list page" in good.stdout

    walled = check(config.path, "walled")
    assert walled.returncode == 1 and "the list page is an anti-bot wall: HTTP 412" in walled.stdout
    redesigned = check(config.path, "redesigned", "--json")
    assert redesigned.returncode == 1
    assert json.loads(redesigned.stdout)["warnings"] == ["0 items: the item selector 'li' matches nothing on the page"]
    unknown = check(config.path, "nope")
    assert unknown.returncode == 1 and "no source named 'nope'" in unknown.stderr


def test_check_sends_sources_with_their_own_spider_to_a_crawl(tmp_path) -> None:
    result = check(ROOT / "config.toml", "govcn-zhengceku", "--db", str(tmp_path / "x.db"))
    assert result.returncode == 1
    assert result.stderr == ("Error: govcn-zhengceku is read by its own spider (crawler/spiders/), not by its list "
                             "rules: try it with `policywatch crawl govcn-zhengceku`\n")


DETAIL = ("<html><head><meta charset='utf-8'><title>关于开展细胞治疗临床研究备案工作的通知</title></head><body>"
          "<h1>关于开展细胞治疗临床研究备案工作的通知</h1><p>发布时间：2023-12-05 来源：国家卫生健康委员会</p>"
          "<div id='zoom'><p>为规范干细胞临床研究，现就备案工作通知如下。各省级卫生健康行政部门要加强指导。</p></div>"
          "</body></html>")
UNMATCHED = '[sources.detail]\ntitle = "h2.wdtit::text"\nbody = "#content1"\n'


class RecordingPortal(PortalHandler):
    requested: list[str] = []  # noqa: RUF012 (per test)

    def do_GET(self) -> None:
        self.requested.append(self.path)
        super().do_GET()


def test_a_detail_file_alone_is_checked_offline(tmp_path, portal, write_config) -> None:
    site = tmp_path / "site"
    site.mkdir()
    (site / "index.html").write_text('<ul><li><a href="/a.html">通知</a></li></ul>', encoding="utf-8")
    detail = tmp_path / "saved-detail.html"
    detail.write_text(DETAIL, encoding="utf-8")
    RecordingPortal.requested = []
    base = portal(site, RecordingPortal)
    config = write_config(source_toml("offline", f"{base}/index.html"))

    shown = check(config.path, "offline", "--detail", str(detail))
    as_json = check(config.path, "offline", "--detail", str(detail), "--json")

    assert RecordingPortal.requested == []  # the list URL was never fetched
    assert shown.returncode == 0, shown.stderr
    assert "(list not read: offline)" in shown.stdout and "关于开展细胞治疗临床研究备案工作的通知" in shown.stdout
    report = json.loads(as_json.stdout)
    assert (report["list_read"], report["items"], report["detail"]["published"]) == (False, [], "2023-12-05")
    assert report["warnings"] == ["the list page was not read (no --file given with a detail file); "
                                  "its items are not checked"]


def test_detail_selectors_that_match_nothing_are_warned_about(tmp_path, write_config) -> None:
    detail = tmp_path / "saved-detail.html"
    detail.write_text(DETAIL, encoding="utf-8")
    config = write_config(source_toml("unmatched", "https://www.example.gov.cn/list.html") + UNMATCHED)

    result = check(config.path, "unmatched", "--detail", str(detail), "--json")

    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["detail"]["title"] == "关于开展细胞治疗临床研究备案工作的通知"  # found automatically
    assert report["detail"]["text"].startswith("为规范干细胞临床研究")
    assert report["warnings"][1:] == [
        "[sources.detail] title 'h2.wdtit::text' matched nothing; found automatically",
        "[sources.detail] body '#content1' matched nothing; found automatically"]


def test_a_crawl_records_detail_selectors_that_match_nothing(tmp_path, portal, write_config, run_crawl,
                                                            open_store) -> None:
    site = tmp_path / "site"
    site.mkdir()
    (site / "index.html").write_text('<ul><li><a href="/a.html">通知</a></li></ul>', encoding="utf-8")
    (site / "a.html").write_text(DETAIL, encoding="utf-8")
    base = portal(site)
    config = write_config(source_toml("unmatched", f"{base}/index.html") + UNMATCHED,
                          source_toml("fine", f"{base}/index.html"))

    run_crawl(config)

    store = open_store(config.db)
    rows = store.db.execute("SELECT source, warning FROM fetches WHERE kind = 'detail' ORDER BY source").fetchall()
    warning = ("[sources.detail] title 'h2.wdtit::text' matched nothing; found automatically; "
               "[sources.detail] body '#content1' matched nothing; found automatically")
    assert rows == [("fine", None), ("unmatched", warning)]
    assert store.document(f"{base}/a.html")["text"].startswith("为规范干细胞临床研究")
    listed = forkcli.run(["sources", "list", "--config", str(config.path)])
    assert listed.returncode == 0, listed.stderr
    assert f"! unmatched: {warning}" in " ".join(listed.stdout.split())
    as_json = forkcli.run(["sources", "list", "--json", "--config", str(config.path)])
    assert {row["name"]: row["warning"] for row in json.loads(as_json.stdout)} == {"fine": None, "unmatched": warning}
