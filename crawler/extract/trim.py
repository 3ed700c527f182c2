"""Where a policy's text begins and ends inside the text a body container or an extractor gave.

Body containers and main-content extractors often take page furniture along: above the text, the
政府信息公开 metadata table (索引号 / 发布机构 / 成文日期 …), an info line ("发布日期：… 来源：… 浏览次数：…"),
font-size and print widgets, a breadcrumb and the title once more; below it, the editor's name
("（责任编辑：…）"), print/close/share rows and in-editor related-link lists ("相关解读：" and its links).
The metadata is read into fields from the whole page elsewhere (policywatch.crawler.extract.detail); here those lines
only go.

Only lines that are furniture through and through are removed, and only from the two ends: a policy's
signature and date lines, its 附件 list and anything that reads as a sentence stay. Every test is on one
line of bounded length (lines longer than ``_MAX_CHROME_LINE`` are text by definition), so trimming is
linear in the size of the body however many chrome lines a page repeats.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from policywatch.core.hanzi import char_classes

# Furniture is short; a longer line is the policy's own text.
_MAX_CHROME_LINE = 200
# A value under a label that stands alone in its table cell ("发文机关" / "国务院").
_MAX_VALUE_LINE = 200
# Lines of a related-link list under its header; a longer run is not a link list.
_MAX_RELATED_LINES = 40
_MAX_RELATED_LINE = 100
# How many lines a repeated title may be broken over at the top of a body.
_MAX_TITLE_LINES = 5

# Labels of the metadata table and the info line above a body, in either script.
_HEADER_LABELS = (
    "索引号", "主题分类", "体裁分类", "组配分类", "主题词", "分类", "发文机关", "发文机构", "发布机构", "发文单位",
    "制发机关", "发布单位", "成文日期", "成文时间", "发文字号", "文号", "发文号", "文件编号", "发布日期", "发布时间",
    "发文日期", "印发日期", "生效日期", "实施日期", "施行日期", "废止日期", "有效性", "时效性", "有效期",
    "标题", "名称", "信息名称", "公开方式", "公开范围", "公开时限", "公开形式", "公开日期", "信息来源",
    "文章来源", "来源", "作者", "浏览次数", "阅读次数", "访问次数", "点击数", "点击量", "浏览量", "阅读量",
    "时间", "日期", "字号", "字体", "所属机构", "所属主题", "服务对象", "关键词", "生成日期", "责任部门",
)


def _label_alternation(labels: tuple[str, ...]) -> str:
    """Labels longest first, each with a few spaces allowed between its characters ("索 引 号", "标    题")."""
    spaced = (r"\s{0,4}".join(char_classes(label)) for label in sorted(labels, key=len, reverse=True))
    return "(?:" + "|".join(spaced) + ")"


# "索引号：…", "| 索引号 | … |", "发布机构" alone in its cell, "【发布日期】…", "- 索 引 号：…" (a list item).
_LABEL_LINE = re.compile(
    r"(?:[-*·•]\s)?[|｜【\[]?\s*" + _label_alternation(_HEADER_LABELS) + r"\s*(?:[】\]]\s*)?(?P<end>[:：]|[|｜]|$)")
# The info line's labels, which templates also put under a text ("发布日期：… 浏览次数：…").
_INFO_LINE = re.compile(
    r"(?:[-*·•]\s)?[|｜【\[]?\s*" + _label_alternation((
        "发布日期", "发布时间", "信息来源", "文章来源", "来源", "作者", "浏览次数", "阅读次数", "访问次数", "点击数",
        "点击量", "浏览量", "阅读量", "字号")) + r"\s*(?:[】\]]\s*)?[:：]")
_BREADCRUMB = re.compile(r"您?(?:当前|现在|目前|所在|的)+位置\s*[:：]?|首页\s*[>»＞›→/]")
# Dates standing alone above a text: "2023-12-01 10:30", "2023/12/01".
_BARE_DATE = re.compile(r"\d{4}\s*[-/.]\s*\d{1,2}\s*[-/.]\s*\d{1,2}(?:\s+\d{1,2}:\d{2}(?::\d{2})?)?")
# Words of toolbars and widgets. A line made of these and punctuation only is a widget row.
_WIDGET_WORDS = re.compile(
    r"字体大小|字号大小|字体|字号|默认|打印本页|打印文章|打印此页|打印正文|打印页面|打印|关闭本页|关闭窗口|关闭"
    r"|分享到|分享至|分享|收藏本页|收藏|加入收藏|返回顶部|回到顶部|返回首页|返回|顶部|我要纠错|纠错|下载本页"
    r"|扫一扫在手机打开当前页|扫一扫在手机上查看当前页面|手机扫一扫打开此页|扫一扫|手机打开|在手机打开当前页|二维码"
    r"|用手机浏览|手机浏览|微信扫一扫|微信|朋友圈|新浪微博|腾讯微博|微博|QQ空间|qq空间|QQ好友|QQ|人人网|豆瓣网|豆瓣"
    r"|复制链接|保存|视力保护色|无障碍|大字版|长者模式|阅读模式|A\+|A-|A"
)
# What may stand between widget words: brackets, separators, 大 中 小 of a font switch.
_WIDGET_FILLER = re.compile(r"[\s【】\[\]()（）<>《》|｜:：·•/、,，.。\-—_大中小标准较超特]*")
# "（责任编辑：王某）", "责任编辑：王某", "编辑：张某 审核：李某".
_EDITOR = re.compile(
    r"[（(【\[]?\s*(?:责任编辑|责编|编辑|审核|审校|校对|终审|初审|复审|二审|三审|签发|监制|撰稿|校审|值班编辑)"
    r"\s*[:：]")
_PAGER = re.compile(r"(?:上一篇|下一篇|上一条|下一条|上篇|下篇)\s*[:：]")
# "相关解读：", "【相关文章】", "相关链接" … heading a list of links the editor placed under the text.
_RELATED = re.compile(
    r"[【\[]?\s*(?:相关(?:解读|文章|链接|新闻|稿件|阅读|附件|文件|政策|报道|内容|信息|资讯|推荐|专题)"
    r"|延伸阅读|推荐阅读|热点推荐|猜你喜欢|关联文件|政策解读链接)\s*[】\]]?\s*[:：]?")
_SENTENCE_END = re.compile(r"[。；;！!？?]\s*$")
# "政策解读：https://…", "一图读懂：http://…": a labelled bare link under a text.
_LABELLED_URL = re.compile(r"[\u4e00-\u9fff]{2,10}\s*[:：]\s*https?://\S+")
# A run of this many lines that are each a link's text, at the end of a body, is a link list, not text.
_MIN_LINK_RUN = 3
# Bullets a template writes before each item of a link list ("· 市教育局").
_BULLETS = frozenset("·•●○◆◇■□▪►▶>»*-")
_NO_KEY = re.compile(r"[\s\u3000:：,，.。、;；!！?？\"'“”‘’《》<>()（）【】\[\]·•\-—_]+")
_NOT_TITLE_CHARS = re.compile(r"[\s\u3000《》“”\"'‘’<>〈〉「」]+")


@dataclass
class Trimmed:
    """A trimmed body, and what trimming left to say (a body that was furniture only is kept, with a warning)."""

    text: str
    warnings: list[str] = field(default_factory=list)


def link_key(text: str) -> str:
    """A line or a link's text, compared without spaces and punctuation."""
    return _NO_KEY.sub("", text)


