"""An editor's draft of one digest issue: a Markdown file whose YAML front matter lists the items.

``policywatch digest draft`` writes the automatic digest of a period as a draft; the editor reorders and drops
items, rewrites titles, summaries and change lines, picks the numbered summary list (``top``), adds items from
outside the crawled portals (no ``id``: title, link, date, source, summary), and writes an introduction and an
editor's note as the Markdown body's ``## 引言`` and ``## 编者按`` sections. The news items (行业动态, from news
sources) are a list of their own, ``news``, edited the same way. ``digest build --draft`` and ``digest
send --draft`` then render exactly that issue.

A draft is a file edited by hand, so it is read as hostile: it is checked whole on load, and the first problem
is one line naming the file, the item and the field (``draft.md: items[3].link: …``). Every crawled item carries
its document id, and ``known`` records the documents the automatic digest had when the draft was written, so a
send can tell which items arrived since (:func:`new_items`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import date, datetime
from typing import Any
from urllib.parse import urlsplit

import yaml

from policywatch.core.config import Config, DigestSpec
from policywatch.core.hanzi import simplified
from policywatch.core.store import Store
from policywatch.digest.build import Digest, Item, build_digest, converted, converter, group_sections, item_of
from policywatch.digest.period import Period, PeriodError, parse_period
from policywatch.digest.regions import document_region

MAX_BYTES = 2_000_000  # far beyond any issue's draft; a larger file is a mistake, not a digest
ITEM_KEYS = ("id", "title", "link", "date", "source", "summary", "change", "top")
TOP_KEYS = ("digest", "period", "known", "items", "more", "removed", "news")
INTRO, NOTE = "intro", "note"
# The body's section headings an editor may write, in either script or English.
SECTIONS = {"引言": INTRO, "导语": INTRO, "導語": INTRO, "introduction": INTRO,
            "编者按": NOTE, "編者按": NOTE, "editor's note": NOTE, "editor’s note": NOTE}
NOTE_HEADING = {"zh-Hans": "编者按", "zh-Hant": "編者按", "en": "Editor's note"}
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
_COMMENT = re.compile(r"<!--.*?-->", re.S)
_HEADING = re.compile(r"^##[ \t]+(.+?)[ \t#]*$", re.M)
_GUIDE = """\
# 本期草稿：可调整 items 的顺序、删除条目、改写 title / summary / change；top: false 的条目不列入摘要列表。
# 添加外部条目：写 title、link、date、source、summary（不写 id）。known 是写稿时已有的文档，请勿修改。
# This issue's draft: reorder or drop items, rewrite title / summary / change; items with top: false stay out of
# the numbered summary list. An outside item has title, link, date, source, summary and no id. Leave known as is.
# news 列出行业动态条目，写法同 items。news lists the 行业动态 items, written as items are.
"""
_BODY = """
<!-- 引言与编者按写在下面两个标题之下（Markdown），留空则不显示。 -->
## 引言

{intro}
## 编者按

{note}
"""


class DraftError(ValueError):
    """A draft that cannot be used as it is; the message is one line naming the file, item and field."""


@dataclass(frozen=True)
class DraftItem:
    """One item as drafted: a crawled document (``id``) with the editor's wording, or an outside item."""

    id: int | None
    title: str | None = None
    link: str | None = None
    day: date | None = None
    source: str | None = None
    summary: str | None = None
    change: str | None = None
    top: bool = True


@dataclass(frozen=True)
class Draft:
    digest: str
    period: str
    known: tuple[int, ...]  # the documents the automatic digest had when the draft was written
    items: tuple[DraftItem, ...]
    more: tuple[int, ...] = ()  # a busy period's documents listed by title only
    removed: tuple[int, ...] = ()
    intro: str = ""
    note: str = ""
    news: tuple[DraftItem, ...] = ()  # the 行业动态 section's items

    @property
    def ids(self) -> set[int]:
        """Every stored document the draft covers."""
        return ({i.id for i in (*self.items, *self.news) if i.id is not None} | set(self.more)
                | set(self.removed))


