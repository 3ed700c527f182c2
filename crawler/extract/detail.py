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

from crawler.extract.content import (
    MIN_BODY_CHARS,
    body_from,
    css,
    element_text,
    embedded_text,
    main_text,
    parse_html,
    repair,
    strip_invisible,
)
from crawler.extract.dates import DATE, labelled_date, parse_date, to_iso
from crawler.extract.docnum import DOC_NUMBER, find_doc_number
from policywatch.config import select
from policywatch.hanzi import char_classes, either_script
from policywatch.normalize import clean_text, clean_url

if TYPE_CHECKING:
    from collections.abc import Iterator

    from lxml import html

    from policywatch.config import DetailRule

ATTACHMENT_EXTENSIONS = (".pdf", ".doc", ".docx", ".wps", ".xls", ".xlsx", ".et", ".ofd",
                         ".zip", ".rar", ".7z", ".ppt", ".pptx", ".txt", ".csv")
_TITLE_SELECTORS = (".article-title", ".wdtit", ".content_title", ".article_title", "div.tit",
                    "#ivs_title", ".titles", ".wrapper_deatil_title", ".detail-article-title",
                    ".xxgk_title", ".news_title", "h1", "h2")
_TITLE_SPLIT = re.compile(r"\s*(?:[-_|｜—]{1,2}|——)\s*")
_ELLIPSIS = re.compile(r"(?:\.{3}|…+)\s*$")
_JUNK_AUTHORITY = re.compile(r"^(?:本网|本站|网站|管理员|admin|原创|分享|打印|关闭|收藏|字号)$|管理员$")
_SITE_PREFIX = re.compile(r"^(?:本网|本站)\s*")
# "全国人民代表大会常务委员会关于…": the issuer a title names before 关于. Not "转发国家卫生健康委关于…":
# a repost names the original issuer, not its own.
_TITLE_ISSUER = re.compile(
    r"^(?!转发|关于转发)([\u4e00-\u9fa5]{2,30}?(?:委员会|人民政府|办公厅|办公室|总局|部|局|院|厅|委|署|中心))关于")
_META_DATES = ("pubdate", "publishdate", "firstpublishedtime", "publishtime",
               "article:published_time", "dc.date")
_DIGIT_CJK_SPACE = re.compile(r"(?<=\d)\s+(?=[\u4e00-\u9fa5])|(?<=[\u4e00-\u9fa5])\s+(?=\d)")
# A promulgation line at the top of a body: "（2021年7月27日中华人民共和国国务院令第746号公布）".
_PROMULGATED = re.compile(DOC_NUMBER.pattern.join(("(", r")\s*(?:公布|发布)")))
_AUTHORITY_LABELS = ("发文机关", "发布机构", "发文单位", "制发机关", "发布单位", "信息来源", "来源")
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


def extract_detail(
    page: str, url: str, rule: DetailRule | None = None,
    list_title: str | None = None, list_date: str | None = None,
) -> DetailFields:
    """Extract every field of a detail page; missing fields are None, never guessed wildly."""
    root = parse_html(page)
    ruled = _ruled(root, rule)
    meta = _meta(root)
    canonical = _canonical(root, url)
    strip_invisible(root)
    page_text = element_text(root.body if root.find("body") is not None else root)
    attachments = _attachments(root, url)
    body_el = ruled.get("body_el")
    text = body_from(body_el) if body_el is not None else main_text(root)
    if len(text) < MIN_BODY_CHARS:
        text = embedded_text(repair(page)) or text
    title = ruled.get("title") or _title(root, meta, list_title) or _first_labelled(page_text, ("标题",))
    return _cleaned(DetailFields(
        title=_DIGIT_CJK_SPACE.sub("", title or ""),
        text=text,
        published=parse_date(ruled.get("date")) or labelled_date(page_text)
        or next((d for d in map(parse_date, (meta.get(k) for k in _META_DATES)) if d), None)
        or parse_date(list_date) or _date_before_body(page_text, text),
        authority=ruled.get("authority") or _authority(page_text, meta, title or ""),
        doc_number=find_doc_number(ruled.get("doc_number") or "") or _doc_number(page_text, text),
        attachments=attachments,
        canonical_url=canonical,
        index_number=_index_number(page_text),
        written=_written(page_text),
        subject=_subject(page_text),
    ))