def _short(line: str, limit: int = _MAX_CHROME_LINE) -> bool:
    return len(line) <= limit


def is_widget_line(line: str) -> bool:
    """Font-size switches, print/close/share rows, QR-code captions: widget words and punctuation only."""
    if not _short(line):
        return False
    rest, words = _WIDGET_WORDS.subn("", line)
    return words > 0 and _WIDGET_FILLER.fullmatch(rest) is not None


def is_breadcrumb(line: str) -> bool:
    """"当前位置：首页 > 政务公开 > …", "您现在的位置：…", "首页 > 通知公告"."""
    return _short(line) and _BREADCRUMB.match(line) is not None


def _header_label(line: str) -> re.Match[str] | None:
    """A metadata-table or info-line label opening the line."""
    return _LABEL_LINE.match(line) if _short(line) else None


def _is_value(line: str) -> bool:
    """Whether a line can be the value under a label alone in its cell: short, not itself a label, and not the
    text's first line (a salutation "各区人民政府：" or a sentence) when the table left the value empty."""
    return (_short(line, _MAX_VALUE_LINE) and _header_label(line) is None and not _SENTENCE_END.search(line)
            and not line.rstrip().endswith((":", "：")))


def _title_key(text: str) -> str:
    return _NOT_TITLE_CHARS.sub("", text)


