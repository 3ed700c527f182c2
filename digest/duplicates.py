"""Find the same policy published by several portals: equal normalised titles or near-identical text.

A national notice is routinely reposted by provinces and cities, with their
own page furniture around the same text. Text similarity is estimated with
MinHash over character 5-grams of the normalised text; locality-sensitive
banding lets state.db look up only the documents that can possibly match, so
grouping stays cheap however many documents are stored.
"""

from __future__ import annotations

import hashlib
import re
import zlib

import numpy as np

from policywatch.model import Candidate, Likeness
from policywatch.normalize import normalise

SHINGLE = 5
BANDS, ROWS = 16, 4  # 64 hash functions; a pair at 0.8 similarity shares a band with p > 0.99
MIN_TITLE_KEY = 8  # shorter titles ("通知", "公告") say nothing about identity
_PRIME = (1 << 61) - 1
_rng = np.random.default_rng(20231205)  # fixed: signatures must stay comparable across runs
_A = _rng.integers(1, 1 << 32, BANDS * ROWS, dtype=np.uint64)
_B = _rng.integers(0, 1 << 32, BANDS * ROWS, dtype=np.uint64)
_NOT_TITLE = re.compile(r"[\W_]+")


def title_key(title: str | None) -> str | None:
    """The comparison form of a title: normalised, without spaces or punctuation."""
    key = _NOT_TITLE.sub("", normalise(title or ""))
    return key if len(key) >= MIN_TITLE_KEY else None


def likeness(title: str | None, text: str) -> Likeness:
    norm = normalise(text)
    shingles = {norm[i : i + SHINGLE] for i in range(max(len(norm) - SHINGLE + 1, 1))}
    hashes = np.fromiter((zlib.crc32(s.encode("utf-8")) for s in shingles), dtype=np.uint64,
                         count=len(shingles))
    signature = ((np.outer(hashes, _A) + _B) % _PRIME).min(axis=0).astype(np.uint32)
    bands = tuple(
        int.from_bytes(hashlib.blake2b(signature[i * ROWS : (i + 1) * ROWS].tobytes() + bytes([i]),
                                       digest_size=7).digest())
        for i in range(BANDS)
    )
    return Likeness(title_key(title), signature.tobytes(), bands, len(shingles))


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
