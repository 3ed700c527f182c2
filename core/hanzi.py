"""Simplified and Traditional Chinese (OpenCC): one script for matching, the reader's script for display.

Portals in Taiwan and Hong Kong, and roundups written in Traditional characters, label and phrase things the same
way as mainland portals in the other script. Matching happens on Simplified text; labels are matched in either
script; digests in zh-Hant are converted at the end.
"""

from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path

import opencc
from opencc import OpenCC

_TRADITIONAL_CONFIGS = ("s2t", "s2tw", "s2hk")
# char_classes of the words the crawl's modules build their patterns from, as this OpenCC version gives them
# (written by ``python -m tests.hanzi_table``). Loading OpenCC's Traditional dictionaries costs each crawl process
# about 75 ms of CPU; with the table a crawl never loads them.
CLASSES_TABLE = Path(__file__).with_name("hanzi_classes.json")


@cache
def _converter(config: str) -> OpenCC:
    return OpenCC(config)


def simplified(text: str) -> str:
    """Traditional (and variant) characters as Simplified; Simplified text comes back unchanged."""
    return _converter("t2s").convert(text) if text else text


def traditional(text: str) -> str:
    """Simplified text as Traditional, Taiwan-standard characters (the closest to the seeds' usage)."""
    return _converter("s2tw").convert(text) if text else text


def either_script(word: str) -> str:
    """A regex matching ``word`` in Simplified or any Traditional spelling: 发布 matches 發布 and 發佈 too."""
    return "".join(char_classes(word))


def _spellings(word: str) -> list[str]:
    """``word`` as written, in each Traditional standard, and each of those back in Simplified."""
    spellings = [word] + [_converter(c).convert(word) for c in _TRADITIONAL_CONFIGS]
    return spellings + [simplified(s) for s in spellings]


@cache
def _known_classes() -> dict[str, list[str]]:
    """The table of ``CLASSES_TABLE`` if it was written with the installed OpenCC, else nothing."""
    try:
        table = json.loads(CLASSES_TABLE.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(table, dict) or table.get("opencc") != opencc.__version__:
        return {}
    return table.get("classes") or {}


@cache
def char_classes(word: str) -> tuple[str, ...]:
    """One regex per character of ``word``, matching that character in either script."""
    known = _known_classes().get(word)
    return tuple(known) if known is not None else converted_classes(word)


def converted_classes(word: str) -> tuple[str, ...]:
    """``char_classes`` of ``word`` as OpenCC gives them now (``char_classes`` looks them up first)."""
    same_length = [s for s in _spellings(word) if len(s) == len(word)]
    classes = []
    for chars in zip(*same_length, strict=True):
        options = sorted(set(chars))
        classes.append(re.escape(options[0]) if len(options) == 1 else f"[{''.join(options)}]")
    return tuple(classes)


def folding_map(chars: set[str]) -> dict[str, str]:
    """Each Traditional or variant spelling of ``chars`` (and each of them that is one) → its Simplified form.

    For matching in either script where OpenCC is not at hand: the archive site's in-page search folds the
    typed query and the indexed text with it, so 細胞 finds 细胞 and the reverse.
    """
    folding = {}
    for char in chars:
        plain = simplified(char)
        if len(plain) != 1:
            continue
        folding |= {spelled: plain for spelled in (char, *_spellings(plain))
                    if len(spelled) == 1 and spelled != plain}
    return folding
