"""Fields of a policy detail page: title, date, authority, document number, body, attachments.

Pages of 规范性文件 and 政府信息公开 also carry a metadata table (索引号, 主题分类, 成文日期 …);
those are read with the same label machinery as 发文机关 and 发文字号.

Each field is taken from the first place that has it, in the order a careful
reader would trust: the source's own selectors, the page's labelled metadata
(发文机关, 发布时间 …), CMS meta tags, what the list page said, then heuristics.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urljoin, urlsplit

import parsel

from policywatch.core.config import select
from policywatch.core.hanzi import char_classes, either_script
from policywatch.core.model import SELECTOR_MISSED
from policywatch.core.normalize import clean_text, clean_url
from policywatch.crawler.extract.attachment_links import absolute_url, attachment_links
from policywatch.crawler.extract.content import (
    MIN_BODY_CHARS,
    body_from,
    element_text,
    embedded_text,
    main_text,
    parse_html,
    repair,
    strip_invisible,
)
from policywatch.crawler.extract.dates import DATE, labelled_date, parse_date, to_iso, url_date
from policywatch.crawler.extract.docnum import (
    DOC_NUMBER,
    OWN_FORM_AT_END,
    decree_lines,
    find_doc_number,
    red_head_number,
)
from policywatch.crawler.extract.issuer import ISSUER_LABELS, Labelled, choose_issuer, copyright_owners
from policywatch.crawler.extract.title import choose_title, clean_title, site_names
from policywatch.crawler.extract.trim import LINK_ONLY_MAX_CHARS, link_key, link_only, trim_body

if TYPE_CHECKING:
    from collections.abc import Iterator

    from lxml import html

    from policywatch.core.config import DetailRule

# "全国人民代表大会常务委员会关于…": the issuer a title names before 关于. Not "转发国家卫生健康委关于…":
# a repost names the original issuer, not its own.
_TITLE_ISSUER = re.compile(
    r"^(?!转发|关于转发)([\u4e00-\u9fa5]{2,30}?(?:委员会|人民政府|办公厅|办公室|总局|部|局|院|厅|委|署|中心))关于")
_META_DATES = ("pubdate", "publishdate", "firstpublishedtime", "publishtime",
               "article:published_time", "dc.date")
_DIGIT_CJK_SPACE = re.compile(r"(?<=\d)\s+(?=[\u4e00-\u9fa5])|(?<=[\u4e00-\u9fa5])\s+(?=\d)")
# A promulgation line at the top of a body: "（2021年7月27日中华人民共和国国务院令第746号公布）".
_PROMULGATED = re.compile(DOC_NUMBER.pattern.join(("(", r")\s*(?:公布|发布)")))
# The title as a metadata table labels it (gov.cn 标题, SAIC 名称, NEA 公开事项名称).
_TITLE_LABELS = ("标题", "名称", "信息名称", "文件名称", "公开事项名称")
_DOCNUM_LABELS = ("发文字号", "文号", "发文号", "文件编号")
_INDEX_LABELS = ("索引号",)
# 成文日期 is the signing date, not the publication date (see dates.labelled_date).
_WRITTEN_LABELS = ("成文日期", "成文时间")
# 主题分类; gkmlpt tables call it 分类. (主题词 are keywords, not a category.)
_SUBJECT_LABELS = ("主题分类", "分类")
# A label of a metadata table: a few characters, or single characters spaced out ("索 引 号"), then a colon.
_LABEL = r"(?:[\u4e00-\u9fff]{1,8}|[\u4e00-\u9fff](?:\s[\u4e00-\u9fff]){1,7})\s*[:：]"
_STARTS_WITH_LABEL = re.compile(_LABEL)
# Where a value ends when more labels follow on its line.
_NEXT_LABEL = re.compile(
    r"\s{2,}|\s+" + _LABEL + r"|\s*(?:" + "|".join(map(either_script, (
        "发布时间", "发布日期", "时间", "日期", "作者", "浏览次数", "阅读次数", "点击数", "浏览", "字号")))
    + r")\s*[:：]"
)
# 000014349/2019-00007, 11440100MB2C90856P/2023-00331: letters, digits and separators, no spaces.
_INDEX_NUMBER = re.compile(r"[0-9A-Za-z][0-9A-Za-z/\-－_.]{3,59}")
_SPACE = re.compile(r"\s+")
# An empty label's next line is the text's salutation ("各市州发展改革委：") or a sentence, not its value.
_SALUTATION = re.compile(r"[:：]$|[，。；！？]")
# The info line under a title ("发布时间：… 来源：…"), which CMSs often split into one span per label.
_ISSUER_FIRST_CHARS = frozenset(label[0] for label in ISSUER_LABELS)
_INFO_LABEL = re.compile(r"\s*(?:发布时间|发布日期|时间|日期|浏览次数|点击数|作者|字号)\s*[:：]")


@dataclass
class DetailFields:
    title: str
    text: str
    published: str | None = None
    authority: str | None = None
    doc_number: str | None = None
    attachments: list[str] = field(default_factory=list)
    canonical_url: str | None = None
    index_number: str | None = None  # 索引号
    written: str | None = None  # 成文日期, ISO date
    subject: str | None = None  # 主题分类
    warnings: list[str] = field(default_factory=list)  # one line each: what extraction could not do as configured
    linked_url: str | None = None  # a link-only page: the page or file its text is in (see _settled_body)


def extract_detail(
    page: str, url: str, rule: DetailRule | None = None,
    list_title: str | None = None, list_date: str | None = None,
) -> DetailFields:
    """Extract every field of a detail page; missing fields are None, never guessed wildly."""
    root = parse_html(page)
    # Every element's Python proxy, held while the page is read: lxml.html makes a proxy by a Python-level class
    # lookup, and without a live one each of the passes below (text, links, selectors …) would make it again.
    # (A local lives until the function returns.)
    _elements = list(root.iter())
    ruled = _ruled(root, rule)
    meta = _meta(root)
    canonical = _canonical(root, url)
    strip_invisible(root)
    page_text = element_text(root.body if root.find("body") is not None else root)
    attachments = attachment_links(root, url)
    # Before the body is taken out of the tree: the title is chosen among all the page's headings.
    title = clean_title(ruled.get("title") or "") or choose_title(
        root, meta, list_title, _first_labelled(page_text, _TITLE_LABELS))
    body_el = ruled.get("body_el")
    text = body_from(body_el) if body_el is not None else main_text(root, page)
    if len(text) < MIN_BODY_CHARS:
        text = embedded_text(repair(page)) or text
    text, body_warnings, linked_url = _settled_body(root, url, text, title, attachments)
    found_number = _doc_number(page_text, text, title or "")  # the page's own, which the issuer is read beside
    return _cleaned(DetailFields(
        title=_DIGIT_CJK_SPACE.sub("", title or ""),
        text=text,
        published=parse_date(ruled.get("date")) or _published(page_text, meta, url)
        or parse_date(list_date) or _date_before_body(page_text, text),
        authority=ruled.get("authority") or _authority(root, page_text, meta, title or "", text, found_number),
        doc_number=find_doc_number(ruled.get("doc_number") or "") or found_number,
        attachments=attachments,
        canonical_url=canonical,
        index_number=_index_number(page_text),
        written=_written(page_text),
        subject=_subject(page_text),
        warnings=[*ruled.get("warnings", []), *body_warnings],
        linked_url=linked_url,
    ))


def _settled_body(
    root: html.HtmlElement, url: str, text: str, title: str | None, attachments: list[str],
) -> tuple[str, list[str], str | None]:
    """The body without page furniture at either end (policywatch.crawler.extract.trim), whichever path found it, and
    the URL it only links to when the page carries no text of its own (a 解读 page that is a "查看原文" link).

    A link-only page keeps its link text with the URL under it, and says so in a warning: its text is
    elsewhere (the spider fetches a linked file as the document's attachment; see PolicySpider.parse_detail).
    """
    links = _page_links(root, url)
    files = set(attachments)
    trimmed = trim_body(text, title, frozenset(link_key(label) for label, href in links if href not in files))
    if len(trimmed.text) > LINK_ONLY_MAX_CHARS:
        return trimmed.text, trimmed.warnings, None
    linked = link_only(trimmed.text, title, links, url)
    if linked is None:
        return trimmed.text, trimmed.warnings, None
    body = trimmed.text if linked in trimmed.text else f"{trimmed.text}\n{linked}"
    return body, [f"no policy text: the page only links to {linked}"], linked


def _page_links(root: html.HtmlElement, url: str) -> list[tuple[str, str]]:
    """The page's web links as (visible text, absolute URL), in page order."""
    links = []
    for el in root.iter("a"):
        href = (el.get("href") or "").strip()
        if not href or href.startswith("#"):
            continue
        absolute = absolute_url(url, href)
        if urlsplit(absolute).scheme.lower() in ("http", "https"):
            links.append((_fold(el.text_content()), absolute))
    return links


def _cleaned(fields: DetailFields) -> DetailFields:
    """Every field as it may be stored and shown: a page's character references (``&#27;``) and CMS meta tags
    bring control characters back after decoding removed the raw ones (see policywatch.core.normalize.clean_text)."""
    for name in ("title", "text", "authority", "doc_number", "index_number", "subject"):
        value = getattr(fields, name)
        if value:
            setattr(fields, name, clean_text(value))
    fields.attachments = list(dict.fromkeys(map(clean_url, fields.attachments)))
    fields.canonical_url = fields.canonical_url and clean_url(fields.canonical_url)
    return fields


def _ruled(root: html.HtmlElement, rule: DetailRule | None) -> dict[str, Any]:
    """Values picked by the source's own detail selectors (text, whitespace-folded).

    The body is returned as the element itself (``body_el``), so it is cleaned
    together with the rest of the tree. A selector that matches nothing leaves its field to automatic extraction,
    with a line in ``warnings``: a changed page template should be seen, not silently worked around.
    """
    if rule is None:
        return {}
    sel = parsel.Selector(root=root, type="html")
    values: dict[str, Any] = {"warnings": []}
    for name in ("title", "date", "authority", "doc_number", "body"):
        selector = getattr(rule, name)
        if not selector:
            continue
        found = select(sel, selector)
        if name == "body":
            values["body_el"] = found[0].root if found else None
        else:
            values[name] = _fold(" ".join(found.getall())) or None
        if values.get("body_el" if name == "body" else name) is None:
            values["warnings"].append(SELECTOR_MISSED.format(field=name, selector=selector))
    return values


def _fold(text: str) -> str:
    return _SPACE.sub(" ", text).strip()


def _meta(root: html.HtmlElement) -> dict[str, str]:
    """CMS meta tags (ArticleTitle, PubDate, ContentSource …) keyed by lowercased name."""
    found: dict[str, str] = {}
    for el in root.iter("meta"):
        name = (el.get("name") or el.get("property") or "").strip().lower()
        content = (el.get("content") or "").strip()
        if name and content and name not in found:
            found[name] = content
    return found


def _canonical(root: html.HtmlElement, url: str) -> str | None:
    for el in root.iter("link"):
        if "canonical" in (el.get("rel") or "").lower().split() and el.get("href"):
            candidate = urljoin(url, el.get("href").strip())
            if urlsplit(candidate).scheme in ("http", "https"):
                return candidate
    return None


LABEL_VALUE_CHARS = 500  # the most of a line a labelled value is read from: a page of one long line stays linear


@functools.cache
def _label_pattern(label: str) -> tuple[re.Pattern[str], ...]:
    """A label, in either script, then a colon; spaces may sit between its characters ("索 引 号").

    One pattern per spelling of the label's first character, each starting with that character itself: the
    regex engine skips to a literal first character ten times quicker than to a character class, and every page
    is searched for every label. Their matches together are the matches of the one pattern with the class.
    What may precede a label is checked by ``_label_matches``.
    """
    first, *rest = char_classes(label)
    spellings = list(first[1:-1]) if first.startswith("[") else [first]
    if any(char in "\\^-[]" for char in "".join(spellings)):  # not a plain list of characters: keep the class
        spellings = [first]
    tail = "".join(rf"\s*{cls}" for cls in rest)
    value = rf"[^\n]{{0,{LABEL_VALUE_CHARS}}}"
    return tuple(re.compile(rf"({spelling}{tail})\s*[:：]\s*({value})(?:\n({value}))?") for spelling in spellings)


def _label_matches(patterns: tuple[re.Pattern[str], ...], text: str) -> Iterator[re.Match[str]]:
    """Matches of a label's patterns, in page order, that start the text or follow a space or a cell border
    (】 ] |)."""
    ahead = {pattern: pattern.search(text) for pattern in patterns}  # each pattern's next match
    while found := [m for m in ahead.values() if m is not None]:
        match = min(found, key=lambda m: m.start())
        start = match.start()
        if start == 0 or text[start - 1] in "】]|" or text[start - 1].isspace():
            yield match
            position = match.end()
        else:
            position = start + 1
        # Only the matches now behind are searched again: searching every spelling again after each rejected
        # match would scan the rest of the page once per rejection for a spelling the page lacks (quadratic).
        for pattern, next_match in ahead.items():
            if next_match is not None and next_match.start() < position:
                ahead[pattern] = pattern.search(text, position)


def _labelled(page_text: str, labels: tuple[str, ...]) -> list[str]:
    """Values written after any of ``labels``: on the same line, or alone on the next one.

    A label with an empty value (an empty table cell) has none: the next label is not its value.
    """
    values = []
    for label in labels:
        for match in _label_matches(_label_pattern(label), page_text):
            value = match.group(2).strip()
            if not value:
                value = (match.group(3) or "").strip()
            if value and not _STARTS_WITH_LABEL.match(value):
                values.append(value)
    return values


def _first_labelled(page_text: str, labels: tuple[str, ...]) -> str | None:
    return next(iter(_labelled(page_text, labels)), None)


def _authority(root: html.HtmlElement, page_text: str, meta: dict[str, str], title: str, body: str,
               doc_number: str | None) -> str | None:
    """The issuing body: ranked labels, a decree's own form, meta ContentSource, the issuer the title names
    (see policywatch.crawler.extract.issuer); a bare division is named with the site's body."""
    issuer = _TITLE_ISSUER.match(title)
    parents = site_names(root, meta) + copyright_owners(page_text)
    return choose_issuer(_issuer_labels(page_text), meta, issuer.group(1) if issuer else None, body, title,
                         doc_number, parents)


def _issuer_labels(page_text: str) -> list[Labelled]:
    """Values after the issuer labels, in page order per label, each marked when it sits in a byline: a line
    with other labels ("发布时间：… 来源：市府办"), not a metadata table's cell."""
    found = []
    for label in ISSUER_LABELS:
        for match in _label_matches(_label_pattern(label), page_text):
            value = match.group(2).strip()
            if not value:  # the value on the next line, unless that is the text's salutation or a sentence
                value = (match.group(3) or "").strip()
                if _SALUTATION.search(value):
                    continue
            if not value or _STARTS_WITH_LABEL.match(value):
                continue
            line_start = page_text.rfind("\n", 0, match.start()) + 1
            before = page_text[line_start:match.start()]
            previous = page_text[page_text.rfind("\n", 0, max(line_start - 1, 0)) + 1:line_start]
            byline = bool(_STARTS_WITH_LABEL.search(before) or _STARTS_WITH_LABEL.search(match.group(2).strip()[1:])
                          or _INFO_LABEL.match(previous))
            found.append(Labelled(label, _own_value(value), byline))
    lines = page_text.split("\n")
    for n, line in enumerate(lines[:-1]):  # a table cell holding only the label, its value in the next cell
        if line.lstrip()[:1] not in _ISSUER_FIRST_CHARS:  # cheap: most lines cannot be a label
            continue
        label = _SPACE.sub("", line)
        value = lines[n + 1].strip()
        if label in ISSUER_LABELS and value and not (_STARTS_WITH_LABEL.match(value) or _SALUTATION.search(value)):
            found.append(Labelled(label, _own_value(value), False))
    return found


def _published(page_text: str, meta: dict[str, str], url: str) -> str | None:
    """The labelled publication date, else the CMS's meta date. Where the meta date and the date in the URL's
    path agree on another day than the label, they win: the label then holds some other date the CMS filled in
    (a reprinted law's effective date shown as 公开日期)."""
    labelled = labelled_date(page_text)
    stamped = next((d for d in map(parse_date, (meta.get(k) for k in _META_DATES)) if d), None)
    if labelled and stamped and stamped != labelled and stamped == url_date(url):
        return stamped
    return labelled or stamped


def _date_before_body(page_text: str, body: str) -> str | None:
    """An unlabelled date in the page header: the last one before the body starts."""
    first_line = body.split("\n", 1)[0][:30]
    end = page_text.find(first_line) if first_line else -1
    dates = [to_iso(*m.groups()) for m in DATE.finditer(page_text[: end if end > 0 else 0])]
    return next((d for d in reversed(dates) if d), None)


def _doc_number(page_text: str, body: str, title: str = "") -> str | None:
    """发文字号 from a label, a line of its own, a decree's or announcement's title ending with its number, a
    red-head "2023年第5号" line, or a promulgation line atop the body. A number quoted in a sentence is never one:
    it is another document's."""
    for value in _labelled(page_text, _DOCNUM_LABELS):
        number = find_doc_number(value)
        if number:
            return number
    for line in page_text.split("\n"):
        line = line.strip()
        if DOC_NUMBER.fullmatch(line):
            return find_doc_number(line)
    own = OWN_FORM_AT_END.search(title)
    if own:
        return find_doc_number(own.group(0))
    serial = red_head_number([line for line in body.split("\n")[:8] if line.strip()]) or decree_lines(
        line for line in page_text.split("\n") if line.strip())
    if serial:
        return serial
    for line in body.split("\n")[:3]:
        promulgated = _PROMULGATED.search(line)
        if promulgated:
            return find_doc_number(promulgated.group(1))
    return None


def _own_value(value: str) -> str:
    """A labelled value up to the next label on its line ("000014349/2018-00243 主题分类：…")."""
    return _NEXT_LABEL.split(value)[0].strip(" ：:，,。|")


def _index_number(page_text: str) -> str | None:
    """索引号, the 政府信息公开 catalogue number, as written."""
    for value in _labelled(page_text, _INDEX_LABELS):
        number = _INDEX_NUMBER.match(_own_value(value))
        if number and any(c.isdigit() for c in number.group(0)):
            return number.group(0)
    return None


def _written(page_text: str) -> str | None:
    """成文日期 (the date the document was signed) as an ISO date."""
    for value in _labelled(page_text, _WRITTEN_LABELS):
        written = parse_date(_own_value(value))
        if written:
            return written
    return None


def _subject(page_text: str) -> str | None:
    """主题分类, as written ("市场监管、安全生产监管\\工商")."""
    for value in _labelled(page_text, _SUBJECT_LABELS):
        value = _own_value(value)
        if 2 <= len(value) <= 60 and not parse_date(value):
            return value
    return None
