"""Change detection: pure rules, then real crawls of a served site with planted edits."""

from __future__ import annotations

import shutil

import pytest

from policywatch.core.model import DocState, FileState, Version
from policywatch.detection.detect import detect, detect_attachment, keeps_previous_file
from policywatch.portal import PortalHandler
from tests import forkcli
from tests.conftest import OFFICE, make_docx, source_toml

V1 = Version("h1", "关于开展细胞治疗备案的通知", "2023-12-05", "国家卫生健康委员会")
V2 = Version("h2", V1.title, V1.published, V1.authority)
RETITLED = Version("h1", "关于开展细胞治疗备案工作的通知", V1.published, V1.authority)

RULES = [
    # (previous state, current version or None for "gone", kind, status, missing, fields)
    (None, V1, "new", "active", 0, ()),
    (DocState(V1), V1, None, "active", 0, ()),
    (DocState(V1), V2, "changed", "active", 0, ("text",)),
    (DocState(V1), RETITLED, "changed", "active", 0, ("title",)),
    (DocState(V1), None, None, "active", 1, ()),  # gone once: not yet removed
    (DocState(V1, missing=1), V1, None, "active", 0, ()),  # back again: nothing to report
    (DocState(V1, missing=1), None, "removed", "removed", 2, ()),  # confirmed
    (DocState(V1, "removed", 2), None, None, "removed", 3, ()),  # reported once only
    (DocState(V1, "removed", 3), V1, "restored", "active", 0, ()),
    (DocState(V1, "removed", 3), V2, "restored", "active", 0, ("text",)),
    (None, None, None, "active", 0, ()),  # an unknown page that 404s is nothing
]


@pytest.mark.parametrize(("previous", "current", "kind", "status", "missing", "fields"), RULES)
def test_rules(previous, current, kind, status, missing, fields) -> None:
    verdict = detect(previous, current)
    assert (verdict.kind, verdict.status, verdict.missing, verdict.fields) == (kind, status, missing, fields)
    assert verdict.new_version == (kind in ("new", "changed") or (kind == "restored" and bool(fields)))


READ = FileState("sha-a", "text-a", None)
FILE_RULES = [
    # (previous download or None, this download, change?, stored file kept as it was?)
    (None, READ, False, False),  # first download
    (READ, READ, False, False),  # same bytes
    (READ, FileState("sha-b", "text-a", None), False, False),  # re-saved: new bytes, same words
    (READ, FileState("sha-b", "text-b", None), True, False),  # new words
    (READ, FileState("sha-c", None, "not a PDF (bytes are HTML)"), False, True),  # an error page
    (READ, FileState("sha-c", None, "empty file"), False, True),
    (FileState("sha-c", None, "corrupt PDF: x"), FileState("sha-d", None, "corrupt PDF: y"), False, False),
    (FileState("sha-c", None, "corrupt PDF: x"), READ, True, False),  # readable at last
    (FileState("zip-a", None, None), FileState("zip-b", None, None), True, False),  # no reader: bytes decide
]


@pytest.mark.parametrize(("previous", "current", "changed", "kept"), FILE_RULES)
def test_attachment_rules(previous, current, changed, kept) -> None:
    verdict = detect_attachment(previous, current, DocState(V1))
    assert (verdict is not None, keeps_previous_file(previous, current)) == (changed, kept)
    assert verdict is None or (verdict.kind, verdict.fields, verdict.status) == ("changed", ("attachment",), "active")


PAGE = ("<html><head><meta charset='utf-8'></head><body><h1>{title}</h1><p>发布时间：2023-12-{day:02d}</p>"
        "<p>浏览次数：{views}</p><div id='zoom'><p>{body}</p></div></body></html>")
TITLES = {n: f"关于第{n}批干细胞临床研究项目备案的通知" for n in range(1, 6)}


class MovingPortal(PortalHandler):
    """/old.html redirects to the site's home page once the test says it has moved away."""

    moved = False

    def do_GET(self) -> None:
        if self.path == "/p/5.html" and MovingPortal.moved:
            self.send_response(302)
            self.send_header("Location", "/index.html")
            self.end_headers()
            return
        super().do_GET()


