"""Text normalisation that decides what counts as a change.

Two texts with the same :func:`fingerprint` are the same version: differences
in whitespace, full-/half-width forms, view counters, print/share widgets and
render timestamps are noise and never make a new version.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata

# Lines that are page furniture, not policy text. Matched on NFKC text, whole line.
NOISE_LINE = re.compile(
    r"""^\s*(?:
        (?:浏览|阅读|访问|点击|查看)(?:次数|量|数)\s*[:]?\s*\d*\s*次?   # view counters
      | 【?\s*(?:打印本页|打印|关闭窗口|关闭|收藏|返回顶部)\s*】?
      | (?:【?\s*(?:打印本页|打印|关闭窗口|关闭|收藏)\s*】?\s*)+
      | 分享到\s*[:]?.*
      | (?:字号|字体)\s*[:]?\s*[【\[]?\s*大\s*[】\]]?\s*[【\[]?\s*中\s*[】\]]?\s*[【\[]?\s*小\s*[】\]]?
      | (?:当前时间|页面生成时间|生成时间)\s*[:]?.*
      | (?:手机)?扫一扫.{0,20} | .{0,6}在手机(?:上)?打开.{0,10}
    )\s*$""",
    re.VERBOSE,
)
_SPACE_BETWEEN_CJK = re.compile(r"(?<=[^\x00-\x7f])\s+|\s+(?=[^\x00-\x7f])")
_SPACES = re.compile(r"\s+")
# Punctuation NFKC leaves alone but editors swap freely: fold to one form.
_PUNCTUATION = str.maketrans({"。": ".", "“": '"', "”": '"', "‘": "'", "’": "'", "【": "[",
                              "】": "]", "〔": "[", "〕": "]", "—": "-", "～": "~", "、": ","})


def clean_lines(text: str) -> str:
    """Drop furniture lines and blank lines; keep paragraph structure for display."""
    lines = (line.strip() for line in text.replace("\r", "\n").split("\n"))
    return "\n".join(
        line for line in lines if line and not NOISE_LINE.match(unicodedata.normalize("NFKC", line))
    )


def normalise(text: str) -> str:
    """The comparison form of a text: NFKC, furniture removed, whitespace folded."""
    text = clean_lines(unicodedata.normalize("NFKC", text)).translate(_PUNCTUATION)
    text = _SPACE_BETWEEN_CJK.sub("", text)
    return _SPACES.sub(" ", text).strip()


def fingerprint(text: str) -> str:
    """Content address of a text: SHA-256 of its normalised form."""
    return hashlib.sha256(normalise(text).encode("utf-8")).hexdigest()
