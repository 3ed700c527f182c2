"""The subscription page over real HTTP: uvicorn on 127.0.0.1 (in a thread, on a clock the test sets), aiosmtpd
receiving the confirmation mails, a real state.db. Form tokens, rate limits, one answer for every address, expiry,
bad tokens, hostile input, one-click unsubscribe and the archive served read-only."""

from __future__ import annotations

import html
import http.client
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from policywatch.core import config as config_module
from policywatch.core.model import NewSubscriber
from policywatch.core.store import Store
from policywatch.deliver.tokens import make_token
from policywatch.web.app import create_app
from tests.conftest import source_toml
from tests.mailserver import Mailbox, MailServer
from tests.webapp import Clock, confirmation_link, form_token, post_subscribe, running

SECRET = "test-secret-0123456789abcdef"
START = datetime(2024, 1, 10, 8, 0, tzinfo=UTC)
TOPICS = """
[topics.cell-therapy]
title = "细胞治疗"
include = ["细胞治疗"]

[topics.gene]
title = "基因治疗"
include = ["基因治疗"]

[[digests]]
name = "monthly"
topics = ["cell-therapy"]

[[digests]]
name = "weekly"
period = "week"
topics = ["cell-therapy", "gene"]
"""


def config_text(base: str, smtp_port: int, web: str = "", top: str = "") -> str:
    """A config with two digests, two topics, sources in two regions, [smtp] at the test server and [web] at base."""
    return (f"{top}\n{TOPICS}\n"
            + source_toml("sh-sti", "http://127.0.0.1:9/", region="上海市")
            + source_toml("gd-drc", "http://127.0.0.1:9/", region="广东省")
            + f'\n[smtp]\nhost = "127.0.0.1"\nport = {smtp_port}\nsender = "PolicyWatch <digest@example.org>"\n'
              "timeout = 5\nmax_attempts = 1\n"
            + f'\n[web]\nurl = "{base}"\n{web}\n')


@dataclass
class Site:
    base: str
    config: config_module.Config
    clock: Clock
    mailbox: Mailbox
    client: httpx.Client

    def store(self) -> Store:
        return Store(self.config.db)

    def pending(self) -> list[str]:
        with self.store() as store:
            return [row[0] for row in store.db.execute("SELECT email FROM pending_subscribers ORDER BY id")]

    def mails_to(self, address: str) -> list:
        return [m for m in self.mailbox.messages if m["To"].addresses[0].addr_spec == address]

    def wait_for_mails(self, address: str, count: int) -> list:
        self.mailbox.wait_for(lambda: len(self.mails_to(address)) >= count)
        return self.mails_to(address)


@contextmanager
def serve(tmp_path: Path, mail: MailServer, clock: Clock, web: str = "", top: str = "",
          site: Path | None = None) -> Iterator[Site]:
    """The app on a loopback port, its config in tmp_path (state.db beside it), with an HTTP client."""
    holder: dict[str, config_module.Config] = {}

    def make(base: str):
        path = tmp_path / "config.toml"
        path.write_text(config_text(base, mail.port, web, top), encoding="utf-8")
        holder["config"] = config_module.load(path)
        return create_app(holder["config"], site, now=lambda: clock.now)

    with running(make) as base, httpx.Client(base_url=base, timeout=30) as client:
        yield Site(base, holder["config"], clock, mail.mailbox, client)


@pytest.fixture
def mail():
    with MailServer(Mailbox()) as server:
        yield server


@pytest.fixture
def site(tmp_path, mail, monkeypatch) -> Iterator[Site]:
    monkeypatch.setenv("POLICYWATCH_SECRET", SECRET)
    with serve(tmp_path, mail, Clock(START), web="subscribe_per_address = 2\nsubscribe_per_client = 4") as running_site:
        yield running_site


def refusal(response: httpx.Response) -> str:
    """The one line a refusal page gives."""
    found = re.search(r'<p class="problem" role="alert">(.*?)</p>', response.text, re.S)
    assert found, response.text
    return html.unescape(found[1])


# -- subscribing and confirming ------------------------------------------------------------