# -- writing ----------------------------------------------------------------------------------------------------


def draft_of(digest: Digest) -> Draft:
    """The automatic digest as a draft: every item written up in full, with its wording, at the top."""
    items, news = (tuple(_as_drafted(i) for i in listed) for listed in (digest.items, digest.news))
    known = sorted({i.document_id for i in (*digest.items, *digest.more, *digest.news)})
    return Draft(digest.spec.name, digest.period.key, tuple(known), items,
                 tuple(i.document_id for i in digest.more), tuple(i.document_id for i in digest.removed), news=news)


def _as_drafted(item: Item) -> DraftItem:
    return DraftItem(item.document_id, item.title, item.url, item.day, item.authority, item.summary, item.change)


def dump_draft(draft: Draft) -> str:
    """The draft's file text: YAML front matter between ``---`` lines, then the introduction and note."""
    lists = {key: list(getattr(draft, key)) for key in ("more", "removed") if getattr(draft, key)}
    front = "".join((
        _yaml({"digest": draft.digest, "period": draft.period, "known": list(draft.known)}, flow=None),
        _yaml({"items": [_item_data(i) for i in draft.items]}, flow=False),  # one field a line, as editors read
        _yaml(lists, flow=None) if lists else "",  # lists of ids on one line
        _yaml({"news": [_item_data(i) for i in draft.news]}, flow=False) if draft.news else "",
    ))
    body = _BODY.format(intro=f"{draft.intro}\n" if draft.intro else "", note=f"{draft.note}\n" if draft.note else "")
    return f"---\n{_GUIDE}{front}---\n{body}"


class _Dumper(yaml.SafeDumper):
    """YAML as an editor writes it: a value used twice (one date object for two items) is written out twice, never
    as an &anchor and *alias, which a draft may not hold (see _load_yaml)."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def _yaml(data: dict[str, Any], flow: bool | None) -> str:
    return yaml.dump(data, Dumper=_Dumper, allow_unicode=True, sort_keys=False, width=100_000,
                     default_flow_style=flow)


def _item_data(item: DraftItem) -> dict[str, Any]:
    data: dict[str, Any] = {} if item.id is None else {"id": item.id}
    data |= {"title": item.title, "link": item.link, "date": item.day, "source": item.source or "",
             "summary": item.summary or ""}
    if item.change:
        data["change"] = item.change
    return data | {"top": item.top}


# -- reading ----------------------------------------------------------------------------------------------------


def parse_draft(text: str, name: str = "draft") -> Draft:
    """The draft in ``text`` (read from the file ``name``), checked field by field; DraftError on the first
    problem. Nothing here needs state.db: :func:`check_draft` checks the draft against it."""
    if len(text.encode("utf-8", "surrogatepass")) > MAX_BYTES:
        raise DraftError(f"{name}: the file is over {MAX_BYTES // 1_000_000} MB; a draft lists one issue's items")
    lines = text.replace("\r\n", "\n").split("\n")
    if not lines or lines[0].strip() != "---":
        raise DraftError(f"{name}: a draft starts with a --- line, then its item list (YAML), then another ---")
    end = next((n for n, line in enumerate(lines[1:], 1) if line.strip() == "---"), None)
    if end is None:
        raise DraftError(f"{name}: the front matter has no closing --- line")
    front = _load_yaml("\n".join(lines[1:end]), name)
    intro, note = _body("\n".join(lines[end + 1:]), name)
    return _draft(front, name, intro, note)


def _load_yaml(text: str, name: str) -> Any:
    """Plain YAML data: no aliases (a few lines of them can expand to gigabytes) and no tags beyond YAML's own."""
    try:
        if any(isinstance(event, yaml.AliasEvent) for event in yaml.parse(text, Loader=yaml.SafeLoader)):
            raise DraftError(f"{name}: front matter: aliases (*name) are not allowed; write each value out")
        return yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" (front matter line {mark.line + 1})" if mark is not None else ""
        problem = getattr(e, "problem", None) or str(e)
        raise DraftError(f"{name}: front matter is not valid YAML: {' '.join(str(problem).split())}{where}") from None


