"""Chat groups and webhooks for real: a crawled site, `policywatch digest send` and `policywatch notify test` in a
subprocess, posting through Apprise's json:// and form:// to a recording HTTP server on 127.0.0.1 (and mail to an
aiosmtpd server), with the send log checked across a kill -9."""

from __future__ import annotations

import signal
import subprocess
import time
import tracemalloc

import pytest
import requests
from markdown_it import MarkdownIt

from policywatch.core.store import Store
from tests import forkcli
from tests.conftest import source_toml
from tests.mailserver import Mailbox, MailServer, free_port
from tests.test_delivery import PAGES, SECRET, cli, december_site, send, smtp_toml, subscribe
from tests.test_digest import CELL_TOPIC, digest_toml, with_digests, write_site
from tests.webhookserver import WebhookServer

SITE_URL = "https://policy.example.org/archive/"


@pytest.fixture
def notify_config(db_target, write_config, shared_crawls, monkeypatch):
    """A crawled December 2023 (the mail tests' pages, crawled once per session: SharedCrawls); returns a maker of
    the config with a monthly digest posting to ``urls``, and [smtp] when ``smtp_port`` is given."""
    monkeypatch.setenv("POLICYWATCH_SECRET", SECRET)
    base = write_config(source_toml("cell", december_site(shared_crawls) + "/index.html"))
    shared_crawls.crawl("december", base)
    text = base.path.read_text(encoding="utf-8")

    def make(urls: list[str], smtp_port: int | None = None, site_url: str = SITE_URL):
        base.path.write_text(f'site_url = "{site_url}"\n' + text, encoding="utf-8")
        notify = "notify = [" + ", ".join(f'"{u}"' for u in urls) + "]"
        tables = [CELL_TOPIC, digest_toml("monthly", extra=notify)]
        return with_digests(base, *tables, *([smtp_toml(smtp_port)] if smtp_port else []))

    return make


def posts(config) -> dict[str, dict]:
    """The send log's chat posts of the issue, by the URL as it is shown."""
    with Store(config.db) as store:
        return {row["url"]: row for row in store.posts("monthly", "2023-12").values()}


def links(markdown: str) -> list[str]:
    """Every link a Markdown renderer makes of ``markdown``."""
    tokens = MarkdownIt("commonmark").parse(markdown)
    return [child.attrs["href"] for token in tokens for child in token.children or () if child.type == "link_open"]


def test_send_mails_subscribers_and_posts_the_issue_once_to_each_url_as_json_and_form(notify_config):
    with WebhookServer() as hooks, MailServer(Mailbox()) as mail:
        urls = [hooks.url("json", "wecom-bridge"), hooks.url("form", "form-hook")]
        config = notify_config(urls, smtp_port=mail.port)
        people = subscribe(config, 2)
        first = send(config)
        assert "2 sent, 0 already sent" in first.stdout
        assert "monthly 2023-12 chat: 2 posted, 0 already posted, 0 failed, 0 in doubt" in first.stdout
        again = send(config)
        assert "0 sent, 2 already sent" in again.stdout
        assert "monthly 2023-12 chat: 0 posted, 2 already posted, 0 failed, 0 in doubt" in again.stdout
        assert hooks.counts() == {"/wecom-bridge": 1, "/form-hook": 1}
        assert mail.mailbox.received_by() == {p: 1 for p in people}

    [as_json] = hooks.received("/wecom-bridge")
    [as_form] = hooks.received("/form-hook")
    assert as_json.headers["Content-Type"].startswith("application/json")
    assert as_form.headers["Content-Type"].startswith("application/x-www-form-urlencoded")
    for request in (as_json, as_form):
        assert request.body["title"] == "政策汇总 | 2023年12月份行业政策及动态汇总"
        message = request.body["message"]
        assert message.startswith("**12月政策摘要**\n\n1. [")
        for title, _, _ in PAGES:
            assert title in message
        assert links(message)[-1] == SITE_URL + "digests/monthly/2023-12.html"
        assert "[阅读本期全文](" in message
        assert all(link.startswith("http://127.0.0.1:") for link in links(message)[:-1])
        assert len(links(message)) == len(PAGES) + 1
    log = posts(config)
    assert {row["status"] for row in log.values()} == {"sent"} and len(log) == 2
    assert all(row["attempts"] == 1 for row in log.values())