def test_a_subscription_is_pending_until_the_mailed_link_confirms_it(site: Site) -> None:
    form = site.client.get("subscribe")
    assert form.status_code == 200 and "pw_form" in form.cookies
    for value in ("monthly", "weekly", "cell-therapy", "gene", "上海市", "广东省", "zh-Hant"):
        assert f'value="{value}"' in form.text
    answer = post_subscribe(site.client, {"email": "Li@Example.org", "name": "李雷", "digest": ["monthly", "weekly"],
                                          "topic": "gene", "region": "广东省", "language": "zh-Hant"})
    assert answer.status_code == 200 and "请查收确认邮件" in answer.text
    assert site.pending() == ["Li@example.org"]
    with site.store() as store:
        assert store.subscribers() == []  # nothing is subscribed before the address confirms it

    [message] = site.wait_for_mails("Li@example.org", 1)
    assert message["To"].addresses[0].display_name == "李雷"
    assert "monthly、weekly" in message.get_content()
    link = confirmation_link(message)
    assert link.startswith(site.base + "confirm?token=")  # the configured address, never the request's Host
    confirmed = site.client.get(link)
    assert confirmed.status_code == 200 and "订阅已确认" in confirmed.text
    assert confirmed.headers["referrer-policy"] == "no-referrer" and confirmed.headers["cache-control"] == "no-store"
    with site.store() as store:
        [row] = store.subscribers()
        assert (row["email"], row["name"], row["language"], row["status"]) == ("Li@example.org", "李雷", "zh-Hant",
                                                                                "active")
        assert row["subscriptions"] == {"monthly": (("gene",), ("广东省",)), "weekly": (("gene",), ("广东省",))}
    # Each digest gets a link to its preferences, with the token its unsubscribe links carry.
    tokens = re.findall(r'href="preferences\?token=([^"]+)"', confirmed.text)
    assert tokens == [make_token(SECRET.encode(), row["id"], d, "Li@example.org") for d in ("monthly", "weekly")]
    again = site.client.get(link)
    assert again.status_code == 200 and "这个订阅已经确认过" in again.text


def test_a_new_request_replaces_the_pending_one_and_only_its_link_works(site: Site) -> None:
    post_subscribe(site.client, {"email": "li@example.org", "digest": "monthly"})
    post_subscribe(site.client, {"email": "li@example.org", "digest": "weekly"}, forwarded_for="198.51.100.7")
    # Mail is sent after each answer, so the two may arrive in either order: each is told by the digest it names.
    mails = site.wait_for_mails("li@example.org", 2)
    [first] = [confirmation_link(m) for m in mails if "monthly" in m.get_content()]
    [second] = [confirmation_link(m) for m in mails if "weekly" in m.get_content()]
    assert site.pending() == ["li@example.org"]
    stale = site.client.get(first)
    assert stale.status_code == 400 and "replaced" in refusal(stale)
    assert site.client.get(second).status_code == 200
    with site.store() as store:
        assert list(store.subscribers()[0]["subscriptions"]) == ["weekly"]


def test_every_answer_to_subscribe_is_the_same_whether_or_not_the_address_is_known(site: Site) -> None:
    with site.store() as store:
        store.add_subscribers([NewSubscriber("known@example.org", None, None, (("monthly", (), ()),))])
    known = post_subscribe(site.client, {"email": "known@example.org", "digest": "monthly"})
    unknown = post_subscribe(site.client, {"email": "nobody@example.org", "digest": "monthly"})

    def shown(response: httpx.Response) -> tuple:
        headers = sorted((k, v) for k, v in response.headers.items() if k != "date")
        return response.status_code, response.content, headers

    assert shown(known) == shown(unknown)
    site.wait_for_mails("known@example.org", 1)
    site.wait_for_mails("nobody@example.org", 1)
    # Over the address's limit (2 an hour here), nothing is kept or sent, and the answer does not say so either.
    second = post_subscribe(site.client, {"email": "known@example.org", "digest": "monthly"})
    assert shown(second) == shown(unknown)
    kept = pending_ids(site)
    over = post_subscribe(site.client, {"email": "known@example.org", "digest": "monthly"}, forwarded_for="192.0.2.1")
    assert shown(over) == shown(unknown)
    assert pending_ids(site) == kept  # a request that went through would have replaced the pending one
    site.wait_for_mails("known@example.org", 2)
    post_subscribe(site.client, {"email": "marker@example.org", "digest": "monthly"}, forwarded_for="192.0.2.1")
    site.wait_for_mails("marker@example.org", 1)
    assert len(site.mails_to("known@example.org")) == 2


def pending_ids(site: Site) -> list[int]:
    with site.store() as store:
        return [row[0] for row in store.db.execute("SELECT id FROM pending_subscribers ORDER BY id")]


