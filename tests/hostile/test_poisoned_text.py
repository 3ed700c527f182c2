"""A page author who writes terminal escapes and XML-breaking characters into every field a page has: raw bytes,
character references (&#27;), JSON escapes (\\u001b) and PDF text alike. Nothing of it is stored, `policywatch
show` passes none of it to a terminal, and the Atom feed stays XML even from a state.db written before."""

from __future__ import annotations

import json
import re
import shutil
import sqlite3
import subprocess
import xml.etree.ElementTree as ET
import zlib
from contextlib import ExitStack

import pytest

from policywatch.core import config as config_module
from policywatch.core.config import ListRule
from policywatch.core.normalize import clean_text, clean_url
from policywatch.crawler.crawl import crawl
from policywatch.crawler.extract.listing import json_items
from policywatch.portal import serve
from tests import forkcli
from tests.conftest import crawl_config_text, make_pdf, source_toml
from tests.hostile.hostile_web import Site, listing
from tests.test_digest import CELL_TOPIC, digest_toml

# What no stored or shown text may hold: C0 but tab and newline, DEL, C1, bidi embeddings/overrides/isolates,
# surrogates, U+FFFE/U+FFFF.
UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\ud800-\udfff\ufffe\uffff]")
ESC, BEL, CSI = "\x1b", "\x07", "\x9b"

TITLE_1 = "关于细胞治疗\x1b]0;pwned\x07试点的通知&#27;[2J&#x202e;"
PAGE_1 = f"""<html><head><meta charset="utf-8"><title>{TITLE_1}</title></head><body>
<h1>{TITLE_1}</h1>
<div class="info">发布时间：2023-12-05　发文机关：上海市\x1b[31m科学技术委员会&#7;</div>
<p>发文字号：沪科〔2023〕18号&#27;[0m</p>
<p>主题分类：科技\x07&#27;[1m卫生</p>
<div id="zoom"><p>为推进细胞治疗临床研究\x1b[2J\x1b]0;pwned\x07，现将有关事项通知如下。
&#27;[31m&#x9b;1m&#x202e;反转&#x202c;&#xfffe;&#127;</p>
<p>一、试点范围包括干细胞和免疫细胞治疗项目，\x85由各区卫生健康委\u202e组织\u2066实施\u2069。\x9b\x00</p>
<p><a href="/files/notice&#27;.pdf">附件：试点名单</a></p></div></body></html>"""
TITLE_2 = "干细胞临床研究备案&#27;]0;x&#7;管理办法\x1b[1m"
PAGE_2 = """<html><head><meta charset="utf-8"></head><body><div id="zoom">
<p>发布时间：2023-12-06</p><p>为规范干细胞临床研究备案工作&#27;[2J，根据有关规定，制定本办法。&#x85;备案材料由机构提交。</p>
</div></body></html>"""
PAGE_3 = """<html><head><meta charset="utf-8"></head><body><div id="zoom">
<p>发布时间：2023-12-07</p><p>为加强免疫细胞治疗技术管理，保障医疗质量和医疗安全，制定本规范。</p>
</div></body></html>"""
# A JSON list whose title carries JSON escapes, a raw tab and a lone surrogate.
JSON_LIST = '{"data": [{"title": "免疫细胞\\u001b[2J治疗\t技术\\u0007规范\\u202e\\ud800", "url": "/news/3.html"}]}'
PDF_TEXT = "Cell therapy pilot list \x1b]0;pwned\x07 clinics\x9b31m approved"

CLEAN_TITLES = {
    "/news/1.html": "关于细胞治疗]0;pwned试点的通知[2J",
    "/news/2.html": "干细胞临床研究备案]0;x管理办法[1m",
    "/news/3.html": "免疫细胞[2J治疗 技术规范\ufffd",
}


def write_portal(root) -> None:
    """An HTML list, a JSON list, three detail pages and a PDF, every field poisoned; written as raw bytes."""
    (root / "news").mkdir(parents=True)
    (root / "files").mkdir()
    (root / "index.html").write_bytes(
        f"<html><head><meta charset='utf-8'></head><body><ul><li><a href='/news/1.html'>{TITLE_1}</a></li>"
        f"<li><a href='/news/2.html'>{TITLE_2}</a></li></ul></body></html>".encode())
    (root / "list.json").write_bytes(JSON_LIST.encode())
    for n, page in enumerate((PAGE_1, PAGE_2, PAGE_3), 1):
        (root / "news" / f"{n}.html").write_bytes(page.encode("utf-8"))
    (root / "files" / "notice\x1b.pdf").write_bytes(make_pdf(PDF_TEXT))


