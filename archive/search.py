"""The index page's data: every change record with its document, as a script the page loads from disk.

The site has to filter and search with no server, opened from a file: URL, where a page cannot fetch() a JSON
file. So the data is a script that sets ``window.PW_DATA``, and site.js filters it in the page. Search is
substring matching on text folded the same way on both sides (NFKC, lower case, Traditional → Simplified through
the folding map shipped in the data), which suits Chinese, where words are not separated by spaces.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import tzinfo
from typing import Any

from policywatch.archive.facts import Facts
from policywatch.archive.pages import KIND_LABELS
from policywatch.core.config import Topic
from policywatch.core.hanzi import folding_map
from policywatch.core.localtime import local_day
from policywatch.digest.regions import region_label, region_order

KINDS = ("new", "changed", "restored", "removed")


def day_of(change: dict[str, Any], doc: dict[str, Any], zone: tzinfo) -> str:
    """The date an entry is filed under, as digests file it: a new policy's publish date (the day it was first seen
    when the page gives none), any later change's detection date; days in ``zone``, the config's time zone."""
    if change["kind"] == "new":
        return doc["published"] or local_day(doc["first_seen"], zone).isoformat()
    return local_day(change["detected_at"], zone).isoformat()


def index_entries(
    documents: dict[int, dict[str, Any]], changes: list[dict[str, Any]], zone: tzinfo
) -> list[tuple[str, dict[str, Any]]]:
    """(day filed under, change) of every change record the index lists, newest first."""
    entries = [(day_of(c, documents[c["document_id"]], zone), c) for c in changes if c["kind"] in KINDS]
    return sorted(entries, key=lambda e: (e[0], e[1]["id"]), reverse=True)


def index_script(
    documents: list[dict[str, Any]], facts: dict[int, Facts], entries: list[tuple[str, dict[str, Any]]],
    sources: dict[str, str], topics: Iterable[Topic],
) -> str:
    """``window.PW_DATA = {...};``: sources, regions, topics, kinds, documents, ``entries`` (see index_entries)
    and the folding map.

    Documents are lists, not objects, to keep the file small: [id, title, source, region, topic indexes,
    published, issuer, doc number, summary], the first four indexes into the lists beside them.
    """
    topics = list(topics)
    source_names = sorted({d["source"] for d in documents})
    regions = sorted({f.region for f in facts.values()}, key=lambda r: (region_order(r), r))
    source_at = {name: i for i, name in enumerate(source_names)}
    region_at = {name: i for i, name in enumerate(regions)}
    topic_at = {t.name: i for i, t in enumerate(topics)}
    doc_at, docs = {}, []
    for doc in documents:
        f = facts[doc["id"]]
        doc_at[doc["id"]] = len(docs)
        docs.append([doc["id"], doc["title"] or doc["url"], source_at[doc["source"]], region_at[f.region],
                     [topic_at[t] for t in f.topics if t in topic_at], doc["published"] or "",
                     doc["authority"] or "", doc["doc_number"] or "", f.summary])
    chars = {ch for d in docs for part in (d[1], d[6], d[7], d[8]) for ch in part if ch > "\u2e7f"}
    data = {
        "sources": [[name, sources.get(name, name)] for name in source_names],
        "regions": [[r, region_label(r, "zh-Hans")] for r in regions],
        "topics": [[t.name, t.title] for t in topics],
        "kinds": [[kind, KIND_LABELS[kind]] for kind in KINDS],
        "docs": docs,
        "entries": [[doc_at[c["document_id"]], KINDS.index(c["kind"]), day, c["fields"] or ""] for day, c in entries],
        "fold": dict(sorted(folding_map(chars).items())),
    }
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    # Safe even if pasted into an inline <script>: no "</script>" or "<!--" can survive as such.
    text = text.replace("<", "\\u003c").replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")
    return f"window.PW_DATA = {text};\n"
