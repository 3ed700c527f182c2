"""Select, group and summarise one period's policies into a Digest, ready for any template.

A policy belongs to the period of its publish date (its first-seen date when the page gives none), so a digest
for a past month can be built at any time. A substantive change to an older policy belongs to the period in
which it was detected, as do removals. Periods, first-seen and detection dates are days in the configured
``timezone`` (state.db keeps UTC). Reposts of one policy collapse to one item that lists the others as
"also reported by". A busy period writes up its MAX_ITEMS most relevant items, as an editor would, and lists the
others by title with their links. Everything is worked out in Simplified Chinese and converted at the end for
zh-Hant. In the "by-region" layout the numbered summary list follows the sections, so its numbers run down
the digest as a reader scrolls it.

Items of news sources (``kind = "news"``: industry news, associations, media) are not policies: they follow the
policies as the 行业动态 section, each with a one-line summary, as a hand-edited roundup lists its 动态. News is
what such a source published in the period, so a later edit or removal of an article is not reported.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from datetime import date, tzinfo

from policywatch.core.config import Config, DigestSpec, Topic
from policywatch.core.hanzi import simplified, traditional
from policywatch.core.localtime import local_day
from policywatch.core.model import METADATA_TABLE
from policywatch.core.store import Store
from policywatch.detection.edits import sentence_edits
from policywatch.digest import labels
from policywatch.digest.issuers import display_issuer
from policywatch.digest.period import Period
from policywatch.digest.regions import NATIONAL, document_region, region_label, region_order
from policywatch.digest.summary import change_line, summarise
from policywatch.digest.topics import relevance, topic_terms

# Fields whose change is worth telling subscribers about; a moved publish date alone is not.
SUBSTANTIVE = ("text", "title", "doc_number", *METADATA_TABLE, "attachments", "attachment")
# Items written up in full (summary, change line, source): a hand-edited roundup has about ten a month. A busy
# period's other items are listed by title, date, issuer and link (``Digest.more``), so none goes missing.
MAX_ITEMS = 50
# News items written up with a one-line summary; a busy period's others are listed by title, date and source.
MAX_NEWS = 20
NEWS_SUMMARY_CHARS = 120
_SENTENCE = re.compile(r".+?(?:[。！？!?]|[.;](?:\s|$)|$)")  # a summary's sentences, each with what ends it


@dataclass(frozen=True)
class Also:
    """Another portal's copy of an item's policy."""

    title: str
    url: str
    authority: str


@dataclass(frozen=True)
class Item:
    document_id: int
    kind: str  # "new", "changed" (including restored) or "removed"
    title: str
    url: str
    published: date | None
    seen: date  # first seen (new items) or detected (changes), in the config's zone: used when ``published`` is None
    authority: str
    doc_number: str | None
    source: str
    group: int  # the duplicate group: the id of the copy seen first
    region: str
    summary: str
    change: str | None = None  # one line on what changed, for changed items
    change_marked: str | None = None  # the same line as HTML, the changed words in <del>/<ins>
    also: tuple[Also, ...] = ()
    score: float = 0.0
    news: bool = False  # from a news source (kind = "news"): listed under 行业动态, not among the policies

    @property
    def day(self) -> date:
        return self.published or self.seen


@dataclass(frozen=True)
class Section:
    heading: str | None  # a region's name in "by-region"; None for the one section of "list"
    items: tuple[Item, ...]


@dataclass(frozen=True)
class Digest:
    spec: DigestSpec
    period: Period
    title: str
    issued: date  # the day after the period: when a hand-edited roundup would appear
    topics: tuple[str, ...]  # the topics' titles
    items: tuple[Item, ...]  # new and changed, in the sections' order: the numbered summary list
    sections: tuple[Section, ...]
    removed: tuple[Item, ...]
    text: dict[str, str]  # the labels of the digest's language (see policywatch.digest.labels)
    more: tuple[Item, ...] = ()  # a busy period's items beyond MAX_ITEMS, in publish-date order: listed by title
    timezone: str = "Asia/Shanghai"  # the config's zone: the period's days, and every "seen" date, are its days
    news: tuple[Item, ...] = ()  # the news sources' items, in publish-date order: the 行业动态 section
    # An editor's draft (policywatch.digest.draft): the introduction and editor's note (Markdown), and the items and
    # news items picked for the numbered summary list (None: all of ``items``, all of ``news``).
    intro: str = ""
    note: str = ""
    top: tuple[Item, ...] | None = None
    top_news: tuple[Item, ...] | None = None

    @property
    def top_list(self) -> tuple[Item, ...]:
        """The numbered summary list at the head of the digest."""
        return self.items if self.top is None else self.top

    @property
    def news_list(self) -> tuple[Item, ...]:
        """The news items the numbered summary list goes on with, after ``top_list``."""
        return self.news if self.top_news is None else self.top_news


def build_digest(config: Config, store: Store, spec: DigestSpec, period: Period) -> Digest:
    """The digest ``spec`` for ``period`` from what ``store`` holds; the same inputs give the same digest.

    The period's days are days in the config's ``timezone``: a change stored at 2023-11-30T17:30Z was detected on
    1 December in Asia/Shanghai, and is December's.
    """
    topics = [config.topic(name) for name in spec.topics]
    terms = topic_terms(topics)
    zone = config.zone
    since, until = period.utc_bounds(zone)
    published = store.documents_published(period.start.isoformat(), period.end.isoformat(), since, until)
    changed, removed = _changes(store.changes_detected(since, until), period.start, zone)
    changed = {doc: row for doc, row in changed.items() if config.kind_of(row["source"]) != "news"}
    removed = [row for row in removed if config.kind_of(row["source"]) != "news"]
    rows = {row["id"]: (row, kind) for kind, found in (("new", published), ("changed", changed.values()))
            for row in found}
    texts = _Texts(store)
    texts.load([*(row["text_hash"] for row, _ in rows.values()), *(row["text_hash"] for row in removed)])
    candidates: list[Item] = []
    for row, kind in rows.values():
        title, text = simplified(row["title"] or ""), texts.get(row["text_hash"])
        score = max(relevance(topic, title, text) for topic in topics)
        if score < spec.min_score:
            continue
        item = item_of(row, kind, title, text, config, zone, score)
        if not spec.regions or _in_regions(item.region, spec.regions):
            candidates.append(item)
    collapsed = _collapse(candidates)
    featured, more = _featured([i for i in collapsed if not i.news], MAX_ITEMS)
    news = _news([i for i in collapsed if i.news], texts, rows, terms)
    lines = _change_lines(store, texts, [rows[i.document_id][0] for i in featured if i.kind == "changed"],
                          spec.language)
    featured = [replace(i, summary=summarise(texts.get(rows[i.document_id][0]["text_hash"]), terms, title=i.title),
                        change=lines[i.document_id][0] if i.document_id in lines else None,
                        change_marked=lines[i.document_id][1] if i.document_id in lines else None)
                for i in featured]
    gone = _removed(removed, texts, topics, spec, config, zone)
    convert = converter(spec.language)
    items = [converted(i, convert) for i in sorted(featured, key=_order)]
    sections = group_sections(items, spec, convert)
    return Digest(
        spec=spec, period=period, title=labels.title(spec.language, period), issued=period.end,
        topics=tuple(convert(t.title) for t in topics), items=tuple(i for s in sections for i in s.items),
        sections=sections,
        removed=tuple(converted(g, convert) for g in sorted(gone, key=_order)),
        text=labels.for_language(spec.language), more=tuple(converted(i, convert) for i in sorted(more, key=_order)),
        news=tuple(converted(i, convert) for i in sorted(news, key=_order)),
        timezone=config.timezone,
    )


def _removed(
    rows: list[dict], texts: _Texts, topics: list[Topic], spec: DigestSpec, config: Config, zone: tzinfo,
) -> list[Item]:
    """The removed policies a subscriber of this digest would have been sent: on its topics (judged on their last
    text, as new and changed items are) and in its regions."""
    gone = []
    for row in rows:
        title, text = simplified(row["title"] or ""), texts.get(row["text_hash"])
        if max(relevance(topic, title, text) for topic in topics) < spec.min_score:
            continue
        item = item_of(row, "removed", title, text, config, zone)
        if not spec.regions or _in_regions(item.region, spec.regions):
            gone.append(item)
    return gone


def _featured(items: list[Item], limit: int) -> tuple[list[Item], list[Item]]:
    """The items written up in full and the rest: all of them, unless there are more than ``limit``.

    Then the most relevant are written up, as an editor would pick them: the highest score, then the most
    reposted, then new policies before updates of older ones, then the earliest. The others stay in the digest,
    listed by title.
    """
    if len(items) <= limit:
        return items, []
    ranked = sorted(items, key=lambda i: (-i.score, -len(i.also), i.kind != "new", _order(i)))
    return ranked[:limit], ranked[limit:]


def _news(items: list[Item], texts: _Texts, rows: dict[int, tuple[dict, str]], terms: tuple[str, ...]) -> list[Item]:
    """The news items, the MAX_NEWS most relevant with their one-line summary, the others without one."""
    summed, rest = _featured(items, MAX_NEWS)
    return [replace(i, summary=_news_summary(texts.get(rows[i.document_id][0]["text_hash"]), terms, i.title))
            for i in summed] + rest


def _news_summary(text: str, terms: tuple[str, ...], title: str) -> str:
    """What the article reports within NEWS_SUMMARY_CHARS: a 动态 entry is read at a glance. The summary chosen
    for that budget, when it keeps the opening of the summary a policy would get; else that summary's first
    sentences that fit (its opening at least): a news sentence often runs past the budget on its own, and a
    short summary without it would keep a side remark and lose the news."""
    full = summarise(text, terms, title=title)
    pieces = _SENTENCE.findall(full)
    short = summarise(text, terms, NEWS_SUMMARY_CHARS, title=title)
    if pieces and short.startswith(pieces[0].strip()) and len(short) <= NEWS_SUMMARY_CHARS:
        return short
    kept = ""
    for piece in pieces:
        if kept and len(kept) + len(piece) > NEWS_SUMMARY_CHARS:
            break
        kept += piece
    return kept.strip()


class _Texts:
    """Stored texts in Simplified characters, read from ``store`` a batch at a time and converted once each."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.simplified: dict[str, str] = {}

    def load(self, hashes: Iterable[str | None]) -> None:
        wanted = {h for h in hashes if h and h not in self.simplified}
        self.simplified |= {h: simplified(text) for h, text in self.store.texts(wanted).items()}

    def get(self, text_hash: str | None) -> str:
        return self.simplified.get(text_hash or "", "")


