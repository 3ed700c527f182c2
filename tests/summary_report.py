"""How many of the facts a reader acts on the digest's summaries keep: tests/summary_facts.toml, scored.

Run it as ``python -m tests.summary_report`` (or ``make summary-report``). Each entry of the facts file names a
real policy text and the 2-5 facts read off it by hand (an amount, a deadline, who may apply, a quantity, a
named programme, a research finding). The text is extracted as a crawl extracts it and converted to Simplified
characters as a digest reads it:

* ``demo`` pages (policywatch/demo/portal/) with ``extract_detail`` and the ``[sources.detail]`` rule of their
  demo source, as ``policywatch demo`` crawls them;
* ``shared`` pages (../shared/corpus/real) with ``extract_detail`` and no rule, decoded and wrapped exactly as
  tests/extraction_report.py reads them.

Each text is summarised with :func:`policywatch.digest.summary.summarise` (its extracted title, the demo config's topic
terms, the digest's 200-character budget). A fact is kept when it occurs in the summary after NFKC folding with
whitespace removed; a summary over the budget keeps nothing. The figure is the share of all facts kept.

``--verbose`` prints every summary and the facts it missed. The exit status is 0 whatever the figure is;
tests/test_summary_report.py holds the level it must stay at.
"""

from __future__ import annotations

import argparse
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from policywatch.core import config as config_module
from policywatch.core.hanzi import simplified
from policywatch.crawler.extract.detail import extract_detail
from policywatch.crawler.extract.encoding import decode_html
from policywatch.demo import PORTAL
from policywatch.digest.summary import MAX_CHARS, summarise
from policywatch.digest.topics import topic_terms
from tests.conftest import CORPUS, ROOT
from tests.extraction_report import fold, page_url, read_page

FACTS = Path(__file__).parent / "summary_facts.toml"
DEMO_CONFIG = ROOT / "policywatch" / "demo" / "config.toml"


@dataclass(frozen=True)
class Scored:
    """One text: its summary and which of its facts the summary kept."""

    page: str
    title: str
    summary: str
    kept: tuple[str, ...]
    missed: tuple[str, ...]


def entries(path: Path = FACTS) -> list[dict[str, Any]]:
    """The hand-read entries of the facts file, in file order."""
    return tomllib.loads(path.read_text(encoding="utf-8"))["text"]


def page_id(entry: dict[str, Any]) -> str:
    return f"{entry['corpus']}:{entry['file']}" + (f"#{entry['record']}" if "record" in entry else "")


def extracted(entry: dict[str, Any], config: config_module.Config) -> tuple[str, str]:
    """The entry's title and body text as a digest reads them: extracted, then in Simplified characters."""
    if entry["corpus"] == "demo":
        path = PORTAL / entry["file"]
        source = next(s for s in config.sources if s.name == Path(entry["file"]).parts[1])
        fields = extract_detail(decode_html(path.read_bytes()).text, f"http://{source.name}.demo/{entry['file']}",
                                rule=source.detail)
    elif entry["corpus"] == "shared":
        fields = extract_detail(read_page(CORPUS, entry), page_url(entry), rule=None)
    else:
        raise ValueError(f"{page_id(entry)}: corpus must be 'demo' or 'shared'")
    return simplified(fields.title or ""), simplified(fields.text)


def score(entry: dict[str, Any], title: str, text: str, terms: tuple[str, ...]) -> Scored:
    """Summarise one text and split its facts into kept and missed."""
    summary = summarise(text, terms, title=title)
    folded = fold(summary) if len(summary) <= MAX_CHARS else ""
    kept = tuple(f for f in entry["facts"] if fold(f) in folded)
    return Scored(page_id(entry), title, summary, kept, tuple(f for f in entry["facts"] if f not in kept))


def measure(path: Path = FACTS) -> list[Scored]:
    """Every text of the facts file, extracted, summarised and scored."""
    config = config_module.load(DEMO_CONFIG)
    terms = topic_terms(list(config.topics))
    scored = []
    for entry in entries(path):
        title, text = extracted(entry, config)
        scored.append(score(entry, title, text, terms))
    return scored


def share(scored: list[Scored]) -> float:
    """Kept facts over all facts."""
    kept = sum(len(s.kept) for s in scored)
    return kept / sum(len(s.kept) + len(s.missed) for s in scored)


def render(scored: list[Scored], verbose: bool = False) -> str:
    """One line per text (kept/all and the page), then the total; with verbose, each summary and its misses."""
    lines = []
    for s in scored:
        lines.append(f"{len(s.kept)}/{len(s.kept) + len(s.missed)}  {s.page}")
        if verbose:
            lines.append(f"      title:   {s.title}")
            lines.append(f"      summary: {s.summary} ({len(s.summary)} characters)")
            if s.missed:
                lines.append(f"      missed:  {', '.join(s.missed)}")
    kept = sum(len(s.kept) for s in scored)
    facts = sum(len(s.kept) + len(s.missed) for s in scored)
    whole = sum(1 for s in scored if not s.missed)
    lines.append(f"\nkey facts kept within {MAX_CHARS} characters: {kept}/{facts} = {share(scored):.1%} "
                 f"({len(scored)} texts, {whole} with every fact kept)")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.summary_report", description=__doc__.split("\n")[0])
    parser.add_argument("--facts", type=Path, default=FACTS, help="the hand-read facts file (default: %(default)s)")
    parser.add_argument("--verbose", action="store_true", help="print every summary and the facts it missed")
    args = parser.parse_args(argv)
    print(render(measure(args.facts), args.verbose))
    return 0


if __name__ == "__main__":
    sys.exit(main())
