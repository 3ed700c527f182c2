"""The subscription flow end to end in headless Chromium (Debian chromium, driven by Playwright): `policywatch web`
running as a user runs it, aiosmtpd receiving its mail, `policywatch digest send` mailing the issue. Subscribe with
the form, confirm from the received mail, change preferences, and unsubscribe with one click from the digest's
List-Unsubscribe header, posted as a mail client posts it. No page may log a script error or a Content-Security-Policy
violation on the way.

Screenshots of each step are kept in tests/artifacts/ (web-*.png).
"""

from __future__ import annotations

import re
import signal
import subprocess

import httpx
import pytest

from policywatch.core import config as config_module
from policywatch.core.store import Store
from tests import forkcli
from tests.browser import ARTIFACTS, CHROMIUM, require_chromium
from tests.conftest import POLICYWATCH, source_toml
from tests.mailserver import Mailbox, MailServer, free_port
from tests.test_web import SECRET, TOPICS
from tests.test_web_cli import wait_for
from tests.webapp import confirmation_link


@pytest.fixture
def app(tmp_path, monkeypatch):
    """`policywatch web` on a free loopback port with its archive site, mailing through a local aiosmtpd server:
    (base URL, config, mailbox)."""
    require_chromium()
    monkeypatch.setenv("POLICYWATCH_SECRET", SECRET)
    port = free_port()
    with MailServer(Mailbox()) as mail:
        path = tmp_path / "config.toml"
        path.write_text(
            f'site = "site"\n{TOPICS}\n' + source_toml("sh-sti", "http://127.0.0.1:9/", region="上海市")
            + source_toml("gd-drc", "http://127.0.0.1:9/", region="广东省")
            + f'\n[smtp]\nhost = "127.0.0.1"\nport = {mail.port}\nsender = "PolicyWatch <digest@example.org>"\n'
            + f'timeout = 5\n\n[web]\nurl = "http://127.0.0.1:{port}/"\n', encoding="utf-8")
        process = subprocess.Popen([*POLICYWATCH, "web", "--config", str(path), "--port", str(port)],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        try:
            wait_for(port, process)
            yield f"http://127.0.0.1:{port}/", config_module.load(path), mail.mailbox
        finally:
            process.send_signal(signal.SIGTERM)
            process.communicate(timeout=60)


@pytest.fixture
def browser_page():
    """A tab at 1000 px in headless Chromium; the errors its pages log (script errors, CSP violations) are kept."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox",
                                                                               "--disable-dev-shm-usage"])
        context = browser.new_context(viewport={"width": 1000, "height": 900})
        tab = context.new_page()
        tab.logged = []
        tab.on("pageerror", lambda error: tab.logged.append(str(error)))
        tab.on("console", lambda message: message.type == "error" and tab.logged.append(message.text))
        yield tab
        browser.close()


def shot(page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=ARTIFACTS / f"web-{name}.png", full_page=True)


def test_subscribe_confirm_change_preferences_and_unsubscribe_with_one_click(app, browser_page) -> None:
    base, config, mailbox = app
    page = browser_page

    page.goto(base + "subscribe")
    page.fill("#email", "li@example.org")
    page.fill("#name", "李雷")
    page.check("input[name=digest][value=weekly]")
    page.check("input[name=topic][value=gene]")
    page.check("input[name=region][value=广东省]")
    page.select_option("#language", "zh-Hant")
    shot(page, "subscribe")
    page.click("button[type=submit]")
    assert page.inner_text("h1") == "请查收确认邮件"
    with Store(config.db) as store:
        assert store.subscribers() == []  # not before the address confirms

    mailbox.wait_for(lambda: len(mailbox.messages) == 1)
    [message] = mailbox.messages
    assert message["To"].addresses[0].addr_spec == "li@example.org"
    page.goto(confirmation_link(message))
    assert page.inner_text("h1") == "订阅已确认"
    shot(page, "confirmed")
    with Store(config.db) as store:
        [row] = store.subscribers()
    assert (row["status"], row["language"]) == ("active", "zh-Hant")
    assert row["subscriptions"] == {"weekly": (("gene",), ("广东省",))}

    page.click("text=weekly：修改主题、地区或语言")
    assert page.inner_text("h1") == "订阅偏好：weekly"
    assert page.is_checked("input[name=topic][value=gene]") and page.is_checked("input[name=region][value=广东省]")
    page.uncheck("input[name=topic][value=gene]")
    page.check("input[name=topic][value=cell-therapy]")
    page.check("input[name=region][value=上海市]")
    page.select_option("#language", "en")
    page.click("button[type=submit]")
    assert "已保存" in page.inner_text(".saved")
    assert page.is_checked("input[name=topic][value=cell-therapy]") and not page.is_checked(
        "input[name=topic][value=gene]")
    shot(page, "preferences")
    with Store(config.db) as store:
        [row] = store.subscribers()
    assert row["language"] == "en"
    assert row["subscriptions"] == {"weekly": (("cell-therapy",), ("上海市", "广东省"))}

    sent = forkcli.run(["digest", "send", "--digest", "weekly", "--period", "2023-W50", "--config", str(config.path)])
    assert sent.returncode == 0, sent.stderr
    mailbox.wait_for(lambda: len(mailbox.messages) == 2)
    digest = mailbox.messages[1]
    link = re.findall(r"<([^>]+)>", digest["List-Unsubscribe"])[0]
    assert link.startswith(base + "unsubscribe?token=")
    assert digest["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"

    page.goto(link)  # what the link in the mail's footer opens: one button
    assert page.inner_text("h1") == "退订 weekly" and page.locator("main button").count() == 1
    shot(page, "unsubscribe")
    # The mail client's one click: a POST with the one field, no cookie, no form token (RFC 8058).
    answer = httpx.post(link, data={"List-Unsubscribe": "One-Click"})
    assert answer.status_code == 200
    page.reload()
    assert page.inner_text("h1") == "已经退订"
    with Store(config.db) as store:
        [row] = store.subscribers()
    assert (row["status"], row["subscriptions"]) == ("unsubscribed", {})

    page.goto(base)  # the archive, under its own policy: its script runs, nothing is blocked
    page.wait_for_selector("#filters:not([hidden])")
    shot(page, "archive")
    assert page.logged == []


def test_the_unsubscribe_button_in_the_browser(app, browser_page) -> None:
    base, config, _ = app
    from policywatch.core.model import NewSubscriber
    from policywatch.deliver.tokens import make_token

    with Store(config.db) as store:
        store.add_subscribers([NewSubscriber("chan@example.org", None, None, (("monthly", (), ()),))])
        [row] = store.subscribers()
    page = browser_page
    page.goto(f"{base}unsubscribe?token={make_token(SECRET.encode(), row['id'], 'monthly', 'chan@example.org')}")
    page.click("main button")
    assert page.inner_text("h1") == "已退订"
    with Store(config.db) as store:
        assert store.subscribers()[0]["status"] == "unsubscribed"
    assert page.logged == []