@pytest.fixture(scope="module")
def crawled(tmp_path_factory):
    """One real crawl of the poisoned portal (kept served): (config, base URL)."""
    root = tmp_path_factory.mktemp("poisoned")
    write_portal(root / "site")
    with ExitStack() as stack:
        base = stack.enter_context(serve(root / "site"))
        path = root / "config.toml"
        path.write_text(crawl_config_text() + CELL_TOPIC + digest_toml() + source_toml("html", f"{base}/index.html")
                        + source_toml("api", f"{base}/list.json", item="json:data", link="json:url",
                                      title="json:title"), encoding="utf-8")
        config = config_module.load(path)
        result = crawl(config)
        assert result.errors == [], result.errors
        yield config, base


def stored_strings(db_path) -> list[tuple[str, str, str]]:
    """(table, column, value) of every text in state.db, the compressed texts inflated."""
    db = sqlite3.connect(db_path)
    db.text_factory = lambda raw: raw.decode("utf-8", errors="surrogateescape")
    found = []
    for (table,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'"):
        cursor = db.execute(f'SELECT * FROM "{table}"')
        columns = [d[0] for d in cursor.description]
        for row in cursor:
            for column, value in zip(columns, row, strict=True):
                if isinstance(value, bytes) and table == "texts":
                    value = zlib.decompress(value).decode("utf-8")
                if isinstance(value, str):
                    found.append((table, column, value))
    db.close()
    return found


def run(config, *args: str, db=None) -> subprocess.CompletedProcess:
    extra = ["--db", str(db)] if db else []
    result = forkcli.run([*args, "--config", str(config.path), *extra])
    assert result.returncode == 0, result.stderr
    return result


@pytest.mark.parametrize(("text", "clean"), [
    ("标题\x1b]0;pwned\x07完", "标题]0;pwned完"),  # OSC: set the terminal title
    ("清屏\x1b[2J\x1b[H", "清屏[2J[H"),  # CSI: clear the screen
    ("a\x00b\x08c\x7fd", "abcd"),  # NUL, backspace, DEL
    ("line\r\nnext\rthird\x0bfourth\x0cfifth\ttab", "line\nnext\nthird\nfourth\nfifth\ttab"),
    ("\x9b31m\x9d0;x\x9c\x90", "›31m0;xœ"),  # C1 CSI/OSC/ST/DCS: Windows-1252 meaning or nothing
    ("\x93引号\x94\x96", "“引号”–"),  # Windows-1252 punctuation mis-decoded as Latin-1
    ("name\u202efdp.exe", "namefdp.exe"),  # bidi override: spoofs what a terminal shows
    ("\u2066isolate\u2069 \u200emark", "isolate \u200emark"),  # isolates go, the implicit mark stays
    ("lone\ud800surrogate", "lone\ufffdsurrogate"),  # cannot be stored as UTF-8
    ("non\ufffe\uffff\ufdd0char", "nonchar"),  # invalid in XML / never text
    ("细胞治疗 Café — “quoted” 𠀀", "细胞治疗 Café — “quoted” 𠀀"),  # real text is untouched
])
def test_clean_text_removes_each_class(text: str, clean: str) -> None:
    assert clean_text(text) == clean
    assert not UNSAFE.search(clean_text(text))


@pytest.mark.parametrize(("url", "clean"), [
    ("http://x/a\x1b[2J.pdf", "http://x/a%1B[2J.pdf"),
    (" http://x/a\n/b\t.pdf\r\n", "http://x/a/b.pdf"),
    ("http://x/\u202efdp.exe", "http://x/%E2%80%AEfdp.exe"),
    ("http://x/2023/关于细胞治疗的通知.html", "http://x/2023/关于细胞治疗的通知.html"),
])
def test_clean_url_percent_encodes_controls(url: str, clean: str) -> None:
    assert clean_url(url) == clean


def test_json_list_titles_are_clean() -> None:
    rule = ListRule(item="json:data", link="json:url", title="json:title")
    listing = json_items(json.loads(JSON_LIST, strict=False), rule, "http://127.0.0.1/list.json")
    assert [item.title for item in listing.items] == [CLEAN_TITLES["/news/3.html"]]


def test_nothing_stored_holds_a_control_character(crawled) -> None:
    config, base = crawled
    strings = stored_strings(config.db)
    assert [(table, column, value) for table, column, value in strings if UNSAFE.search(value)] == []
    db = sqlite3.connect(config.db)
    titles = dict(db.execute("SELECT url, title FROM documents").fetchall())
    assert titles == {base + path: title for path, title in CLEAN_TITLES.items()}
    authority, doc_number, subject, attachments = db.execute(
        "SELECT authority, doc_number, subject, attachments FROM documents WHERE url = ?",
        [base + "/news/1.html"]).fetchone()
    assert (authority, doc_number, subject) == ("上海市[31m科学技术委员会", "沪科〔2023〕18号", "科技[1m卫生")
    assert json.loads(attachments) == [base + "/files/notice%1B.pdf"]  # fetched, under the URL a request sends
    (pdf_text,) = [value for table, column, value in strings if "Cell therapy pilot list" in value and table == "texts"]
    assert pdf_text == "Cell therapy pilot list ]0;pwned clinics›31m approved"
    db.close()


def test_show_passes_no_escape_to_the_terminal(crawled) -> None:
    config, base = crawled
    for path in CLEAN_TITLES:
        shown = run(config, "show", base + path).stdout
        as_json = json.loads(run(config, "show", base + path, "--json").stdout)
        assert CLEAN_TITLES[path] in shown and as_json["title"] == CLEAN_TITLES[path]
        assert not UNSAFE.search(shown) and not UNSAFE.search(json.dumps(as_json, ensure_ascii=False))
    text = run(config, "show", base + "/news/1.html").stdout
    assert "现将有关事项通知如下。\n[31m›1m反转" in text and "由各区卫生健康委组织实施。›" in text


def test_a_state_db_written_before_cleaning_still_renders_safely(crawled, tmp_path) -> None:
    """Text stored by an older PolicyWatch may hold anything: show and the Atom feed clean it on the way out, and
    a title that looks like rich markup is printed as written."""
    config, base = crawled
    db_path = tmp_path / "old.db"
    shutil.copy(config.db, db_path)
    title = "关于细胞治疗[/bold][link=http://evil.example/]试点[/link]\x1b]0;pwned\x07\x1b[2J\x9b1m\u202e\ufffe的通知"
    poisoned_text = "细胞治疗试点通知。\x1b[31m\x07各区卫生健康委\x00组织实施\x9b。\ufffe"
    db = sqlite3.connect(db_path)
    db.execute("UPDATE documents SET title = ?, authority = ? WHERE url = ?",
               [title, "上海市\x1b[5m科委\x07", base + "/news/1.html"])
    db.execute("UPDATE texts SET body = ?", [zlib.compress(poisoned_text.encode("utf-8"))])
    db.commit()
    db.close()

    shown = run(config, "show", base + "/news/1.html", db=db_path).stdout
    assert not UNSAFE.search(shown)
    assert "[/bold][link=http://evil.example/]试点[/link]" in shown  # markup printed, not obeyed
    assert "细胞治疗试点通知。[31m各区卫生健康委组织实施›。" in shown
    feed_text = run(config, "digest", "build", "--digest", "monthly", "--period", "2023-12", "--format", "atom",
                    db=db_path).stdout
    feed = ET.fromstring(feed_text.encode("utf-8"))  # one control character would make this raise
    atom = "{http://www.w3.org/2005/Atom}"
    titles = [entry.findtext(f"{atom}title") for entry in feed.iter(f"{atom}entry")]
    assert clean_text(title) in titles
    assert not UNSAFE.search(feed_text)
    for fmt in ("text", "md", "html"):
        assert not UNSAFE.search(run(config, "digest", "build", "--digest", "monthly", "--period", "2023-12",
                                     "--format", fmt, db=db_path).stdout)


# Rich markup and an emoji code as a page or an old state.db may hold them: every command prints them as written.
MARKUP = "[/][red]红[/red][link=http://evil.example/]链接[/link]:warning:\\"
CONTROLS = "\x1b]0;pwned\x07\x1b[2J\x9b1m\u202e\ufffe"
SGR = re.compile(r"\x1b\[[0-9;]*m")  # the colours `diff --color` asks for, and nothing else


def shown(config, *args: str, db) -> str:
    """stdout and stderr of a command that must succeed, on a console wide enough that no table cell is cut."""
    result = forkcli.run([*args, "--config", str(config.path), "--db", str(db)], env={"COLUMNS": "1000"})
    assert result.returncode == 0, result.stderr
    return result.stdout + result.stderr


def test_every_command_prints_stored_text_as_text(crawled, tmp_path) -> None:
    """A title, authority, change, second version and alert written into state.db with control characters and
    rich markup: changes, history, diff and sources list exit 0, pass no control character on, and show the
    markup as text."""
    config, base = crawled
    db_path = tmp_path / "old.db"
    shutil.copy(config.db, db_path)
    title = f"关于细胞治疗{MARKUP}{CONTROLS}的通知"
    new_text = f"细胞治疗试点通知。{MARKUP}{CONTROLS}各区卫生健康委组织实施。"
    db = sqlite3.connect(db_path)
    (doc_id,) = db.execute("SELECT id FROM documents WHERE url = ?", [base + "/news/1.html"]).fetchone()
    db.execute("UPDATE documents SET title = ?, authority = ? WHERE id = ?", [title, f"上海市{MARKUP}科委", doc_id])
    db.execute("UPDATE versions SET title = ? WHERE document_id = ?", [title, doc_id])
    db.execute("UPDATE changes SET fields = ? WHERE document_id = ?", [f"title,{MARKUP}{CONTROLS}", doc_id])
    db.execute("INSERT INTO texts (hash, body, size) VALUES ('poisoned', ?, ?)",
               [zlib.compress(new_text.encode("utf-8")), len(new_text)])
    db.execute("""INSERT INTO versions (document_id, text_hash, title, created_at, run_id)
                  SELECT document_id, 'poisoned', ?, created_at, run_id FROM versions WHERE document_id = ?""",
               [title, doc_id])
    db.execute("INSERT INTO alerts (source, problem, opened_at) VALUES ('html', ?, '2023-12-08T00:00:00')",
               [f"list page {MARKUP}{CONTROLS} gone"])
    db.commit()
    db.close()

    outputs = {
        "changes": shown(config, "changes", db=db_path),
        "history": shown(config, "history", str(doc_id), db=db_path),
        "diff": shown(config, "diff", str(doc_id), db=db_path),
        "diff text": shown(config, "diff", str(doc_id), "--format", "text", db=db_path),
        "sources list": shown(config, "sources", "list", db=db_path),
    }
    for command, output in outputs.items():
        assert not UNSAFE.search(output), command
        assert MARKUP in output, command
    assert f"关于细胞治疗{MARKUP}]0;pwned[2J›1m的通知" in outputs["history"]
    assert f"list page {MARKUP}]0;pwned[2J›1m gone" in outputs["sources list"]
    coloured = shown(config, "diff", str(doc_id), "--color", db=db_path)
    assert SGR.search(coloured) and not UNSAFE.search(SGR.sub("", coloured)) and MARKUP in SGR.sub("", coloured)
    as_json = json.loads(shown(config, "changes", "--json", db=db_path))
    assert not UNSAFE.search(json.dumps(as_json, ensure_ascii=False))
    assert clean_text(title) in [change["title"] for change in as_json]


def test_a_crawl_error_that_quotes_a_page_prints_as_text(tmp_path) -> None:
    """A detail page whose Content-Type header carries rich markup and an escape: the crawl's error lines quote it
    as text, and the command still exits 0."""
    portal = Site("127.0.0.1")
    markup = "[/][red]x[link=http://evil.example/]y[/link]:warning:"  # a header is Latin-1
    content_type = f"application/x-{markup}\x1b[2J\x07"  # no ";": the error quotes the type up to one
    try:
        portal.add("/index.html", listing("/doc.html"))
        portal.add("/doc.html", b"%PDF-1.4", **{"Content-Type": content_type})
        path = tmp_path / "config.toml"
        path.write_text(crawl_config_text() + source_toml("html", f"{portal.base}/index.html"), encoding="utf-8")
        config = config_module.load(path)
        output = shown(config, "crawl", db=config.db)
    finally:
        portal.close()
    assert not UNSAFE.search(output)
    assert f"{portal.base}/doc.html: not an HTML page (application/x-{markup}[2J)" in output