def write_page(site, n: int, body: str = "", views: int = 1) -> None:
    body = body or f"{TITLES[n]}。现将有关事项通知如下，请各单位支持开展干细胞临床研究。"
    (site / "p" / f"{n}.html").write_text(PAGE.format(title=TITLES[n], day=n, views=views, body=body),
                                          encoding="utf-8")


def write_lists(site, page1: list[int], page2: list[int]) -> None:
    for name, numbers, nxt in (("index.html", page1, "<a class='next' href='/index_1.html'>下一页</a>"),
                               ("index_1.html", page2, "")):
        items = "".join(f"<li><a href='/p/{n}.html'>{TITLES[n]}</a></li>" for n in numbers)
        (site / name).write_text(f"<ul>{items}</ul>{nxt}", encoding="utf-8")


def kinds(store, run_id: int) -> dict[str, str]:
    rows = store.db.execute(
        "SELECT d.title, c.kind FROM changes c JOIN documents d ON d.id = c.document_id WHERE c.run_id = ?",
        [run_id]).fetchall()
    return {title: kind for title, kind in rows}


def test_planted_changes_are_reported_exactly(db_target, tmp_path, portal, write_config, run_crawl, open_store):
    site = tmp_path / "site"
    (site / "p").mkdir(parents=True)
    for n in TITLES:
        write_page(site, n)
    write_lists(site, [1, 2, 3, 4, 5], [])
    MovingPortal.moved = False
    base = portal(site, MovingPortal)
    config = write_config(source_toml(
        "planted", f"{base}/index.html", extra="",
    ).replace('link = "a::attr(href)"', 'link = "a::attr(href)"\nnext_page = "a.next::attr(href)"\nmax_pages = 2'))
    store = open_store(config.db)

    first = run_crawl(config)
    assert kinds(store, first.run_id) == dict.fromkeys(TITLES.values(), "new")

    # Round 2: page 1 changes for real, page 2 only in noise, page 3 drops to list page 2,
    # page 4 answers 404 (once), page 5 redirects to the home page.
    write_page(site, 1, body=f"{TITLES[1]}。现将有关事项通知如下，请各单位支持开展干细胞和免疫细胞临床研究。")
    write_page(site, 2, body=f"{TITLES[2]}.  现将有关事项通知如下,请各单位\n  支持开展干细胞临床研究.</p>"
               "<p>页面生成时间：2026-11-23 10:00:01", views=999)
    write_lists(site, [1, 2, 4, 5], [3])
    (site / "p" / "4.html").rename(site / "p" / "4.bak")
    MovingPortal.moved = True
    second = run_crawl(config, recheck_all=True)
    assert kinds(store, second.run_id) == {TITLES[1]: "changed"}

    # Round 3: page 4 is back unchanged (a one-off 404 is nothing); page 5 is still away: removed.
    (site / "p" / "4.bak").rename(site / "p" / "4.html")
    third = run_crawl(config, recheck_all=True)
    assert kinds(store, third.run_id) == {TITLES[5]: "removed"}

    # Round 4: nothing new happens, and a removal is reported once only.
    fourth = run_crawl(config, recheck_all=True)
    assert kinds(store, fourth.run_id) == {}

    # Round 5: page 5 comes back.
    MovingPortal.moved = False
    fifth = run_crawl(config, recheck_all=True)
    assert kinds(store, fifth.run_id) == {TITLES[5]: "restored"}
    assert store.db.execute("SELECT count(*) FROM documents WHERE status = 'removed'").fetchone() == (0,)
    change = store.db.execute("SELECT fields, from_version, to_version FROM changes WHERE kind = 'changed'").fetchone()
    assert change[0] == "text" and change[1] < change[2]


POLICY = ("为贯彻落实《关于加快推进生物医药产业高质量发展的意见》，支持开展干细胞临床研究和免疫细胞治疗产品研发，"
          "现就细胞治疗产品临床转化应用试点工作通知如下。一、试点期三年，试点单位应当具备细胞制备和质量控制能力。"
          "二、各地卫生健康行政部门要加强指导，做好备案和监督管理工作。三、试点单位按季度报送工作进展。")


