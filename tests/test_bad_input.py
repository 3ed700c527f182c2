"""Bad input never stops a crawl and is never stored as a policy: each failure is a fetch row."""

from __future__ import annotations

import contextlib
import time

from policywatch.portal import PortalHandler
from tests.conftest import source_toml

GOOD = """<html><head><meta charset="utf-8"><title>关于开展细胞治疗临床研究备案工作的通知</title></head>
<body><h1>关于开展细胞治疗临床研究备案工作的通知</h1><p>发布时间：2023-12-05 来源：国家卫生健康委员会</p>
<div id="zoom"><p>为规范干细胞临床研究，现就备案工作通知如下。</p><p>各省级卫生健康行政部门要加强指导。</p></div>
</body></html>"""
CASES = {
    "/malformed.html": "bad markup that holds no policy text",
    "/empty.html": "a 200 with an empty body",
    "/huge.html": "a 5 MB page over the size cap",
    "/loop-a.html": "a redirect loop",
    "/slow.html": "a page slower than the timeout",
    "/error.html": "a 500",
}


class BadPortal(PortalHandler):
    def do_GET(self) -> None:
        path = self.path
        if path == "/malformed.html":
            self._send(200, b"<html><<body <div <p =>>></dov></bod<<\x00\x01<table><tr><td>")
        elif path == "/empty.html":
            self._send(200, b"")
        elif path == "/huge.html":
            self._send(200, b"<html><body><p>" + "细胞".encode() * 900_000 + b"</p></body></html>")
        elif path.startswith("/loop-"):
            self.send_response(302)
            self.send_header("Location", "/loop-b.html" if path == "/loop-a.html" else "/loop-a.html")
            self.end_headers()
        elif path == "/slow.html":
            time.sleep(4)
            self._send(200, GOOD.encode())
        elif path == "/error.html":
            self._send(500, b"<html><body>Internal Server Error</body></html>")
        else:
            super().do_GET()

    def _send(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        # The crawler hangs up on a page over its size cap.
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            self.wfile.write(body)


def test_bad_pages_are_recorded_and_skipped(tmp_path, portal, write_config, run_crawl, open_store):
    site = tmp_path / "site"
    site.mkdir()
    links = {**CASES, "/good.html": "关于开展细胞治疗临床研究备案工作的通知"}
    (site / "index.html").write_text(
        "<ul>" + "".join(f'<li><a href="{href}">{text}</a></li>' for href, text in links.items())
        + "</ul>",
        encoding="utf-8",
    )
    (site / "good.html").write_text(GOOD, encoding="utf-8")
    base = portal(site, BadPortal)
    config = write_config(source_toml("bad", f"{base}/index.html"), timeout=1.5,
                          max_page_bytes=2_000_000)

    result = run_crawl(config)

    store = open_store(config.db)
    fetches = {row["url"].removeprefix(base): row for row in store.db["fetches"].rows}
    errors = {path: fetches[path]["error"] for path in CASES}
    assert errors == {
        "/malformed.html": "no policy text extracted",
        "/empty.html": "no policy text extracted",
        "/huge.html": errors["/huge.html"],
        "/loop-a.html": "too many redirects (redirect loop)",
        "/slow.html": "timeout",
        "/error.html": "HTTP 500",
    }
    assert errors["/huge.html"].startswith("page larger than the size cap")
    assert fetches["/error.html"]["status"] == 500
    # The good page after all of them was still crawled and is the only document.
    assert [d["url"] for d in store.documents()] == [f"{base}/good.html"]
    assert store.document(f"{base}/good.html")["title"] == "关于开展细胞治疗临床研究备案工作的通知"
    assert result.summary == [{"source": "bad", "pages": 8, "new_documents": 1,
                               "new_versions": 1, "errors": 6}]
