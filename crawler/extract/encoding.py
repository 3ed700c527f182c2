"""Decode HTML bytes correctly even when the page lies about its charset.

Chinese portals serve UTF-8, GBK, GB2312 and GB18030, and often declare the wrong one: a GB2312 meta tag on
UTF-8 bytes after a CMS upgrade, or a server-wide ``charset=iso-8859-1`` header on GBK pages. Order of trust:

1. a BOM;
2. UTF-8, when the bytes are UTF-8 but for a few bad sequences (GBK text never is: read as UTF-8 it has several
   bad sequences for every good character); bad bytes become U+FFFD where they are, the rest stays readable;
3. the meta tag's charset, the header's, a statistical guess, GB18030: the first that decodes without error,
   else the one with the fewest errors. The page's own meta tag is trusted over the header, which is a
   server-wide default as often as not. A single-byte charset (ISO-8859-1, Windows-1252 …) decodes any bytes
   without error, so it is no candidate when the bytes look multi-byte: when most of their non-ASCII bytes
   stand next to another one, as every GBK or UTF-8 character's do.

Then text that was double-encoded (UTF-8 read as Latin-1 or Windows-1252 and saved as UTF-8 again: "å…³äºŽ"
for "关于") is repaired, and characters that could drive a terminal or break an XML feed are removed
(:func:`policywatch.core.normalize.clean_text`), before any parser or extractor sees the text.
"""

from __future__ import annotations

import codecs
import functools
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from charset_normalizer import from_bytes

from policywatch.core.normalize import clean_text

if TYPE_CHECKING:
    from collections.abc import Iterator

_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([a-zA-Z0-9_-]+)""", re.I)
_HEADER_CHARSET = re.compile(r"charset\s*=\s*[\"']?([a-zA-Z0-9_-]+)", re.I)
# By codecs' own names: GB2312 and GBK are subsets of GB18030, whose decoder never loses a character; ISO-8859-1
# is read as Windows-1252, as browsers do; a UTF-16 or UTF-32 declaration without a BOM is wrong (a page that
# declares it in ASCII is not UTF-16), and browsers read it as UTF-8.
_SUPERSETS = {"gb2312": "gb18030", "gbk": "gb18030", "iso8859-1": "cp1252", "ascii": "utf-8",
              "utf-16": "utf-8", "utf-16-le": "utf-8", "utf-16-be": "utf-8", "utf-32": "utf-8",
              "utf-32-le": "utf-8", "utf-32-be": "utf-8"}
_ALIASES = {"x-gbk": "gbk", "x-gb18030": "gb18030", "x-euc-cn": "gb2312"}  # names codecs does not know
_BOMS = ((codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"))
# At most one bad UTF-8 sequence per this many good non-ASCII characters, and the bytes are UTF-8 with damage.
# GBK text read as UTF-8 has four to six bad sequences per good character, real UTF-8 pages none or a handful.
_GOOD_PER_BAD_UTF8 = 4
_SAMPLE = 65536  # bytes the statistical guess and the multi-byte look are judged on
_NON_ASCII = bytes(range(0x80, 0x100))
_NON_ASCII_RUN = re.compile(rb"[\x80-\xff]{2,}")

# Double encoding: what bytes 0x80–0xFF become when UTF-8 is read as Latin-1 or Windows-1252.
_CP1252_HIGH = bytes(range(0x80, 0xA0)).decode("cp1252", errors="ignore")  # "€‚ƒ„…†‡ˆ‰Š‹ŒŽ‘’“”•–—˜™š›œžŸ"
_READ_AS_LATIN = {**{chr(b): b for b in range(0x100)}, **{c: c.encode("cp1252")[0] for c in _CP1252_HIGH}}
_CONTINUATION = f"\x80-\xbf{_CP1252_HIGH}"
# A three-byte UTF-8 character (every CJK one) so read: a lead byte à–ï, then two continuation bytes.
_MOJIBAKE = re.compile(f"[\xe0-\xef][{_CONTINUATION}]{{2}}")
_MOJIBAKE_LEADS = tuple(chr(b) for b in range(0xE0, 0xF0))
_MOJIBAKE_PAGE = 3  # so many such characters before a page counts as double-encoded
_LATIN_RUN = re.compile(f"[\x80-\xff{_CP1252_HIGH}]{{2,}}")


@dataclass(frozen=True)
class Decoded:
    text: str
    encoding: str
    declared: str | None  # what the header or meta tag claimed, for diagnostics
    repaired: bool = False  # double-encoded text was found and repaired


def declared_charset(body: bytes, content_type: str | None) -> str | None:
    """The charset named by the Content-Type header, else by a meta tag in the first 4 KB."""
    return _header_charset(content_type) or _meta_charset(body)


def _header_charset(content_type: str | None) -> str | None:
    match = _HEADER_CHARSET.search(content_type) if content_type else None
    return match.group(1).lower() if match else None


def _meta_charset(body: bytes) -> str | None:
    match = _META_CHARSET.search(body[:4096])
    return match.group(1).decode("ascii").lower() if match else None


def _codec(name: str | None) -> str | None:
    """The codec to decode a declared charset with, or None for a name no codec has."""
    if not name:
        return None
    try:
        canonical = codecs.lookup(_ALIASES.get(name, name)).name
    except LookupError:
        return None
    return _SUPERSETS.get(canonical, canonical)


def decode_html(body: bytes, content_type: str | None = None) -> Decoded:
    """Decode a page's bytes to clean text; never raises, never returns mojibake for GBK or UTF-8."""
    declared = declared_charset(body, content_type)
    for bom, name in _BOMS:
        if body.startswith(bom):
            return _finish(body.decode(name, errors="replace"), name, declared)
    utf8 = _mostly_utf8(body)
    if utf8 is not None:
        return _finish(utf8, "utf-8", declared)
    text, name = _best_candidate(body, (_codec(_meta_charset(body)), _codec(_header_charset(content_type))))
    return _finish(text, name, declared)