def _title_lines(lines: list[str], start: int, title_key: str) -> int:
    """How many lines from ``start`` spell out the title (0 if they do not)."""
    if not title_key:
        return 0
    joined = ""
    for n in range(start, min(start + _MAX_TITLE_LINES, len(lines))):
        joined += _title_key(lines[n])
        if joined == title_key:
            return n - start + 1
        if not title_key.startswith(joined):
            return 0
    return 0


def _leading_end(lines: list[str], title: str | None) -> int:
    """Index of the first line of the text proper: the header furniture above it is skipped."""
    title_key = _title_key(title or "")
    title_seen = False
    i = 0
    while i < len(lines):
        line = lines[i]
        if not line.strip():
            i += 1
            continue
        label = _header_label(line)
        if label is not None:
            # A label alone in its cell (with its colon or without): the next line is its value.
            if not line[label.end():].strip(" |｜\u2002\u3000\xa0"):
                nxt = lines[i + 1] if i + 1 < len(lines) else None
                if nxt is not None and _is_value(nxt):
                    i += 1
            i += 1
            continue
        if is_widget_line(line) or is_breadcrumb(line) or (_short(line, 40) and _BARE_DATE.fullmatch(line)):
            i += 1
            continue
        if not title_seen and (n := _title_lines(lines, i, title_key)):
            title_seen = True
            i += n
            continue
        break
    return i


def _trailing_end(lines: list[str], start: int, link_texts: frozenset[str]) -> int:
    """Index just past the last line of the text proper: editor lines, widget rows and link lists go."""
    end = len(lines)
    while end > start:
        line = lines[end - 1]
        if not line.strip():
            end -= 1
            continue
        if _short(line) and not _SENTENCE_END.search(line) and (
                _EDITOR.match(line) or _PAGER.match(line) or _INFO_LINE.match(line)
                or _LABELLED_URL.fullmatch(line) or is_widget_line(line)):
            end -= 1
            continue
        header = _related_header(lines, start, end)
        if header is None:
            header = _link_run(lines, start, end, link_texts)
        if header is None:
            break
        end = header
    return end


def _link_run(lines: list[str], start: int, end: int, link_texts: frozenset[str]) -> int | None:
    """Where a run of lines ending at ``end`` begins, each line the text of one of the page's links (at least
    ``_MIN_LINK_RUN`` of them) or an unlinked item of the same bulleted list: a footer's list of departments,
    a "related news" list whose heading was an image."""
    bullet = lines[end - 1][:1] if lines[end - 1][:1] in _BULLETS else None
    j, linked = end, 0
    while j > start and _short(lines[j - 1], _MAX_RELATED_LINE):
        line = lines[j - 1]
        if link_key(line) in link_texts:
            linked += 1
        elif bullet is None or not line.startswith(bullet):  # an unlinked item of the same bulleted list is one
            break
        j -= 1
    return j if linked >= _MIN_LINK_RUN else None


def _related_header(lines: list[str], start: int, end: int) -> int | None:
    """The line heading a related-link list that runs to ``end``, if the lines above ``end`` are one."""
    j = end - 1
    while j >= start and end - j <= _MAX_RELATED_LINES + 1:
        line = lines[j]
        related = _RELATED.match(line) if _short(line, _MAX_RELATED_LINE) else None
        if related is not None:
            return j
        if not _short(line, _MAX_RELATED_LINE) or _SENTENCE_END.search(line):
            return None
        j -= 1
    return None