# -- form tokens -----------------------------------------------------------------------------


def test_a_form_without_its_token_or_cookie_is_refused_and_nothing_is_kept(site: Site) -> None:
    token = form_token(site.client.get("subscribe").text)
    fields = {"email": "li@example.org", "digest": "monthly"}
    missing = site.client.post("subscribe", data=fields)
    assert missing.status_code == 403 and "security token" in refusal(missing)

    # A page on another site can make the browser post, but it cannot read the cookie the token was made for.
    with httpx.Client(base_url=site.base) as other:
        other.get("subscribe")  # a cookie of its own
        foreign = other.post("subscribe", data={"csrf": token, **fields})
    assert foreign.status_code == 403
    with httpx.Client(base_url=site.base) as cookieless:
        assert cookieless.post("subscribe", data={"csrf": token, **fields}).status_code == 403

    forged = site.client.post("subscribe", data={"csrf": token[:-2] + ("AA" if not token.endswith("AA") else "BB"),
                                                 **fields})
    assert forged.status_code == 403
    site.clock.advance(hours=5)  # forms are good for 4 hours
    expired = site.client.post("subscribe", data={"csrf": token, **fields})
    assert expired.status_code == 403 and "expired" in refusal(expired)
    assert site.pending() == []


# -- rate limits ---------------------------------------------------------------------------------


def test_a_client_is_limited_per_hour_across_restarts_and_others_are_not(tmp_path, mail, monkeypatch) -> None:
    monkeypatch.setenv("POLICYWATCH_SECRET", SECRET)
    clock = Clock(START)
    with serve(tmp_path, mail, clock, web="subscribe_per_client = 3") as site:
        for n in range(3):
            assert post_subscribe(site.client, {"email": f"r{n}@example.org", "digest": "monthly"}).status_code == 200
        refused = post_subscribe(site.client, {"email": "r3@example.org", "digest": "monthly"})
        assert refused.status_code == 429 and refused.headers["retry-after"] == "3600"
        assert "more than 3 subscribe requests" in refusal(refused)
        # Another client, as the reverse proxy on 127.0.0.1 reports it, has its own count.
        other = post_subscribe(site.client, {"email": "r4@example.org", "digest": "monthly"},
                               forwarded_for="203.0.113.9")
        assert other.status_code == 200
        assert site.pending() == ["r0@example.org", "r1@example.org", "r2@example.org", "r4@example.org"]

    clock.advance(minutes=30)
    with serve(tmp_path, mail, clock, web="subscribe_per_client = 3") as site:  # a restart forgets nothing
        assert post_subscribe(site.client, {"email": "r5@example.org", "digest": "monthly"}).status_code == 429
        clock.advance(minutes=31)
        assert post_subscribe(site.client, {"email": "r5@example.org", "digest": "monthly"}).status_code == 200


def test_ipv6_clients_are_counted_by_their_64(site: Site) -> None:
    for n in range(4):
        post_subscribe(site.client, {"email": f"v{n}@example.org", "digest": "monthly"},
                       forwarded_for=f"2001:db8:1:2::{n + 1}")
    same_network = post_subscribe(site.client, {"email": "v9@example.org", "digest": "monthly"},
                                  forwarded_for="2001:db8:1:2:ffff::1")
    assert same_network.status_code == 429
    assert post_subscribe(site.client, {"email": "v9@example.org", "digest": "monthly"},
                          forwarded_for="2001:db8:1:3::1").status_code == 200


# -- expiry -----------------------------------------------------------------------------------------


def test_an_unconfirmed_subscription_expires_and_is_purged(site: Site) -> None:
    post_subscribe(site.client, {"email": "late@example.org", "digest": "monthly"})
    link = confirmation_link(site.wait_for_mails("late@example.org", 1)[0])
    site.clock.advance(hours=47, minutes=59)
    assert site.pending() == ["late@example.org"]
    site.clock.advance(minutes=1)  # 48 hours, the default
    expired = site.client.get(link)
    assert expired.status_code == 400 and "expired" in refusal(expired)
    post_subscribe(site.client, {"email": "other@example.org", "digest": "monthly"})  # any request purges
    assert site.pending() == ["other@example.org"]
    with site.store() as store:
        assert store.subscribers() == []


