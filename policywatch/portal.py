"""A static web server on 127.0.0.1 that behaves like a portal: ETag, Last-Modified, 304s.

``demo`` serves its bundled sites with it and the tests serve saved pages with
it, so crawls exercise real HTTP (conditional requests included) with no
traffic leaving the machine. Files are served as raw bytes: a GBK page stays GBK.
"""

from __future__ import annotations

import hashlib
import threading
from contextlib import contextmanager
from email.utils import formatdate, parsedate_to_datetime
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

if TYPE_CHECKING:
    from collections.abc import Iterator


class PortalHandler(SimpleHTTPRequestHandler):
    """Serves files under ``directory``; answers conditional GETs with 304 Not Modified."""

    server_version = "PolicyWatchPortal/1"
    extensions_map: ClassVar[dict[str, str]] = {
        **SimpleHTTPRequestHandler.extensions_map, ".html": "text/html", ".htm": "text/html",
        ".json": "application/json",
    }

    def do_GET(self) -> None:
        path = Path(self.translate_path(self.path))
        if path.is_dir():
            path = path / "index.html"
        if not path.is_file():
            self.send_error(404, "Not Found")
            return
        body = path.read_bytes()
        etag = '"' + hashlib.sha1(body).hexdigest()[:16] + '"'
        mtime = path.stat().st_mtime
        if self._not_modified(etag, mtime):
            self.send_response(304)
            self.send_header("ETag", etag)
            self.end_headers()
            return
        self.send_response(200)
        self.send_header("Content-Type", self.guess_type(str(path)))
        self.send_header("Content-Length", str(len(body)))
        self.send_header("ETag", etag)
        self.send_header("Last-Modified", formatdate(mtime, usegmt=True))
        self.end_headers()
        self.wfile.write(body)

    def end_headers(self) -> None:
        """Every answer says ``Connection: close``, as HTTP/1.0 servers should: the server closes the connection
        after each response, and a client that pools connections (Twisted's does, unless told) would otherwise
        send its next request down a connection that is closing, and see it fail."""
        if not any(line.lower().startswith(b"connection:") for line in getattr(self, "_headers_buffer", [])):
            self.send_header("Connection", "close")
        super().end_headers()

    def _not_modified(self, etag: str, mtime: float) -> bool:
        if_none_match = self.headers.get("If-None-Match")
        if if_none_match is not None:
            return etag in [tag.strip() for tag in if_none_match.split(",")]
        since = self.headers.get("If-Modified-Since")
        if since:
            try:
                return int(mtime) <= parsedate_to_datetime(since).timestamp()
            except (TypeError, ValueError):
                return False
        return False

    def log_message(self, format: str, *args: object) -> None:
        """Quiet: the crawler records every request itself."""


@contextmanager
def serve(
    directory: str | Path, handler: type[PortalHandler] = PortalHandler
) -> Iterator[str]:
    """Serve ``directory`` on a free loopback port for the ``with`` block; yields the base URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(handler, directory=str(directory)))
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