def test_reposts_on_two_differently_built_sites_are_one_group(
    db_target, tmp_path, portal, write_config, run_crawl, open_store,
):
    national, province = tmp_path / "national", tmp_path / "province"
    national.mkdir()
    province.mkdir()
    (national / "index.html").write_text(
        "<div class='list'><ul><li><a href='/a.html'>关于开展细胞治疗产品临床转化应用试点工作的通知</a></li>"
        "<li><a href='/b.html'>关于开展2024年度科技型中小企业评价工作的通知</a></li></ul></div>", encoding="utf-8")
    (national / "a.html").write_text(
        "<html><head><meta name='ArticleTitle' content='关于开展细胞治疗产品临床转化应用试点工作的通知'></head>"
        f"<body><nav>首页 政策 解读</nav><div class='TRS_Editor'><p>{POLICY}</p></div><footer>版权所有</footer>"
        "</body></html>", encoding="utf-8")
    (national / "b.html").write_text(
        "<html><body><div class='TRS_Editor'><p>为做好2024年度科技型中小企业评价工作，现将有关事项通知如下，"
        "请各区科技管理部门组织企业按时填报，做好审核和服务工作。</p></div></body></html>", encoding="utf-8")
    repost = "转发国家卫生健康委关于开展细胞治疗产品试点工作的通知"
    (province / "list.html").write_text(
        f"<table><tr><td><a href='/zc/1.html'>{repost}</a></td></tr></table>", encoding="gbk")
    (province / "zc").mkdir()
    (province / "zc" / "1.html").write_bytes(
        ("<html><head><meta charset='gbk'></head><body><table><tr><td>当前位置：首页 &gt; 政策文件</td></tr>"
         "<tr><td class='title'>转发国家卫生健康委关于开展细胞治疗产品试点工作的通知</td></tr>"
         "<tr><td id='zoom'><p>各市（州）卫生健康委：</p><p>" + POLICY.replace("，", "， ") + "</p>"
         "<p>请结合实际认真贯彻执行。</p></td></tr></table></body></html>").encode("gbk"))
    config = write_config(
        source_toml("national", f"{portal(national)}/index.html", item="div.list li"),
        source_toml("province", f"{portal(province)}/list.html", item="tr"),
    )

    run_crawl(config)

    store = open_store(config.db)
    groups = dict(store.db.execute("SELECT title, group_id FROM documents").fetchall())
    assert len(groups) == 3
    original = groups["关于开展细胞治疗产品临床转化应用试点工作的通知"]
    assert groups["转发国家卫生健康委关于开展细胞治疗产品试点工作的通知"] == original
    assert groups["关于开展2024年度科技型中小企业评价工作的通知"] != original


HUGE = b"%PDF-1.4\n" + bytes(300_000)  # over the test's cap: never downloaded whole, never read


