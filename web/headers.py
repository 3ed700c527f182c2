"""Security headers on every answer the app gives, its own pages, the archive's files and its error pages alike.

The app's pages run no script and load nothing but their stylesheet, so their Content-Security-Policy forbids the
rest. The archive's pages run their own scripts from assets/, and draw charts with inline styles and data: images,
so theirs allows exactly that. Neither may be framed (clickjacking), and no page sends a Referer: the app's
addresses carry tokens, and the archive's links lead to other sites.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.datastructures import MutableHeaders

if TYPE_CHECKING:
    from starlette.types import ASGIApp, Message, Receive, Scope, Send

PAGE_POLICY = ("default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; "
               "frame-ancestors 'none'; base-uri 'none'")
ARCHIVE_POLICY = ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
                  "object-src 'none'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
COMMON = {
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
}


class SecurityHeaders:
    """ASGI middleware: adds the headers above to every HTTP answer; ``pages`` are the app's own paths."""

    def __init__(self, app: ASGIApp, pages: frozenset[str]) -> None:
        self.app, self.pages = app, pages

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        policy = PAGE_POLICY if scope["path"] in self.pages else ARCHIVE_POLICY

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in {**COMMON, "Content-Security-Policy": policy}.items():
                    headers[name] = value
            await send(message)

        await self.app(scope, receive, send_with_headers)