def test_confirm_hours_is_configurable(tmp_path, mail, monkeypatch) -> None:
    monkeypatch.setenv("POLICYWATCH_SECRET", SECRET)
    with serve(tmp_path, mail, Clock(START), web="confirm_hours = 2") as site:
        assert "2 小时内有效" in site.client.get("subscribe").text
        post_subscribe(site.client, {"email": "li@example.org", "digest": "monthly"})
        link = confirmation_link(site.wait_for_mails("li@example.org", 1)[0])
        site.clock.advance(hours=2)
        assert site.client.get(link).status_code == 400


# -- bad tokens --------------------------------------------------------------------------------------


def test_bad_tokens_get_a_400_page_and_change_nothing(site: Site) -> None:
    post_subscribe(site.client, {"email": "li@example.org", "digest": "monthly"})
    link = confirmation_link(site.wait_for_mails("li@example.org", 1)[0])
    pending_id, expires, signature = parse_qs(urlsplit(link).query)["token"][0].split(".")
    with site.store() as store:
        store.add_subscribers([NewSubscriber("sub@example.org", None, None, (("monthly", (), ()),))])
        [subscriber] = store.subscribers()
    good = make_token(SECRET.encode(), subscriber["id"], "monthly", "sub@example.org")
    bad_confirms = {
        "": "is not a confirmation token", "x" * 5000: "is not a confirmation token",
        "<script>": "is not a confirmation token",
        f"{pending_id}.{int(expires) + 86400}.{signature}": "wrong signature",  # a later expiry, same signature
        f"{int(pending_id) + 1}.{expires}.{signature}": "expired",
    }
    for token, problem in bad_confirms.items():
        answer = site.client.get("confirm", params={"token": token})
        assert answer.status_code == 400 and problem in refusal(answer), token[:20]
        assert "<script>" not in answer.text
    assert site.pending() == ["li@example.org"]
    bad_subscriptions = {
        good[:-3] + ("AAA" if not good.endswith("AAA") else "BBB"): "wrong signature",
        good.replace(".monthly.", ".weekly."): "wrong signature",  # moved to another digest
        f"999.monthly.{good.rsplit('.', 1)[1]}": "no longer stored",
        "12.monthly": "is not an unsubscribe token",
    }
    for token, problem in bad_subscriptions.items():
        for method, path in (("GET", "unsubscribe"), ("POST", "unsubscribe"), ("GET", "preferences")):
            answer = site.client.request(method, path, params={"token": token},
                                         data={"List-Unsubscribe": "One-Click"} if method == "POST" else None)
            assert answer.status_code == 400 and problem in refusal(answer), (method, path, token)
    with site.store() as store:
        assert store.subscription(subscriber["id"], "monthly") is not None
        assert store.subscribers()[0]["status"] == "active"


# -- hostile input -------------------------------------------------------------------------------------


@pytest.mark.parametrize(("fields", "problem"), [
    ({"email": "li@example.org", "name": "李雷\r\nBcc: victim@example.org"}, "contains a line break"),
    ({"email": "li@example.org\r\nBcc: victim@example.org"}, "is not a valid email address"),
    ({"email": "li@example.org>, victim@example.org"}, "is not a valid email address"),
    ({"email": "<script>alert(1)</script>@example.org"}, "is not a valid email address"),
    ({"email": "li@example.org", "name": "\u202etxt.exe"}, "contains a control character"),
    ({"email": "li@example.org", "name": "长" * 101}, "characters long"),
    ({"email": "li@example.org", "digest": "daily"}, "no digest named 'daily'"),
    ({"email": "li@example.org", "digest": ""}, "name at least one digest"),
    ({"email": "li@example.org", "topic": "weapons"}, "no topic named 'weapons'"),
    ({"email": "li@example.org", "region": "Atlantis"}, "is not a region"),
    ({"email": "li@example.org", "language": "fr"}, "is not one of"),
    ({"email": ["li@example.org", "victim@example.org"]}, "sent 2 times"),
])
def test_hostile_fields_are_refused_with_one_line_and_nothing_is_kept_or_sent(site: Site, fields, problem) -> None:
    answer = post_subscribe(site.client, {"digest": "monthly", **fields})
    assert answer.status_code == 400 and problem in refusal(answer)
    assert "<script>" not in answer.text  # the refused value is shown escaped
    assert site.pending() == []
    post_subscribe(site.client, {"email": "marker@example.org", "digest": "monthly"})
    site.wait_for_mails("marker@example.org", 1)
    assert len(site.mailbox.messages) == 1