def _draft(front: Any, name: str, intro: str, note: str) -> Draft:
    if not isinstance(front, dict):
        raise DraftError(f"{name}: front matter: expected a mapping of {', '.join(TOP_KEYS)}")
    for key in front:
        if key not in TOP_KEYS:
            raise DraftError(f"{name}: front matter: unknown key {_shown(key)} (expected {', '.join(TOP_KEYS)})")
    for key in ("digest", "period", "items"):
        if key not in front:
            raise DraftError(f"{name}: {key}: required key is missing")
    digest, period = (_line(front[k], f"{name}: {k}") for k in ("digest", "period"))
    if not isinstance(front["items"], list):
        raise DraftError(f"{name}: items: expected a list of items, got {_kind(front['items'])}")
    if not isinstance(front.get("news", []), list):
        raise DraftError(f"{name}: news: expected a list of items, got {_kind(front['news'])}")
    items = tuple(_draft_item(raw, f"{name}: items[{n}]") for n, raw in enumerate(front["items"], 1))
    news = tuple(_draft_item(raw, f"{name}: news[{n}]") for n, raw in enumerate(front.get("news", []), 1))
    seen: dict[int, str] = {}
    for where, item in [*((f"items[{n}]", i) for n, i in enumerate(items, 1)),
                        *((f"news[{n}]", i) for n, i in enumerate(news, 1))]:
        if item.id is not None and seen.setdefault(item.id, where) != where:
            raise DraftError(f"{name}: {where}.id: document {item.id} is already {seen[item.id]}")
    known, more, removed = (_ids(front.get(k, []), f"{name}: {k}") for k in ("known", "more", "removed"))
    return Draft(digest, period, known, items, more, removed, intro, note, news)


def _draft_item(raw: Any, where: str) -> DraftItem:
    if not isinstance(raw, dict):
        raise DraftError(f"{where}: expected a mapping (title, link, date, …), got {_kind(raw)}")
    for key in raw:
        if key not in ITEM_KEYS:
            raise DraftError(f"{where}: unknown key {_shown(key)} (expected {', '.join(ITEM_KEYS)})")
    doc = _id(raw["id"], f"{where}.id") if "id" in raw else None
    if doc is None:
        for key in ("title", "link", "date"):
            if raw.get(key) in (None, ""):
                raise DraftError(f"{where}.{key}: required for an item from outside the crawled portals (no id)")
        if raw.get("change"):
            raise DraftError(f"{where}.change: only a crawled item (with an id) has a change line")
    top = raw.get("top", True)
    if not isinstance(top, bool):
        raise DraftError(f"{where}.top: expected true or false, got {_kind(top)}")
    return DraftItem(
        id=doc,
        title=_line(raw["title"], f"{where}.title") if raw.get("title") is not None else None,
        link=_link(raw["link"], f"{where}.link") if raw.get("link") is not None else None,
        day=_day(raw["date"], f"{where}.date") if raw.get("date") is not None else None,
        source=_line(raw["source"], f"{where}.source", empty=True) if raw.get("source") is not None else None,
        summary=_prose(raw["summary"], f"{where}.summary") if "summary" in raw else None,
        change=_prose(raw["change"], f"{where}.change") if "change" in raw else None,
        top=top,
    )


