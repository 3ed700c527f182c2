"""What the archive says about a document beyond what state.db holds: its region, topics and summary.

They are read off the latest text the way digests read them (digest.regions, digest.topics, digest.summary), so a
policy sits under the same region and topic on the site as in the newsletter. Working them out needs the text, so
each document's are kept between builds under a key of everything they depend on; a rebuild after a crawl reads
only the texts that changed.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from digest.regions import document_region
from digest.summary import summarise
from digest.topics import relevance, topic_terms
from policywatch.config import Config
from policywatch.hanzi import simplified

DEFAULT_MIN_SCORE = 2.0  # a topic no digest uses counts at the digests' default threshold


@dataclass(frozen=True)
class Facts:
    region: str
    topics: tuple[str, ...]  # topic names, in config order
    summary: str


def facts_key(config: Config, doc: dict[str, Any]) -> str:
    """A fingerprint of everything a document's facts depend on: its text, title, issuer, source and the topics."""
    parts = [doc["text_hash"], doc["title"], doc["authority"], doc["source"], config.region_of(doc["source"]),
             [(t.name, t.include, t.exclude, _min_score(config, t.name)) for t in config.topics]]
    return hashlib.blake2b(json.dumps(parts, ensure_ascii=False).encode(), digest_size=12).hexdigest()


def document_facts(config: Config, doc: dict[str, Any], text: str) -> Facts:
    """The region (configured, else read from the document), the topics it is relevant to, and a summary."""
    title, plain = simplified(doc["title"] or ""), simplified(text)
    region = document_region(config.region_of(doc["source"]), simplified(doc["authority"] or ""), title, plain)
    topics = tuple(t.name for t in config.topics if relevance(t, title, plain) >= _min_score(config, t.name))
    return Facts(region, topics, summarise(text, topic_terms(list(config.topics))))


def _min_score(config: Config, topic: str) -> float:
    """The lowest threshold any digest using ``topic`` applies: relevant here if relevant in one of them."""
    return min((d.min_score for d in config.digests if topic in d.topics), default=DEFAULT_MIN_SCORE)