def _changes(rows: list[dict], start: date, zone: tzinfo) -> tuple[dict[int, dict], list[dict]]:
    """Per document, its substantive changes in the period merged into one; and the removals.

    A document published within the period (or first seen in it, in ``zone``, when its page gives no date) is
    already a new item, whatever happened to it since.
    """
    changed: dict[int, dict] = {}
    removed = {}
    for row in rows:
        doc = row["id"]
        if row["kind"] == "removed":
            removed[doc] = row
            continue
        removed.pop(doc, None)  # restored within the period: not gone after all
        fields = [f for f in (row["fields"] or "").split(",") if f in SUBSTANTIVE]
        if not fields or _filed_day(row, zone) >= start:
            continue
        merged = changed.setdefault(doc, dict(row, fields=[], first_from=row["from_version"]))
        merged["fields"] += [f for f in fields if f not in merged["fields"]]
        merged["last_to"] = row["to_version"] or merged.get("last_to")
        merged["detected_at"] = row["detected_at"]
    return changed, list(removed.values())


def _filed_day(row: dict, zone: tzinfo) -> date:
    """The day a document is filed under as a new policy: its publish date, else the day (in ``zone``) it was
    first seen."""
    return date.fromisoformat(row["published"]) if row["published"] else local_day(row["first_seen"], zone)


