"""The editor's review for real: a crawled site, `policywatch digest draft`, the draft edited as an editor edits it,
`digest send --draft` through an aiosmtpd server on 127.0.0.1, and the issue rebuilt from the draft stored with it."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
import yaml

from policywatch.core.store import Store
from tests import forkcli, test_delivery
from tests.conftest import source_toml
from tests.mailserver import Mailbox, MailServer
from tests.test_delivery import PAGES, cli, december_site, deliveries, send, subscribe
from tests.test_digest import CELL_TOPIC, PAGE, digest_toml, with_digests

mail_config = test_delivery.mail_config  # the fixture: a crawled December 2023 and [smtp] on a test server
mail_config_own_site = test_delivery.mail_config_own_site  # the same, on a site the test may change

OUTSIDE = {"title": "《细胞》杂志：CAR-T疗法治疗自身免疫病取得新进展", "link": "https://www.example.com/news/car-t?id=7",
           "date": "2023-12-28", "source": "新华网",
           "summary": "研究团队报告了CAR-T细胞疗法在自身免疫病中的最新临床结果。"}
INTRO = "本月国家和地方继续出台**细胞治疗**相关政策，详见[国家药监局](https://www.nmpa.gov.cn/)。\n\n第二段引言。"
NOTE = "以上内容由编辑整理，仅供参考。<script>alert(1)</script>"
REWRITTEN = "上海市科委发布2023年度细胞治疗专项申报指南，重点支持干细胞临床研究。"


def split(text: str) -> tuple[dict, str]:
    """A draft file's front matter (as data) and body."""
    _, front, body = text.split("---\n", 2)
    return yaml.safe_load(front), body


class Dumper(yaml.SafeDumper):
    """Each value written out where it is used, as an editor writes it (no &anchors and *aliases)."""

    def ignore_aliases(self, data: object) -> bool:
        return True


def join(front: dict, body: str) -> str:
    return "---\n" + yaml.dump(front, Dumper=Dumper, allow_unicode=True, sort_keys=False) + "---\n" + body


def write_draft(config, path: Path, *extra: str) -> tuple[dict, str]:
    cli(config, "digest", "draft", "--digest", "monthly", "--period", "2023-12", "--out", str(path), *extra)
    return split(path.read_text(encoding="utf-8"))


