"""How well generic extraction reads real pages nobody configured: a per-field table against hand-read values.

Run it as ``python -m tests.extraction_report`` (or ``make extraction-report``). It reads every saved real page
of two corpora, extracts it as the most generic source entry would (no ``[sources.detail]``, no platform, no
list title or date), and scores each field against the values read off the page by hand:

* ``shared``: ../shared/corpus/real, expected values in tests/corpus_expected.toml (``record = N`` entries are
  records of a JSON dump, wrapped into a page as tests/test_corpus.py serves them);
* ``new``: tests/fixtures/real/, expected values in tests/fixtures/real/expected.toml and in every
  ``--expected FILE`` (repeatable; an entry for the same file and record replaces an earlier one).

Detail pages are decoded with :func:`policywatch.crawler.extract.encoding.decode_html` and read with
``extract_detail(text, url, rule=None, list_title=None, list_date=None)``; ``url`` is the entry's ``url`` or,
where the page's address is unknown, ``https://corpus.invalid/<file>``. List pages are read with
``extract_list(text, url, ListRule(item=<the entry's item>))`` (a JSON list's entry also gives its ``link`` path).

What each row counts (``fold`` = NFKC, then every whitespace character removed; in body text ``|`` goes too, as
a text rendering may put it between table cells):

* **date**: the extracted ``published`` equals ``published``. N = detail pages with a ``published``.
* **title**: the titles are equal after whitespace folding (runs of whitespace, NBSP and U+3000 become one
  space, ends stripped). N = detail pages with a ``title``.
* **issuing authority**: of the pages with an ``authority``: *right* when ``fold(got) == fold(expected)``;
  *partial* when one contains the other (a division without its parent, a parent without its division);
  *wrong* when an authority was extracted that is neither; *missing* when none was. An authority extracted
  from a page whose entry has none is also *wrong*. *wrong* is the count of false issuers. A page whose only
  issuer is the site itself (``authority_label = "site"``) counts as right when nothing is extracted: the
  source entry's required ``authority``, the site owner, is what a crawl stores then (as tests/test_corpus.py
  configures it).
* **文号**: of the pages with a ``doc_number``, *found* when ``fold(got) == fold(expected)``. *false* counts
  pages where a 文号 was extracted that is not the expected one, including every 文号 found on a page whose
  entry has none.
* **attachments**: of the pages that have any, *exact* when the extracted URLs equal the expected
  ``attachments`` list as a set of absolute URLs, or, where ``attachments`` is a count (the shared corpus), when
  the number extracted equals it. *false* counts the pages without attachments (``attachments`` absent, 0 or
  ``[]``) where any was extracted.
* **body clean at both ends**: ``body_start`` occurs in the first 300 folded characters of the body text (a
  red-head block of issuers, title and 文号 may precede it); ``body_end``, when given, occurs and at most 5
  folded characters follow its last occurrence (so a trailing editor line, related-reading list or print
  widget makes the end unclean, while body_end itself includes the signature, 版记 and any 附件 list of the
  document); ``body_contains`` occurs; and no ``not_in_body`` string occurs in the NFKC text. N = detail
  pages with a ``body_start``.
* **list first link usable**: the list's first extracted item links to ``first_link`` (exactly, after the
  scraped-URL cleaning every link gets), and no extracted link carries script residue (quotes, parentheses,
  spaces, ``javascript:``). Where the entry says the first link is ``unreachable`` for any generic reader (a
  URL a page script builds from an id, items inside an HTML comment), only the second half counts: the
  reader must not invent a link. N = list pages. An entry whose ``item``/``link`` a config load would
  refuse (not a selector, or an HTML selector beside a JSON item) is a miss, not a crash: no crawl gets there.
* **pages crashing**: pages whose decoding or extraction raised; each is reported and the run goes on.
* **saved pages without hand-read values**: HTML files of the corpus folder that no entry covers (the shared
  corpus's anti-bot ``walls`` excepted); they are not in any count above.

``--verbose`` lists every miss: page, field, expected, got. The exit status is 0 whatever the numbers are;
tests/test_extraction_report.py holds the parts that must be true.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import tomllib
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from policywatch.core import config as config_module
from policywatch.core.config import ListRule
from policywatch.core.normalize import clean_url
from policywatch.crawler.extract.detail import extract_detail
from policywatch.crawler.extract.encoding import decode_html
from policywatch.crawler.extract.listing import extract_list
from tests.conftest import CORPUS, CORPUS_EXPECTED

NEW_CORPUS = Path(__file__).parent / "fixtures" / "real"
NEW_EXPECTED = NEW_CORPUS / "expected.toml"
START_WINDOW = 300  # folded characters of body text within which body_start must occur
# Folded characters that may follow body_end: a stray mark, never an editor line ("(责任编辑:刘则华)" is 10).
END_SLACK = 5
UNKNOWN_HOST = "https://corpus.invalid/"  # base URL of a page whose address is not recorded


@dataclass(frozen=True)
class Corpus:
    """Saved pages in one folder and the hand-read values for them."""

    name: str
    folder: Path
    details: list[dict[str, Any]]
    lists: list[dict[str, Any]]
    skip: frozenset[str] = frozenset()  # saved pages that are not policy pages (anti-bot walls)

    def unscored(self) -> list[str]:
        """Saved HTML pages of the folder that no hand-read entry covers: the table does not count them."""
        covered = {entry["file"] for entry in (*self.details, *self.lists)} | self.skip
        return sorted(path.name for path in self.folder.glob("*.htm*") if path.name not in covered)


@dataclass
class Miss:
    page: str
    field: str
    expected: Any
    got: Any


@dataclass
class Ratio:
    """n of N: how many of the pages a row applies to came out right."""

    right: int = 0
    of: int = 0

    def count(self, ok: bool) -> bool:
        self.of += 1
        self.right += ok
        return ok

    def __str__(self) -> str:
        return f"{self.right}/{self.of}"


@dataclass
class Tally:
    """One corpus's counts; ``misses`` name every page a count left out, for --verbose and for tests."""

    name: str
    detail_pages: int = 0
    list_pages: int = 0
    unscored: list[str] = field(default_factory=list)  # saved pages without hand-read values
    date: Ratio = field(default_factory=Ratio)
    title: Ratio = field(default_factory=Ratio)
    authority: Ratio = field(default_factory=Ratio)  # right, of the pages that name an issuer
    authority_partial: int = 0
    authority_missing: int = 0
    authority_wrong: int = 0  # false issuers
    docnum: Ratio = field(default_factory=Ratio)
    docnum_false: int = 0
    attachments: Ratio = field(default_factory=Ratio)  # exact, of the pages that have any
    attachments_false: int = 0  # pages without attachments where some were found
    body: Ratio = field(default_factory=Ratio)
    list_link: Ratio = field(default_factory=Ratio)
    crashed: list[str] = field(default_factory=list)
    misses: list[Miss] = field(default_factory=list)

    def add(self, other: Tally) -> None:
        """Add another tally's counts into this one (for the total)."""
        for name, value in vars(other).items():
            mine = getattr(self, name)
            if isinstance(value, Ratio):
                mine.right += value.right
                mine.of += value.of
            elif isinstance(value, list):
                mine.extend(value)
            elif isinstance(value, int):
                setattr(self, name, mine + value)