def test_sigkill_while_a_webhook_holds_the_post_then_a_rerun_posts_to_each_url_exactly_once(notify_config):
    with WebhookServer() as hooks:
        hooks.answers["/second"] = "hold"  # received and recorded, answered only when released
        urls = [hooks.url("json", "first"), hooks.url("json", "second"), hooks.url("form", "third")]
        config = notify_config(urls)
        sender = forkcli.start(["digest", "send", "--digest", "monthly", "--period", "2023-12",
                                "--config", str(config.path)])
        hooks.wait_for(lambda: hooks.counts()["/second"] == 1)
        sender.process.send_signal(signal.SIGKILL)
        assert sender.finish().returncode == -signal.SIGKILL
        log = posts(config)
        first, second, third = (f"json://127.0.0.1:{hooks.port}/first", f"json://127.0.0.1:{hooks.port}/second",
                                f"form://127.0.0.1:{hooks.port}/third")
        assert {url: row["status"] for url, row in log.items()} == {first: "sent", second: "posting"}
        hooks.released.set()

        again = send(config, check=False)
        assert again.returncode == 1  # one post is in doubt, and says so
        assert "chat: 1 posted, 1 already posted, 0 failed, 1 in doubt" in again.stdout
        assert f"in doubt {second}: the run posting it was cut off" in again.stdout
        assert hooks.counts() == {"/first": 1, "/second": 1, "/third": 1}
        assert posts(config)[third]["status"] == "sent"

        # The operator knows the group never showed it: the in-doubt post is made again, and only that one.
        resent = send(config, "--resend-in-doubt")
        assert "chat: 1 posted, 2 already posted, 0 failed, 0 in doubt" in resent.stdout
        assert hooks.counts() == {"/first": 1, "/second": 2, "/third": 1}
        assert posts(config)[second]["attempts"] == 2


def test_a_refused_post_is_made_again_and_a_dropped_one_is_in_doubt(notify_config):
    with WebhookServer() as hooks:
        hooks.answers.update({"/refusing": 500, "/dropping": "drop"})
        config = notify_config([hooks.url("json", "refusing"), hooks.url("json", "dropping")])
        result = send(config, check=False)
        assert result.returncode == 1
        assert "chat: 0 posted, 0 already posted, 1 failed, 1 in doubt" in result.stdout
        assert "error=500" in result.stdout and "posted again on the next run" in result.stdout
        assert "Remote end closed connection without response" in result.stdout

        hooks.answers.clear()
        again = send(config, check=False)
        assert again.returncode == 1 and "chat: 1 posted, 0 already posted, 0 failed, 1 in doubt" in again.stdout
        assert hooks.counts() == {"/refusing": 2, "/dropping": 1}  # the dropped post may have arrived: not again
        statuses = {url.rsplit("/", 1)[1]: row["status"] for url, row in posts(config).items()}
        assert statuses == {"refusing": "sent", "dropping": "in-doubt"}


def test_dry_run_shows_each_post_and_sends_and_records_nothing(notify_config):
    with WebhookServer() as hooks:
        config = notify_config([hooks.url("json", "a"), hooks.url("form", "b")])
        dry = send(config, "--dry-run")
        assert "monthly 2023-12 (dry run): would post to 2, 0 already posted, 0 in doubt" in dry.stdout
        assert f"  → json://127.0.0.1:{hooks.port}/a" in dry.stdout
        assert f"post to json://127.0.0.1:{hooks.port}/a, form://127.0.0.1:{hooks.port}/b:" in dry.stdout
        assert "  | **12月政策摘要**" in dry.stdout and PAGES[0][0] in dry.stdout
        assert "would send to" not in dry.stdout  # no [smtp] table: this digest only posts
        assert hooks.requests == [] and posts(config) == {}


