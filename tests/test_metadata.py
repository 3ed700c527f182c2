"""The metadata table of 规范性文件 / 政府信息公开 pages: 索引号, 成文日期 and 主题分类, read, stored and shown.

The pages are the real corpus (../shared/corpus/real); hand-read values for single pages are in
corpus_expected.toml (and checked through a real crawl by test_corpus.py).
"""

from __future__ import annotations

import json
import re
import zlib
from dataclasses import asdict, replace
from datetime import date

import pytest
import sqlite_utils
from lxml import html

from policywatch.core.model import DocState, Fetch, Snapshot, Verdict, Version
from policywatch.core.store import Store
from policywatch.core.store.schema import migrations
from policywatch.crawler.extract.content import element_text, parse_html
from policywatch.crawler.extract.detail import extract_detail
from policywatch.crawler.pipelines import store_snapshot, version_of
from policywatch.detection.detect import detect
from policywatch.digest.summary import change_line
from tests import forkcli
from tests.conftest import CORPUS, CORPUS_EXPECTED, read_corpus, source_toml

GOV_CN = json.loads((CORPUS / "gov-cn-zhengce-detail-fragments-2019.json").read_text(encoding="utf-8"))["records"]
EXPECTED = CORPUS_EXPECTED["detail"]
HAND_READ = [page for page in EXPECTED if "index_number" in page]


def table_cells(fragment: str) -> dict[str, str]:
    """The gov.cn table.bd1 as label → value, read from the DOM's cell pairs (not from text labels)."""
    cells = ["".join(td.text_content().split()) for td in html.fromstring(fragment).cssselect("table.bd1 td")]
    return {label.rstrip("：:"): value for label, value in zip(cells[::2], cells[1::2], strict=False)}


def cjk_date(text: str) -> str:
    year, month, day = re.fullmatch(r"(\d{4})年(\d{2})月(\d{2})日", text).groups()
    return f"{year}-{month}-{day}"


def test_the_gov_cn_dump_agrees_with_its_own_pages() -> None:
    """The dump's columns are what each fragment's table shows: the per-record assertions below are fair."""
    assert len(GOV_CN) == 60
    for record in GOV_CN:
        table = table_cells(record["html"])
        assert (table["索引号"], table["发文机关"], table["发文字号"]) == (
            record["index_number"], record["release_office"], record["release_number"]), record["id"]


def inline(fragment: str) -> str:
    """The same table with each row's cells inline: labels and values share a line ("索 引 号： 0000… 主题分类： …")."""
    fragment = re.sub(r"<(/?)(?:td|tbody|table)\b", r"<\1span", fragment)
    return re.sub(r"\s*\n\s*", " ", re.sub(r"<(/?)tr\b", r"<\1p", fragment))


@pytest.mark.parametrize("layout", ["table", "inline"])
@pytest.mark.parametrize("record", GOV_CN, ids=lambda r: f"id{r['id']}")
def test_every_gov_cn_record(record: dict, layout: str) -> None:
    """Each value stops where its cell ends, and where the next label begins when cells share a line."""
    fields = extract_detail(record["html"] if layout == "table" else inline(record["html"]), record["url"])

    assert fields.index_number == record["index_number"]
    assert fields.authority == record["release_office"]
    assert fields.doc_number == record["release_number"]
    assert fields.written == date.fromisoformat(fields.written).isoformat()
    assert fields.written <= fields.published
    # Cross-checked with the table's own cells: 成文日期 is not taken for 发布日期, nor the other way round.
    table = table_cells(record["html"])
    assert (fields.written, fields.published) == (cjk_date(table["成文日期"]), cjk_date(table["发布日期"]))
    assert fields.subject == table["主题分类"] and "：" not in fields.subject


@pytest.mark.parametrize("page", HAND_READ, ids=lambda p: p["file"] + (f"#{p['record']}" if "record" in p else ""))
def test_hand_read_pages(page: dict) -> None:
    if "record" in page:
        record = GOV_CN[page["record"]]
        fields = extract_detail(record["html"], record["url"])
    else:
        fields = extract_detail(read_corpus(page["file"]), "https://example.gov.cn/a.html")
    assert (fields.index_number, fields.written, fields.subject) == (
        page["index_number"], page.get("written"), page.get("subject"))
    assert (fields.published, fields.doc_number) == (page["published"], page.get("doc_number"))