def _cleaned(fields: DetailFields) -> DetailFields:
    """Every field as it may be stored and shown: a page's character references (``&#27;``) and CMS meta tags
    bring control characters back after decoding removed the raw ones (see policywatch.normalize.clean_text)."""
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
    together with the rest of the tree.
    """
    if rule is None:
        return {}
    sel = parsel.Selector(root=root, type="html")
    values: dict[str, Any] = {}
    for name in ("title", "date", "authority", "doc_number"):
        selector = getattr(rule, name)
        if selector:
            values[name] = _fold(" ".join(select(sel, selector).getall())) or None
    if rule.body:
        found = select(sel, rule.body)
        values["body_el"] = found[0].root if found else None
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


def _title(root: html.HtmlElement, meta: dict[str, str], list_title: str | None) -> str:
    """The document's full title.

    meta ArticleTitle wins (CMSs fill it with the full title). Otherwise a page
    heading that matches the list's title (lists often abbreviate or cut it
    with "…"), else the list's own title, else the first plausible heading.
    """
    article_title = _fold(meta.get("articletitle") or meta.get("og:title") or "")
    if len(article_title) >= 4:
        return article_title
    stem = _ELLIPSIS.sub("", _fold(list_title or ""))
    headings = [_fold(el.text_content()) for selector in _TITLE_SELECTORS
                for el in css(selector)(root)[:1]]
    head = root.find(".//title")
    if head is not None and head.text:
        headings.append(_fold(_TITLE_SPLIT.split(head.text.strip())[0]))
    headings = [h for h in headings if len(h) >= 4]
    if stem:
        key = stem[: min(len(stem), 8)]
        return next((h for h in headings if key in h and len(h) >= len(stem)), stem)
    return headings[0] if headings else ""


@functools.cache
def _label_pattern(label: str) -> re.Pattern[str]:
    """A label, in either script, then a colon; spaces may sit between its characters ("索 引 号").

    The pattern starts with the label itself, so the regex engine can skip to its first character;
    what may precede a label is checked by ``_label_matches``.
    """
    spaced = r"\s*".join(char_classes(label))
    return re.compile(rf"({spaced})\s*[:：]\s*([^\n]*)(?:\n([^\n]*))?")


def _label_matches(pattern: re.Pattern[str], text: str) -> Iterator[re.Match[str]]:
    """Matches of a label pattern that start the text or follow a space or a cell border (】 ] |)."""
    position = 0
    while match := pattern.search(text, position):
        start = match.start()
        if start == 0 or text[start - 1] in "】]|" or text[start - 1].isspace():
            yield match
            position = match.end()
        else:
            position = start + 1


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


def _authority(page_text: str, meta: dict[str, str], title: str) -> str | None:
    """发文机关 / 来源 … on the page, else meta ContentSource, else the issuer the title names."""
    for value in _labelled(page_text, _AUTHORITY_LABELS):
        value = _SITE_PREFIX.sub("", _own_value(value))
        if 2 <= len(value) <= 40 and not _JUNK_AUTHORITY.search(value) and not parse_date(value):
            return value
    source = _SITE_PREFIX.sub("", meta.get("contentsource", "").strip())
    if len(source) >= 2 and not _JUNK_AUTHORITY.search(source):
        return source
    issuer = _TITLE_ISSUER.match(title)
    return issuer.group(1) if issuer else None


def _date_before_body(page_text: str, body: str) -> str | None:
    """An unlabelled date in the page header: the last one before the body starts."""
    first_line = body.split("\n", 1)[0][:30]
    end = page_text.find(first_line) if first_line else -1
    dates = [to_iso(*m.groups()) for m in DATE.finditer(page_text[: end if end > 0 else 0])]
    return next((d for d in reversed(dates) if d), None)


def _doc_number(page_text: str, body: str) -> str | None:
    """发文字号 from a label, a line of its own, or a promulgation line atop the body."""
    for value in _labelled(page_text, _DOCNUM_LABELS):
        number = find_doc_number(value)
        if number:
            return number
    for line in page_text.split("\n"):
        line = line.strip()
        if DOC_NUMBER.fullmatch(line):
            return find_doc_number(line)
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


def _attachments(root: html.HtmlElement, url: str) -> list[str]:
    """Absolute URLs of linked files (PDF, Word, WPS, Excel …), in page order, once each."""
    found: dict[str, None] = {}
    for el in root.iter("a"):
        href = (el.get("href") or "").strip()
        if not href or href.startswith("#"):
            continue
        absolute = urljoin(url, href)
        parts = urlsplit(absolute)
        if parts.scheme.lower() in ("http", "https") and parts.path.lower().endswith(ATTACHMENT_EXTENSIONS):
            found[absolute] = None
    return list(found)
