"""Main policy text of a detail page, without navigation, footers, counters or share widgets.

Most Chinese government portals run a handful of CMSs whose body containers
are well known (#UCAP-CONTENT, .TRS_Editor, #zoom …); those are tried first,
which is fast and exact. Anything else falls back to trafilatura's
main-content extraction.
"""

from __future__ import annotations

import json
import logging
import re

from lxml import etree, html

from policywatch.core.normalize import clean_lines
from policywatch.crawler.extract.selectors import SelectorSet, css
from policywatch.crawler.extract.trim import trim_body

# Body containers of common government CMS templates, most specific first.
KNOWN_BODIES = (
    "#UCAP-CONTENT", ".TRS_UEDITOR", ".TRS_Editor", "#zoomcon", "#zoom", "#detailContent",
    "#content1", "#ivs_content", ".Article_content", ".article-content", ".pages_content",
    ".detailCon", ".wrapper_detail_text", ".detil-new-cont", "#xw_box", ".zw", "#Zoom",
    ".article_con", ".news_content", ".TRS_PreAppend", "#wenzhang-content", ".content_article",
    "#detailCon", "#content", ".zoom",
)
_known_bodies = SelectorSet(KNOWN_BODIES)  # each selector's elements, from one walk of the page
MIN_BODY_CHARS = 40
# trafilatura's time grows with the square of a tree's depth (8 s for 2,000 levels of nested tables); below this
# depth, the most libxml2 builds by default, it stays in tenths of a second. A deeper page gets the other fallbacks.
TRAFILATURA_DEPTH = 256
# And with its size: 6 s of CPU for a 2 MB page of 75,000 elements, where the largest real page in the corpus has
# 1,800. A larger tree gets the other fallbacks too (the densest block reads it in a fraction of that).
TRAFILATURA_ELEMENTS = 20_000
logging.getLogger("trafilatura").setLevel(logging.ERROR)

_NEVER_TEXT = ("script", "style", "noscript", "template", "iframe", "object", "select", "button", "textarea", "input")
_CHROME = ("nav", "header", "footer", "aside")
# Widgets that sit inside body containers on many templates.
_WIDGET = re.compile(r"share|bdshare|print|fontsize|font-size|zihao|erweima|qrcode|toolbar", re.I)
_BLOCK = frozenset(
    "p div br li ul ol tr td th table h1 h2 h3 h4 h5 h6 section article blockquote pre hr dd dt dl "
    "center address figure figcaption caption tbody thead".split()
)
_INLINE_SPACE = re.compile(r"[ \t\f\v\xa0\u3000]+")


# Stray </body> and </html> tags (left by server-side includes) make lxml detach everything
# after them from the tree; without them it closes the elements where they really end.
_EARLY_END = re.compile(r"</(?:body|html)\s*>", re.I)
# Elements a browser never shows. (visibility:hidden is not one: templates hide <body>
# with it until their scripts have run.)
_HIDDEN_STYLE = re.compile(r"display\s*:\s*none", re.I)


def repair(page: str) -> str:
    """Markup fixes every parser of the page should see (see ``_EARLY_END``)."""
    return _EARLY_END.sub("", page or "")


def parse_html(text: str) -> html.HtmlElement:
    """An lxml tree of a page, however broken; an empty page gives an empty <html>.

    libxml2 drops, without a word, whatever sits more than 256 elements deep: on a legacy page that never closes its
    <font> or <div> tags, the policy text itself. huge_tree lifts that limit (the page's size is capped before it
    gets here), and nothing below walks the tree by recursion. A parser per page (4 µs): lxml's parsers are not to
    be shared between threads."""
    parser = html.HTMLParser(huge_tree=True)
    try:
        root = html.document_fromstring(repair(text) or "<html></html>", parser=parser)
    except (etree.ParserError, ValueError):
        root = html.document_fromstring("<html></html>", parser=parser)
    return root


def strip_invisible(root: html.HtmlElement) -> None:
    """Remove elements that never hold policy text (scripts, styles, form controls)."""
    for el in list(root.iter(*_NEVER_TEXT, etree.Comment, etree.ProcessingInstruction)):
        el.drop_tree()
    for el in list(root.iter()):
        if el.tag in ("html", "body"):
            continue
        classes = (el.get("class") or "").split()
        if el.get("hidden") is not None or "ng-hide" in classes or _HIDDEN_STYLE.search(el.get("style") or ""):
            el.drop_tree()


def element_text(el: html.HtmlElement) -> str:
    """Readable text of an element: block elements become line breaks, furniture lines go.

    One walk of the tree by lxml's iterator, not by recursion: a page may nest thousands of elements deep."""
    parts: list[str] = []
    append = parts.append
    for event, node in etree.iterwalk(el, events=("start", "end")):
        tag = node.tag
        block = tag.__class__ is str and tag.lower() in _BLOCK
        if event == "start":
            if block:
                append("\n")
            if node.text:
                append(node.text)
        else:
            if block:
                append("\n")
            if node.tail and node is not el:
                append(node.tail)
    # One pass of the space pattern over the whole text (it never matches a line break), not one per line.
    return clean_lines(_INLINE_SPACE.sub(" ", "".join(parts)))


def _drop_widgets(el: html.HtmlElement) -> None:
    for node in list(el.iter()):
        if node is el or not isinstance(node.tag, str):
            continue
        marker = f"{node.get('class', '')} {node.get('id', '')}"
        if _WIDGET.search(marker) and len(node.text_content()) < 200:
            node.drop_tree()


