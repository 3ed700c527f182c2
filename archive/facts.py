"""What the archive says about a document beyond what state.db holds: its region, topics and summary.

They are read off the latest text the way digests read them (policywatch.digest.regions, policywatch.digest.topics,
policywatch.digest.summary), so a policy sits under the same region and topic on the site as in the newsletter. Working
them out needs the text, so each document's are kept between builds under a key of everything they depend on; a rebuild
after a crawl reads only the texts that changed.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from policywatch.core.config import Config
from policywatch.core.hanzi import simplified
from policywatch.digest.regions import document_region
from policywatch.digest.summary import summarise
from policywatch.digest.topics import relevance, topic_terms

DEFAULT_MIN_SCORE = 2.0  # a topic no digest uses counts at the digests' default threshold


@dataclass(frozen=True)
class Facts:
    region: str
    topics: tuple[str, ...]  # topic names, in config order
    summary: str


class FactFinder:
    """Facts and their keys for one config; what the topics contribute is worked out once, not per document."""

    def __init__(self, config: Config) -> None:
        self.config = config
        # The lowest threshold any digest using a topic applies: relevant here if relevant in one of them.
        self.thresholds = {t.name: min((d.min_score for d in config.digests if t.name in d.topics),
                                       default=DEFAULT_MIN_SCORE) for t in config.topics}
        self.terms = topic_terms(list(config.topics))
        self.topics_key = json.dumps([(t.name, t.title, t.include, t.exclude, self.thresholds[t.name])
                                      for t in config.topics], ensure_ascii=False)

    def key(self, doc: dict[str, Any]) -> str:
        """A fingerprint of everything a document's facts (and their labels) depend on: its text, title, issuer,
        source and region, and the topics."""
        parts = [doc["text_hash"], doc["title"], doc["authority"], doc["source"],
                 self.config.region_of(doc["source"]), self.topics_key]
        return hashlib.blake2b(json.dumps(parts, ensure_ascii=False).encode(), digest_size=12).hexdigest()

    def facts(self, doc: dict[str, Any], text: str) -> Facts:
        """The region (configured, else read from the document), the topics it is relevant to, and a summary."""
        title, plain = simplified(doc["title"] or ""), simplified(text)
        region = document_region(self.config.region_of(doc["source"]), simplified(doc["authority"] or ""), title,
                                 plain)
        topics = tuple(t.name for t in self.config.topics if relevance(t, title, plain) >= self.thresholds[t.name])
        return Facts(region, topics, summarise(text, self.terms, title=doc["title"] or ""))
