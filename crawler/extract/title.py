"""The title of a policy page, chosen among the places a page writes it.

A page says its title several times: in a heading (h1–h3 or a ``div.title``-like block), in CMS meta tags
(ArticleTitle, og:title), in ``<title>`` followed by the site's name, and the list page linking to it said
it too. Templates also put headings in their chrome ("友情链接", "网站地图" in the footer). The title chosen
is the candidate the others agree with; a heading confirmed by ``<title>`` or by the list beats one that
nothing confirms, and chrome is never a candidate.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from policywatch.crawler.extract.selectors import SelectorSet

if TYPE_CHECKING:
    from collections.abc import Iterator

    from lxml import html

# Headings and title-like blocks, in the order a template most likely means them as the document's title.
# The first are the title on the templates they come from; the generic ones after STRONG_TITLES are as often a
# sidebar's or a column's heading, so they count only when another candidate agrees with them.
TITLE_SELECTORS = (
    ".article-title", ".wdtit", ".content_title", ".article_title", "div.tit", "#ivs_title", ".titles",
    ".wrapper_deatil_title", ".detail-article-title", ".xxgk_title", ".news_title", "h1", "h2",
    "div.title", ".title", ".tit", "h3", "[class*=title]", "[class*=Title]", "[id*=title]",
    # "bt" is 标题 (biaoti) in many CMS class names: sj_bt, xl_bt, art-bt.
    ".bt", "[class$=_bt]", "[class$=-bt]", "[class*=biaoti]",
)
STRONG_TITLES = 13
# Cut <title> on these: "关于…的通知_广州市人民政府门户网站", "标题 - 国家能源局南方监管局".
TITLE_SPLIT = re.compile(r"\s*(?:[-_|｜—]{1,2}|——)\s*")
ELLIPSIS = re.compile(r"(?:\.{3}|…+)\s*$")
_MAX_CANDIDATES = 200  # headings per page, and per selector below: thousands of headings are read no further
_MAX_PER_SELECTOR = 30
_MAX_TEXT = 1000  # characters of a meta, <title> or list candidate compared (real titles stay far below)
_MAX_TITLE = 300  # characters; a longer "heading" is a wrapper around the body
_MAX_DEPTH = 60  # ancestors looked at for chrome
_SPACE = re.compile(r"\s+")
# Markup written as text (an escaped "<br/>" in a CMS title field) is no part of a title.
_TAG_TEXT = re.compile(r"</?[A-Za-z][A-Za-z0-9]*(?:\s[^<>]{0,200})?/?>")
# A script or style written as text goes whole: its code is no more title than its tags.
_CODE_TEXT = re.compile(r"<(script|style)\b[^<>]{0,200}>[^<]{0,2000}</\1\s*>", re.I)
_FOLD = re.compile(r"[\W_]+")
_CHROME_TAGS = frozenset(("nav", "footer", "aside", "header", "menu"))
_CHROME_CLASS = re.compile(
    r"foot|bottom|nav|menu|logo|(?:^|[-_\s])(?:links?|yqlj|friend\w*|copyright|crumbs?|breadcrumbs?|sidebar"
    r"|location|position|share)(?:$|[-_\s\d])", re.I)
# Whole class or id tokens of a site's header (an article's own "article-header" is no chrome).
_CHROME_TOKENS = frozenset(("header", "head", "top", "banner", "site-header", "page-header", "topbar", "masthead"))
# Headings of template chrome: never the document's title. Whole headings only ("注册" and "版权" are words of
# real titles: 医疗器械注册, 国家版权局), or the unmistakable marks of a breadcrumb, a footer or a "more" link.
_CHROME_TEXT = re.compile(
    r"^(?:友情链接|相关链接|网站地图|联系我们|版权声明|主办单位|承办单位|首页|打印本页|关闭窗口|分享到|相关文章|"
    r"相关阅读|相关解读|相关稿件|相关新闻|扫一扫|无障碍|登录|注册|搜索|热点专题|图片新闻|网站导航|政务服务|互动交流)"
    r"(?:\s*更多)?\W*$|版权所有|网站标识码|ICP备|当前位置|您的位置|所在位置|更多\s*>|>\s*$|\s>\s|>>|»")
# A block holding the title AND its info line ("发布时间：… 来源：…") is a wrapper, not the title.
_INFO_LINE = re.compile(r"(?:发布|来源|时间|日期|浏览|点击|作者|字号|编辑|阅读)[^:：]{0,4}[:：]|\d{4}-\d{1,2}-\d{1,2}")
# A part of <title> that names the site or a column rather than the document.
_SITE_PART = re.compile(
    r"(?:网站|门户|网|人民政府|政府|首页|平台|官网|频道|专栏|专题)$|^(?:中国|中华人民共和国)?[\u4e00-\u9fff]{0,12}"
    r"(?:部|委|委员会|局|厅|署|院|办|办公室|中心)$|^[\u4e00-\u9fff]{2,8}(?:公告|通知|动态|文件|政策|信息|新闻|要闻|公开|解读|"
    r"法规|规章|发布|资讯|工作)$")
_SITE_META = ("sitename", "site_name", "og:site_name", "columnname")


@dataclass
class _Candidate:
    text: str
    kind: str  # "meta", "label" (标题：…), "head" (<title>), "list", "heading", "weak" (a generic title-like block)
    order: int
    key: str = ""

    def __post_init__(self) -> None:
        self.text = self.text[:_MAX_TEXT]
        self.key = fold(self.text)


def fold(text: str) -> str:
    """A title reduced for comparison: no whitespace, punctuation or case."""
    return _FOLD.sub("", text).lower()


def clean_title(text: str) -> str:
    """A title as shown: markup written as text removed, whitespace folded."""
    return _SPACE.sub(" ", _TAG_TEXT.sub("", _CODE_TEXT.sub("", text or ""))).strip()


def agree(a: str, b: str) -> bool:
    """Two folded titles name the same document: equal, or one holds the other (a cut or a prefixed form)."""
    if not a or not b:
        return False
    short, long = (a, b) if len(a) <= len(b) else (b, a)
    return len(short) >= 4 and short in long


def heading_text(el: html.HtmlElement, limit: int = _MAX_TITLE) -> str | None:
    """The text of a heading, <br> joined without a space; None when longer than ``limit`` (a wrapper)."""
    parts: list[str] = []
    size = 0
    for piece in _pieces(el):
        if piece is None:  # a <br>: the line break is layout, not a space
            if parts:
                parts[-1] = parts[-1].rstrip()
            parts.append("")
            continue
        if parts and parts[-1] == "":
            piece = piece.lstrip()
        parts.append(piece)
        size += len(piece)
        if size > limit * 4:
            return None
    text = clean_title("".join(parts))
    return text if len(text) <= limit else None


def _pieces(el: html.HtmlElement) -> Iterator[str | None]:
    """Text pieces of an element in document order, None for each <br>; iterative (no recursion limit)."""
    stack: list[tuple[html.HtmlElement, bool]] = [(el, False)]
    while stack:
        node, closing = stack.pop()
        if closing:
            if node is not el and node.tail:
                yield node.tail
            continue
        if not isinstance(node.tag, str):
            if node.tail:
                yield node.tail
            continue
        if node.tag == "br":
            yield None
            if node.tail:
                yield node.tail
            continue
        if node.text:
            yield node.text
        stack.append((node, True))
        stack.extend((child, False) for child in reversed(node))


def in_chrome(el: html.HtmlElement) -> bool:
    """The element sits in page chrome: a nav/footer/aside block, or one whose class or id says so."""
    node = el
    for _ in range(_MAX_DEPTH):
        if node is None:
            return False
        tag = node.tag if isinstance(node.tag, str) else ""
        if tag in _CHROME_TAGS and not (tag == "header" and _in_article(node)):
            return True
        if node is not el and _chrome_names(f"{node.get('class') or ''} {node.get('id') or ''}".strip()):
            return True
        node = node.getparent()
    return False


def _chrome_names(names: str) -> bool:
    """Class and id names of page chrome: footer, nav, link lists, the site's header."""
    return bool(names) and bool(_CHROME_CLASS.search(names) or _CHROME_TOKENS.intersection(names.lower().split()))