def test_a_digest_without_smtp_posts_and_says_who_was_not_mailed(notify_config):
    with WebhookServer() as hooks:
        config = notify_config([hooks.url("json", "a")])
        subscribe(config, 1)
        result = send(config, check=False)
        assert result.returncode == 1
        assert "chat: 1 posted" in result.stdout
        assert "1 subscriber(s) not mailed: no [smtp] table" in result.stdout
        assert hooks.counts() == {"/a": 1}


HOSTILE = [
    ("细胞治疗通知[点此领奖](https://evil.example/x) @all <at user_id=\"all\">所有人</at> <!channel> **急** "
     "www.evil.example/y https://evil.example/z", "2023-12-05", "干细胞与细胞治疗研究。"),
    *((f"关于第{n}批细胞治疗项目的通知" + "很长的标题" * 20, f"2023-12-{n:02d}", "细胞治疗临床研究。")
      for n in range(6, 20)),
]


def test_scraped_titles_cannot_add_links_or_mentions_and_the_post_stays_bounded(
        tmp_path, portal, write_config, run_crawl):
    from policywatch.deliver.chat import limit
    from policywatch.deliver.post_text import MAX_ITEMS, TITLE_CHARS, digest_post
    from policywatch.digest.build import build_digest
    from policywatch.digest.period import parse_period

    write_site(tmp_path / "site", HOSTILE)
    config = write_config(source_toml("cell", portal(tmp_path / "site") + "/index.html"))
    run_crawl(config)
    with WebhookServer() as hooks:
        notify = f'notify = ["{hooks.url("json", "a")}"]'
        config = with_digests(config, CELL_TOPIC, digest_toml("monthly", extra=notify))
        send(config)
        [request] = hooks.received("/a")
    with Store(config.db) as store:
        digest = build_digest(config, store, config.digest("monthly"), parse_period("2023-12", "month"))
    total = len(digest.top_list) + len(digest.news_list) + len(digest.more)
    assert total > MAX_ITEMS

    message = request.body["message"]
    portal_links = links(message)
    assert len(portal_links) == MAX_ITEMS and all(link.startswith("http://127.0.0.1:") for link in portal_links)
    assert f"另有{total - MAX_ITEMS}条未列出" in message
    assert "@" not in message and "＠all" in message  # no mention: @ is the full-width ＠
    assert "<at" not in message.replace("\\<at", "") and "\\<!channel\\>" in message
    assert "https://evil" not in message and "https：//evil" in message and "www．evil" in message
    assert "\\[点此领奖\\]" in message and "\\*\\*急\\*\\*" in message
    assert MarkdownIt("commonmark").render(message).count("<strong>") == 1  # the heading only
    long_line = next(line for line in message.splitlines() if "很长的标题" in line)
    assert "…](" in long_line and len(long_line.split("](")[0]) < TITLE_CHARS + 8

    # A WeCom group bot takes 2,048 bytes: fewer items, the rest counted, and the post fits.
    assert limit(f"wecombot://{'k' * 20}") == limit("https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=k") == 2048
    title, text = digest_post(digest, SITE_URL + "digests/monthly/2023-12.html", 2048)
    assert len(title.encode()) + len(text.encode()) <= 2048
    shown = len(links(text)) - 1
    assert 0 < shown < MAX_ITEMS and f"另有{total - shown}条未列出" in text
    assert links(text)[-1] == SITE_URL + "digests/monthly/2023-12.html"


def test_notify_test_posts_one_message_and_fails_in_one_line(tmp_path):
    def notify_test(*args: str) -> subprocess.CompletedProcess:
        return forkcli.run(["notify", "test", *args], cwd=tmp_path)

    with WebhookServer() as hooks:
        hooks.answers["/broken"] = 503
        ok = notify_test(hooks.url("json", "ok"))
        assert ok.returncode == 0 and ok.stdout == f"posted a test message to json://127.0.0.1:{hooks.port}/ok\n"
        [request] = hooks.received("/ok")
        assert request.body["title"] == "PolicyWatch test message"

        broken = notify_test(hooks.url("form", "broken"))
        assert broken.returncode == 1 and broken.stderr.count("\n") == 1
        assert broken.stderr.startswith(f"Error: form://127.0.0.1:{hooks.port}/broken: not posted: ")
        assert "error=503" in broken.stderr

    down = notify_test(f"json://127.0.0.1:{free_port()}/hook")
    assert down.returncode == 1 and "not posted" in down.stderr and "Connection refused" in down.stderr

    unknown = notify_test("qywx://693a91f6-7abc-4bc4-97a0-0ec2sifa5aaa")
    assert unknown.returncode == 2 and unknown.stderr.count("\n") == 1
    assert unknown.stderr == ("Error: qywx://6…a: unknown notification scheme 'qywx://' (Apprise knows e.g. "
                              "wecombot://, dingtalk://, feishu://, slack://, tgram:// or json:// for any webhook)\n")
    invalid = notify_test("dingtalk://not-a-valid-token!/")
    assert invalid.returncode == 2 and "not a valid DingTalk URL" in invalid.stderr
    assert "not-a-valid-token" not in invalid.stderr


