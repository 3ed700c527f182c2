"""The subscription page (web/) on a real uvicorn server on 127.0.0.1, in a thread, with a clock the test moves.

A helper for tests, not a test module. The socket is bound first, so the app's config can name the address it is
served on ([web] url), as it must for the links in its mails.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from policywatch.web.server import listen, server

if TYPE_CHECKING:
    import httpx
    from starlette.types import ASGIApp


@dataclass
class Clock:
    """The app's clock: a moment the test sets and moves."""

    now: datetime

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@contextmanager
def running(make_app: Callable[[str], ASGIApp]) -> Iterator[str]:
    """Serve ``make_app(base URL)`` on a free loopback port for the ``with`` block; yields the base URL."""
    sock = listen("127.0.0.1", 0)
    base = f"http://127.0.0.1:{sock.getsockname()[1]}/"
    uvicorn = server(make_app(base), log_level="warning")
    thread = threading.Thread(target=uvicorn.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not uvicorn.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the web app's server did not start")
        time.sleep(0.01)
    try:
        yield base
    finally:
        uvicorn.should_exit = True
        thread.join(30)
        sock.close()


def form_token(html: str) -> str:
    """The form token a page's form carries."""
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found, "the page has no form token"
    return found[1]


def confirmation_link(message: object) -> str:
    """The confirmation link in a confirmation mail."""
    found = re.search(r"(\S+/confirm\?token=\S+)", message.get_content())  # type: ignore[attr-defined]
    assert found, "no confirmation link in the mail"
    return found[1]


def post_subscribe(client: httpx.Client, fields: dict[str, object], forwarded_for: str | None = None) -> httpx.Response:
    """Open the subscribe form (getting the browser's cookie and the form's token), then post ``fields`` with it."""
    token = form_token(client.get("subscribe").text)
    headers = {"X-Forwarded-For": forwarded_for} if forwarded_for else {}
    return client.post("subscribe", data={"csrf": token, **fields}, headers=headers)