@pytest.mark.parametrize(("name", "unified"), [("gz-gov-gfxwj-szf-detail-01.html", "GZ0220210007"),
                                                ("gz-gov-gfxwj-bumen-detail-02.html", "GZ0320250043")])
def test_guangzhou_normative_documents_have_no_index_number(name: str, unified: str) -> None:
    """gz.gov.cn 规范性文件 list 统一编号 / 文号 / 实施日期 / 失效日期 / 发布机关: a registration number and an
    effective date, which are not a 索引号 and a 成文日期."""
    page = read_corpus(name)
    assert f"统一编号：</span>\n\t\t\t\t\t\t\t\t\t\t\t{unified}" in page
    fields = extract_detail(page, "https://www.gz.gov.cn/gfxwj/a.html")
    assert (fields.index_number, fields.written, fields.subject) == (None, None, None)


def test_the_inline_layout_puts_a_row_on_one_line() -> None:
    lines = element_text(parse_html(inline(GOV_CN[32]["html"]))).split("\n")
    assert lines[:2] == ["索 引 号： 000014349/2018-00218 主题分类： 财政、金融、审计\\\\税务",
                         "发文机关： 国务院 成文日期： 2018年12月18日"]


def test_empty_cells_take_no_value_from_the_next_label() -> None:
    """nfra's red-header block (索 引 号： 主题分类： 办文部门： 发文日期：, all empty), made visible."""
    page = read_corpus("nfra-xzcf-detail-rendered-02.html")
    shown = page.replace('class="mb25 ng-hide"', 'class="mb25"')
    assert shown != page

    fields = extract_detail(shown, "https://www.nfra.gov.cn/a.html")

    assert (fields.index_number, fields.written, fields.subject) == (None, None, None)
    assert (fields.authority, fields.doc_number) == ("浙江监管局", "浙金罚决字〔2024〕52号")


# -- stored with each version -------------------------------------------------------------------------

URL = "http://127.0.0.1:1/gkmlpt/content/9/9309/post_9309580.html"


def snapshot(when: str, **metadata: str | None) -> Snapshot:
    fetch = Fetch(source="gz-wjw", url=URL, kind="detail", fetched_at=when, status=200, bytes=100)
    return Snapshot(fetch=fetch, canonical_url=URL, title="关于推进广州市家庭医生签约服务高质量发展实施方案的通知",
                    text="为贯彻落实以基层为重点的新时期党的卫生健康工作方针。", published="2023-11-07",
                    authority="广州市卫生健康委员会", doc_number="穗卫函〔2023〕1930号", **metadata)


GKMLPT = {"index_number": "11440100MB2C90856P/2023-00331", "written": "2023-10-19", "subject": "卫生、体育"}


def test_stored_with_each_version_and_a_change_is_a_change(tmp_path, open_store) -> None:
    store = open_store(tmp_path / "state.db")
    store_snapshot(store, 1, snapshot("2023-12-05T01:00:00+00:00", **GKMLPT), "x")
    same, _ = store_snapshot(store, 2, snapshot("2023-12-12T01:00:00+00:00", **GKMLPT), "x")
    renumbered = GKMLPT | {"index_number": "11440100MB2C90856P/2023-00332"}
    result, verdict = store_snapshot(store, 3, snapshot("2023-12-19T01:00:00+00:00", **renumbered), "x")

    assert not same.new_version
    assert result.new_version and (verdict.kind, verdict.fields) == ("changed", ("index_number",))
    doc = store.document(URL)
    assert {k: doc[k] for k in GKMLPT} == renumbered and doc["versions"] == 2
    rows = store.db.execute("SELECT index_number, written, subject FROM versions ORDER BY id").fetchall()
    assert rows == [tuple(GKMLPT.values()), tuple(renumbered.values())]
    assert [c["fields"] for c in store.changes()] == ["", "index_number"]
    assert change_line(["index_number", "written"], None, "zh") == "更新：索引号、成文日期"


