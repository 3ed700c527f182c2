"""A forward proxy on 127.0.0.1 that answers for real portal hosts from saved pages.

Crawls of the shipped config.toml entries use their real portal URLs; with ``http_proxy`` and
``https_proxy`` pointing here, every request (plain, or tunnelled by CONNECT and then TLS with a
throwaway certificate, which Scrapy does not verify) is answered from ``root/<host>/<path>``.
Anything not saved is a 404, and nothing leaves the machine. ``requests`` records what was asked.
"""

from __future__ import annotations

import mimetypes
import ssl
import threading
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from collections.abc import Iterator


class ReplayHandler(BaseHTTPRequestHandler):
    server: ReplayServer
    tunnel: str | None = None  # the host a CONNECT opened a TLS tunnel to

    def do_CONNECT(self) -> None:
        self.send_response(200, "Connection established")
        self.end_headers()
        self.tunnel = self.path.split(":")[0]
        self.connection = self.server.tls.wrap_socket(self.connection, server_side=True)
        self.rfile = self.connection.makefile("rb")
        self.wfile = self.connection.makefile("wb", buffering=0)
        self.close_connection = False

    def do_GET(self) -> None:
        parts = urlsplit(self.path)
        host, scheme = (self.tunnel, "https") if self.tunnel else (parts.hostname or "", "http")
        self.server.requests.append(f"{scheme}://{host}{parts.path}" + (f"?{parts.query}" if parts.query else ""))
        file = self.server.root / host / parts.path.lstrip("/")
        if file.is_dir():
            file = file / "index.html"
        if not file.is_file():
            self.send_error(404, "Not Found")
            return
        body = file.read_bytes()
        kind = mimetypes.guess_type(file.name)[0] or "text/html"
        self.send_response(200)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def finish(self) -> None:
        super().finish()
        if self.tunnel:  # the TLS socket took over the connection: close it, or the client waits for it
            self.connection.close()

    def log_message(self, format: str, *args: object) -> None:  # quiet
        pass


class ReplayServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, root: Path, certificate: tuple[str, str]) -> None:
        super().__init__(("127.0.0.1", 0), ReplayHandler)
        self.root = root
        self.requests: list[str] = []
        self.tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.tls.load_cert_chain(*certificate)


def save(root: Path, url: str, file: Path) -> None:
    """Make ``file`` the saved answer for ``url`` (linked, never copied)."""
    parts = urlsplit(url)
    target = root / parts.hostname / parts.path.lstrip("/")
    if parts.path.endswith("/"):
        target = target / "index.html"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.symlink_to(file.resolve())


@contextmanager
def replay(root: Path, certificate: tuple[str, str]) -> Iterator[ReplayServer]:
    """Run the proxy; yields the server (its URL is ``http://127.0.0.1:<server.server_port>``)."""
    server = ReplayServer(root, certificate)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
