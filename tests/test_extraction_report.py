"""The extraction report (tests/extraction_report.py) on both real corpora, and the report's own ability to fail.

What issue 17 requires the table to show: no page crashing, no false 文号 and no false issuer. A report that
could never count a miss would show that too, so wrong expected values must come out as misses.
"""

from __future__ import annotations

import copy
import subprocess
import sys
from pathlib import Path

import pytest

from tests import extraction_report as report
from tests.conftest import CORPUS, ROOT
from tests.extraction_report import Ratio

CORPORA = report.corpora()


@pytest.fixture(scope="module")
def tallies() -> list[report.Tally]:
    """Every page of both corpora, extracted and scored once."""
    return [report.measure(corpus) for corpus in CORPORA]


def _misses(tally: report.Tally, *fields: str) -> list[str]:
    return [f"{m.page}: {m.field}: expected {m.expected!r}, got {m.got!r}"
            for m in tally.misses if m.field.startswith(fields)]


def test_both_corpora_are_read() -> None:
    shared = CORPORA[0]
    assert shared.folder == CORPUS
    assert len(shared.details) >= 28 and len(shared.lists) >= 8
    assert {corpus.name for corpus in CORPORA} == {"shared", "new"}


def test_every_detail_entry_can_be_scored_on_every_criterion() -> None:
    """A hand-read entry without body_end or a title would silently shrink what the table counts.

    Only a page with no policy text of its own (a link-only 解读 page) has no body values at all."""
    for corpus in CORPORA:
        for entry in corpus.details:
            body = ("body_start", "body_end") if "body_start" in entry or "body_end" in entry else ()
            missing = [key for key in ("title", "published", *body) if key not in entry]
            assert not missing, f"{corpus.name}: {report.page_id(entry)} lacks {missing}"
        for entry in corpus.lists:
            missing = [key for key in ("item", "first_link") if key not in entry]
            assert not missing, f"{corpus.name}: {report.page_id(entry)} lacks {missing}"


def test_every_new_page_has_hand_read_values() -> None:
    """A page saved under tests/fixtures/real/ but never read by hand would be missing from every count."""
    if not report.NEW_EXPECTED.is_file():
        pytest.skip(f"{report.NEW_EXPECTED.relative_to(ROOT)} does not exist yet")
    assert CORPORA[1].unscored() == []


def test_no_page_crashes(tallies: list[report.Tally]) -> None:
    total = report.total(tallies)
    assert total.crashed == [], _misses(total, "CRASH")
    assert total.detail_pages == sum(len(corpus.details) for corpus in CORPORA)


def test_no_false_doc_number(tallies: list[report.Tally]) -> None:
    total = report.total(tallies)
    assert total.docnum_false == 0, _misses(total, "文号 FALSE")


def test_no_false_issuer(tallies: list[report.Tally]) -> None:
    """An issuer neither equal nor partial to the hand-read one (or one on a page that names none) is false."""
    total = report.total(tallies)
    assert total.authority_wrong == 0, _misses(total, "authority WRONG", "authority (page names none)")


def _one_page(entry: dict, folder: Path = CORPUS, kind: str = "details") -> report.Tally:
    corpus = report.Corpus("probe", folder, [entry] if kind == "details" else [], [entry] if kind == "lists" else [])
    return report.measure(corpus)


def _shared_entry(name: str, kind: str = "details") -> dict:
    return copy.deepcopy(next(e for e in getattr(CORPORA[0], kind) if e["file"] == name))


def test_wrong_expected_values_are_misses() -> None:
    """The same page scores full marks with its hand-read values and a miss in each field with wrong ones."""
    entry = _shared_entry("gz-gov-gfxwj-szf-detail-01.html")
    entry["not_in_body"] = []
    entry.pop("body_end")
    right = _one_page(entry)
    assert [right.date, right.title, right.docnum, right.body] == [Ratio(1, 1)] * 4, right.misses
    assert right.authority == Ratio(1, 1) and right.docnum_false == 0

    entry.update(title=entry["title"] + "（修订）", published="2021-04-20", authority="广州市财政局",
                 doc_number="穗府办规〔2021〕8号", body_start="第一条", body_end="此件公开发布")
    wrong = _one_page(entry)
    assert [wrong.date, wrong.title, wrong.docnum, wrong.body] == [Ratio(0, 1)] * 4
    assert wrong.authority_wrong == 1 and wrong.docnum_false == 1
    assert {m.field for m in wrong.misses} == {"date", "title", "authority WRONG", "文号 FALSE", "body"}


