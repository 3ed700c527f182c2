"""Digest mail for real: a crawled site, subscribers added with the CLI, `policywatch digest send` in a
subprocess, and an aiosmtpd server on 127.0.0.1 that receives (or refuses) the messages."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import threading
import time
from datetime import timedelta
from email.utils import parsedate_to_datetime
from urllib.parse import parse_qs, urlsplit

import pytest

from policywatch.core.store import Store
from tests import forkcli
from tests.conftest import source_toml
from tests.mailserver import Mailbox, MailServer, free_port
from tests.test_digest import CELL_TOPIC, digest_toml, with_digests, write_site

SECRET = "test-secret-0123456789abcdef"
PAGES = [
    ("上海市科学技术委员会关于发布2023年度细胞治疗专项项目申报指南的通知", "2023-12-05",
     "为推进干细胞与细胞治疗研究，现发布申报指南。\n申报单位应具备细胞治疗临床研究条件。"),
    ("国家药监局关于CAR-T细胞治疗产品临床试验技术指导原则的通告", "2023-12-12",
     "为规范免疫细胞治疗产品研发，制定本指导原则。\n本原则适用于CAR-T细胞治疗产品。"),
    ("关于印发基因治疗产品非临床研究技术指导原则的通知", "2023-12-20",
     "基因治疗产品的非临床研究应遵循本原则。\n各单位应认真执行。"),
]


def smtp_toml(port: int, retry_delay: float = 0.05, max_attempts: int = 4,
              unsubscribe_url: str = "https://policywatch.example.org/unsubscribe?token={token}",
              security: str = "none", username: str = "") -> str:
    return (f'\n[smtp]\nhost = "127.0.0.1"\nport = {port}\nsecurity = "{security}"\nusername = "{username}"\n'
            f'sender = "PolicyWatch 政策速递 <digest@example.org>"\ntimeout = 5\n'
            f"max_attempts = {max_attempts}\nretry_delay = {retry_delay}\n"
            f'\n[delivery]\nunsubscribe_url = "{unsubscribe_url}"\n')


def december_site(shared_crawls) -> str:
    """The base URL of the December 2023 site (PAGES), served for the whole session and known to
    ``shared_crawls`` as "december"."""
    return shared_crawls.site("december", lambda root: write_site(root, PAGES))


@pytest.fixture
def mail_config(db_target, write_config, shared_crawls, monkeypatch):
    """A crawled December 2023 with a monthly digest and [smtp] pointing at ``port``; returns a maker. The site
    (PAGES) is crawled once per session and each test gets its own copy of what was stored (SharedCrawls)."""
    base = write_config(source_toml("cell", december_site(shared_crawls) + "/index.html"))
    shared_crawls.crawl("december", base)
    return _mail_maker(base, monkeypatch)


@pytest.fixture
def mail_config_own_site(db_target, tmp_path, portal, write_config, run_crawl, monkeypatch):
    """``mail_config`` on a site of the test's own (tmp_path/site), crawled for it: for a test that changes the
    site and crawls it again."""
    write_site(tmp_path / "site", PAGES)
    base = write_config(source_toml("cell", portal(tmp_path / "site") + "/index.html"))
    run_crawl(base)
    return _mail_maker(base, monkeypatch)


def _mail_maker(base, monkeypatch):
    """The maker of ``mail_config``: the crawled config with a monthly digest and [smtp] on ``port``."""
    monkeypatch.setenv("POLICYWATCH_SECRET", SECRET)
    text = base.path.read_text(encoding="utf-8")

    def make(port: int, **smtp: float | str):
        base.path.write_text(text, encoding="utf-8")
        return with_digests(base, CELL_TOPIC, digest_toml("monthly"), smtp_toml(port, **smtp))

    return make


def cli(config, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    return forkcli.run([*args, "--config", str(config.path)], check=check)


def send(config, *extra: str, check: bool = True) -> subprocess.CompletedProcess:
    return cli(config, "digest", "send", "--digest", "monthly", "--period", "2023-12", *extra, check=check)


def subscribe(config, count: int) -> list[str]:
    """``count`` readers subscribed to the monthly digest from a CSV file, as `subscribers import` does it (its
    code, run in this process: a test's set-up need not start the CLI; the command itself is tested below and in
    tests/hostile/test_subscribers.py)."""
    from policywatch.deliver.subscribers import read_csv

    people = [f"reader{n:02d}@example.org" for n in range(count)]
    csv = config.path.parent / "people.csv"
    csv.write_text("email,name\n" + "".join(f"{p},读者{n}\n" for n, p in enumerate(people)), encoding="utf-8")
    with Store(config.db) as store:
        store.add_subscribers(read_csv(config, csv, ("monthly",)))
    return people


def deliveries(config) -> dict[str, dict]:
    with Store(config.db) as store:
        return {row["email"]: row for row in store.deliveries("monthly", "2023-12").values()}


def test_a_received_digest_has_both_parts_the_right_headers_and_a_working_unsubscribe_token(mail_config):
    with MailServer(Mailbox()) as server:
        config = mail_config(server.port)
        cli(config, "subscribers", "add", "li@example.org", "--digest", "monthly", "--name", '李雷 "<研究部>", 上海')
        cli(config, "subscribers", "add", "chan@example.org", "--digest", "monthly", "--language", "zh-Hant")
        result = send(config)
        assert "2 sent" in result.stdout
        messages = {m["To"].addresses[0].addr_spec: m for m in server.mailbox.messages}
        raw = server.mailbox.raw[server.mailbox.messages.index(messages["li@example.org"])].decode("ascii")

    assert set(messages) == {"li@example.org", "chan@example.org"}
    message = messages["li@example.org"]
    assert message.get_content_type() == "multipart/alternative"
    text, html = message.get_body(("plain",)), message.get_body(("html",))
    assert text.get_content_type() == "text/plain" and html.get_content_type() == "text/html"
    assert "2023年12月份行业政策及动态汇总" in message["Subject"]
    assert "=?utf-8?" in message.as_string().split("\n\n", 1)[0].lower()  # the raw header is RFC 2047 encoded
    assert message["To"].addresses[0].display_name == '李雷 "<研究部>", 上海'
    assert message["From"].addresses[0].display_name == "PolicyWatch 政策速递"
    assert re.fullmatch(r"<monthly\.2023-12\.[0-9a-f]{20}@example\.org>", message["Message-ID"])
    assert parsedate_to_datetime(message["Date"]).utcoffset() == timedelta(hours=8)  # the config's zone
    for title, _, _ in PAGES:
        assert title in text.get_content() and title in html.get_content()
    # The chart travels as a related image that the HTML refers to by Content-ID.
    related = next(p for p in message.walk() if p.get_content_type() == "multipart/related")
    image = next(p for p in related.iter_parts() if p.get_content_type() == "image/png")
    assert image["Content-ID"] == "<chart@policywatch>" and image.get_content().startswith(b"\x89PNG")
    assert 'src="cid:chart@policywatch"' in html.get_content()
    # One-click unsubscribe (RFC 8058): an https link in List-Unsubscribe, and the Post header.
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    links = re.findall(r"<([^>]+)>", message["List-Unsubscribe"])
    assert links[0].startswith("https://policywatch.example.org/unsubscribe?token=")
    assert links[1].startswith("mailto:digest@example.org?subject=unsubscribe%20")
    token = parse_qs(urlsplit(links[0]).query)["token"][0]
    header = re.search(r"^List-Unsubscribe: (.*?)\r\n(?! )", raw, re.M | re.S)[1]
    assert header.startswith("<https://") and "=?" not in header  # a plain URL, not an encoded word
    assert links[0] in text.get_content() and links[0].replace("&", "&amp;") in html.get_content()
    # The Traditional-Chinese reader gets the digest in Traditional script.
    assert "2023年12月份行業政策及動態彙總" in messages["chan@example.org"]["Subject"]

    forged = token[:-3] + ("AAA" if not token.endswith("AAA") else "BBB")
    refused = cli(config, "unsubscribe", forged, check=False)
    assert refused.returncode == 1 and refused.stderr.count("\n") == 1 and "signature" in refused.stderr
    assert "li@example.org unsubscribed from monthly" in cli(config, "unsubscribe", token).stdout
    assert "already unsubscribed" in cli(config, "unsubscribe", token).stdout
    listed = {s["email"]: s for s in json.loads(cli(config, "subscribers", "list", "--json").stdout)}
    assert listed["li@example.org"]["status"] == "unsubscribed"
    assert listed["chan@example.org"]["status"] == "active"


def test_running_send_again_sends_nothing_twice(mail_config):
    with MailServer(Mailbox()) as server:
        config = mail_config(server.port, unsubscribe_url="")  # no web endpoint: unsubscribing is by mail
        people = subscribe(config, 3)
        assert "3 sent, 0 already sent" in send(config).stdout
        assert "0 sent, 3 already sent" in send(config).stdout
        assert server.mailbox.received_by() == {p: 1 for p in people}
    message = server.mailbox.messages[0]
    assert re.fullmatch(r"<mailto:digest@example\.org\?subject=unsubscribe%20\d+\.monthly\.[\w-]{22}>",
                        message["List-Unsubscribe"])
    assert message["List-Unsubscribe-Post"] is None  # one-click needs an https link
    assert message["List-Unsubscribe"][1:-1] in message.get_body(("plain",)).get_content()


def test_sigkill_in_the_middle_of_a_send_then_a_rerun_gives_everyone_exactly_one_message(mail_config):
    mailbox = Mailbox(delay=0.4)  # the server takes its time answering each message
    with MailServer(mailbox) as server:
        config = mail_config(server.port)
        people = subscribe(config, 12)
        sender = forkcli.start(["digest", "send", "--digest", "monthly", "--period", "2023-12",
                                "--config", str(config.path)])
        # Three messages accepted, the fourth handed over and its answer not yet back: kill the sender there.
        mailbox.wait_for(lambda: mailbox.arrivals >= 4)
        sender.process.send_signal(signal.SIGKILL)
        assert sender.finish().returncode == -signal.SIGKILL
        log = deliveries(config)
        assert [e for e, row in log.items() if row["status"] == "sent"] == people[:3]
        assert log[people[3]]["status"] == "handed-over"

        mailbox.delay = 0
        again = send(config, check=False)
        assert again.returncode == 1  # one delivery is in doubt, and says so
        assert "8 sent, 3 already sent, 0 failed, 0 deferred, 1 in doubt" in again.stdout
        assert people[3] in again.stdout

    assert mailbox.received_by() == {p: 1 for p in people}


def test_two_sends_of_one_issue_at_once_mail_each_subscriber_once_and_the_second_says_why_it_stopped(mail_config):
    """serve's scheduled send and a `digest send` typed meanwhile (or two machines on one PostgreSQL): while one
    delivers the issue, the other is refused in one line and sends nothing; a later run finds everyone served."""
    mailbox = Mailbox(delay=0.3)
    with MailServer(mailbox) as server:
        config = mail_config(server.port)
        people = subscribe(config, 6)
        first = forkcli.start(["digest", "send", "--digest", "monthly", "--period", "2023-12",
                               "--config", str(config.path)])
        mailbox.wait_for(lambda: mailbox.arrivals >= 1)  # the first run is delivering
        second = send(config, check=False)
        assert second.returncode == 1 and second.stdout == ""
        assert second.stderr == ("Error: monthly 2023-12 is being delivered by another process (a `digest send`, or "
                                 "serve on its schedule): run it again when that has finished\n")
        done = first.finish()
        assert done.returncode == 0 and "6 sent, 0 already sent" in done.stdout, done.stderr
        assert "6 already sent" in send(config).stdout  # the issue's lock went with the first run
    assert mailbox.received_by() == {p: 1 for p in people}


def test_temporary_failures_are_retried_and_a_550_marks_only_that_subscriber(mail_config):
    def refuse(address: str, attempt: int) -> str | None:
        if address == "reader02@example.org":
            return "550 5.1.1 <reader02@example.org>: mailbox unavailable"
        return "451 4.3.0 greylisted, try again later" if attempt <= 2 else None

    with MailServer(Mailbox(refuse)) as server:
        config = mail_config(server.port, retry_delay=0.05, max_attempts=4)
        people = subscribe(config, 4)
        result = send(config)
        received = server.mailbox.received_by()

    good = [p for p in people if p != "reader02@example.org"]
    assert received == {p: 1 for p in good}
    assert "3 sent, 0 already sent, 1 failed" in result.stdout and "reader02@example.org" in result.stdout
    log = deliveries(config)
    assert {p: log[p]["attempts"] for p in good} == {p: 3 for p in good}
    assert log["reader02@example.org"]["status"] == "failed" and log["reader02@example.org"]["attempts"] == 1
    listed = {s["email"]: s["status"] for s in json.loads(cli(config, "subscribers", "list", "--json").stdout)}
    assert listed == {p: "active" for p in good} | {"reader02@example.org": "bouncing"}


def test_a_server_that_is_down_defers_and_the_next_run_delivers(mail_config):
    port = free_port()
    config = mail_config(port, retry_delay=0.05, max_attempts=2)
    people = subscribe(config, 2)
    down = send(config, check=False)
    assert down.returncode == 1 and "2 deferred" in down.stdout and "connect" in down.stdout
    assert {row["status"] for row in deliveries(config).values()} == {"deferred"}

    # Within one run, retries with backoff ride out a server that comes up a moment later.
    config = mail_config(port, retry_delay=0.4, max_attempts=5)
    server = MailServer(Mailbox(), port)
    threading.Timer(0.5, server.start).start()
    try:
        result = send(config)
        assert "2 sent" in result.stdout
        assert server.mailbox.received_by() == {p: 1 for p in people}
    finally:
        time.sleep(0.1)
        server.stop()


def test_a_send_that_delivers_nothing_exits_non_zero(mail_config):
    """Under cron, a digest that reaches nobody must not pass for a digest sent: no active subscriber exits 1 with
    one line, as a server that refuses everyone does; a run after everyone has the issue is a success."""
    with MailServer(Mailbox()) as server:
        config = mail_config(server.port)
        nobody = send(config, check=False)
        assert nobody.returncode == 1, nobody.stdout
        assert nobody.stderr == "Error: nothing was delivered: monthly 2023-12 has no active subscriber\n"
        assert "0 sent, 0 already sent" in nobody.stdout
        people = subscribe(config, 2)
        cli(config, "subscribers", "remove", people[0], "--digest", "monthly")
        assert "1 sent" in send(config).stdout
        assert "0 sent, 1 already sent" in send(config).stdout
        assert server.mailbox.received_by() == {people[1]: 1}


def test_dry_run_and_to(mail_config):
    with MailServer(Mailbox()) as server:
        config = mail_config(server.port)
        people = subscribe(config, 3)
        dry = send(config, "--dry-run")
        assert "would send to 3" in dry.stdout and all(p in dry.stdout for p in people)
        assert server.mailbox.messages == [] and deliveries(config) == {}
        assert "1 sent" in send(config, "--to", people[1]).stdout
        assert server.mailbox.received_by() == {people[1]: 1}
        stranger = send(config, "--to", "nobody@example.org", check=False)
        assert stranger.returncode == 1 and "not an active subscriber" in stranger.stderr
        assert "2 sent, 1 already sent" in send(config).stdout


def test_send_without_a_secret_or_smtp_is_one_clear_line(mail_config, monkeypatch):
    config = mail_config(free_port())
    subscribe(config, 1)
    monkeypatch.delenv("POLICYWATCH_SECRET")
    result = send(config, check=False)
    assert result.returncode == 1 and result.stderr.count("\n") == 1
    assert "POLICYWATCH_SECRET is not set" in result.stderr
    assert deliveries(config) == {}
    serving = cli(config, "serve", check=False)  # the service refuses to start rather than fail later
    assert serving.returncode == 1 and "POLICYWATCH_SECRET is not set" in serving.stderr


def test_subscriber_commands_refuse_bad_input_and_lose_nothing(mail_config, tmp_path):
    config = mail_config(free_port())
    cli(config, "subscribers", "add", "Wang@Example.ORG", "--digest", "monthly", "--region", "上海市")
    for args, message in [
        (("add", "wang@", "--digest", "monthly"), "'wang@' is not a valid email address"),
        (("add", "a@example.org", "--digest", "weekly"), "no digest named 'weekly'"),
        (("add", "a@example.org", "--digest", "monthly", "--topic", "cells"), "no topic named 'cells'"),
        (("add", "a@example.org", "--digest", "monthly", "--region", "火星"), "'火星' is not a region"),
        (("remove", "nobody@example.org"), "there is no a subscriber nobody@example.org"),
    ]:
        result = cli(config, "subscribers", *args, check=False)
        assert result.returncode == 1 and result.stderr.count("\n") == 1, result.stderr
        assert message in result.stderr
    csv = tmp_path / "people.csv"
    csv.write_text("email,name,digests\nok@example.org,好,monthly\nbad@@example.org,坏,monthly\n", encoding="utf-8")
    result = cli(config, "subscribers", "import", str(csv), check=False)
    assert result.returncode == 1 and "people.csv:3:" in result.stderr
    listed = json.loads(cli(config, "subscribers", "list", "--json").stdout)
    assert [(s["email"], s["subscriptions"]) for s in listed] == [
        ("Wang@example.org", {"monthly": {"topics": None, "regions": ["上海市"]}})]
    # Adding again updates; removing forgets the address but keeps nothing half-done.
    assert "updated wang@example.org" in cli(config, "subscribers", "add", "wang@example.org", "--digest",
                                             "monthly").stdout
    assert "removed" in cli(config, "subscribers", "remove", "Wang@example.org").stdout
    assert json.loads(cli(config, "subscribers", "list", "--json").stdout) == []
