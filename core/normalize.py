"""Text normalisation that decides what counts as a change.

Two texts with the same :func:`fingerprint` are the same version: differences
in whitespace, full-/half-width forms, view counters, print/share widgets and
render timestamps are noise and never make a new version.

:func:`clean_text` and :func:`clean_url` are the one gate every scraped string passes before it is stored or
shown: web text must not be able to drive a terminal or break an XML feed.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from functools import lru_cache
from urllib.parse import quote

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


# Compatibility characters common in Chinese text (full-width punctuation, the ideographic space, ℃), each with its
# compatibility decomposition: replacing one by the other leaves a text's NFKD form, hence its NFKC form, unchanged.
_WIDE_FORMS = tuple((char, unicodedata.normalize("NFKD", char))
                    for char in "，：；（）！？％＋－／．＂＇＜＞［］｛｝\u3000℃")


def nfkc(text: str) -> str:
    """``unicodedata.normalize("NFKC", text)``, about four times quicker on Chinese text.

    Chinese text is rarely NFKC already (full-width commas, colons, brackets), and then CPython decomposes and
    recomposes every character. Its common compatibility characters are replaced by their decompositions first
    (one ``str.replace`` each, which keeps the NFKC form); when that leaves the text normalised, as it nearly
    always does, the result is the text itself, else the full normalisation runs.
    """
    if unicodedata.is_normalized("NFKC", text):
        return text
    for wide, narrow in _WIDE_FORMS:
        if wide in text:
            text = text.replace(wide, narrow)
    return text if unicodedata.is_normalized("NFKC", text) else unicodedata.normalize("NFKC", text)


@lru_cache(maxsize=16)
def normalise(text: str) -> str:
    """The comparison form of a text: NFKC, furniture removed, whitespace folded.

    Cached, because one page's text is normalised for its fingerprint and again for its duplicate signature.
    """
    text = clean_lines(nfkc(text))
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


# What clean_text removes or replaces (see its docstring): C0 controls but tab and newline, DEL, C1, bidi
# embeddings/overrides/isolates, UTF-16 surrogates, and the BMP's noncharacters. (A class with characters beyond
# the BMP in it costs re ten times as much on every page.)
_UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\ud800-\udfff\ufdd0-\ufdef\ufffe\uffff]")
_C1_WINDOWS_1252 = {chr(byte): bytes([byte]).decode("cp1252") for byte in range(0x80, 0xA0)
                    if byte not in (0x81, 0x8D, 0x8F, 0x90, 0x9D)}
_REPLACEMENTS = {"\r": "\n", "\x0b": "\n", "\x0c": "\n", **_C1_WINDOWS_1252}


def _replacement(match: re.Match[str]) -> str:
    char = match.group()
    if "\ud800" <= char <= "\udfff":
        return "\ufffd"
    return _REPLACEMENTS.get(char, "")


def clean_text(text: str) -> str:
    """Scraped text with nothing in it that a terminal would obey or an XML document refuse.

    - C0 controls go, but tab and newline; CR, vertical tab (Word's line break) and form feed (a PDF's page
      break) become newlines. ESC, BEL and the rest exist only to drive terminals and are invalid in XML 1.0.
    - DEL goes: it is no text either.
    - C1 (U+0080–U+009F) gets its Windows-1252 meaning ("–", "…", "“"), as browsers give ``&#150;``: on real
      pages C1 code points are Windows-1252 punctuation mis-decoded as Latin-1. The five with no such meaning
      go. Either way no single-character CSI or OSC is left to start an escape sequence.
    - Lone UTF-16 surrogates (a JSON ``\\ud800``) become U+FFFD: they cannot be stored as UTF-8 at all.
    - The BMP's noncharacters (U+FFFE, U+FFFF, U+FDD0–U+FDEF) go: never text, and U+FFFE/U+FFFF are invalid in
      XML. Those of the other planes stay: valid XML, inert on a terminal, and costly to look for.
    - Bidi embeddings, overrides and isolates (U+202A–U+202E, U+2066–U+2069) go: Chinese policy text never
      needs them, and they reorder what a terminal or a page shows around them, so a title could spoof the
      text beside it. The implicit marks (U+200E, U+200F) stay: they reorder nothing on their own.
    """
    if "\r\n" in text:
        text = text.replace("\r\n", "\n")
    return _UNSAFE.sub(_replacement, text)


def clean_url(url: str) -> str:
    """A scraped URL with no raw control character: tabs and newlines go, as browsers drop them from URLs;
    every other character :func:`clean_text` would touch is percent-encoded (UTF-8), as a request sends it."""
    url = url.strip().replace("\t", "").replace("\n", "").replace("\r", "")
    return _UNSAFE.sub(_percent_encoded, url)


def _percent_encoded(match: re.Match[str]) -> str:
    char = match.group()
    return quote("\ufffd" if "\ud800" <= char <= "\udfff" else char, safe="")
