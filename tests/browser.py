"""Open an HTML file in real headless Chromium at a given width: measure horizontal overflow, collect links, screenshot.

A helper for tests, not a test module. Chromium is driven over the DevTools protocol on a pipe
(--remote-debugging-pipe) rather than with --dump-dom: in headless Chromium a window is never narrower than 500 px, so
--window-size=375,800 lays the page out 500 px wide (checked with Chromium 156, where --headless=old is gone too).
Emulation.setDeviceMetricsOverride sets the layout viewport exactly (Chromium's own --screenshot does the same), and
inspect() checks that window.innerWidth is the width asked for.

Nothing leaves the machine: requests other than to loopback go to a dead proxy, so remote images fail at once.

One Chromium serves every inspect() of a process (a test session, per xdist worker): each page opens in a browser
context of its own (no cookies, cache or storage shared with the pages before it) and the context is disposed of
afterwards; close() ends the browser, and a browser that failed is replaced at the next inspect().
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import json
import os
import select
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

CHROMIUM: str | None = next(
    (path for path in map(shutil.which, ("chromium", "chromium-browser", "google-chrome")) if path), None)
ARTIFACTS = Path(__file__).parent / "artifacts"  # screenshots kept by tests (gitignored)

MAX_SCREENSHOT_HEIGHT = 16_000  # px; a full-page screenshot of a longer page is cut here

FLAGS = [
    "--headless",
    "--no-sandbox",  # root in containers
    "--disable-gpu",
    "--hide-scrollbars",  # else a scrollbar takes 15 px of the viewport
    "--disable-dev-shm-usage",  # a container's /dev/shm is often 64 MB
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-extensions",
    "--disable-background-networking",
    "--disable-component-update",
    "--mute-audio",
    "--proxy-server=127.0.0.1:9",  # nothing but loopback (always bypasses proxies) reaches the network
]

# Runs in the page after load. Walks the rendered tree from <body>: an element whose right edge is past the viewport
# is listed and not entered; a box that fits and clips or scrolls its overflow (overflow-x not visible) is not entered
# either; text sticking out of a box that fits is listed as "tag text right=N".
MEASURE = r"""
(async () => {
  await document.fonts.ready;
  const root = document.documentElement;
  const vw = root.clientWidth;
  const overflowing = [];
  const name = (el) => {
    let s = el.localName;
    if (el.id) s += '#' + el.id;
    for (const c of [...el.classList].slice(0, 2)) s += '.' + c;
    return s;
  };
  const walk = (el) => {
    const style = getComputedStyle(el);
    if (style.display === 'none') return;
    const r = el.getBoundingClientRect();
    if ((r.width > 0 || r.height > 0) && r.right > vw + 0.5) {
      overflowing.push(`${name(el)} right=${Math.round(r.right)}`);
      return;
    }
    if (el !== document.body && style.overflowX !== 'visible') return;
    for (const node of el.childNodes) {
      if (node.nodeType === Node.ELEMENT_NODE) {
        walk(node);
      } else if (node.nodeType === Node.TEXT_NODE && node.data.trim()) {
        const range = document.createRange();
        range.selectNodeContents(node);
        const right = range.getBoundingClientRect().right;
        if (right > vw + 0.5) {
          overflowing.push(`${name(el)} text right=${Math.round(right)}`);
          return;
        }
      }
    }
  };
  if (document.body) walk(document.body);
  const links = [...document.querySelectorAll('a[href], img[src]')]
    .map((e) => e.getAttribute(e.localName === 'img' ? 'src' : 'href'));
  return {innerWidth, clientWidth: vw, scrollWidth: root.scrollWidth, scrollHeight: root.scrollHeight,
          overflowing, links};
})()
"""


class BrowserError(RuntimeError):
    """Chromium could not be started, failed, or took too long."""


@dataclass(frozen=True)
class PageReport:
    width: int  # viewport width asked for
    scroll_width: int  # document.documentElement.scrollWidth after layout
    overflowing: list[str]  # "table.item right=402" for each outermost element past the viewport's right edge
    links: list[str]  # every a[href] and img[src] value, as written in the HTML (not resolved), in document order
    screenshot: Path  # full-page PNG, `width` px wide
    measured: Any = None  # what the caller's own `measure` script returned


def inspect(
    html: Path, width: int, screenshot: Path, *, height: int = 800, timeout: float = 60, measure: str | None = None,
) -> PageReport:
    """Load `html` in headless Chromium with a layout viewport `width` x `height` px; measure it and save a PNG.

    `measure` is a JavaScript expression of the caller's, evaluated after the page's fonts have loaded (a promise
    is awaited); its JSON value is the report's `measured`.
    """
    if CHROMIUM is None:
        raise BrowserError("no chromium on PATH (tried chromium, chromium-browser, google-chrome)")
    html = Path(html).resolve()
    if not html.is_file():
        raise BrowserError(f"no such file: {html}")
    with _page(time.monotonic() + timeout) as (browser, session):
        browser.call("Page.enable", session=session)
        browser.call("Emulation.setDeviceMetricsOverride",
                     {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False}, session=session)
        navigated = browser.call("Page.navigate", {"url": html.as_uri()}, session=session)
        if navigated.get("errorText"):
            raise BrowserError(f"chromium could not open {html}: {navigated['errorText']}")
        browser.event("Page.loadEventFired", session)
        evaluated = browser.call("Runtime.evaluate", {"expression": MEASURE, "awaitPromise": True,
                                                      "returnByValue": True}, session=session)
        if "exceptionDetails" in evaluated:
            raise BrowserError(f"measuring script failed: {evaluated['exceptionDetails']}")
        measured = evaluated["result"]["value"]
        if measured["innerWidth"] != width or measured["clientWidth"] != width:
            raise BrowserError(f"asked for a {width} px viewport, got innerWidth {measured['innerWidth']}, "
                               f"clientWidth {measured['clientWidth']}")
        theirs = None
        if measure is not None:
            evaluated = browser.call("Runtime.evaluate", {"expression": measure, "awaitPromise": True,
                                                          "returnByValue": True}, session=session)
            if "exceptionDetails" in evaluated:
                raise BrowserError(f"the caller's measuring script failed: {evaluated['exceptionDetails']}")
            theirs = evaluated["result"].get("value")
        shot_height = min(max(height, measured["scrollHeight"]), MAX_SCREENSHOT_HEIGHT)
        png = browser.call("Page.captureScreenshot", {
            "format": "png", "captureBeyondViewport": True,
            "clip": {"x": 0, "y": 0, "width": width, "height": shot_height, "scale": 1}}, session=session)["data"]
    screenshot.parent.mkdir(parents=True, exist_ok=True)
    screenshot.write_bytes(base64.b64decode(png))
    return PageReport(width=width, scroll_width=measured["scrollWidth"], overflowing=measured["overflowing"],
                      links=measured["links"], screenshot=screenshot, measured=theirs)


_shared: _DevTools | None = None  # the process's Chromium, started by the first inspect()


@contextlib.contextmanager
def _page(deadline: float):
    """A new tab, in a browser context of its own, of the shared Chromium (started if need be): (browser,
    session). The context is disposed of afterwards; after a failure the browser is closed, to be replaced."""
    global _shared
    if _shared is None or _shared.proc.poll() is not None:
        close()
        _shared = _DevTools(Path(tempfile.mkdtemp(prefix="pw-chromium-")), deadline).__enter__()
    browser = _shared
    browser.deadline = deadline
    browser.events.clear()  # those of the pages before
    try:
        context = browser.call("Target.createBrowserContext")["browserContextId"]
    except BaseException:
        close()
        raise
    try:
        target = browser.call("Target.createTarget", {"url": "about:blank", "browserContextId": context})["targetId"]
        session = browser.call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        yield browser, session
    finally:
        try:
            browser.call("Target.disposeBrowserContext", {"browserContextId": context})
        except BaseException:
            close()
            raise


def close() -> None:
    """End the shared Chromium, if one runs (at the end of a test session)."""
    global _shared
    if _shared is not None:
        browser, _shared = _shared, None
        browser.__exit__(None, None, None)
        shutil.rmtree(browser.tmp, ignore_errors=True)


class _DevTools:
    """One headless Chromium, spoken to over --remote-debugging-pipe (fd 3: its input, fd 4: its output).

    Its window size does not matter: each page sets its own layout viewport (Emulation.setDeviceMetricsOverride)."""

    def __init__(self, tmp: Path, deadline: float):
        self.tmp = tmp
        self.deadline = deadline
        self.stderr_path = tmp / "stderr.txt"
        self.args = [CHROMIUM, *FLAGS, f"--user-data-dir={tmp / 'profile'}", "--window-size=1200,800",
                     "--remote-debugging-pipe", "about:blank"]
        self.next_id = 0
        self.events: list[dict] = []
        self.buffer = bytearray()

    def __enter__(self) -> _DevTools:
        to_chromium, self.out = _pipe()  # we write commands to self.out; chromium reads them on its fd 3
        self.inp, from_chromium = _pipe()  # chromium writes replies and events on its fd 4; we read self.inp

        def child_fds() -> None:  # fds 3 and 4 made by dup2 stay open in chromium; the pipes' own fds close on exec
            os.dup2(to_chromium, 3)
            os.dup2(from_chromium, 4)

        try:
            with open(self.stderr_path, "wb") as stderr:
                self.proc = subprocess.Popen(self.args, stdin=subprocess.DEVNULL, stdout=stderr, stderr=stderr,
                                             preexec_fn=child_fds, close_fds=False, start_new_session=True)
        except OSError as exc:
            os.close(self.out)
            os.close(self.inp)
            raise BrowserError(f"cannot start {CHROMIUM}: {exc}") from exc
        finally:
            os.close(to_chromium)
            os.close(from_chromium)
        return self

    def __exit__(self, *exc_info) -> None:
        try:
            self.send("Browser.close")
            self.proc.wait(timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            pass
        finally:
            if self.proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, signal.SIGKILL)  # its own process group: start_new_session
                self.proc.wait()
            os.close(self.out)
            os.close(self.inp)

    def send(self, method: str, params: dict | None = None, session: str | None = None) -> int:
        self.next_id += 1
        message = {"id": self.next_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        os.write(self.out, json.dumps(message).encode() + b"\0")
        return self.next_id

    def call(self, method: str, params: dict | None = None, session: str | None = None) -> dict:
        """Send a command; return its result, keeping the events that arrive meanwhile."""
        sent = self.send(method, params, session)
        while True:
            message = self._receive(method)
            if message.get("id") == sent:
                if "error" in message:
                    raise BrowserError(f"{method} failed: {message['error']}")
                return message["result"]
            if "method" in message:
                self.events.append(message)

    def event(self, method: str, session: str) -> dict:
        """Wait for an event (or take it if it came already)."""
        while True:
            for message in self.events:
                if message["method"] == method and message.get("sessionId") == session:
                    self.events.remove(message)
                    return message
            message = self._receive(method)
            if "method" in message:
                self.events.append(message)

    def _receive(self, waiting_for: str) -> dict:
        """The next message from chromium: JSON ended by a NUL byte."""
        scanned = 0
        while (end := self.buffer.find(b"\0", scanned)) < 0:
            scanned = len(self.buffer)
            left = self.deadline - time.monotonic()
            if left <= 0 or not select.select([self.inp], [], [], left)[0]:
                raise BrowserError(f"chromium timed out waiting for {waiting_for}{self._stderr_tail()}")
            chunk = os.read(self.inp, 1 << 20)
            if not chunk:
                self.proc.wait(timeout=10)
                raise BrowserError(f"chromium exited ({self.proc.returncode}) while we waited for {waiting_for}"
                                   f"{self._stderr_tail()}")
            self.buffer += chunk
        message = json.loads(self.buffer[:end])
        del self.buffer[:end + 1]
        return message

    def _stderr_tail(self, lines: int = 15) -> str:
        try:
            text = self.stderr_path.read_text(errors="replace").strip()
        except OSError:
            return ""
        return "; its stderr ends:\n" + "\n".join(text.splitlines()[-lines:]) if text else ""


def _pipe() -> tuple[int, int]:
    """A pipe whose fds are 10 or more (close-on-exec), so the child can dup2 them to 3 and 4 without a clash."""
    fds = os.pipe()
    try:
        return fcntl.fcntl(fds[0], fcntl.F_DUPFD_CLOEXEC, 10), fcntl.fcntl(fds[1], fcntl.F_DUPFD_CLOEXEC, 10)
    finally:
        os.close(fds[0])
        os.close(fds[1])


def require_chromium() -> None:
    """Skip without Chromium on a developer's machine; in CI (CI set) its absence is a failure, never a skip."""
    import pytest

    if CHROMIUM is None:
        if os.environ.get("CI", "").lower() not in ("", "0", "false", "no"):
            pytest.fail("CI is set but no chromium is on PATH: `make test` installs it with apt-get "
                        "(as root or with passwordless sudo)", pytrace=False)
        pytest.skip("no chromium on PATH (`make test` installs it with apt-get as root); browser tests skipped")