def test_notify_test_without_a_url_tries_every_configured_one(notify_config):
    with WebhookServer() as hooks:
        hooks.answers["/down"] = 500
        config = notify_config([hooks.url("json", "up"), hooks.url("json", "down")])
        config.path.write_text(config.path.read_text(encoding="utf-8").replace(
            "[[sources]]", f'[alerts]\nnotify = ["{hooks.url("form", "ops")}"]\n\n[[sources]]', 1), encoding="utf-8")
        result = cli(config, "notify", "test", check=False)
        assert result.returncode == 1
        assert f"posted a test message to json://127.0.0.1:{hooks.port}/up" in result.stdout
        assert f"posted a test message to form://127.0.0.1:{hooks.port}/ops" in result.stdout
        assert result.stderr.startswith(f"Error: json://127.0.0.1:{hooks.port}/down: not posted: ")
        assert hooks.counts() == {"/up": 1, "/down": 1, "/ops": 1}


@pytest.mark.parametrize("title", [
    "[点此](https://evil.example/x)", "![img](https://evil.example/i.png)", "<https://evil.example/a>",
    "<a href='https://evil.example/'>x</a>", '<at user_id="all">所有人</at>', "<@U024BE7LH> <!here> <#C123>",
    "@all @everyone @13800000000", "&#64;all &lt;b&gt;", "# 标题", "1. 列表", "- 列表", "> 引用",
    "**粗** __粗__ *斜* _斜_ ~~删~~ `代码`", "https://evil.example/x www.evil.example HTTP://EVIL.EXAMPLE",
    "[x][ref]\n\n[ref]: https://evil.example/", "行一\n# 行二\n- 行三", "\\[转义\\](https://evil.example/)",
])
def test_a_title_shows_as_written_with_no_markup_link_or_mention(title):
    from policywatch.deliver.post_text import escape

    line = escape(title)
    assert "\n" not in line and "@" not in line and "://" not in line
    html = MarkdownIt("commonmark").render(f"1. {line}")
    assert html.count("<") == html.count("</li>") + html.count("<li>") + html.count("<ol>") + html.count("</ol>")
    assert links(f"1. [{line}](https://policy.example.org/1)") == ["https://policy.example.org/1"]


def test_a_scraped_link_is_http_only_and_cannot_end_early():
    from policywatch.deliver.post_text import link_target

    assert link_target("javascript:alert(1)") is None and link_target("data:text/html,x") is None
    assert link_target("https://gov.example.cn/a b(1)<x>.html") == "https://gov.example.cn/a%20b%281%29%3Cx%3E.html"
    assert link_target("https://trusted.gov.cn@evil.example/") == "https://trusted.gov.cn%40evil.example/"
    assert links("[t](" + link_target("http://例子.中国/政策?id=1") + ")") == [
        "http://%E4%BE%8B%E5%AD%90.%E4%B8%AD%E5%9B%BD/%E6%94%BF%E7%AD%96?id=1"]