def test_bodies_that_are_no_small_utf8_form_are_refused(site: Site) -> None:
    token = form_token(site.client.get("subscribe").text)
    big = site.client.post("subscribe", data={"csrf": token, "email": "li@example.org", "name": "x" * 20_000})
    assert big.status_code == 413 and "larger than 16384 bytes" in refusal(big)

    def raw(body: bytes, content_type: str, chunked: bool = False) -> tuple[int, str]:
        """Posted with http.client, which sends what it is given (a chunked body declares no length)."""
        connection = http.client.HTTPConnection(urlsplit(site.base).netloc, timeout=30)
        cookie = f"pw_form={site.client.cookies['pw_form']}"
        headers = {"Content-Type": content_type, "Cookie": cookie}
        if chunked:
            connection.request("POST", "/subscribe", body=iter([body]), headers=headers, encode_chunked=True)
        else:
            connection.request("POST", "/subscribe", body=body, headers=headers)
        response = connection.getresponse()
        text = response.read().decode("utf-8")
        connection.close()
        return response.status, text

    form = f"csrf={token}&digest=monthly&email=li%40example.org".encode()
    assert raw(form + b"&name=" + b"x" * 20_000, "application/x-www-form-urlencoded", chunked=True)[0] == 413
    status, text = raw(form + b"&name=%FF%FE", "application/x-www-form-urlencoded")
    assert status == 400 and "not valid UTF-8" in text
    status, text = raw(b'{"email": "li@example.org"}', "application/json")
    assert status == 415 and "application/x-www-form-urlencoded" in text
    status, text = raw(b"&".join([form] + [b"a=1"] * 300), "application/x-www-form-urlencoded")
    assert status == 400 and "more than 200 fields" in text
    assert site.pending() == []


# -- one-click unsubscribe and preferences -------------------------------------------------------------


def test_one_click_unsubscribe_as_a_mail_client_posts_it(site: Site) -> None:
    with site.store() as store:
        store.add_subscribers([NewSubscriber("li@example.org", None, None,
                                             (("monthly", (), ()), ("weekly", (), ())))])
        [subscriber] = store.subscribers()
    token = make_token(SECRET.encode(), subscriber["id"], "monthly", "li@example.org")
    page = site.client.get("unsubscribe", params={"token": token})
    assert page.status_code == 200 and page.text.count("<button") == 1
    assert '<input type="hidden" name="List-Unsubscribe" value="One-Click">' in page.text
    with site.store() as store:
        assert store.subscription(subscriber["id"], "monthly") is not None  # opening the page changes nothing

    wrong = site.client.post("unsubscribe", params={"token": token}, data={"unsubscribe": "yes"})
    assert wrong.status_code == 400 and "List-Unsubscribe=One-Click" in refusal(wrong)
    # RFC 8058: the client posts the one field, with no cookie and no form token, and gets a 200.
    with httpx.Client() as mail_client:
        done = mail_client.post(f"{site.base}unsubscribe?token={token}", content=b"List-Unsubscribe=One-Click",
                                headers={"Content-Type": "application/x-www-form-urlencoded"})
        assert done.status_code == 200 and "已退订" in done.text
        again = mail_client.post(f"{site.base}unsubscribe?token={token}",
                                 files={"List-Unsubscribe": (None, "One-Click")})  # multipart/form-data
        assert again.status_code == 200
    with site.store() as store:
        assert store.subscription(subscriber["id"], "monthly") is None
        assert store.subscribers()[0]["status"] == "active"  # still subscribed to weekly
    assert "已经退订" in site.client.get("unsubscribe", params={"token": token}).text


def test_preferences_change_topics_regions_and_language_with_a_form_token(site: Site) -> None:
    with site.store() as store:
        store.add_subscribers([NewSubscriber("li@example.org", None, "en", (("weekly", ("gene",), ()),))])
        [subscriber] = store.subscribers()
    token = make_token(SECRET.encode(), subscriber["id"], "weekly", "li@example.org")
    form = site.client.get("preferences", params={"token": token})
    assert form.status_code == 200
    assert 'value="gene" checked' in form.text and '<option value="en" selected>' in form.text
    fields = {"topic": ["cell-therapy", "gene"], "region": "上海市", "language": "zh-Hant"}
    refused = site.client.post("preferences", params={"token": token}, data=fields)
    assert refused.status_code == 403
    saved = site.client.post("preferences", params={"token": token},
                             data={"csrf": form_token(form.text), **fields})
    assert saved.status_code == 200 and "已保存" in saved.text
    bad = site.client.post("preferences", params={"token": token},
                           data={"csrf": form_token(form.text), "region": "Atlantis"})
    assert bad.status_code == 400
    with site.store() as store:
        row = store.subscription(subscriber["id"], "weekly")
    assert (row["topics"], row["regions"], row["language"]) == (("cell-therapy", "gene"), ("上海市",), "zh-Hant")


