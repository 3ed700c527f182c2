"""The quick NFKC of policywatch.core.normalize gives exactly what unicodedata gives: fingerprints depend on it."""

from __future__ import annotations

import os
import random
import unicodedata
from pathlib import Path

import pytest

from policywatch.core.normalize import _WIDE_FORMS, nfkc

SEEDS = Path(os.environ.get("POLICYWATCH_SHARED", Path(__file__).resolve().parents[2] / "shared")) / "seeds"


@pytest.mark.parametrize("text", [
    "", "plain ASCII", "关于印发《方案》的通知，（一）总则：第1条；", "全角：ＡＢＣ１２３　空格", "气温２５℃以上",
    "＜\u0338 composes to ≮", "（\u0301）", "ｅ\u0301 and e\u0301", "한국어 \u1100\u1161", "ﬁ ① ㈱ ㍿", "\u3000\u0308",
])
def test_quick_nfkc_is_nfkc(text: str) -> None:
    assert nfkc(text) == unicodedata.normalize("NFKC", text)


def test_quick_nfkc_on_the_seeds_and_random_mixtures() -> None:
    seeds = sorted([*SEEDS.glob("*.md"), *SEEDS.glob("*.txt")])
    texts = [p.read_text(encoding="utf-8", errors="replace") for p in seeds]
    assert texts, f"no seeds in {SEEDS}"
    rng = random.Random(7)
    pool = ([chr(c) for c in [*range(0x20, 0x180), *range(0x300, 0x370), *range(0x3000, 0x3040),
                              *range(0xFF00, 0xFFEF), *range(0x2100, 0x2200), *range(0x1100, 0x1180)]]
            + [wide for wide, _ in _WIDE_FORMS] * 10 + list("关于印发通知") * 10)
    texts += ["".join(rng.choice(pool) for _ in range(rng.randint(1, 12))) for _ in range(20_000)]
    for text in texts:
        assert nfkc(text) == unicodedata.normalize("NFKC", text), repr(text[:80])