def fold(text: str | None) -> str:
    """The comparison form for containment: NFKC with every whitespace character removed."""
    return "".join(unicodedata.normalize("NFKC", text or "").split())


def fold_body(text: str | None) -> str:
    """fold, and table-cell separators gone: a body's cells may be joined by "|" or by line breaks."""
    return fold(text).replace("|", "")


def fold_spaces(text: str | None) -> str:
    """Runs of whitespace (NBSP and U+3000 included) become one space; ends stripped."""
    return " ".join((text or "").split())


def page_id(entry: dict[str, Any]) -> str:
    return entry["file"] + (f"#{entry['record']}" if "record" in entry else "")


def page_url(entry: dict[str, Any]) -> str:
    """The page's own address, against which its relative links resolve."""
    return entry.get("url") or UNKNOWN_HOST + entry["file"]


def read_page(folder: Path, entry: dict[str, Any]) -> str:
    """A page's text as a crawl decodes it; a JSON dump's record is wrapped as tests/test_corpus.py serves it."""
    path = folder / entry["file"]
    if "record" in entry:
        html = json.loads(path.read_text(encoding="utf-8"))["records"][entry["record"]]["html"]
        return f"<html><head><meta charset='utf-8'></head><body>{html}</body></html>"
    return decode_html(path.read_bytes()).text