def test_issuer_partial_and_found_where_none_is_expected() -> None:
    entry = _shared_entry("gz-gov-gfxwj-szf-detail-01.html")
    entry["authority"] = "广州市人民政府办公厅 秘书处"  # the extracted 广州市人民政府办公厅 is part of it
    assert _one_page(entry).authority_partial == 1
    del entry["authority"], entry["doc_number"]
    tally = _one_page(entry)
    assert tally.authority_wrong == 1 and tally.docnum_false == 1  # the page's own 文号 is now a false one


def test_attachments_compared_as_urls_and_false_ones_counted() -> None:
    entry = _shared_entry("gz-zfcj-tonggao-detail-attachments-01.html")
    assert _one_page(entry).attachments == Ratio(1, 1)
    entry["attachments"] = [*entry["attachments"][:-1], entry["attachments"][-1].replace(".pdf", ".doc")]
    assert _one_page(entry).attachments == Ratio(0, 1)
    entry["attachments"] = 3  # a count, as the shared corpus used to give
    assert _one_page(entry).attachments == Ratio(0, 1)
    del entry["attachments"]
    assert _one_page(entry).attachments_false == 1


def test_trailing_chrome_makes_the_end_unclean() -> None:
    """The site navigation after the colophon of this page is what "clean at the end" is about."""
    entry = _shared_entry("gz-gov-gfxwj-szf-detail-01.html")
    entry["body_end"] = "公开方式：主动公开"  # the colophon's 印发 line follows it: more than END_SLACK characters
    assert _one_page(entry).body == Ratio(0, 1)
    assert report.body_problem(entry, "各区人民政府：正文。公开方式：主动公开（责任编辑：刘则华）") is not None
    assert report.body_problem(entry | {"body_contains": "正文", "body_start": "各区人民政府"},
                               "各区人民政府：正文。公开方式：主动公开") is None


def test_wrong_first_link_is_a_miss() -> None:
    entry = _shared_entry("gd-drc-ywtz-list-01.html", "lists")
    assert _one_page(entry, kind="lists").list_link == Ratio(1, 1)
    entry["first_link"] = entry["first_link"].replace("4960402", "4947366")  # the second item's
    tally = _one_page(entry, kind="lists")
    assert tally.list_link == Ratio(0, 1) and tally.misses[0].field == "list first link"


def test_list_selector_a_config_would_refuse_is_a_miss_not_a_crash() -> None:
    entry = _shared_entry("gd-drc-ywtz-list-01.html", "lists") | {"item": "ul[class=1] li"}
    tally = _one_page(entry, kind="lists")
    assert tally.crashed == [] and tally.list_link == Ratio(0, 1)
    assert tally.misses[0].field == "list item selector refused by config"


def test_a_crashing_page_is_counted_and_the_run_goes_on(tmp_path: Path) -> None:
    (tmp_path / "page.html").write_bytes((CORPUS / "zj-fgw-detail-01.html").read_bytes())
    good = _shared_entry("zj-fgw-detail-01.html") | {"file": "page.html"}
    corpus = report.Corpus("probe", tmp_path, [{"file": "gone.html", "title": "x", "body_start": "x"}, good], [])
    tally = report.measure(corpus)
    assert tally.crashed == ["gone.html"]
    assert tally.title == Ratio(1, 1) and tally.detail_pages == 2


def test_command_prints_the_table_and_exits_0(tmp_path: Path) -> None:
    """As a maintainer runs it, with an extra expected-values file holding one deliberately wrong title."""
    extra = tmp_path / "extra.toml"
    extra.write_text('[[detail]]\nfile = "no-such-page.html"\ntitle = "不存在"\nbody_start = "无"\n', encoding="utf-8")
    run = subprocess.run([sys.executable, "-m", "tests.extraction_report", "--verbose", "--expected", str(extra)],
                         cwd=ROOT, capture_output=True, text=True, timeout=300, check=False)
    assert run.returncode == 0, run.stderr
    for row in ("date", "title", "issuing authority right", "wrong (false issuer)", "文号 found", "false 文号",
                "attachments exact", "false attachments", "body clean at both ends", "list first link usable",
                "pages crashing"):
        assert row in run.stdout
    assert "no-such-page.html | CRASH" in run.stdout
