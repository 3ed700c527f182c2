"""Decode HTML bytes correctly even when the page lies about its charset.

Chinese portals serve UTF-8, GBK, GB2312 and GB18030, and often declare the
wrong one (a GB2312 meta tag on UTF-8 bytes is common after a CMS upgrade).
Order of trust: a BOM; bytes that are valid UTF-8 (GBK text almost never is);
the declared charset, if the bytes decode under it; a statistical guess.
"""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass

from charset_normalizer import from_bytes

_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([a-zA-Z0-9_-]+)""", re.I)
_HEADER_CHARSET = re.compile(r"charset\s*=\s*[\"']?([a-zA-Z0-9_-]+)", re.I)
# GB2312 and GBK are subsets of GB18030; decoding with the superset never loses a character.
_SUPERSETS = {"gb2312": "gb18030", "gbk": "gb18030", "x-gbk": "gb18030", "cp936": "gb18030",
              "iso-8859-1": "cp1252", "latin-1": "cp1252", "ascii": "utf-8", "us-ascii": "utf-8"}
_BOMS = ((codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"))


@dataclass(frozen=True)
class Decoded:
    text: str
    encoding: str
    declared: str | None  # what the header or meta tag claimed, for diagnostics


def declared_charset(body: bytes, content_type: str | None) -> str | None:
    """The charset named by the Content-Type header, else by a meta tag in the first 4 KB."""
    if content_type:
        match = _HEADER_CHARSET.search(content_type)
        if match:
            return match.group(1).lower()
    match = _META_CHARSET.search(body[:4096])
    return match.group(1).decode("ascii").lower() if match else None


def _codec(name: str | None) -> str | None:
    if not name:
        return None
    name = _SUPERSETS.get(name, name)
    try:
        return codecs.lookup(name).name
    except LookupError:
        return None


def decode_html(body: bytes, content_type: str | None = None) -> Decoded:
    """Decode a page's bytes to text; never raises, never returns mojibake for GBK or UTF-8."""
    declared = declared_charset(body, content_type)
    for bom, name in _BOMS:
        if body.startswith(bom):
            return Decoded(body.decode(name, errors="replace"), name, declared)
    candidates = ["utf-8", _codec(declared)]
    for name in dict.fromkeys(c for c in candidates if c):
        try:
            return Decoded(body.decode(name), name, declared)
        except UnicodeDecodeError:
            continue
    guess = from_bytes(body[:65536]).best()
    name = _codec(guess.encoding) if guess else None
    name = name or "gb18030"
    return Decoded(body.decode(name, errors="replace"), name, declared)