def _body(text: str, name: str) -> tuple[str, str]:
    """The introduction and the editor's note from the Markdown body (HTML comments are the editor's own)."""
    text = _COMMENT.sub("", text)
    parts = _HEADING.split(text)
    if parts[0].strip():
        raise DraftError(f"{name}: body: text outside the ## 引言 and ## 编者按 sections: "
                         f"{_shown(parts[0].strip()[:40])}")
    found: dict[str, str] = {}
    for heading, content in zip(parts[1::2], parts[2::2], strict=True):
        section = SECTIONS.get(heading.strip().lower())
        if section is None:
            raise DraftError(f"{name}: body: unknown section {_shown('## ' + heading)} (expected ## 引言 or ## 编者按)")
        if section in found:
            raise DraftError(f"{name}: body: section {_shown('## ' + heading)} appears twice")
        found[section] = _prose(content, f"{name}: body: ## {heading}")
    return found.get(INTRO, ""), found.get(NOTE, "")


def _line(value: Any, where: str, empty: bool = False) -> str:
    """One line of text: no line breaks or control characters, not empty (unless ``empty``)."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        value = str(value)  # an unquoted period or number the editor meant as text
    if not isinstance(value, str):
        raise DraftError(f"{where}: expected text, got {_kind(value)}")
    text = value.strip()
    if "\n" in text or "\r" in text or _CONTROL.search(text):
        raise DraftError(f"{where}: must be one line of text without control characters")
    if not text and not empty:
        raise DraftError(f"{where}: must not be empty")
    if len(text) > 500:
        raise DraftError(f"{where}: {len(text)} characters; at most 500")
    return text


def _prose(value: Any, where: str) -> str:
    """A summary, change line or body section: text, line breaks allowed, no other control characters."""
    if value is None:
        return ""
    if not isinstance(value, str):
        raise DraftError(f"{where}: expected text, got {_kind(value)}")
    text = value.strip().replace("\r\n", "\n").replace("\t", " ")
    match = _CONTROL.search(text)
    if match:
        raise DraftError(f"{where}: control character {match.group()!a} in the text")
    return text


def _link(value: Any, where: str) -> str:
    url = _line(value, where)
    parts = urlsplit(url)
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc or any(c.isspace() for c in url):
        raise DraftError(f"{where}: {_shown(url)} is not an http(s) link")
    return url


def _day(value: Any, where: str) -> date:
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value.strip())
        except ValueError:
            pass
    raise DraftError(f"{where}: {_shown(value)} is not a date like 2023-12-05")


def _id(value: Any, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise DraftError(f"{where}: {_shown(value)} is not a document id (a whole number from state.db)")
    return value


def _ids(value: Any, where: str) -> tuple[int, ...]:
    if not isinstance(value, list):
        raise DraftError(f"{where}: expected a list of document ids, got {_kind(value)}")
    return tuple(_id(v, f"{where}[{n}]") for n, v in enumerate(value, 1))


def _kind(value: Any) -> str:
    names = {dict: "a mapping", list: "a list", str: "text", bool: "true/false", int: "a number",
             float: "a number", type(None): "nothing"}
    return names.get(type(value), type(value).__name__)


def _shown(value: Any) -> str:
    """A value from the file, quoted on one line."""
    text = value if isinstance(value, str) else repr(value)
    return repr(" ".join(text.split())[:80])


# -- checking against state.db and building the issue ---------------------------------------------------------


def check_draft(draft: Draft, name: str, spec: DigestSpec, period: Period, store: Store) -> dict[int, dict]:
    """That the draft is for this digest and period and names stored documents; returns those documents."""
    if draft.digest != spec.name:
        raise DraftError(f"{name}: digest: this draft is for {draft.digest!r}, not {spec.name!r}")
    try:
        drafted = parse_period(draft.period, spec.period).key
    except PeriodError as e:
        raise DraftError(f"{name}: period: {e}") from None
    if drafted != period.key:
        raise DraftError(f"{name}: period: this draft is for {drafted}, not {period.key}")
    documents = {}
    places = [(f"{key}[{n}].id", i.id) for key in ("items", "news") for n, i in enumerate(getattr(draft, key), 1)
              if i.id is not None]
    places += [(f"{key}[{n}]", doc) for key in ("more", "removed") for n, doc in enumerate(getattr(draft, key), 1)]
    for where, doc in places:
        row = documents.get(doc) or store.document(str(doc))
        if row is None:
            raise DraftError(f"{name}: {where}: document {doc} is not in state.db")
        documents[doc] = row
    return documents


def new_items(draft: Draft, automatic: Digest) -> list[Item]:
    """Items the automatic digest has now whose documents the draft neither knew of when written nor lists."""
    covered = set(draft.known) | draft.ids
    return [i for i in (*automatic.items, *automatic.more, *automatic.news) if i.document_id not in covered]


def with_new_items(draft: Draft, items: list[Item]) -> Draft:
    """The draft with ``items`` appended after the drafted ones (news items after the drafted news), as they are
    in the automatic digest."""
    known = tuple(sorted(set(draft.known) | {i.document_id for i in items}))
    return replace(draft, items=draft.items + tuple(_as_drafted(i) for i in items if not i.news),
                   news=draft.news + tuple(_as_drafted(i) for i in items if i.news), known=known)


def draft_digest(config: Config, store: Store, spec: DigestSpec, period: Period, draft: Draft,
                 documents: dict[int, dict], automatic: Digest | None = None) -> Digest:
    """The issue exactly as drafted: the drafted items and news items in their order with the draft's wording, the
    chosen summary list, the introduction and note. What the draft does not say of a crawled item (issuer,
    document number, reposts, region) comes from state.db."""
    automatic = automatic or build_digest(config, store, spec, period)
    convert = converter(spec.language)
    pool = {i.document_id: i for i in (*automatic.items, *automatic.more, *automatic.removed, *automatic.news)}

    def stored(doc: int, kind: str = "new") -> Item:
        if doc in pool:
            return pool[doc]
        row = documents[doc]  # a stored document the automatic digest of the period does not hold
        row = {**row, "group": row.get("group_id") or row["id"]}
        title, text = simplified(row["title"] or ""), simplified(row.get("text") or "")
        return converted(item_of(row, kind, title, text, config, config.zone), convert)

    def drafted(d: DraftItem, news: bool) -> Item:
        # The list an item is drafted in says whether it is news, wherever the automatic digest had it.
        item = _drafted(d, stored(d.id)) if d.id is not None else _outside(d)
        return item if item.news == news else replace(item, news=news)

    items = [drafted(d, False) for d in draft.items]
    news = [drafted(d, True) for d in draft.news]
    top = tuple(item for item, d in zip(items, draft.items, strict=True) if d.top)
    return replace(
        automatic, items=tuple(items), sections=group_sections(items, spec, convert), top=top, news=tuple(news),
        top_news=tuple(item for item, d in zip(news, draft.news, strict=True) if d.top),
        more=tuple(stored(doc) for doc in draft.more), removed=tuple(stored(doc, "removed") for doc in draft.removed),
        intro=draft.intro, note=draft.note, text=automatic.text | {"note": NOTE_HEADING[spec.language]},
    )


def _drafted(item: DraftItem, base: Item) -> Item:
    """A stored item with the editor's wording; a change line the editor rewrote loses its marked-up twin."""
    change = base.change if item.change is None else (item.change or None)
    return replace(
        base, title=item.title or base.title, url=item.link or base.url,
        published=base.published if item.day in (None, base.day) else item.day,
        authority=base.authority if item.source is None else item.source,
        summary=base.summary if item.summary is None else item.summary, change=change,
        change_marked=base.change_marked if change == base.change else None,
    )


def _outside(item: DraftItem) -> Item:
    """An item from outside the crawled portals: no document, its region read from its issuer and title."""
    authority, title = item.source or "", item.title or ""
    assert item.day is not None and item.link is not None  # checked on load
    return Item(document_id=0, kind="new", title=title, url=item.link, published=item.day, seen=item.day,
                authority=authority, doc_number=None, source="", group=0,
                region=document_region(None, simplified(authority), simplified(title), simplified(item.summary or "")),
                summary=item.summary or "")
