"""The summary report (tests/summary_report.py): the hand-read facts, the level the summaries keep, and the report's
own ability to count a miss.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from policywatch.core import config as config_module
from policywatch.demo import PORTAL
from policywatch.digest.summary import MAX_CHARS
from tests import summary_report as report
from tests.conftest import CORPUS
from tests.extraction_report import fold

# Reached by policywatch.digest.summary on tests/summary_facts.toml (the summariser before it, which kept the announcing
# sentence and the sentences densest in topic terms, kept 33 of the 163 facts: 20.2%).
REACHED = (133, 163)
ENTRIES = report.entries()


@pytest.fixture(scope="module")
def scored() -> list[report.Scored]:
    """Every text of the facts file, extracted, summarised and scored once."""
    return report.measure()


def test_the_facts_are_read_off_thirty_or_more_real_texts() -> None:
    assert len(ENTRIES) >= 30
    assert {e["corpus"] for e in ENTRIES} == {"demo", "shared"}
    assert len({report.page_id(e) for e in ENTRIES}) == len(ENTRIES)
    for entry in ENTRIES:
        assert 2 <= len(entry["facts"]) <= 5, report.page_id(entry)
        folder = PORTAL if entry["corpus"] == "demo" else CORPUS
        assert (folder / entry["file"]).is_file(), report.page_id(entry)


def test_every_fact_is_in_its_extracted_text() -> None:
    """A fact the extraction does not deliver could never be kept; it would be a wrong hand-read value."""
    config = config_module.load(report.DEMO_CONFIG)
    for entry in ENTRIES:
        _, text = report.extracted(entry, config)
        missing = [fact for fact in entry["facts"] if fold(fact) not in fold(text)]
        assert not missing, f"{report.page_id(entry)}: {missing}"


def test_summaries_keep_the_key_facts_within_the_budget(scored: list[report.Scored]) -> None:
    assert all(len(s.summary) <= MAX_CHARS for s in scored)
    assert sum(len(s.kept) + len(s.missed) for s in scored) == REACHED[1]
    assert report.share(scored) >= REACHED[0] / REACHED[1], report.render(scored, verbose=True)


def test_a_fact_not_in_the_summary_is_a_miss(tmp_path: Path) -> None:
    facts = tmp_path / "facts.toml"
    facts.write_text('[[text]]\ncorpus = "demo"\nfile = "round1/cell-news/hydt/202312/t20231218_1039.html"\n'
                     'facts = ["与对照组相比", "首尔"]\n', encoding="utf-8")  # the hospital's city: not a finding
    [one] = report.measure(facts)
    assert (one.kept, one.missed) == (("与对照组相比",), ("首尔",))
    assert report.share([one]) == 0.5


def test_the_report_prints_each_text_and_the_share(capsys: pytest.CaptureFixture[str]) -> None:
    assert report.main(["--verbose"]) == 0
    out = capsys.readouterr().out
    assert out.count("      summary: ") == len(ENTRIES)
    assert f"key facts kept within {MAX_CHARS} characters: " in out.splitlines()[-1]