def test_a_webhook_url_is_shown_and_logged_without_its_secrets():
    from policywatch.core import notifyurl

    key = "693a91f6-7abc-4bc4-97a0-0ec2sifa5aaa"
    assert notifyurl.shown(f"wecombot://{key}") == "wecombot://6…a"
    assert notifyurl.shown("dingtalk://SECsecret123@abcdef0123456789/13800000000") == (
        "dingtalk://***@a…9/1…0")
    assert notifyurl.shown(f"https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key={key}") == (
        "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?…")
    assert notifyurl.shown("json://user:pass@hooks.example.org:8443/hook/0123456789abcdef?+X-Token=t0k3n") == (
        "json://***@hooks.example.org:8443/hook/0…f?…")
    said = f"Could not load URL wecombot://{key}/?format=text (key={key})"
    assert key not in notifyurl.redact(said, f"wecombot://{key}")
    said = "POST https://hooks.example.org:8443/hook/0123456789abcdef failed; user pass; X-Token: t0k3n"
    redacted = notifyurl.redact(said, "json://user:pass@hooks.example.org:8443/hook/0123456789abcdef?+X-Token=t0k3n")
    assert "0123456789abcdef" not in redacted and "pass" not in redacted and "t0k3n" not in redacted
    assert notifyurl.key(f"wecombot://{key}") != notifyurl.key(f"wecombot://{key}x") and key not in notifyurl.key(key)


def test_a_source_alert_is_posted_to_each_alert_url_once_and_a_failed_post_after_the_next_crawl(
        tmp_path, portal, write_config):
    from tests.test_health import PAGES as HEALTH_PAGES
    from tests.test_health import BreakingPortal

    write_site(tmp_path / "site", HEALTH_PAGES)
    base = portal(tmp_path / "site", BreakingPortal)
    with WebhookServer() as hooks:
        hooks.answers["/down"] = 500
        config = write_config(source_toml("cell", f"{base}/index.html"))
        config.path.write_text(
            f'[alerts]\nnotify = ["{hooks.url("json", "ops")}", "{hooks.url("form", "down")}"]\n'
            + config.path.read_text(encoding="utf-8"), encoding="utf-8")

        def crawl(mode: str) -> subprocess.CompletedProcess:
            BreakingPortal.mode = mode
            done = cli(config, "crawl", check=False)
            assert done.returncode == (0 if mode == "ok" else 3), done.stderr  # 3: a source it ran is broken
            return done

        crawl("ok")
        assert hooks.requests == []
        walled = crawl("wall")
        assert f"posted to json://127.0.0.1:{hooks.port}/ops: cell: blocked by an anti-bot wall" in walled.stderr
        assert hooks.counts() == {"/ops": 1, "/down": 1}
        [alert] = hooks.received("/ops")
        assert alert.body["title"] == "[PolicyWatch] source cell needs attention"
        assert alert.body["message"].startswith("Source **cell** blocked by an anti-bot wall: HTTP 412")
        assert "(Asia/Shanghai)" in alert.body["message"]

        hooks.answers.clear()
        crawl("wall")  # still broken: no new alert, but the URL that failed gets the open one now
        assert hooks.counts() == {"/ops": 1, "/down": 2}
        assert hooks.received("/down")[-1].body["title"] == "[PolicyWatch] source cell needs attention"
        crawl("wall")
        assert hooks.counts() == {"/ops": 1, "/down": 2}


@pytest.mark.slow  # waits out real seconds: periods of a schedule in seconds
def test_serve_posts_a_digest_that_has_no_mail_once_per_period(tmp_path, portal, write_config):
    from datetime import datetime
    from zoneinfo import ZoneInfo

    from policywatch.digest.period import period_of
    from tests.test_serve import Service

    write_site(tmp_path / "site", PAGES)
    with WebhookServer() as hooks:
        config = write_config(source_toml("cell", f"{portal(tmp_path / 'site')}/index.html",
                                          extra='schedule = "0 0 1 1 *"'))
        notify = f'schedule = "* * * * * *"\nnotify = ["{hooks.url("json", "group")}"]'
        config = with_digests(config, CELL_TOPIC, digest_toml("monthly", extra=notify))  # no [smtp] table
        service = Service(config).start()
        service.wait(lambda: len(service.job_runs("ok", job="digest:monthly")) >= 3, "three digest runs")
        assert service.stop() == 0

    # Due every second, posted once: the send log knows the group already has this period's issue.
    assert hooks.counts() == {"/group": 1}
    previous = period_of("month", datetime.now(ZoneInfo("Asia/Shanghai")).date()).previous()
    runs = service.job_runs("ok", job="digest:monthly")
    assert runs[0][3] == f"monthly {previous.key} chat: 1 posted, 0 already posted, 0 failed, 0 in doubt"
    assert all(r[3] == f"monthly {previous.key} chat: 0 posted, 1 already posted, 0 failed, 0 in doubt"
               for r in runs[1:])
    assert f"{previous.start.month}月份" in hooks.received("/group")[0].body["title"]