def build(config, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    return cli(config, "digest", "build", *args, check=check)


def edit(front: dict, body: str) -> str:
    """As an editor would: reverse the order, drop the 药监局 item, rewrite a summary, add an outside item,
    keep the outside item out of the summary list, write an introduction and an editor's note."""
    items = [i for i in reversed(front["items"]) if "国家药监局" not in i["title"]]
    next(i for i in items if "上海市" in i["title"])["summary"] = REWRITTEN
    items.append(dict(OUTSIDE, top=False))
    body = body.replace("## 引言\n", f"## 引言\n\n{INTRO}\n").replace("## 编者按\n", f"## 编者按\n\n{NOTE}\n")
    return join(dict(front, items=items), body)


def test_a_drafted_issue_is_sent_as_edited_and_rebuilds_from_the_stored_draft_to_the_same_bytes(
    mail_config, tmp_path,
):
    with MailServer(Mailbox()) as server:
        config = mail_config(server.port)
        people = subscribe(config, 2)
        front, body = write_draft(config, tmp_path / "draft.md")
        with Store(config.db) as store:
            stored = {doc["title"]: doc["id"] for doc in store.documents()}
        # Every crawled item carries its document id; known lists what the automatic digest had.
        assert [(i["id"], i["title"]) for i in front["items"]] == [(stored[t], t) for t, _, _ in PAGES]
        assert sorted(front["known"]) == sorted(stored.values())
        draft = tmp_path / "edited.md"
        draft.write_text(edit(front, body), encoding="utf-8")

        built = {fmt: build(config, "--draft", str(draft), "--format", fmt).stdout
                 for fmt in ("html", "text", "md", "atom")}
        result = send(config, "--draft", str(draft))
        assert "2 sent" in result.stdout
        assert server.mailbox.received_by() == {p: 1 for p in people}
        message = server.mailbox.messages[0]

    text = message.get_body(("plain",)).get_content()
    # The mail holds exactly the edited issue: the rendering of the draft, then the unsubscribe footer.
    assert text.startswith(built["text"])
    assert re.fullmatch(r"\n--\nPolicyWatch · monthly · 2023-12\n退订: https://\S+\n", text[len(built["text"]):])
    numbered = re.findall(r"^\d+\. (.*)$", text, re.MULTILINE)
    assert numbered == [PAGES[2][0], PAGES[0][0]]  # reordered, one dropped, the outside item not picked
    written = re.findall(r"^►►► (.*)$", text, re.MULTILINE)
    assert written == [PAGES[2][0], PAGES[0][0], OUTSIDE["title"]]
    assert PAGES[1][0] not in text and REWRITTEN in text and OUTSIDE["link"] in text and OUTSIDE["summary"] in text
    assert text.index("第二段引言") < text.index(numbered[0]) < text.rindex("编者按") < text.index("以上内容由编辑整理")
    html = message.get_body(("html",)).get_content()
    assert "<strong>细胞治疗</strong>" in html and '<a href="https://www.nmpa.gov.cn/"' in html
    assert "<script>" not in html and "&lt;script&gt;" in html and ">编者按</h2>" in html
    assert len(re.findall(r"<li\b", html)) == 2 and REWRITTEN in html and f'href="{OUTSIDE["link"]}"' in html
    assert "第二段引言" in built["md"] and "## 编者按" in built["md"] and "&lt;script&gt;" in built["md"]
    assert OUTSIDE["link"] in built["atom"] and PAGES[1][0] not in built["atom"]

    # The approved draft is stored with the issue, and the issue rebuilt from it is the same, byte for byte.
    with Store(config.db) as store:
        kept = store.stored_draft("monthly", "2023-12")
    assert kept["text"] == draft.read_text(encoding="utf-8") and kept["sent_at"]
    for fmt, document in built.items():
        again = build(config, "--digest", "monthly", "--period", "2023-12", "--as-sent", "--format", fmt).stdout
        assert again == document
    cli(config, "site", "--out", str(tmp_path / "site-out"))
    assert (tmp_path / "site-out" / "digests" / "monthly" / "2023-12.html").read_text("utf-8") == built["html"]
    # Without a draft the digest is the automatic one, as before.
    automatic = build(config, "--digest", "monthly", "--period", "2023-12", "--format", "text").stdout
    assert re.findall(r"^\d+\. (.*)$", automatic, re.MULTILINE) == [t for t, _, _ in PAGES]


def test_items_that_arrived_after_the_draft_stop_the_send_until_told_what_to_do(mail_config_own_site, tmp_path,
                                                                                run_crawl):
    with MailServer(Mailbox()) as server:
        config = mail_config_own_site(server.port)
        subscribe(config, 2)
        draft = tmp_path / "draft.md"
        write_draft(config, draft)
        late = "关于开展干细胞临床研究机构备案检查的通知"
        site = tmp_path / "site"
        index = (site / "index.html").read_text("utf-8")
        (site / "news" / "9.html").write_text(PAGE.format(
            title=late, date="2023-12-27", label="发布时间", views=3,
            body="<p>为加强干细胞临床研究管理，现组织开展备案机构检查。</p><p>各机构应如实报送细胞治疗研究情况。</p>"),
            "utf-8")
        (site / "index.html").write_text(index.replace("</ul>", f"<li><a href='/news/9.html'>{late}</a></li></ul>"),
                                         "utf-8")
        run_crawl(config)

        stopped = send(config, "--draft", str(draft), check=False)
        assert stopped.returncode == 1 and stopped.stderr.count("\n") == 1
        assert "1 new item(s) since the draft was written" in stopped.stderr and late in stopped.stderr
        assert not server.mailbox.messages
        assert "would send to 2" in send(config, "--draft", str(draft), "--as-drafted", "--dry-run").stdout

        assert "2 sent" in send(config, "--draft", str(draft), "--include-new").stdout
        text = server.mailbox.messages[0].get_body(("plain",)).get_content()
        assert re.findall(r"^►►► (.*)$", text, re.MULTILINE) == [*(t for t, _, _ in PAGES), late]  # after them
        with Store(config.db) as store:
            front, _ = split(store.stored_draft("monthly", "2023-12")["text"])
        assert front["items"][-1]["title"] == late and front["items"][-1]["id"] in front["known"]

        # The issue went out with the new item: the draft without it can no longer be sent for this issue.
        refused = send(config, "--draft", str(draft), "--as-drafted", check=False)
        assert refused.returncode == 1 and "already went to 2 subscriber(s) as another draft" in refused.stderr
        assert "0 sent, 2 already sent" in send(config).stdout  # a plain re-run finishes the issue as approved
    assert len(server.mailbox.messages) == 2
    assert all(d["status"] == "sent" for d in deliveries(config).values())


@pytest.fixture(scope="module")
def crawled(tmp_path_factory, shared_crawls):
    """One crawl for every hostile draft (they only read state.db): a copy of the session's crawl of the December
    site (SharedCrawls)."""
    from policywatch.core import config as config_module
    from tests.conftest import crawl_config_text

    root = tmp_path_factory.mktemp("draft")
    base = december_site(shared_crawls)
    path = root / "config.toml"
    path.write_text(crawl_config_text() + source_toml("cell", f"{base}/index.html"), encoding="utf-8")
    shared_crawls.crawl("december", config_module.load(path))
    config = with_digests(config_module.load(path), CELL_TOPIC, digest_toml("monthly"), digest_toml("other"))
    front, body = split(forkcli.run(
        ["digest", "draft", "--digest", "monthly", "--period", "2023-12", "--config", str(path)], check=True).stdout)
    return config, front, body


def _item(front: dict, **values) -> dict:
    return dict(front, items=[dict(front["items"][0], **values), *front["items"][1:]])


def _outside(front: dict, **values) -> dict:
    item = {k: v for k, v in dict(OUTSIDE, **values).items() if v is not None}
    return dict(front, items=[*front["items"], item])


HOSTILE = [
    (lambda f: _item(f, title=["a", "b"]), "items[1].title: expected text, got a list"),
    (lambda f: _item(f, title="第一行\n第二行"), "items[1].title: must be one line"),
    (lambda f: _outside(f, title=None), "items[4].title: required for an item from outside"),
    (lambda f: _outside(f, link="javascript:alert(1)"), "items[4].link: 'javascript:alert(1)' is not an http(s) link"),
    (lambda f: _outside(f, link="ftp://example.org/a"), "items[4].link: 'ftp://example.org/a' is not an http(s)"),
    (lambda f: _outside(f, date="2023-13-45"), "items[4].date: '2023-13-45' is not a date"),
    (lambda f: _item(f, date="上周"), "items[1].date: '上周' is not a date"),
    (lambda f: _item(f, colour="red"), "items[1]: unknown key 'colour'"),
    (lambda f: dict(f, editor="李雷"), "front matter: unknown key 'editor'"),
    (lambda f: _item(f, id=99999), "items[1].id: document 99999 is not in state.db"),
    (lambda f: _item(f, id="1"), "items[1].id: '1' is not a document id"),
    (lambda f: _item(f, top="yes"), "items[1].top: expected true or false, got text"),
    (lambda f: dict(f, items={"a": 1}), "items: expected a list of items, got a mapping"),
    (lambda f: dict(f, items=[*f["items"], dict(f["items"][0])]), "items[4].id: document {id} is already items[1]"),
    (lambda f: dict(f, digest="other"), "digest: this draft is for 'other', not 'monthly'"),
    (lambda f: dict(f, period="2023-11"), "period: this draft is for 2023-11, not 2023-12"),
    (lambda f: dict(f, period="2023-W50"), "period: '2023-W50' is not a month like 2023-12"),
    (lambda f: dict(f, removed=[f["items"][0]["id"], 42424]), "removed[2]: document 42424 is not in state.db"),
    (lambda f: {k: v for k, v in f.items() if k != "digest"}, "digest: required key is missing"),
]


@pytest.mark.parametrize(("change", "message"), HOSTILE)
def test_a_hostile_or_careless_draft_is_one_line_naming_the_item_and_field(crawled, tmp_path, change, message):
    config, front, body = crawled
    path = tmp_path / "draft.md"
    path.write_text(join(change(front), body), encoding="utf-8")
    args = ["--digest", "monthly", "--period", "2023-12"] if "period" in message or "digest" in message else []
    result = build(config, "--draft", str(path), *args, check=False)
    assert result.returncode == 1 and result.stderr.count("\n") == 1 and result.stdout == ""
    assert f"Error: {path}: {message.format(id=front['items'][0]['id'])}" in result.stderr


@pytest.mark.parametrize(("text", "message"), [
    ("no front matter at all\n", "a draft starts with a --- line"),
    ("---\ndigest: monthly\n", "the front matter has no closing --- line"),
    ("---\ndigest: [monthly\n---\n", "front matter is not valid YAML"),
    ("---\n- a\n- b\n---\n", "front matter: expected a mapping"),
    ("---\na: &x [1, 2]\nb: [*x, *x, *x]\n---\n", "aliases (*name) are not allowed"),
    ("---\ndigest: !!python/object:os.system x\n---\n", "front matter is not valid YAML"),
    ("{front}---\nstray words\n## 引言\n", "body: text outside the ## 引言 and ## 编者按 sections"),
    ("{front}---\n## 附录\n正文\n", "body: unknown section '## 附录'"),
    ("{front}---\n## 引言\n一\n## 引言\n二\n", "body: section '## 引言' appears twice"),
])
def test_a_draft_that_is_no_draft_is_one_line(crawled, tmp_path, text, message):
    config, front, _ = crawled
    path = tmp_path / "draft.md"
    path.write_text(text.replace("{front}", "---\n" + yaml.dump(front, Dumper=Dumper, allow_unicode=True)), "utf-8")
    result = build(config, "--draft", str(path), "--digest", "monthly", "--period", "2023-12", check=False)
    assert result.returncode == 1 and result.stderr.count("\n") == 1 and message in result.stderr


def test_an_unedited_draft_renders_the_automatic_digest_byte_for_byte(crawled, tmp_path):
    config, front, body = crawled
    path = tmp_path / "draft.md"
    path.write_text(join(front, body), encoding="utf-8")
    for fmt in ("html", "text", "md", "atom"):
        automatic = build(config, "--digest", "monthly", "--period", "2023-12", "--format", fmt).stdout
        assert build(config, "--draft", str(path), "--format", fmt).stdout == automatic


def test_an_editors_prose_cannot_carry_script_or_script_links() -> None:
    from policywatch.digest.render import prose_html, prose_markdown

    text = ("见[通知](javascript:alert(1))与[原文](https://www.nhc.gov.cn/a.html)。\n\n"
            "<img src=x onerror=alert(1)>\n\n[信](mailto:editor@example.org) [数据](data:text/html,<b>x</b>)")
    html = str(prose_html(text))
    assert 'href="javascript' not in html and 'href="data' not in html  # such links stay text, not links
    assert "<img" not in html and "&lt;img" in html
    assert '<a href="https://www.nhc.gov.cn/a.html">原文</a>' in html and 'href="mailto:editor@example.org"' in html
    assert "<img" not in prose_markdown(text)