def test_attachments_are_hashed_read_and_diffed(db_target, tmp_path, portal, write_config, run_crawl, open_store):
    site = tmp_path / "site"
    (site / "files").mkdir(parents=True)
    (site / "index.html").write_text("<ul><li><a href='/a.html'>关于印发细胞治疗试点方案的通知</a></li></ul>",
                                     encoding="utf-8")
    (site / "a.html").write_text(
        "<html><body><h1>关于印发细胞治疗试点方案的通知</h1><p>发布时间：2023-12-05</p><div id='zoom'>"
        "<p>现将《细胞治疗试点方案》印发给你们，请认真贯彻执行。</p>"
        "<p><a href='/files/fang-an.docx'>附件1：试点方案</a> <a href='/files/broken.pdf'>附件2：名单</a>"
        " <a href='/files/empty.pdf'>附件3</a> <a href='/files/notice.doc'>附件4</a>"
        " <a href='/files/huge.pdf'>附件5：扫描件</a></p></div></body></html>", encoding="utf-8")
    make_docx(site / "files" / "fang-an.docx", ["一、试点期三年。", "二、支持开展干细胞临床研究。"])
    (site / "files" / "broken.pdf").write_bytes(b"%PDF-1.7\n" + bytes(range(256)) * 8)
    (site / "files" / "empty.pdf").write_bytes(b"")
    shutil.copy(OFFICE / "notice.doc", site / "files" / "notice.doc")
    (site / "files" / "huge.pdf").write_bytes(HUGE)
    config = write_config(source_toml("att", f"{portal(site)}/index.html"), max_attachment_bytes=200_000)
    store = open_store(config.db)

    run_crawl(config)
    stored = {row["url"].rsplit("/", 1)[-1]: row for row in store.db["attachments"].rows}
    assert set(stored) == {"fang-an.docx", "broken.pdf", "empty.pdf", "notice.doc"}
    assert stored["fang-an.docx"]["kind"] == "docx" and stored["fang-an.docx"]["error"] is None
    assert "支持开展干细胞临床研究" in store.text(stored["fang-an.docx"]["text_hash"])
    assert "上海市第一人民医院" in store.text(stored["notice.doc"]["text_hash"])
    assert stored["broken.pdf"]["error"].startswith("corrupt PDF")
    assert stored["empty.pdf"]["error"] == "empty file"
    errors = {url.rsplit("/", 1)[-1]: error for url, error in
              store.db.execute("SELECT url, error FROM fetches WHERE kind = 'attachment'").fetchall()}
    assert {name for name, error in errors.items() if error} == {"broken.pdf", "empty.pdf", "huge.pdf"}
    cap = f"Expected to receive {len(HUGE)} bytes which is larger than download max size (200000)"
    assert errors["huge.pdf"] == f"file larger than the size cap: {cap}"

    # Unchanged files: a re-check finds nothing; a changed attachment is a change of the document.
    quiet = run_crawl(config, recheck_all=True)
    assert kinds(store, quiet.run_id) == {}
    make_docx(site / "files" / "fang-an.docx", ["一、试点期三年。", "二、支持开展干细胞和免疫细胞临床研究。"])
    changed = run_crawl(config, recheck_all=True)
    assert kinds(store, changed.run_id) == {"关于印发细胞治疗试点方案的通知": "changed"}
    fields, added, removed = store.db.execute(
        "SELECT fields, added, removed FROM changes WHERE run_id = ?", [changed.run_id]).fetchone()
    assert (fields, added, removed) == ("attachment", len("和免疫细胞"), 0)
    shown = forkcli.run(["diff", "1", "--attachments", "--format", "text", "--config", str(config.path)],
                        check=True).stdout
    assert shown.startswith("== http://") and "干细胞{+和免疫细胞+}临床研究" in shown

    # Not changes: an error page in the file's place, the file again, the same words re-saved.
    good = (site / "files" / "fang-an.docx").read_bytes()
    (site / "files" / "fang-an.docx").write_text("<html><body>系统维护中</body></html>", encoding="utf-8")
    outage = run_crawl(config, recheck_all=True)
    (site / "files" / "fang-an.docx").write_bytes(good)
    back = run_crawl(config, recheck_all=True)
    make_docx(site / "files" / "fang-an.docx", ["一、试点期三年。", "二、支持开展干细胞和免疫细胞临床研究。"], "办公室")
    assert (site / "files" / "fang-an.docx").read_bytes() != good
    resaved = run_crawl(config, recheck_all=True)
    assert [kinds(store, run.run_id) for run in (outage, back, resaved)] == [{}, {}, {}]
    errors = store.db.execute("SELECT error FROM fetches WHERE run_id = ? AND url LIKE '%fang-an.docx'",
                              [outage.run_id]).fetchone()
    assert errors == ("not a DOCX (bytes are HTML)",)


def test_empty_recheck_is_an_error_not_a_change(db_target, tmp_path, portal, write_config, run_crawl, open_store):
    site = tmp_path / "site"
    (site / "p").mkdir(parents=True)
    write_page(site, 1)
    write_lists(site, [1], [])
    config = write_config(source_toml("empty", f"{portal(site)}/index.html"))
    store = open_store(config.db)
    run_crawl(config)

    (site / "p" / "1.html").write_bytes(b"")
    second = run_crawl(config, recheck_all=True)

    assert kinds(store, second.run_id) == {}
    assert second.errors[0]["error"] == "no policy text extracted"
    assert store.db.execute("SELECT status, missing FROM documents").fetchone() == ("active", 0)
    assert store.count("versions") == 1