def _mostly_utf8(body: bytes) -> str | None:
    """The text, if the bytes are UTF-8 with at most a few bad sequences (each replaced where it is)."""
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        pass
    text = body.decode("utf-8", errors="replace")
    replaced = text.count("\ufffd")
    bad = replaced - body.count(b"\xef\xbf\xbd")  # a page may hold U+FFFD itself
    good = len(text) - len(text.encode("ascii", "ignore")) - replaced
    return text if bad * _GOOD_PER_BAD_UTF8 <= good else None


def _best_candidate(body: bytes, declared: tuple[str | None, ...]) -> tuple[str, str]:
    """The declared codecs, then a statistical guess, then GB18030: the first that decodes cleanly, else the one
    with the fewest errors (the earlier one on a tie). Single-byte codecs only when the bytes do not look
    multi-byte."""
    multi_byte = _looks_multi_byte(body)
    tried: dict[str, tuple[int, str]] = {}

    def candidates() -> Iterator[str | None]:
        yield from declared
        guess = from_bytes(body[:_SAMPLE]).best()  # slow: only reached when no declaration decodes cleanly
        yield _codec(guess.encoding) if guess else None
        yield "gb18030"

    for name in candidates():
        if not name or name in tried or (multi_byte and _single_byte(name)):
            continue
        tried[name] = _decode_counting(body, name)
        if tried[name][0] == 0:
            return tried[name][1], name
    name = min(tried, key=lambda n: tried[n][0])  # min keeps the first of equals: the order above
    return tried[name][1], name


def _decode_counting(body: bytes, name: str) -> tuple[int, str]:
    """(decode errors, text with each bad byte replaced)."""
    try:
        return 0, body.decode(name)
    except UnicodeDecodeError:
        text = body.decode(name, errors="replace")
        return max(1, text.count("\ufffd")), text


@functools.cache
def _single_byte(name: str) -> bool:
    """True for codecs that read every byte as a character of its own (Latin-1, Windows-125x, KOI8 …)."""
    return sum(len(bytes([b]).decode(name, errors="ignore")) for b in range(0x80, 0x100)) >= 100


def _looks_multi_byte(body: bytes) -> bool:
    """Most non-ASCII bytes stand next to another non-ASCII byte, as in GBK or UTF-8 text; in Latin text they
    stand alone between ASCII letters ("café")."""
    sample = body[:_SAMPLE]
    non_ascii = len(sample) - len(sample.translate(None, _NON_ASCII))
    if not non_ascii:
        return False
    return sum(map(len, _NON_ASCII_RUN.findall(sample))) * 2 > non_ascii


def _finish(text: str, name: str, declared: str | None) -> Decoded:
    repaired = repair_double_encoding(text)
    return Decoded(clean_text(repaired), name, declared, repaired != text)


def repair_double_encoding(text: str) -> str:
    """The text with double-encoded stretches decoded again; the same object when there are none.

    Cheap when there is nothing to do (the crawl decodes every page): a page is only looked at closely when it
    holds a lead character à–ï, and only repaired when at least three characters read as three-byte UTF-8 in
    Latin-1. Each run of Latin-1/Windows-1252 characters is then turned back into bytes and decoded as UTF-8,
    and kept when that gives (mostly) text: a lone "é" of a real Latin word stays as it is.
    """
    if not any(lead in text for lead in _MOJIBAKE_LEADS):
        return text
    if len(_MOJIBAKE.findall(text)) < _MOJIBAKE_PAGE:
        return text
    return _LATIN_RUN.sub(_redecoded, text)


def _redecoded(match: re.Match[str]) -> str:
    run = match.group()
    raw = bytes(_READ_AS_LATIN[c] for c in run)
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        fixed = raw.decode("utf-8", errors="replace")
    lost = fixed.count("\ufffd")
    return fixed if lost * 2 <= len(fixed) - lost else run