def test_the_links_in_every_digest_mail_point_at_the_one_click_endpoint(tmp_path, mail, monkeypatch) -> None:
    monkeypatch.setenv("POLICYWATCH_SECRET", SECRET)
    with serve(tmp_path, mail, Clock(START)) as site:
        assert site.config.delivery.unsubscribe_url == site.base + "unsubscribe?token={token}"
        with site.store() as store:
            store.add_subscribers([NewSubscriber("li@example.org", None, None, (("monthly", (), ()),))])
        from policywatch.deliver.send import send_digest
        from policywatch.digest.period import parse_period

        with site.store() as store:
            report = send_digest(site.config, store, site.config.digest("monthly"), parse_period("2023-12", "month"))
        assert report.sent == ["li@example.org"]
        [message] = site.mails_to("li@example.org")
        link = re.findall(r"<([^>]+)>", message["List-Unsubscribe"])[0]
        assert link.startswith(site.base + "unsubscribe?token=")
        assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        assert httpx.post(link, data={"List-Unsubscribe": "One-Click"}).status_code == 200
        with site.store() as store:
            assert store.subscribers()[0]["status"] == "unsubscribed"


# -- headers and the archive --------------------------------------------------------------------------------


def test_every_page_carries_the_security_headers(site: Site) -> None:
    for path in ("subscribe", "confirm?token=bad", "unsubscribe?token=bad", "preferences?token=bad", "web.css",
                 "nothing-here"):
        headers = site.client.get(path).headers
        assert headers["x-frame-options"] == "DENY", path
        assert "frame-ancestors 'none'" in headers["content-security-policy"], path
        assert headers["referrer-policy"] == "no-referrer" and headers["x-content-type-options"] == "nosniff", path
    page_policy = site.client.get("subscribe").headers["content-security-policy"]
    assert "default-src 'none'" in page_policy and "script-src" not in page_policy
    cookie = site.client.get("subscribe", headers={"Cookie": ""}).headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie
    # Behind the reverse proxy over https, the cookie is sent over https only.
    secure = httpx.get(site.base + "subscribe", headers={"X-Forwarded-Proto": "https"}).headers["set-cookie"]
    assert "Secure" in secure


def test_the_archive_is_served_read_only_at_the_root(tmp_path, mail, monkeypatch) -> None:
    monkeypatch.setenv("POLICYWATCH_SECRET", SECRET)
    folder = tmp_path / "site"
    (folder / "documents").mkdir(parents=True)
    (folder / "index.html").write_text("<h1>最近变动</h1>", encoding="utf-8")
    (folder / "documents" / "1.html").write_text("<h1>一号文件</h1>", encoding="utf-8")
    (folder / ".policywatch-site.json").write_text("{}", encoding="utf-8")
    (tmp_path / "secret.txt").write_text("not for the web", encoding="utf-8")
    (folder / "documents" / "link.html").symlink_to(tmp_path / "secret.txt")
    with serve(tmp_path, mail, Clock(START), site=folder) as site:
        index = site.client.get("")
        assert index.status_code == 200 and "最近变动" in index.text
        assert "script-src 'self'" in index.headers["content-security-policy"]
        assert site.client.get("documents/1.html").status_code == 200
        assert site.client.get("documents/").status_code == 404  # no listing of a folder
        assert site.client.post("documents/1.html").status_code == 405
        for path in ("/.policywatch-site.json", "/documents/link.html", "/../secret.txt", "/documents/../../secret.txt",
                     "/%2e%2e/secret.txt", "/documents/%2e%2e/%2e%2e/config.toml", "//etc/passwd"):
            connection = http.client.HTTPConnection(urlsplit(site.base).netloc, timeout=30)
            connection.request("GET", path)  # sent as written: no client normalises the dots away
            response = connection.getresponse()
            body = response.read()
            connection.close()
            assert response.status == 404 and b"not for the web" not in body and b"[web]" not in body, path