def body_from(el: html.HtmlElement) -> str:
    """Text of a chosen body element, with in-body widgets removed."""
    _drop_widgets(el)
    return element_text(el)


# Single-page-app templates ship the article as a JSON string inside a <script>.
_EMBEDDED = re.compile(r'"(?:content|articleContent|body|htmlContent)"\s*:\s*"((?:[^"\\]|\\.){200,})"')


def embedded_text(page: str) -> str:
    """The longest article body embedded as a JSON string in the page's scripts, as text."""
    best = ""
    for match in _EMBEDDED.finditer(page):
        try:
            value = json.loads(f'"{match.group(1)}"')
        except ValueError:
            continue
        text = element_text(parse_html(f"<div>{value}</div>"))
        if len(text) > len(best):
            best = text
    return best


def _has_text(text: str) -> bool:
    """Whether a body holds text beyond page furniture: a container holding only the metadata table or the
    info line above an article is not the article."""
    trimmed = trim_body(text)
    return not trimmed.warnings and len(trimmed.text) >= MIN_BODY_CHARS


def main_text(root: html.HtmlElement, page: str = "") -> str:
    """The page's main text: a known CMS container if one has text, else trafilatura's pick. When that is only
    furniture (a header table, an info line), an article embedded as JSON in the ``page``'s scripts, else a
    known container's short text, else the block densest in paragraph text."""
    short = ""  # a known container's text that is short (a 解读 page's one link) or furniture only
    read = False
    for selector, containers in zip(KNOWN_BODIES, _known_bodies(root), strict=True):
        if read and containers:  # found again: body_from dropped the widgets of the containers read so far
            containers = css(selector)(root)
        for el in containers:
            text = body_from(el)
            read = True
            if _has_text(text):
                return text
            short = short or text
    for el in list(root.iter(*_CHROME)):
        el.drop_tree()
    extracted = "" if _beyond(root, TRAFILATURA_DEPTH, TRAFILATURA_ELEMENTS) else _trafilatura(root)
    if _has_text(extracted):
        return extracted
    embedded = embedded_text(repair(page)) if page else ""
    if len(embedded) >= MIN_BODY_CHARS:
        return embedded
    if short and not trim_body(short).warnings:  # a short notice in its CMS container is that notice
        return short
    dense = _densest_block(root)
    if dense is not None and _has_text(text := body_from(dense)):
        return text
    return short or extracted


def _trafilatura(root: html.HtmlElement) -> str:
    import trafilatura  # here, not at the top: its imports cost every crawl process ~0.1 s, most never need it

    return clean_lines(trafilatura.extract(
        root,
        include_comments=False,
        include_tables=True,
        favor_precision=True,
        deduplicate=False,
        with_metadata=False,
    ) or "")


def _beyond(root: html.HtmlElement, levels: int, elements: int) -> bool:
    """Whether the tree nests more than ``levels`` elements deep or holds more than ``elements`` nodes (stops as
    soon as it knows)."""
    depth = seen = 0
    for event, _ in etree.iterwalk(root, events=("start", "end")):
        if event == "start":
            depth += 1
            seen += 1
            if depth > levels or seen > elements:
                return True
        else:
            depth -= 1
    return False


_BLOCKS = frozenset(("div", "td", "section", "article", "main"))
# Blocks a template names as page furniture.
_NOT_ARTICLE = re.compile(r"foot|copyright|bottom|banquan|header|\bhead|\bnav|menu|sidebar|links|youqing", re.I)


def _densest_block(root: html.HtmlElement) -> html.HtmlElement | None:
    """The block with the most text of its own (in its paragraphs and bare text, not in links) and in the
    blocks right inside it: an article's container, where a navigation block is made of links and a header of
    a table.

    One pass in document order: each element inherits its nearest block and whether it sits in a link from its
    parent, so every text node counts once, towards one block, however deep the page nests."""
    nowhere: tuple[html.HtmlElement | None, bool, bool] = (None, False, False)
    owner: dict[html.HtmlElement, tuple[html.HtmlElement | None, bool, bool]] = {}  # block, in a link, in furniture
    own: dict[html.HtmlElement, int] = {}
    outer: dict[html.HtmlElement, html.HtmlElement] = {}  # block → the block it sits in
    for el in root.iter():
        parent = el.getparent()
        block, in_link, furniture = owner.get(parent, nowhere) if parent is not None else nowhere
        if isinstance(el.tag, str):
            tag = el.tag.lower()
            in_link = in_link or tag == "a"
            if tag in _BLOCKS and not furniture:
                furniture = _NOT_ARTICLE.search(f"{el.get('class', '')} {el.get('id', '')}") is not None
                if block is not None:
                    outer[el] = block
                block = None if furniture else el
        owner[el] = (block, in_link, furniture)
        if block is not None and not in_link and el.text:
            own[block] = own.get(block, 0) + len(el.text.strip())
        tail_block, tail_in_link, _ = owner.get(parent, nowhere) if parent is not None else nowhere
        if tail_block is not None and not tail_in_link and el.tail:
            own[tail_block] = own.get(tail_block, 0) + len(el.tail.strip())
    # Templates that write each paragraph as a <div> of its own: their container is credited with them.
    score = dict(own)
    for block, chars in own.items():
        if block in outer:
            score[outer[block]] = score.get(outer[block], 0) + chars
    best = max(score, key=score.__getitem__, default=None)
    return best if best is not None and score[best] >= MIN_BODY_CHARS else None
