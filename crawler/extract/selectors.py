"""A fixed list of simple CSS selectors answered in one walk of a page.

Extraction tries lists of selectors in order: the known CMS body containers (content.KNOWN_BODIES), the title
blocks (title.TITLE_SELECTORS). Asked one by one, each is an XPath query, a walk of the whole tree and a call: on
a real portal page of a few hundred elements, the two lists cost a fifth of the page's extraction. A SelectorSet
walks the tree once, in C, for the elements any of its selectors could match (those with the attributes or the
tags they test; testing the attributes' values there costs libxml2 as much as the separate queries), and sorts
those out in Python by dictionary look-ups.

Each selector means exactly what lxml's CSS translation of it means (``css``): a class is a token of the class
attribute split at XML white space (``normalize-space``); ``[a*=v]`` and ``[a$=v]`` compare the raw attribute;
case counts. tests/test_selectors.py holds the two to the same elements. Only these forms are read: ``tag``,
``.class``, ``tag.class``, ``#id``, ``[class*=v]``, ``[id$=v]`` and the like; any other is refused when the set is
made.
"""

from __future__ import annotations

import functools
import re
from typing import TYPE_CHECKING

from lxml import etree
from lxml.cssselect import CSSSelector

if TYPE_CHECKING:
    from lxml import html

_FORM = re.compile(r"(?P<tag>[a-z][a-z0-9]*)?(?:\.(?P<cls>[\w-]+)|#(?P<id>[\w-]+))?"
                   r"|\[(?P<attr>class|id)(?P<op>[*$])=(?P<value>[\w-]+)\]")
_XML_SPACE = re.compile(r"[ \t\r\n]+")


@functools.cache
def css(selector: str) -> CSSSelector:
    """A compiled CSS selector: ``element.cssselect`` would translate it to XPath again on every page."""
    return CSSSelector(selector, translator="html")


class SelectorSet:
    """``selectors``, each answered as ``css(selector)(root)`` would answer it, all from one walk of the tree."""

    def __init__(self, selectors: tuple[str, ...]) -> None:
        self.count = len(selectors)
        self.by_class: dict[str, list[tuple[int, str | None]]] = {}  # token → (rank, tag or None)
        self.by_id: dict[str, list[int]] = {}
        self.by_tag: dict[str, list[int]] = {}
        self.inside: list[tuple[int, str, bool, str]] = []  # (rank, attribute, ends with (not contains), value)
        tests = []  # what an element needs for some selector to match it: the walk's filter
        for rank, selector in enumerate(selectors):
            form = _FORM.fullmatch(selector)
            tag, cls, id_, attr = (form["tag"], form["cls"], form["id"], form["attr"]) if form else (None,) * 4
            if attr:
                self.inside.append((rank, attr, form["op"] == "$", form["value"]))
                tests.append(f"@{attr}")
            elif cls:
                self.by_class.setdefault(cls, []).append((rank, tag))
                tests.append("@class")
            elif id_ and not tag:
                self.by_id.setdefault(id_, []).append(rank)
                tests.append("@id")
            elif tag and not id_:
                self.by_tag.setdefault(tag, []).append(rank)
                tests.append(f"self::{tag}")
            else:
                raise ValueError(f"a selector of a form SelectorSet does not read: {selector!r}")
        self.candidates = etree.XPath(f"descendant-or-self::*[{' or '.join(dict.fromkeys(tests))}]")

    def __call__(self, root: html.HtmlElement) -> list[list[html.HtmlElement]]:
        """Each selector's elements under ``root`` (itself included), in document order."""
        matched: list[list[html.HtmlElement]] = [[] for _ in range(self.count)]
        for el in self.candidates(root):
            ranks = set(self.by_tag.get(el.tag, ()))
            cls, id_ = el.get("class"), el.get("id")
            if cls is not None:
                for token in set(_XML_SPACE.split(cls)):
                    ranks.update(rank for rank, tag in self.by_class.get(token, ()) if tag in (None, el.tag))
            if id_ is not None:
                ranks.update(self.by_id.get(id_, ()))
            for rank, attr, ends, value in self.inside:
                text = cls if attr == "class" else id_
                if text is not None and (text.endswith(value) if ends else value in text):
                    ranks.add(rank)
            for rank in ranks:
                matched[rank].append(el)
        return matched
