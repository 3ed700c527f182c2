"""Text normalisation that decides what counts as a change.

Two texts with the same :func:`fingerprint` are the same version: differences
in whitespace, full-/half-width forms, view counters, print/share widgets and
render timestamps are noise and never make a new version.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from functools import lru_cache

# Lines that are page furniture, not policy text, matched whole. The colon comes in both widths, so raw and
# NFKC text alike match: display text needs no NFKC pass.
NOISE_LINE = re.compile(
    r"""^\s*(?:
        (?:浏览|阅读|访问|点击|查看)(?:次数|量|数)\s*[:：]?\s*\d*\s*次?   # view counters
      | 【?\s*(?:打印本页|打印|关闭窗口|关闭|收藏|返回顶部)\s*】?
      | (?:【?\s*(?:打印本页|打印|关闭窗口|关闭|收藏)\s*】?\s*)+
      | 分享到\s*[:：]?.*
      | (?:字号|字体)\s*[:：]?\s*[【\[]?\s*大\s*[】\]]?\s*[【\[]?\s*中\s*[】\]]?\s*[【\[]?\s*小\s*[】\]]?
      | (?:当前时间|页面生成时间|生成时间)\s*[:：]?.*
      | (?:手机)?扫一扫.{0,20} | .{0,6}在手机(?:上)?打开.{0,10}
    )\s*$""",
    re.VERBOSE,
)
# Punctuation NFKC leaves alone but editors swap freely: fold to one form.
_PUNCTUATION = (("。", "."), ("“", '"'), ("”", '"'), ("‘", "'"), ("’", "'"), ("【", "["), ("】", "]"), ("〔", "["),
                ("〕", "]"), ("—", "-"), ("～", "~"), ("、", ","))


def clean_lines(text: str) -> str:
    """Drop furniture lines and blank lines; keep paragraph structure for display."""
    lines = (line.strip() for line in text.replace("\r", "\n").split("\n"))
    return "\n".join(line for line in lines if line and not NOISE_LINE.match(line))


@lru_cache(maxsize=16)
def normalise(text: str) -> str:
    """The comparison form of a text: NFKC, furniture removed, whitespace folded.

    Cached, because one page's text is normalised for its fingerprint and again for its duplicate signature.
    """
    text = clean_lines(unicodedata.normalize("NFKC", text))
    for swapped, folded in _PUNCTUATION:  # str.replace per mark: far quicker than str.translate on CJK text
        text = text.replace(swapped, folded)
    return _fold_spaces(text)


def _fold_spaces(text: str) -> str:
    """Whitespace next to a non-ASCII character goes; other runs become one space ("第 1 条" → "第1条",
    "COVID 19" stays). Done on str.split's words, not with lookaround regexes: it is on every page's path."""
    words = text.split()
    if not words:
        return ""
    folded = [words[0]]
    for word in words[1:]:
        if folded[-1][-1] < "\x80" and word[0] < "\x80":
            folded.append(" ")
        folded.append(word)
    return "".join(folded)


def fingerprint(text: str) -> str:
    """Content address of a text: SHA-256 of its normalised form."""
    return hashlib.sha256(normalise(text).encode("utf-8")).hexdigest()