# ------------------------------------------------------------------------------------------------ scoring


def score_detail(tally: Tally, entry: dict[str, Any], got: Any) -> None:
    """Count one detail page's extracted fields (a DetailFields) against its hand-read entry."""
    page = page_id(entry)

    def miss(name: str, expected: Any, value: Any) -> None:
        tally.misses.append(Miss(page, name, expected, value))

    if "published" in entry and not tally.date.count(got.published == entry["published"]):
        miss("date", entry["published"], got.published)
    if "title" in entry and not tally.title.count(fold_spaces(got.title) == fold_spaces(entry["title"])):
        miss("title", entry["title"], got.title)
    _score_authority(tally, entry, got.authority, miss)
    _score_docnum(tally, entry, got.doc_number, miss)
    _score_attachments(tally, entry, got.attachments, miss)
    if "body_start" in entry:
        problem = body_problem(entry, got.text)
        if not tally.body.count(problem is None):
            miss("body", problem, _ends(got.text))


def _score_authority(tally: Tally, entry: dict[str, Any], authority: str | None, miss: Any) -> None:
    if not authority and entry.get("authority_label") == "site":
        authority = entry["authority"]  # the source's configured authority fills it
    expected, value = fold(entry.get("authority")), fold(authority)
    if not expected:
        if value:
            tally.authority_wrong += 1
            miss("authority (page names none)", None, authority)
        return
    if tally.authority.count(value == expected):
        return
    if not value:
        tally.authority_missing += 1
        miss("authority missing", entry["authority"], authority)
    elif value in expected or expected in value:
        tally.authority_partial += 1
        miss("authority partial", entry["authority"], authority)
    else:
        tally.authority_wrong += 1
        miss("authority WRONG", entry["authority"], authority)


def _score_docnum(tally: Tally, entry: dict[str, Any], doc_number: str | None, miss: Any) -> None:
    expected, value = fold(entry.get("doc_number")), fold(doc_number)
    if expected and tally.docnum.count(value == expected):
        return
    if value:
        tally.docnum_false += 1
        miss("文号 FALSE", entry.get("doc_number"), doc_number)
    elif expected:
        miss("文号 missing", entry["doc_number"], doc_number)


def _score_attachments(tally: Tally, entry: dict[str, Any], urls: list[str], miss: Any) -> None:
    expected = entry.get("attachments", 0)
    if not expected:
        if urls:
            tally.attachments_false += 1
            miss("attachments FALSE", [], urls)
        return
    if not tally.attachments.count(_attachments_match(expected, urls)):
        miss("attachments", expected, urls)


def _attachments_match(expected: int | list[str], urls: list[str]) -> bool:
    """The same files: as a set of absolute URLs, or in number where the page's address (so its URLs) is unknown."""
    if isinstance(expected, int):
        return len(urls) == expected
    return set(urls) == {clean_url(url) for url in expected}


