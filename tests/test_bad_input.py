"""Bad input never stops a crawl and is never stored as a policy: each failure is a fetch row."""

from __future__ import annotations

import contextlib
import time
from urllib.parse import urlsplit

from policywatch.portal import PortalHandler
from tests.conftest import source_toml
from tests.hostile.hostile_web import gzip_bomb, send_endless
from tests.mailserver import free_port

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
    "/trickle.html": "a page sent a few bytes at a time, each within the timeout, the whole never",
    "/endless.html": "a page with no length that never ends",
    "/bomb.html": "100 KB of gzip that inflates to 100 MB",
    "/not-http.html": "bytes that are no HTTP answer",
    "/cut-short.html": "an answer shorter than its Content-Length",
    "/bad-chunks.html": "chunked encoding that breaks off",
    "/refused.html": "a port nothing listens on (on one of the source's hosts)",
}
TIMEOUT = 4.0  # the crawl's: room for every answer that should arrive, on a machine busy with other tests
# What the server writes for the answers that are not HTTP as it should be, status line and all.
RAW = {
    "/not-http.html": b"\x00\x01\x1b[2J garbage\r\n\r\n",
    "/cut-short.html": b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 999999\r\n\r\n<html><body>",
    "/bad-chunks.html": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nxx\r\n",
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
            time.sleep(TIMEOUT * 2)
            self._send(200, GOOD.encode())
        elif path == "/error.html":
            self._send(500, b"<html><body>Internal Server Error</body></html>")
        elif path == "/bomb.html":
            self._send(200, gzip_bomb(100, b"<html><body><p>"), {"Content-Encoding": "gzip"})
        elif path in ("/trickle.html", "/endless.html"):
            send_endless(self, path == "/trickle.html", "text/html")
        elif path in RAW:
            self.close_connection = True
            self.wfile.write(RAW[path])
        else:
            super().do_GET()

    def _send(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
        # The crawler hangs up on a page over its size cap, and has given up on the slow page by the time it comes.
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            self.send_response(status)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(body)


def test_bad_pages_are_recorded_and_skipped(tmp_path, portal, write_config, run_crawl, open_store):
    site = tmp_path / "site"
    site.mkdir()
    closed = free_port()
    links = {**CASES, "/good.html": "关于开展细胞治疗临床研究备案工作的通知"}
    hrefs = {href: f"http://127.0.0.1:{closed}{href}" if href == "/refused.html" else href for href in links}
    (site / "index.html").write_text(
        "<ul>" + "".join(f'<li><a href="{hrefs[href]}">{text}</a></li>' for href, text in links.items())
        + "</ul>",
        encoding="utf-8",
    )
    (site / "good.html").write_text(GOOD, encoding="utf-8")
    base = portal(site, BadPortal)
    config = write_config(source_toml("bad", f"{base}/index.html", extra=f'allowed_hosts = ["127.0.0.1:{closed}"]'),
                          timeout=TIMEOUT, max_page_bytes=2_000_000)

    result = run_crawl(config)

    store = open_store(config.db)
    fetches = {urlsplit(row["url"]).path: row for row in store.db["fetches"].rows}
    errors = {path: fetches[path]["error"] for path in CASES}
    assert errors == {
        "/malformed.html": "no policy text extracted",
        "/empty.html": "no policy text extracted",
        "/huge.html": errors["/huge.html"],
        "/loop-a.html": "too many redirects (redirect loop)",
        "/slow.html": "timeout",
        "/error.html": "HTTP 500",
        "/trickle.html": "timeout",  # the timeout is for the whole page, not for each read
        "/endless.html": "page larger than the size cap: more than 2,000,000 bytes arrived",
        "/bomb.html": "page larger than the size cap: its compressed body inflates past 2,000,000 bytes",
        "/not-http.html": "not an HTTP answer: non-integer status code",
        "/cut-short.html": "answer cut short: the connection closed before the end the server announced",
        "/bad-chunks.html": "answer cut short: the connection closed before the end the server announced",
        "/refused.html": "connection refused",
    }
    assert errors["/huge.html"].startswith("page larger than the size cap")
    assert fetches["/error.html"]["status"] == 500
    # The good page after all of them was still crawled and is the only document.
    assert [d["url"] for d in store.documents()] == [f"{base}/good.html"]
    assert store.document(f"{base}/good.html")["title"] == "关于开展细胞治疗临床研究备案工作的通知"
    assert result.summary == [{"source": "bad", "pages": 15, "new_documents": 1,
                               "new_versions": 1, "errors": 13}]