def trim_body(text: str, title: str | None = None, link_texts: frozenset[str] = frozenset()) -> Trimmed:
    """The text without leading page-header lines and trailing editor, widget and related-link lines.

    ``link_texts`` are the ``link_key`` of the page's links to other pages (not to its files: an attachment
    list closes many policies); a run of them at the end of the text is a link list.

    A body that is nothing but such lines is returned as it was, with a warning: an empty text would
    hide that extraction found no policy text at all.
    """
    if not text.strip():
        return Trimmed(text)
    lines = text.split("\n")
    start = _leading_end(lines, title)
    end = _trailing_end(lines, start, link_texts)
    if start == 0 and end == len(lines):
        return Trimmed(text)
    kept = "\n".join(lines[start:end]).strip()
    if not kept:
        return Trimmed(text, ["the body is page furniture only (header, widgets, editor or link lines)"])
    return Trimmed(kept)


# A page whose text is only links: "点击查看原文", "附件：xxx.pdf", the title linked. Longer is a text.
LINK_ONLY_MAX_CHARS = 200
# Words around a link that say "the text is over there".
_LINK_WORDS = re.compile(
    r"^(?:附件\s*\d*\s*[:：.、]?|相关(?:附件|文件|链接|政策|政策文件)\s*[:：]?|政策原文\s*[:：]?|原文链接\s*[:：]?"
    r"|原文地址\s*[:：]?|链接\s*[:：]|下载\s*[:：]|详见\s*[:：]?)\s*"
    r"|\s*[（(]?\s*(?:点击|请点击)?(?:查看|下载|阅读|浏览)(?:原文|全文|详情|附件|文件)?\s*[)）]?\s*$")
# A link whose text says it leads to the document itself.
_ORIGINAL_LINK = re.compile(r"[（(【\[]?\s*(?:点击|请点击)?\s*(?:查看|阅读|浏览|下载)\s*(?:原文|全文)\s*[)）】\]]?")
_URL_LINE = re.compile(r"https?://\S+")


def _is_chrome_line(line: str) -> bool:
    """A header, widget, breadcrumb, date or editor line: furniture wherever it stands in a short body."""
    return _short(line) and bool(
        _header_label(line) or is_widget_line(line) or is_breadcrumb(line) or _BARE_DATE.fullmatch(line)
        or _EDITOR.match(line))


def _same_page(href: str, own_url: str) -> bool:
    return href.split("#", 1)[0] == own_url.split("#", 1)[0]


def link_only(text: str, title: str | None, links: list[tuple[str, str]], own_url: str) -> str | None:
    """The URL a page's body only links to, or None when the body has text of its own.

    ``links`` are the page's links as (visible text, absolute URL), in page order. The body is link-only
    when it is short and every line of it, less the title, furniture lines and words such as "附件：" or
    "点击查看原文", is the text of a link (or a bare URL); the first such link's URL is returned. A body that
    is only the title points to the link that carries the title, or to a "查看原文" link.
    """
    if len(text) > LINK_ONLY_MAX_CHARS or not text.strip():
        return None
    by_text: dict[str, str] = {}
    for label, href in links:
        key = link_key(label)
        if key and not _same_page(href, own_url):
            by_text.setdefault(key, href)
    title_key = link_key(title or "")
    found: list[str] = []
    for line in (line.strip() for line in text.split("\n")):
        if not line or _is_chrome_line(line):
            continue
        if _URL_LINE.fullmatch(line):
            found.append(line)
            continue
        key = link_key(line)
        bare = link_key(_LINK_WORDS.sub("", line))
        target = by_text.get(key) or by_text.get(bare)
        if target is not None:
            found.append(target)
        elif key != title_key and bare:
            return None
    if found:
        return found[0]
    return by_text.get(title_key) or next(
        (href for label, href in links if _ORIGINAL_LINK.fullmatch(label.strip()) and not _same_page(href, own_url)),
        None)