def _in_article(el: html.HtmlElement) -> bool:
    """A <header> inside <article> or <main> heads the document, not the site."""
    return any(a.tag in ("article", "main") for a in el.iterancestors())


def head_title(root: html.HtmlElement) -> str:
    """The text of ``<title>``, markup removed."""
    head = root.find(".//title")
    return clean_title(head.text_content()[: _MAX_TEXT * 4]) if head is not None else ""


def site_names(root: html.HtmlElement, meta: dict[str, str]) -> list[str]:
    """Names of the site the page belongs to: meta SiteName, then the parts of <title> after the document's."""
    names = [clean_title(meta[k]) for k in _SITE_META if meta.get(k)]
    parts = title_parts(head_title(root))
    names.extend(p for p in parts[1:] if _SITE_PART.search(p))
    return [n for n in dict.fromkeys(names) if 2 <= len(n) <= 40]


def title_parts(title: str) -> list[str]:
    """<title> cut at its separators, except a bare "-" after a digit, which is part of the title ("2023-2025年")."""
    parts: list[str] = []
    position = 0
    for match in TITLE_SPLIT.finditer(title):
        if match.group(0) in ("-", "—", "－") and match.start() > 0 and title[match.start() - 1].isdigit():
            continue
        parts.append(title[position:match.start()])
        position = match.end()
    parts.append(title[position:])
    return [p.strip() for p in parts if p.strip()]


def _is_site(part: str, sites: list[str]) -> bool:
    """A part of a title that names the site or a column ("广州市人民政府门户网站", "通知公告")."""
    return part in sites or (len(part) <= 30 and bool(_SITE_PART.search(part)))