def body_problem(entry: dict[str, Any], text: str) -> str | None:
    """Why the body is not clean at both ends (see the module docstring), or None when it is."""
    body = fold_body(text)
    start = fold_body(entry["body_start"])
    if start not in body[:START_WINDOW + len(start)]:
        return f"starts with something else than {entry['body_start']!r}"
    if entry.get("body_end"):
        end = fold_body(entry["body_end"])
        at = body.rfind(end)
        if at < 0:
            return f"{entry['body_end']!r} not found (end cut off or text differs)"
        if len(body) - (at + len(end)) > END_SLACK:
            return f"{len(body) - at - len(end)} characters follow {entry['body_end']!r}"
    if entry.get("body_contains") and fold_body(entry["body_contains"]) not in body:
        return f"{entry['body_contains']!r} is missing"
    raw = unicodedata.normalize("NFKC", text)
    for chrome in entry.get("not_in_body", []):
        if unicodedata.normalize("NFKC", chrome).strip() in raw:
            return f"contains {chrome!r}"
    return None


def _ends(text: str, width: int = 60) -> str:
    """The two ends of a body, for a miss line."""
    flat = fold_spaces(text)
    return flat if len(flat) <= 2 * width else f"{flat[:width]} … {flat[-width:]}"


_SCRIPT_RESIDUE = re.compile(r"""[\s'"()<>]|javascript:""", re.I)


def score_list(tally: Tally, entry: dict[str, Any], items: list[Any]) -> None:
    """Count one list page: is the first extracted item's link the expected first link, and is every link a URL?"""
    bogus = next((item.url for item in items if _SCRIPT_RESIDUE.search(item.url)), None)
    if bogus is not None:
        tally.list_link.count(False)
        tally.misses.append(Miss(page_id(entry), "list link not usable", "a URL", bogus))
        return
    first = items[0].url if items else None
    if not tally.list_link.count("unreachable" in entry or first == clean_url(entry["first_link"])):
        tally.misses.append(Miss(page_id(entry), "list first link", entry["first_link"], first))


# ------------------------------------------------------------------------------------------------ running


def measure(corpus: Corpus) -> Tally:
    """Extract every page of a corpus and count the results; a page that raises is counted, not fatal."""
    tally = Tally(corpus.name, unscored=corpus.unscored())
    for entry in corpus.details:
        tally.detail_pages += 1
        try:
            got = extract_detail(read_page(corpus.folder, entry), page_url(entry), rule=None,
                                 list_title=None, list_date=None)
        except Exception as error:  # a crash is one of the things measured
            _crashed(tally, entry, error)
            continue
        score_detail(tally, entry, got)
    for entry in corpus.lists:
        tally.list_pages += 1
        rule = ListRule(item=entry["item"], link=entry.get("link", "a::attr(href)"))  # link: JSON lists only
        refused = _refused(rule)
        if refused:
            tally.list_link.count(False)
            tally.misses.append(Miss(page_id(entry), "list item selector refused by config", entry["item"], refused))
            continue
        try:
            items = extract_list(read_page(corpus.folder, entry), page_url(entry), rule).items
        except Exception as error:
            _crashed(tally, entry, error)
            tally.list_link.count(False)
            continue
        score_list(tally, entry, items)
    return tally


def _refused(rule: ListRule) -> str | None:
    """Why loading a config would refuse this rule's selectors, as it does before any crawl; None if it would not."""
    try:
        config_module.compile_selectors({"item": rule.item, "link": rule.link}, "list", Path("expected values"))
    except config_module.ConfigError as error:
        return str(error)
    return None


def _crashed(tally: Tally, entry: dict[str, Any], error: Exception) -> None:
    tally.crashed.append(page_id(entry))
    tally.misses.append(Miss(page_id(entry), "CRASH", None, f"{type(error).__name__}: {error}"))


