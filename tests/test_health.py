"""Source health: real crawls of a portal that breaks in different ways; maintainers hear of each breakage
once, by mail to a real SMTP server, and `sources list` shows it until a healthy run clears it."""

from __future__ import annotations

import json

from policywatch.crawler.health import problem
from policywatch.portal import PortalHandler
from tests import forkcli
from tests.conftest import source_toml
from tests.mailserver import Mailbox, MailServer
from tests.test_digest import write_site

PAGES = [("关于开展细胞治疗临床研究备案工作的通知", "2023-12-05",
          "为规范干细胞临床研究，现开展备案工作。\n请各单位按期报送。")]
RUISHU = b'<html><head><meta r="m"><script>$_ts=window["$_ts"];</script></head><body></body></html>'


class BreakingPortal(PortalHandler):
    """The list page as ``mode`` says: fine, an anti-bot wall (HTTP 412), a redesign (no items), or a 500."""

    mode = "ok"

    def do_GET(self) -> None:
        if self.path != "/index.html" or self.mode == "ok":
            return super().do_GET()
        status, body = {"wall": (412, RUISHU), "redesign": (200, b"<div class='new'>no list here</div>"),
                        "error": (500, b"Internal Server Error")}[self.mode]
        self.send_response(status)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def test_a_breaking_source_alerts_its_maintainers_once_per_breakage(tmp_path, portal, write_config):
    write_site(tmp_path / "site", PAGES)
    base = portal(tmp_path / "site", BreakingPortal)
    mailbox = Mailbox()
    with MailServer(mailbox) as server:
        config = write_config(source_toml("cell", f"{base}/index.html"))
        config.path.write_text(
            f'[smtp]\nhost = "127.0.0.1"\nport = {server.port}\nsender = "PolicyWatch <alerts@example.org>"\n'
            '[alerts]\nmaintainers = ["ops@example.org", "dev@example.org"]\nconsecutive_errors = 2\n'
            + config.path.read_text(encoding="utf-8"), encoding="utf-8")

        said: list[str] = []

        def crawl(mode: str) -> dict:
            BreakingPortal.mode = mode
            done = forkcli.run(["crawl", "--config", str(config.path)])
            # A crawl that leaves its source broken or unreachable exits 3, and says why on its last line.
            assert done.returncode == (0 if mode == "ok" else 3), done.stderr
            said.append(done.stdout.splitlines()[-1].strip())
            listed = forkcli.run(["sources", "list", "--json", "--config", str(config.path)], check=True)
            return json.loads(listed.stdout)[0]

        def subjects() -> list[str]:
            return [m["Subject"] for m in mailbox.messages if m["To"].addresses[0].addr_spec == "ops@example.org"]

        healthy = crawl("ok")
        assert (healthy["last_items"], healthy["error_streak"], healthy["alert"]) == (1, 0, None)

        walled = crawl("wall")
        assert "anti-bot wall: HTTP 412" in walled["alert"]
        assert said[-1].startswith("alert cell: blocked by an anti-bot wall: HTTP 412")
        assert len(subjects()) == 1 and "cell" in subjects()[0] and "anti-bot wall" in subjects()[0]
        assert {m["To"].addresses[0].addr_spec for m in mailbox.messages} == {"ops@example.org", "dev@example.org"}
        again = crawl("wall")
        assert again["alert"] == walled["alert"] and again["error_streak"] == 2
        assert said[-1].startswith("broken cell: blocked by an anti-bot wall")  # still broken; mailed once
        assert len(subjects()) == 1  # once per breakage, not once per run

        assert crawl("ok")["alert"] is None  # a healthy run closes the alert

        redesigned = crawl("redesign")
        assert redesigned["last_items"] == 0 and "found 0 items" in redesigned["alert"]
        assert len(subjects()) == 2
        crawl("ok")

        assert crawl("error")["alert"] is None  # one failing run is not yet a breakage
        assert said[-1] == "broken cell: its list page could not be fetched (HTTP 500)"  # but the exit code tells
        failing = crawl("error")
        assert failing["alert"] == "errors on 2 consecutive runs (latest: HTTP 500)"
        assert len(subjects()) == 3 and "errors on 2 consecutive runs" in subjects()[2]


def test_problem_rules() -> None:
    def run(outcome: str = "ok", items: int = 3, list_errors: int = 0, wall: str | None = None) -> dict:
        return {"outcome": outcome, "items": items, "list_pages": 1, "list_errors": list_errors, "wall": wall,
                "list_error": "HTTP 503" if list_errors else None}

    assert problem([], 3) is None
    assert problem([run()], 3) is None
    assert problem([run(items=0)], 3) == "found 0 items on its list pages: its list selectors may no longer match"
    assert problem([run(items=3)], 3, expect_items=3) is None
    assert problem([run(items=2)], 3, expect_items=3) == "found 2 items on its list pages, fewer than the 3 expected"
    assert problem([run(items=2, list_errors=1)], 3, expect_items=3) is None  # a failed page is an error, not a loss
    assert problem([run(outcome="timed out", items=0)], 3) is None  # no items because it never finished
    assert problem([run(outcome="timed out")] * 2, 3) is None
    assert problem([run(outcome="timed out")] * 3, 3) == "errors on 3 consecutive runs (latest: crawl timed out)"
    assert problem([run(list_errors=1, items=0)] * 2 + [run()], 3) is None
    assert problem([run(list_errors=1, items=0)] * 3, 3) == "errors on 3 consecutive runs (latest: HTTP 503)"
    assert problem([run(wall="anti-bot wall: HTTP 412 (JS cookie challenge)")], 3) == (
        "blocked by an anti-bot wall: HTTP 412 (JS cookie challenge)")
