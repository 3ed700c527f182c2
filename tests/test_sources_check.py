"""`policywatch sources check`: what a source extracts, from saved pages or from a portal on 127.0.0.1."""

from __future__ import annotations

import json
import subprocess

from policywatch.portal import PortalHandler
from tests.conftest import CORPUS, POLICYWATCH, ROOT, source_toml
from tests.test_digest import write_site
from tests.test_health import PAGES, RUISHU


def check(config_path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([*POLICYWATCH, "sources", "check", *args, "--config", str(config_path)],
                          capture_output=True, text=True)


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
