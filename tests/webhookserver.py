"""A webhook receiver on 127.0.0.1 for the chat-post tests: records every POST (path, headers, JSON or form body),
and answers as each path is told to: 200, an error status, dropping the connection unanswered, holding the
request (received and recorded, no answer yet) until released, the moment a sender can be killed in, or a hostile
200 without end: "trickle" (a few bytes every 0.1 s) or "flood" (as fast as it is read), until released; "gzip-bomb"
(a 300 KB gzip body that inflates to 300 MB); or 200 with given bytes as the body."""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.hostile.hostile_web import gzip_bomb, send_endless


@dataclass(frozen=True)
class Request:
    path: str
    headers: dict[str, str]
    body: dict[str, Any]  # the JSON object, or the form's fields (one value each)


class WebhookServer:
    """Use as a context manager; ``url(scheme, path)`` is an Apprise URL to it (``json://127.0.0.1:PORT/path``)."""

    def __init__(self) -> None:
        self.requests: list[Request] = []
        # path → status, "drop", "hold", "trickle", "flood", "gzip-bomb" or a body
        self.answers: dict[str, int | str | bytes] = {}
        self.released = threading.Event()
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]

    def url(self, scheme: str, path: str) -> str:
        return f"{scheme}://127.0.0.1:{self.port}/{path.lstrip('/')}"

    def received(self, path: str | None = None) -> list[Request]:
        with self._lock:
            return [r for r in self.requests if path is None or r.path == path]

    def counts(self) -> Counter[str]:
        return Counter(r.path for r in self.received())

    def wait_for(self, condition: Callable[[], bool], timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            if time.monotonic() > deadline:
                raise AssertionError(f"webhook server: condition not met in {timeout}s; got {self.counts()}")
            time.sleep(0.02)

    def __enter__(self) -> WebhookServer:
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.released.set()
        self._server.shutdown()
        self._server.server_close()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                path = urlsplit(self.path).path
                data = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                kind = self.headers.get("Content-Type", "")
                if kind.startswith("application/json"):
                    body = json.loads(data)
                else:
                    body = {k: v[0] for k, v in parse_qs(data.decode("utf-8"), keep_blank_values=True).items()}
                with server._lock:
                    server.requests.append(Request(path, dict(self.headers.items()), body))
                answer = server.answers.get(path, 200)
                if answer == "hold":
                    server.released.wait(60)
                    answer = 200
                if answer == "drop":
                    self.close_connection = True
                    return
                if answer in ("trickle", "flood"):
                    send_endless(self, answer == "trickle", "application/json", server.released)
                    return
                bomb = answer == "gzip-bomb"
                body = answer if isinstance(answer, bytes) else gzip_bomb(300) if bomb else b"{}"
                self.send_response(200 if isinstance(answer, bytes) or bomb else int(answer))
                self.send_header("Content-Type", "application/json")
                if bomb:
                    self.send_header("Content-Encoding", "gzip")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        return Handler
