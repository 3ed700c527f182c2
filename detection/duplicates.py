"""Find the same policy published by several portals: equal normalised titles or near-identical text.

A national notice is routinely reposted by provinces and cities, with their
own page furniture around the same text. Each document's MinHash signature, bands and title key
(``policywatch.core.minhash``) are compared here; the bands let state.db look up only the documents that can
possibly match, so grouping stays cheap however many documents are stored.
"""

from __future__ import annotations

import numpy as np

from policywatch.core.model import Candidate, Likeness


def similarity(a: bytes, b: bytes) -> float:
    """Estimated Jaccard similarity of two documents' shingle sets."""
    return float(np.mean(np.frombuffer(a, dtype=np.uint32) == np.frombuffer(b, dtype=np.uint32)))


def containment(a: Likeness | Candidate, b: Likeness | Candidate) -> float:
    """Estimated share of the shorter text's shingles found in the other.

    A repost wraps the original in a salutation and a closing line, which
    dilutes Jaccard similarity on short notices; containment stays high.
    """
    jaccard = similarity(a.signature, b.signature)
    common = jaccard * (a.size + b.size) / (1 + jaccard)
    return min(common / max(min(a.size, b.size), 1), 1.0)


def choose_group(mine: Likeness, candidates: list[Candidate], threshold: float) -> int | None:
    """The group a document joins: a same-title document's, else the most contained text's, if any."""
    for candidate in candidates:
        if mine.title_key and candidate.title_key == mine.title_key:
            return candidate.group_id
    scored = [(containment(mine, c), c.group_id) for c in candidates]
    best = max(scored, default=(0.0, None))
    return best[1] if best[0] >= threshold else None