def test_which_differences_are_changes() -> None:
    before = Version("h1", "通知", "2023-11-07", "广州市卫生健康委员会", "穗卫函〔2023〕1930号")
    table = replace(before, **GKMLPT)
    assert detect(DocState(before), table) == Verdict(None, "active", 0, new_version=True)  # learned, not news
    assert detect(DocState(table), before).fields == ("index_number", "written", "subject")  # the table is gone
    assert detect(DocState(table), replace(table, written="2023-10-20")).fields == ("written",)
    assert detect(DocState(table), replace(table, doc_number="穗卫函〔2023〕1931号")).fields == ("doc_number",)


def test_an_m006_database_gains_the_columns_and_keeps_its_rows(tmp_path, open_store) -> None:
    """A document a crawl stored before m007 (the rows m006's save_snapshot wrote) survives the upgrade."""
    path = tmp_path / "state.db"
    old = sqlite_utils.Database(path)
    migrations.apply(old, stop_before="m007_metadata_table")
    assert "index_number" not in old["versions"].columns_dict
    seen = snapshot("2023-11-28T01:00:00+00:00")
    meta = {k: v for k, v in asdict(version_of(seen)).items() if k not in GKMLPT}
    old["texts"].insert({"hash": meta["text_hash"], "body": zlib.compress(seen.text.encode()), "size": 1})
    old["documents"].insert({"id": 1, "url": URL, "fetch_url": URL, "source": "gz-wjw", "latest_version": 1,
                             "first_seen": seen.fetch.fetched_at, "status": "active", "missing": 0,
                             **{k: v for k, v in meta.items() if k != "text_hash"}})
    old["versions"].insert({"id": 1, "document_id": 1, "created_at": seen.fetch.fetched_at, "run_id": 1, **meta})
    old.close()

    store = open_store(path)
    for table in ("documents", "versions"):
        assert {"index_number", "written", "subject"} <= set(store.db[table].columns_dict)
    assert (store.count("documents"), store.count("versions")) == (1, 1)
    doc = store.document(URL)
    assert (doc["doc_number"], doc["text"], doc["index_number"], doc["written"], doc["subject"]) == (
        "穗卫函〔2023〕1930号", seen.text, None, None, None)

    # The first crawl after the upgrade: the page's table is stored, and nothing is reported as changed.
    result, verdict = store_snapshot(store, 2, snapshot("2023-12-05T01:00:00+00:00", **GKMLPT), "x")
    assert result.new_version and verdict.kind is None
    assert {k: store.document(URL)[k] for k in GKMLPT} == GKMLPT
    assert store.count("changes") == 0


# -- shown ---------------------------------------------------------------------------------------------

def test_show_and_sources_check_print_them(tmp_path, write_config) -> None:
    config = write_config(source_toml("gz-wjw", "http://127.0.0.1:9/list.html"))
    with Store(config.db) as store:
        store_snapshot(store, 1, snapshot("2023-12-05T01:00:00+00:00", **GKMLPT), "x")
    show = forkcli.run(["show", URL, "--config", str(config.path)], check=True)
    shown = forkcli.run(["show", URL, "--json", "--config", str(config.path)], check=True)
    saved = ["--file", str(CORPUS / "gd-drc-ywtz-list-01.html"),
             "--detail", str(CORPUS / "gz-wjw-policy-detail-01.html")]
    check = forkcli.run(["sources", "check", "gz-wjw", "--config", str(config.path), *saved], check=True)
    checked = forkcli.run(["sources", "check", "gz-wjw", "--json", "--config", str(config.path), *saved], check=True)

    lines = [" ".join(line.split()) for line in show.stdout.splitlines()]
    assert {"index_number 11440100MB2C90856P/2023-00331", "written 2023-10-19", "subject 卫生、体育"} <= set(lines)
    assert {k: json.loads(shown.stdout)[k] for k in GKMLPT} == GKMLPT
    lines = [" ".join(line.split()) for line in check.stdout.splitlines()]
    assert {"index_number 11440100MB2C90856P/2023-00331", "written 2023-10-19"} <= set(lines)
    assert not any(line.startswith("subject") for line in lines)  # the page's 分类 cell is empty
    detail = json.loads(checked.stdout)["detail"]
    assert (detail["index_number"], detail["written"], detail["subject"]) == (
        "11440100MB2C90856P/2023-00331", "2023-10-19", None)