def item_of(row: dict, kind: str, title: str, text: str, config: Config, zone: tzinfo, score: float = 0.0) -> Item:
    """The item of one row, without its summary and change line (only items written up in full get those)."""
    authority = simplified(row["authority"] or "")
    region = document_region(config.region_of(row["source"]), authority, title, text)
    authority = display_issuer(authority, row["url"], config.authority_of(row["source"]))
    seen = row["detected_at"] if kind != "new" and "detected_at" in row else row["first_seen"]
    return Item(
        document_id=row["id"], kind=kind, title=title, url=row["url"],
        published=date.fromisoformat(row["published"]) if row["published"] else None,
        seen=local_day(seen, zone), authority=authority, doc_number=row["doc_number"] or None,
        source=row["source"], group=row["group"], region=region, summary="", score=score,
        news=config.kind_of(row["source"]) == "news",
    )


def _change_lines(store: Store, texts: _Texts, rows: list[dict], language: str) -> dict[int, tuple[str, str]]:
    """Per document, the line on what changed, as text and as HTML: the parts, and each edited sentence in context
    when the text changed.

    The texts at both ends of every changed text are read in one go rather than document by document.
    """
    ends = {row["id"]: (row["first_from"], row["last_to"]) for row in rows
            if "text" in row["fields"] and row["first_from"] and row.get("last_to")}
    hashes = store.version_hashes(v for pair in ends.values() for v in pair)
    texts.load(hashes.values())
    lines = {}
    for row in rows:
        edits = None
        if row["id"] in ends:
            old, new = (texts.get(hashes.get(v, "")) for v in ends[row["id"]])
            edits = sentence_edits(old, new)
        lines[row["id"]] = (change_line(row["fields"], edits, language),
                            change_line(row["fields"], edits, language, marked=True))
    return lines