def without_site(text: str, sites: list[str]) -> str:
    """A title without the site's or a column's name before or after it: "保定市人民政府网——保定市统筹推动…"."""
    parts = title_parts(text)
    own = [p for p in parts if not _is_site(p, sites)]
    if not own or len(own) == len(parts):
        return text
    start, end = text.find(own[0]), text.rfind(own[-1]) + len(own[-1])
    return text[start:end] if 0 <= start < end else text


def _head_candidates(title: str, order: int, sites: list[str]) -> list[_Candidate]:
    """<title> without the site's and columns' names, and each of its own parts: a <title> that is only the
    site's name confirms nothing (the logo's heading says the same)."""
    own = [p for p in title_parts(title) if not _is_site(p, sites)]
    if not own:
        return []
    spans = [without_site(title, sites)] if len(own) > 1 else []
    # The first own part first: with nothing to agree with, it is the title on most templates.
    return [_Candidate(p, "head", order + i) for i, p in enumerate(dict.fromkeys(own + spans))]


# Each selector's elements, from one walk of the page.
_title_elements = SelectorSet(TITLE_SELECTORS)


def _heading_candidates(root: html.HtmlElement) -> list[_Candidate]:
    """Headings and title-like blocks outside chrome, at most ``_MAX_CANDIDATES`` elements looked at."""
    found: list[_Candidate] = []
    seen: set[html.HtmlElement] = set()  # the elements themselves: their proxies stay alive, so identity holds
    looked = 0
    for rank, matched in enumerate(_title_elements(root)):
        for el in matched[:_MAX_PER_SELECTOR]:
            looked += 1
            if looked > _MAX_CANDIDATES:
                return found
            if el in seen:
                continue
            seen.add(el)
            text = heading_text(el)
            if not text or len(text) < 4 or _CHROME_TEXT.search(text) or _INFO_LINE.search(text) or in_chrome(el):
                continue
            found.append(_Candidate(text, "heading" if rank < STRONG_TITLES else "weak", 100 + rank))
    return found


def choose_title(root: html.HtmlElement, meta: dict[str, str], list_title: str | None,
                 labelled: str | None = None) -> str:
    """The document's full title, or "" when the page and the list say none.

    Every candidate is scored by which other kinds of candidate agree with it (exact agreement counting
    again, so a wrapper around heading and subtitle loses to the heading); with nothing agreeing, meta
    ArticleTitle, then the list's title, then headings in template order. A list title cut with "…" is
    extended by the page's text, and a heading that omits "关于印发…的通知" by the list's or meta's full form.
    """
    candidates: list[_Candidate] = []
    sites = [clean_title(meta[k]) for k in _SITE_META if meta.get(k)]
    for order, name in enumerate(("articletitle", "og:title")):
        text = without_site(clean_title(meta.get(name, ""))[:_MAX_TEXT], sites)
        if len(text) >= 4 and not _CHROME_TEXT.search(text):
            candidates.append(_Candidate(text, "meta", order))
    text = clean_title(labelled or "")
    if len(text) >= 4:  # 标题 in a metadata table: written as the full title, like ArticleTitle
        candidates.append(_Candidate(text, "label", 50))
    candidates.extend(_heading_candidates(root))
    candidates.extend(_head_candidates(head_title(root), 200, sites))
    listed = clean_title(list_title or "")
    stem = clean_title(ELLIPSIS.sub("", listed))
    cut = stem != listed
    if len(stem) >= 2:
        candidates.append(_Candidate(stem, "list", 300))
    candidates = [c for c in candidates if c.key]
    if not candidates:  # only the site's name is left: better than no title at all
        return next(iter(title_parts(head_title(root))), "")
    scores = {id(c): _score(c, candidates) for c in candidates}
    best = max(candidates, key=lambda c: scores[id(c)])
    if best.kind == "list" and cut:
        longer = [c for c in candidates if c.kind != "list" and c.key.startswith(best.key) and c.key != best.key]
        return min(longer, key=lambda c: (len(c.key), c.order)).text if longer else best.text
    fuller = [c for c in candidates if c.kind in ("meta", "label", "list") and not (c.kind == "list" and cut)
              and len(c.key) > len(best.key) and best.key in c.key]
    return min(fuller, key=lambda c: c.order).text if fuller else best.text


def _score(c: _Candidate, candidates: list[_Candidate]) -> tuple:
    """Confirmed by <title> or the list first, then how many kinds agree (and exactly), then kind and order."""
    others = [o for o in candidates if _family(o) != _family(c)]
    support = {_family(o) for o in others if agree(c.key, o.key)}
    exact = {_family(o) for o in others if o.key == c.key}
    confirmed = bool(support & {"head", "list"})
    kind_rank = {"meta": 3, "label": 3, "list": 2, "heading": 1, "head": 0, "weak": -1}[c.kind]
    return (confirmed, len(support), len(exact), kind_rank, -c.order)


def _family(c: _Candidate) -> str:
    """Headings confirm each other no more than one heading does."""
    return "heading" if c.kind == "weak" else c.kind