def merged(*tables: dict[str, Any]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The detail and list entries of several expected-value files; a later entry for a page replaces one before."""
    details: dict[str, dict[str, Any]] = {}
    lists: dict[str, dict[str, Any]] = {}
    for table in tables:
        for entry in table.get("detail", []):
            details[page_id(entry)] = entry
        for entry in table.get("list", []):
            lists[page_id(entry)] = entry
    return list(details.values()), list(lists.values())


def corpora(extra: list[Path] = ()) -> list[Corpus]:
    """The shared corpus and the new one (its expected.toml, if any, then each extra file)."""
    shared = Corpus("shared", CORPUS, *merged(CORPUS_EXPECTED), skip=frozenset(CORPUS_EXPECTED.get("walls", ())))
    tables = [tomllib.loads(path.read_text(encoding="utf-8")) for path in (NEW_EXPECTED, *extra) if path.is_file()]
    return [shared, Corpus("new", NEW_CORPUS, *merged(*tables))]


def total(tallies: list[Tally]) -> Tally:
    whole = Tally("total")
    for tally in tallies:
        whole.add(tally)
    return whole


def rows(tally: Tally) -> list[tuple[str, str]]:
    """The table's rows for one corpus: (field, result)."""
    return [
        ("detail pages / list pages", f"{tally.detail_pages} / {tally.list_pages}"),
        ("date", str(tally.date)),
        ("title", str(tally.title)),
        ("issuing authority right", str(tally.authority)),
        ("  partial", str(tally.authority_partial)),
        ("  missing", str(tally.authority_missing)),
        ("  wrong (false issuer)", str(tally.authority_wrong)),
        ("文号 found", str(tally.docnum)),
        ("  false 文号", str(tally.docnum_false)),
        ("attachments exact (pages with any)", str(tally.attachments)),
        ("  pages with false attachments", str(tally.attachments_false)),
        ("body clean at both ends", str(tally.body)),
        ("list first link usable", str(tally.list_link)),
        ("pages crashing", str(len(tally.crashed))),
        ("saved pages without hand-read values", str(len(tally.unscored))),
    ]


def render(tallies: list[Tally], verbose: bool = False) -> str:
    """The per-field table, one column per corpus and the total; with verbose, every miss after it."""
    columns = [*tallies, total(tallies)]
    table = [rows(tally) for tally in columns]
    names = [label for label, _ in table[0]]
    widths = [max(_width(label) for label in [*names, "field"])]
    widths += [max(_width(value) for value in [tally.name, *(v for _, v in column)])
               for tally, column in zip(columns, table, strict=True)]
    lines = [_line(["field", *(tally.name for tally in columns)], widths),
             _line(["-" * width for width in widths], widths)]
    for n, label in enumerate(names):
        lines.append(_line([label, *(column[n][1] for column in table)], widths))
    if verbose:
        for tally in tallies:
            lines.append(f"\nmisses in {tally.name} ({len(tally.misses)}):")
            lines.extend(f"  {m.page} | {m.field} | expected: {m.expected!r} | got: {m.got!r}" for m in tally.misses)
            if tally.unscored:
                lines.append(f"not scored in {tally.name} (no hand-read values): {', '.join(tally.unscored)}")
    return "\n".join(lines)


def _width(text: str) -> int:
    """Display width: CJK characters take two columns."""
    return sum(2 if unicodedata.east_asian_width(char) in "WF" else 1 for char in text)


def _line(cells: list[str], widths: list[int]) -> str:
    return " | ".join(cell + " " * (width - _width(cell)) for cell, width in zip(cells, widths, strict=True)).rstrip()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.extraction_report", description=__doc__.split("\n")[0])
    parser.add_argument("--expected", action="append", type=Path, default=[], metavar="FILE",
                        help="more hand-read values for pages of tests/fixtures/real/ (repeatable)")
    parser.add_argument("--verbose", action="store_true", help="list every miss: page, field, expected, got")
    args = parser.parse_args(argv)
    missing = [str(path) for path in args.expected if not path.is_file()]
    if missing:
        print(f"expected-values file not found: {', '.join(missing)}", file=sys.stderr)
    tallies = [measure(corpus) for corpus in corpora(args.expected)]
    print(render(tallies, args.verbose))
    return 0


if __name__ == "__main__":
    sys.exit(main())