def test_an_answer_too_slow_or_too_long_to_read_leaves_the_post_in_doubt_in_bounded_time_and_memory(monkeypatch):
    """A webhook that answers 200 and then sends a byte every 0.1 s, or a gigabyte, or a gzip bomb: the post ends at
    the deadline or the size cap, in doubt (the service may have taken it), with its reason; the answer is never held
    whole."""
    from policywatch.deliver import answers
    from policywatch.deliver.chat import post

    monkeypatch.setattr(answers, "ANSWER_SECONDS", 1.0)
    with WebhookServer() as hooks:
        hooks.answers.update({"/trickle": "trickle", "/flood": "flood", "/bomb": "gzip-bomb"})
        started = time.monotonic()
        slow = post(hooks.url("json", "trickle") + "?rto=0.9", "通知", "正文")  # the read timeout never fires on it
        assert time.monotonic() - started < 1.8 + 2
        # A URL that gives its service longer to answer (rto) gets twice that to read it, when that is the longer.
        assert slow.status == "in doubt" and "answer not read: still arriving 1.8 s after the post began" in slow.reason
        tracemalloc.start()
        try:
            flood = post(hooks.url("form", "flood"), "通知", "正文")
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        assert flood.status == "in doubt" and "answer not read: longer than 65,536 bytes" in flood.reason
        assert peak < 4 << 20, peak  # bytes Python held at once: a few reads' worth, not the gigabyte
        tracemalloc.start()
        try:
            bomb = post(hooks.url("json", "bomb"), "通知", "正文")  # 300 KB that inflate to 300 MB
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        assert bomb.status == "in doubt" and "answer not read: longer than 65,536 bytes" in bomb.reason
        assert peak < 4 << 20, peak  # inflated a read at a time, and no further than the cap
        assert hooks.counts() == {"/trickle": 1, "/flood": 1, "/bomb": 1}  # each posted once: no retry
        assert post(hooks.url("json", "ok"), "通知", "正文").status == "sent"


def test_answers_outside_a_post_are_read_as_requests_reads_them():
    """The cap is on chat posts only: in the same thread, after posts, requests reads a long answer whole."""
    from policywatch.deliver.chat import post

    with WebhookServer() as hooks:
        hooks.answers["/long"] = b"[" + b" " * (1 << 20) + b"]"
        assert post(hooks.url("json", "ok"), "通知", "正文").status == "sent"
        assert requests.post(f"http://127.0.0.1:{hooks.port}/long", json={}, timeout=10).json() == []


def test_how_a_post_ended_is_judged_on_the_connection_not_on_what_the_post_says():
    from policywatch.deliver.chat import post

    misleading = "Read timed out. Connection aborted. Failed to establish a new connection: Connection refused"
    with WebhookServer() as hooks:
        hooks.answers.update({"/refusing": 500, "/dropping": "drop", "/slow": "hold"})
        assert post(hooks.url("json", "ok"), misleading, misleading).status == "sent"
        slow = post(hooks.url("json", "slow") + "?rto=0.5", misleading, misleading)  # received, never answered
        assert slow.status == "in doubt" and "Read timed out" in slow.reason and hooks.counts()["/slow"] == 1
        assert post(hooks.url("json", "refusing"), misleading, misleading).status == "failed"
        dropped = post(hooks.url("json", "dropping"), misleading, misleading)
        assert dropped.status == "in doubt" and "Remote end closed connection" in dropped.reason
    refused = post(f"json://127.0.0.1:{free_port()}/hook", misleading, misleading)
    assert refused.status == "failed" and refused.reason.endswith("Failed to establish a new connection: "
                                                                  "[Errno 111] Connection refused")
