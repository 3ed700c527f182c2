"""Web servers for the hostile-crawl tests: loopback hosts that answer from a table of routes and keep every
request they receive, and a scan of a whole state.db for a marker."""

from __future__ import annotations

import contextlib
import functools
import gzip
import sqlite3
import threading
import time
import zlib
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

# What an internal host serves: it must never reach the database.
SECRET = "INTERNAL-SECRET-MARKER-4f9c2e"
PAGE = """<html><head><meta charset="utf-8"><title>{title}</title>{head}</head>
<body><h1>{title}</h1><p>发布时间：2023-12-05 来源：{authority}</p>
<div id="zoom"><p>{text}</p><p>各省级卫生健康行政部门要加强指导，认真组织实施。</p>{extra}</div>
</body></html>"""

Route = tuple[int, dict[str, str], bytes]
TRICKLE, FLOOD = "细胞".encode(), "细胞".encode() * 180_000  # what an endless answer sends at a time


def send_endless(handler: BaseHTTPRequestHandler, trickle: bool, content_type: str,
                 stop: threading.Event | None = None, seconds: float = 60) -> None:
    """Answer 200 with no length and a body that never ends: a few bytes every 0.1 s (``trickle``), or 0.5 MB
    writes as fast as they are read. It ends when the client hangs up, ``stop`` is set or ``seconds`` pass."""
    handler.close_connection = True
    stop = stop or threading.Event()
    deadline = time.monotonic() + seconds
    with contextlib.suppress(OSError):  # the client hung up: what the tests expect of it
        handler.send_response(200)
        handler.send_header("Content-Type", content_type)
        handler.end_headers()
        while time.monotonic() < deadline and not stop.wait(0.1 if trickle else 0):
            handler.wfile.write(TRICKLE if trickle else FLOOD)
            handler.wfile.flush()


@functools.cache
def gzip_bomb(megabytes: int, start: bytes = b"") -> bytes:
    """``start`` and then ``megabytes`` MB of spaces, gzipped: a member per megabyte (a reader inflates one after
    another), about 1 KB each on the wire, made in milliseconds."""
    return gzip.compress(start, 9) + gzip.compress(b" " * (1 << 20), 9) * megabytes


def page(title: str, text: str = "为规范干细胞临床研究，现就备案工作通知如下。", head: str = "", extra: str = "",
         authority: str = "国家卫生健康委员会") -> bytes:
    """A detail page the extractor reads as a policy (title, date, authority, body)."""
    return PAGE.format(title=title, text=text, head=head, extra=extra, authority=authority).encode()


def listing(*links: str) -> bytes:
    """A list page linking ``links`` as ``li`` items."""
    items = "".join(f'<li><a href="{link}">关于细胞治疗的通知{n}</a></li>' for n, link in enumerate(links))
    return f'<html><head><meta charset="utf-8"></head><body><ul>{items}</ul></body></html>'.encode()


class Site:
    """A web server on ``host`` (a loopback address): ``routes`` answer by path, anything else with ``fallback``;
    ``requests`` holds every request's (Host header, path), in order."""

    def __init__(self, host: str = "127.0.0.1", fallback: Route | None = None) -> None:
        self.host = host
        self.routes: dict[str, Route | Callable[[str], Route]] = {}
        self.fallback = fallback or (404, {}, b"not found")
        self.requests: list[tuple[str, str]] = []
        site = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                site.requests.append((self.headers.get("Host", ""), self.path))
                route = site.routes.get(self.path.split("?")[0], site.fallback)
                status, headers, body = route(self.headers.get("Host", "")) if callable(route) else route
                self.send_response(status)
                for name, value in {"Content-Type": "text/html; charset=utf-8", **headers}.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer((host, 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.base = f"http://{host}:{self.port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def add(self, path: str, body: bytes, status: int = 200, **headers: str) -> None:
        self.routes[path] = (status, headers, body)

    def redirect(self, path: str, location: str, status: int = 302) -> None:
        self.routes[path] = (status, {"Location": location}, b"")

    def paths(self) -> list[str]:
        return [path for _, path in self.requests]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def found_in_db(db: Path, marker: str) -> list[str]:
    """Every ``table.column`` of ``db`` holding ``marker`` anywhere: text, bytes, or zlib-compressed bytes."""
    hits = []
    conn = sqlite3.connect(db)
    try:
        tables = [row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        for table in tables:
            cursor = conn.execute(f'SELECT * FROM "{table}"')
            columns = [d[0] for d in cursor.description]
            for row in cursor:
                for column, value in zip(columns, row, strict=True):
                    if marker in _readable(value):
                        hits.append(f"{table}.{column}")
    finally:
        conn.close()
    return sorted(set(hits))


def _readable(value: Any) -> str:
    if isinstance(value, bytes):
        with contextlib.suppress(zlib.error):
            value = zlib.decompress(value)
        return value.decode("utf-8", "replace")
    return str(value)
