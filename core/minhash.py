"""A document's MinHash signature, LSH bands and title key: what duplicate grouping compares, and what state.db
keeps per document.

Text similarity is estimated with one-permutation MinHash over character 5-grams of the normalised text;
locality-sensitive banding lets state.db look up only the documents that can possibly match. The kernel holds this
(rather than ``policywatch.detection.duplicates``, which groups documents by it) because a store migration
recomputes every stored signature when the hashing changes.
"""

from __future__ import annotations

import hashlib
import re

import numpy as np

from policywatch.core.model import Likeness
from policywatch.core.normalize import normalise

SHINGLE = 5
BANDS, ROWS = 16, 4  # 64 signature values; a pair at 0.8 similarity shares a band with p > 0.99
BINS = BANDS * ROWS
MIN_TITLE_KEY = 8  # shorter titles ("通知", "公告") say nothing about identity
# A shingle's hash is a polynomial in its code points, finished with MurmurHash3's 64-bit mixer (all wrapping
# uint64), so every shingle of a text is hashed at once with array arithmetic. The constants are fixed:
# signatures must stay comparable across runs.
_POWERS = np.uint64(0x9E3779B97F4A7C15) ** np.arange(SHINGLE - 1, -1, -1, dtype=np.uint64)
_MIX = (np.uint64(0xFF51AFD7ED558CCD), np.uint64(0xC4CEB9FE1A85EC53))
_BIN_SHIFT = np.uint64(64 - BINS.bit_length() + 1)  # the top 6 bits choose a bin
_VALUE_SHIFT = _BIN_SHIFT - np.uint64(32)  # the 32 bits below them are the bin's value
_BIN_NUMBERS = np.arange(BINS, dtype=np.uint64)
_EMPTY_STEP = 0x9E3779B1  # what an empty bin adds per bin it borrows across (see _densify)
_NOT_TITLE = re.compile(r"[\W_]+")


def title_key(title: str | None) -> str | None:
    """The comparison form of a title: normalised, without spaces or punctuation."""
    key = _NOT_TITLE.sub("", normalise(title or ""))
    return key if len(key) >= MIN_TITLE_KEY else None


def shingle_hashes(norm: str) -> np.ndarray:
    """The 64-bit hashes of a normalised text's character 5-grams (the whole text if shorter), sorted."""
    points = np.frombuffer(norm.encode("utf-32-le"), dtype=np.uint32).astype(np.uint64)
    if len(points) < SHINGLE:
        points = np.concatenate([points, np.zeros(SHINGLE - len(points), dtype=np.uint64)])
    count = len(points) - SHINGLE + 1
    with np.errstate(over="ignore"):
        h = sum(points[k : k + count] * _POWERS[k] for k in range(SHINGLE))
        for multiplier in _MIX:
            h ^= h >> np.uint64(33)
            h *= multiplier
        h ^= h >> np.uint64(33)
    h.sort()
    return h


def signature_of(hashes: np.ndarray) -> np.ndarray:
    """One-permutation MinHash: the smallest hash in each of 64 bins (by top bits), as uint32.

    One pass over the sorted hashes instead of 64 hash functions over every shingle; two texts agree in a
    bin with probability equal to their Jaccard similarity, as with classic MinHash.
    """
    bins = hashes >> _BIN_SHIFT
    first = np.searchsorted(bins, _BIN_NUMBERS)
    filled = first < len(hashes)
    filled[filled] = bins[first[filled]] == _BIN_NUMBERS[filled]
    values = np.zeros(BINS, dtype=np.uint64)
    values[filled] = (hashes[first[filled]] >> _VALUE_SHIFT) & np.uint64(0xFFFFFFFF)
    return _densify(values, filled)


def _densify(values: np.ndarray, filled: np.ndarray) -> np.ndarray:
    """Empty bins (short texts) borrow the next filled bin's value, shifted by how far they borrowed, so two
    texts' empty bins agree only when their neighbours do (rotation densification)."""
    owners = np.flatnonzero(filled)
    positions = np.arange(BINS)
    index = np.searchsorted(owners, positions) % len(owners)
    distance = (owners[index] - positions) % BINS
    return ((values[owners[index]] + distance.astype(np.uint64) * np.uint64(_EMPTY_STEP)) & np.uint64(0xFFFFFFFF)
            ).astype(np.uint32)


def likeness(title: str | None, text: str) -> Likeness:
    """A document's MinHash signature, LSH bands and title key."""
    shingles = shingle_hashes(normalise(text))
    distinct = 1 + int(np.count_nonzero(shingles[1:] != shingles[:-1]))
    signature = signature_of(shingles)
    bands = tuple(
        int.from_bytes(hashlib.blake2b(signature[i * ROWS : (i + 1) * ROWS].tobytes() + bytes([i]),
                                       digest_size=7).digest())
        for i in range(BANDS)
    )
    return Likeness(title_key(title), signature.tobytes(), bands, distinct)