def _in_regions(region: str, wanted: tuple[str, ...]) -> bool:
    """Whether a region is one of the digest's; "上海" matches 上海市, and 国家 matches the national level."""
    return any(region == w or region.startswith(w) or (w in ("国家", "national") and region == NATIONAL)
               for w in wanted)


def _order(item: Item) -> tuple:
    """Publish date, then title: the same order however the crawl happened to reach the pages."""
    return (item.day, item.title, item.document_id)


def _collapse(items: list[Item]) -> list[Item]:
    """One item per duplicate group: the earliest published copy (the original, not a repost), the others
    listed as "also reported by"; on a tie, the group's primary (the copy seen first). A policy copy comes before
    any news source's: a policy that the news reported is still a policy."""
    groups: dict[int, list[Item]] = {}
    for item in items:
        groups.setdefault(item.group, []).append(item)
    collapsed = []
    for group, members in groups.items():
        members.sort(key=lambda m: (m.news, m.day, m.document_id != group, m.document_id))
        primary, others = members[0], members[1:]
        if others:
            primary = replace(primary, also=tuple(Also(m.title, m.url, m.authority) for m in others))
        collapsed.append(primary)
    return collapsed


def group_sections(items: list[Item], spec: DigestSpec, convert: Callable[[str], str]) -> tuple[Section, ...]:
    """The digest's sections: one for the "list" layout, one per region in region order for "by-region". An
    editor's draft (policywatch.digest.draft) groups its items with this too, so a drafted issue is laid out as the
    automatic one."""
    if spec.layout == "list":
        return (Section(None, tuple(items)),)
    by_region: dict[str, list[Item]] = {}
    for item in items:
        by_region.setdefault(item.region, []).append(item)
    return tuple(
        Section(convert(region_label(region, spec.language)), tuple(by_region[region]))
        for region in sorted(by_region, key=lambda r: (region_order(r), r))
    )


def converter(language: str) -> Callable[[str], str]:
    """What turns the Simplified text a digest is worked out in into its language's script."""
    return traditional if language == "zh-Hant" else _same


def _same(text: str) -> str:
    return text


def converted(item: Item, convert: Callable[[str], str]) -> Item:
    if convert is _same:  # thousands of items in a busy period: skip copying each one unchanged
        return item
    return replace(
        item, title=convert(item.title), authority=convert(item.authority), summary=convert(item.summary),
        doc_number=convert(item.doc_number) if item.doc_number else None,
        change=convert(item.change) if item.change else None,
        change_marked=convert(item.change_marked) if item.change_marked else None,
        also=tuple(Also(convert(a.title), a.url, convert(a.authority)) for a in item.also),
    )
