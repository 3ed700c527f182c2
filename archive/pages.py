"""What one document's archive page shows: its metadata, its timeline, and every version pair's diffs.

Diffs are computed here, from the stored texts, and rendered by policywatch.detection.diff (which escapes every piece of
scraped text); the template places them as they are. A version pair shows what its metadata changed, an inline
word-level diff with long unchanged runs shortened, and a side-by-side table with far-off unchanged lines folded away.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from itertools import pairwise
from typing import Any

from policywatch.detection.diff import context, diff, to_html, to_html_side_by_side
from policywatch.detection.edits import describe, sentence_edits
from policywatch.digest.summary import FIELD_NAMES

LABELS = FIELD_NAMES["zh"]
KIND_LABELS = {"new": "新增", "changed": "更新", "removed": "下线", "restored": "恢复"}
METADATA = ("title", "published", "authority", "doc_number", "index_number", "written", "subject", "attachments")
INLINE_CONTEXT = 120  # characters of unchanged text kept on each side of a change in the inline diff
SIDE_CONTEXT = 3  # unchanged lines kept above and below a change in the side-by-side table
FOLD = "{n} 行未变"
EDITS_SHOWN = 10  # edited sentences told above a version's diff (a digest tells 3)


@dataclass(frozen=True)
class TextDiff:
    added: int
    removed: int
    inline: str  # HTML, escaped by policywatch.detection.diff
    side_by_side: str  # HTML table
    # HTML: each edited sentence in context, as digests and `changes` tell it (policywatch.detection.edits)
    edits: str = ""


@dataclass(frozen=True)
class Step:
    """One version pair: what changed from version ``number - 1`` to version ``number``."""

    number: int
    created_at: str
    fields: tuple[str, ...]  # labels of the changed parts
    metadata: tuple[tuple[str, str, str], ...]  # (label, before, after)
    text: TextDiff | None


@dataclass(frozen=True)
class Event:
    """One line of the timeline: a change record, linked to the version it made, if any."""

    when: str
    kind: str  # label: 新增, 更新, 下线, 恢复
    detail: str
    version: int | None


@dataclass(frozen=True)
class AttachmentView:
    url: str
    name: str
    downloaded: bool  # False: the page links it, but no download of it is stored
    kind: str | None = None
    size: int | None = None
    error: str | None = None
    diffs: tuple[tuple[str, TextDiff], ...] = field(default=())  # (detected at, diff), oldest first


def text_diff(old: str, new: str) -> TextDiff:
    """Inline and side-by-side renderings of one word-level diff, and its edited sentences in context."""
    d = diff(old, new)
    return TextDiff(d.added, d.removed, to_html(context(d, INLINE_CONTEXT)),
                    to_html_side_by_side(d, keep=SIDE_CONTEXT, fold=FOLD),
                    describe(sentence_edits(old, new), "zh", marked=True, limit=EDITS_SHOWN))


def steps(versions: list[dict[str, Any]], texts: dict[str, str]) -> list[Step]:
    """Every consecutive version pair of a document, oldest first."""
    out = []
    for number, (old, new) in enumerate(pairwise(versions), start=2):
        metadata = tuple((LABELS[f], _shown(f, old[f]), _shown(f, new[f])) for f in METADATA if old[f] != new[f])
        changed_text = old["text_hash"] != new["text_hash"]
        fields = ((LABELS["text"],) if changed_text else ()) + tuple(label for label, _, _ in metadata)
        text = text_diff(texts.get(old["text_hash"], ""), texts.get(new["text_hash"], "")) if changed_text else None
        out.append(Step(number, new["created_at"], fields, metadata, text))
    return out


def timeline(versions: list[dict[str, Any]], changes: list[dict[str, Any]]) -> list[Event]:
    """The document's change records, oldest first, each naming the version it made; a version no record names
    (stored before change records were kept) gets a line of its own."""
    number = {v["id"]: i for i, v in enumerate(versions, start=1)}
    events, named = [], set()
    for change in changes:
        version = number.get(change["to_version"]) if change["kind"] in ("new", "changed") else None
        named.add(version)
        if change["attachment_url"]:
            detail = f"{LABELS['attachment']}：{_file_name(change['attachment_url'])}"
        else:
            detail = "、".join(LABELS.get(f, f) for f in (change["fields"] or "").split(",") if f)
        events.append(Event(change["detected_at"], KIND_LABELS.get(change["kind"], change["kind"]), detail,
                            None if change["attachment_url"] else version))
    events += [Event(v["created_at"], KIND_LABELS["changed"], "", i) for i, v in enumerate(versions, start=1)
               if i not in named]
    return sorted(events, key=lambda e: e.when)


def attachment_views(
    linked: list[str], attachments: list[dict[str, Any]], changes: list[dict[str, Any]], texts: dict[str, str]
) -> list[AttachmentView]:
    """The document's downloaded attachments, each with a diff per change of its text, then the files its page
    links (``linked``) that were not downloaded."""
    views = []
    for a in attachments:
        diffs = tuple((c["detected_at"], text_diff(texts.get(c["from_text"] or "", ""), texts.get(c["to_text"], "")))
                      for c in changes if c["attachment_url"] == a["url"] and c["to_text"])
        views.append(AttachmentView(a["url"], _file_name(a["url"]), True, a["kind"], a["size"], a["error"], diffs))
    downloaded = {a["url"] for a in attachments}
    return views + [AttachmentView(url, _file_name(url), False) for url in linked if url not in downloaded]


def wanted_texts(doc: dict[str, Any], versions: list[dict[str, Any]], changes: list[dict[str, Any]]) -> set[str]:
    """The stored texts a document's page needs: every version's and both sides of every attachment change."""
    hashes = {v["text_hash"] for v in versions} | {doc["text_hash"]}
    hashes |= {h for c in changes if c["attachment_url"] for h in (c["from_text"], c["to_text"])}
    return {h for h in hashes if h}


def _shown(name: str, value: str | None) -> str:
    """A metadata value as a reader wants it: an attachment list as file names, nothing as a dash."""
    if name == "attachments":
        return "、".join(_file_name(url) for url in json.loads(value or "[]")) or "—"
    return value or "—"


def _file_name(url: str) -> str:
    return url.rstrip("/").rsplit("/", 1)[-1] or url
