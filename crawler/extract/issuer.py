"""The issuing body of a policy page, chosen among the labels and forms a page names it by.

A page may name several bodies: 发布机构 in its metadata table, "来源：市府办" in the info line under the title,
主办单位 in the footer (the site's owner), and a decree names its issuer in its own form ("国家卫生健康委员会令").
They are ranked: the labels that mean "issuer" (发布机构, 发文机关) over those that mean "author" (发文单位) over
those that mean "where this text came from" (来源) over the site owner (主办); a metadata-table value over a
byline. A division (科技教育司, 产业处) is named with its parent body, which the page gives as its site's name.

The text itself names its issuer too: in a decree's form, in a deck atop it ("江西省统计局 国家统计局江西调查总队"
over its date) and in its signature. A deck naming other bodies than the page's 发布机构 marks a reprint, and
the text's issuers win; a signature settles a page whose only 来源 is the site itself.
"""

from __future__ import annotations

import re
from typing import NamedTuple

# Label tiers, best first. 发布机关 is the 广州 spelling of 发文机关.
LABEL_TIERS = (
    ("发布机构", "发文机关", "发布机关"),
    ("发文单位", "制发机关", "发布单位", "制发单位", "成文单位"),
    ("来源", "信息来源", "文章来源", "稿件来源"),
    ("主办", "主办单位"),
)
ISSUER_LABELS = tuple(label for tier in LABEL_TIERS for label in tier)
_TIER = {label: n for n, tier in enumerate(LABEL_TIERS) for label in tier}
_REPRINT_TIER = -1  # the issuers a reprinted text names atop itself, over the reposting site's 发布机构
_DECK_TIER = 1.4  # issuers named atop a text with its date (a bulletin's deck)
_DECREE_TIER = 1.5  # a decree's own form: below the issuer labels, above 来源 (a reprint's database or paper)
_META_TIER = 2.5  # meta ContentSource: what the CMS says the 来源 is, below a visible 来源
_TITLE_TIER = 2.8  # "XX关于…": the issuer a title names
_SIGNATURE_TIER = 2.9  # the body signed at the end of the text, above its date
_SITE_SOURCE_TIER = 2.95  # 来源 naming the site itself
_OWNER_TIER = 3  # 主办单位: in a metadata table the publishing body; in a footer only the site's owner

_JUNK = re.compile(r"^(?:本网|本站|网站|管理员|admin|原创|分享|打印|关闭|收藏|字号|无)$|管理员$", re.I)
_SITE_PREFIX = re.compile(r"^(?:本网|本站)\s*")
# A footer line: the site's owner with its contacts, not a document's issuer.
_FOOTER = re.compile(r"版权|ICP|备案|承办|联系|地址|电话|邮编|网站标识码|技术支持")
# A bare division of a ministry or bureau: "科技教育司", "产业处", "办公室" (nothing before it names a body).
_DIVISION = re.compile(r"^[\u4e00-\u9fff]{1,12}(?:司|处|科|室)$")
# A body of a place: "省招标投标工作专班办公室", "广州市住房保障办公室" (not 市场监管处, 区域协调处).
_PLACE = re.compile(r"^(?:国家|中国|中华|[\u4e00-\u9fff]{0,6}?[省市县区州](?![场域政级属直]))")
# A division that names its body first: "省能源局节能处", "国家卫生健康委员会科技教育司".
_NAMES_PARENT = re.compile(
    r"^[\u4e00-\u9fff]{1,20}?(?:委员会|人民政府|政府|办公厅|总局|局|厅|委|署|部)(?=[\u4e00-\u9fff]{2,}$)")
# What names a body: the ends of 国家卫生健康委员会, 广州市人民政府办公厅, 国家能源局 ….
_BODY_END = r"(?:委员会|人民政府|政府|办公厅|办公室|总局|部|局|院|厅|委|署|中心|银行|总署|委办|府办|队|小组)"
_ORGAN = re.compile(rf"^[\u4e00-\u9fff]{{2,30}}{_BODY_END}$")
_SHORT_ORGAN = re.compile(r"^(?:中国|国家)?[\u4e00-\u9fff]{1,10}(?:会|总局|监会|银行|署)$")
# "国家卫生健康委员会令 第3号", "中华人民共和国国务院令第746号", "国家发展改革委 工业和信息化部 … 八部委令第20号".
_DECREE = re.compile(
    r"^\s*([\u4e00-\u9fff][\u4e00-\u9fff\s、，,…]{1,200}?)\s*令\s*(?:[（(]?\s*第\s*\d{1,5}\s*号\s*[）)]?)?\s*$")
_BARE_DECREE = re.compile(r"^令\s*(?:[（(]?\s*第\s*\d{1,5}\s*号\s*[）)]?)?$")
_DECREE_IN_NUMBER = re.compile(r"([\u4e00-\u9fff][\u4e00-\u9fff\s、…]{1,200}?)令\s*[（(]?\s*第\s*\d{1,5}\s*号")
# "八部委", "九部门", "联合": a count of joint issuers, who are listed around it.
_JOINT = re.compile(r"^[一二三四五六七八九十百\d]+(?:个)?(?:部委|部门|单位)$|^联合$")
# A sentence about a decree, not its issuer: "贯彻落实国务院令", "关于公布…令".
_CITING = re.compile(r"^(?:关于|根据|依据|按照|贯彻|落实|执行|实施|学习|印发|转发|公布|废止|修改)")
_PRC = re.compile(r"^中华人民共和国(?=国务院$)")
_SPLIT = re.compile(r"[\s、，,…]+|等(?=[一二三四五六七八九十\d]|$)")
_SPACE_RUN = re.compile(r"\s+")
_HEAD_LINES = 15  # lines at the top of the body where a red-head or promulgation line stands


class Labelled(NamedTuple):
    """A value the page writes after an issuer label, and whether it stands in a byline with other labels."""

    label: str
    value: str
    byline: bool


def choose_issuer(
    labelled: list[Labelled], meta: dict[str, str], title_issuer: str | None, body: str,
    title: str, doc_number: str | None, parents: list[str],
) -> str | None:
    """The body that issued the page's document, a division with its parent; None when the page names none.

    主办单位 in a byline or the footer names the site's owner: it is a parent for a division, never the issuer
    (a site reprints other bodies' documents; the source's configured authority covers a page naming none).
    """
    found: list[tuple[float, int, int, str]] = []  # (tier, byline, order, value)
    owners: list[str] = []
    for order, item in enumerate(labelled):
        value = _usable(item.value)
        if not value:
            continue
        tier = _TIER.get(item.label, 2)
        if tier == _OWNER_TIER and (item.byline or _FOOTER.search(item.value)):
            owners.append(value)
            continue
        found.append((tier, int(item.byline), order, value))
    decree = decree_issuer(title, body, doc_number)
    if decree:
        found.append((_DECREE_TIER, 0, -1, decree))
    signer = signature_issuer(body)
    if signer:
        found.append((_SIGNATURE_TIER, 0, 0, signer))
    deck = deck_issuer(body)
    if deck:
        labelled_issuer = min((f for f in found if f[0] < _DECREE_TIER), default=None)
        # A text that names other issuers atop itself than the page's 发布机构 is a reprint: the text is right.
        reprint = labelled_issuer is not None and labelled_issuer[3] not in deck
        found.append((_REPRINT_TIER if reprint else _DECK_TIER, 0, 0, deck))
    sites = {_organ_name(p) or p for p in parents}
    # "来源：<this site>" says only that the site published it: the signature names the issuer better.
    found = [(_SITE_SOURCE_TIER if t == _TIER["来源"] and (v in sites or _organ_name(v) in sites) else t, b, o, v)
             for t, b, o, v in found]
    source = _usable(meta.get("contentsource", ""))
    if source:
        found.append((_META_TIER, 1, 0, source))
    if title_issuer:
        found.append((_TITLE_TIER, 1, 0, title_issuer))
    if not found:
        return None
    best = min(found)[3]
    return with_parent(best, [*parents, *owners, *(v for t, _, _, v in sorted(found) if t >= _OWNER_TIER)])


def _usable(value: str) -> str | None:
    """A labelled value that can name a body: not empty, a date, an account name or a sentence."""
    value = _SITE_PREFIX.sub("", (value or "").strip(" ：:，,。|"))
    if len(value) < 2 or _JUNK.search(value) or re.search(r"\d{4}\s*[-年/.]\s*\d", value):
        return None
    if len(value) > 40:  # only a list of bodies is this long ("中国人民银行 金融监管总局 …"), never a sentence
        names = [n for n in _SPLIT.split(value) if n]
        if len(value) > 200 or not all(_ORGAN.match(n) or _SHORT_ORGAN.match(n) for n in names):
            return None
    return value


def with_parent(value: str, parents: list[str]) -> str:
    """A bare division named with the body it belongs to ("国家卫生健康委 科技教育司"); anything else as given."""
    if not _DIVISION.match(value) or _NAMES_PARENT.match(value) or _PLACE.match(value):
        return value
    for parent in parents:
        parent = _organ_name(parent)
        if parent and parent != value and not parent.endswith(value):
            return f"{parent} {value}"
    return value


def _organ_name(text: str) -> str | None:
    """The body a site name or footer line names: "国家卫生健康委员会网站" → 国家卫生健康委员会."""
    text = re.sub(r"(?:门户)?(?:网站|网|官网|政务网)$|版权所有.*$|^.*主办单位[:：]", "", (text or "").strip()).strip()
    text = _PRC.sub("", text)
    text = re.sub(r"^中华人民共和国(?=[\u4e00-\u9fff]{3,})", "", text)
    return text if _ORGAN.match(text) else None


def decree_issuer(title: str, body: str, doc_number: str | None) -> str | None:
    """The issuer a decree names in its own form: "…令 第N号" in the title, the number, or a red-head line.

    Joint orders list their issuers before 令 ("国家发展改革委 工业和信息化部 … 八部委令"), or on the lines above
    a bare "令"; they are joined by "、". "中华人民共和国国务院令" is issued by 国务院.
    """
    lines = [line.strip() for line in (body or "").split("\n")[:_HEAD_LINES] if line.strip()]
    for n, line in enumerate(lines):
        match = _DECREE.match(line)
        if match or _BARE_DECREE.match(line):
            issuers = _issuers(match.group(1) if match else "", lines[max(0, n - 12):n])
            if issuers:
                return issuers
    # A title names a decree it is ("国家卫生健康委员会令（第3号）"), not one it cites ("关于贯彻落实国务院令…").
    for match in (_DECREE.match(title or ""), _DECREE_IN_NUMBER.search(doc_number or "")):
        if match:
            issuers = _issuers(match.group(1), [])
            if issuers:
                return issuers
    return None


def _issuers(named: str, above: list[str]) -> str | None:
    """The bodies named before 令, or, for a count ("八部委") or nothing, the bodies on the lines above it."""
    split = [_PRC.sub("", n) for n in _SPLIT.split(named.strip()) if n]
    names = [n for n in split if not _JOINT.match(n)]
    joint = len(names) < len(split)
    if any(_CITING.match(n) for n in names):
        return None
    organs = [n for n in names if _ORGAN.match(n)]
    listed = [n for line in above for n in _SPLIT.split(line) if n and _ORGAN.match(n)]
    if (not names or joint) and len(listed) > len(organs):  # "国家发展改革委等八部委令": the red-head lists all
        return "、".join(dict.fromkeys(listed))
    if organs and len(organs) == len(names):
        return "、".join(dict.fromkeys(organs))
    return None


_SIGNATURE_DATE = re.compile(
    r"^(?:(?:19|20)\d{2}年\d{1,2}月\d{1,2}日|[〇○零一二三四五六七八九]{4}年[一二三四五六七八九十]{1,3}月[一二三四五六七八九十]{1,3}日)$")
_BRACKETED_SIGNER = re.compile(r"^[（(]\s*([\u4e00-\u9fff][\u4e00-\u9fff\s、]{1,80})\s*[）)]$")
_SIGNATURE_LINES = 12  # lines at the end of the text where the signature stands (before a 附件 list, …)
_SENTENCE = re.compile(r"[，。；：:,]")
_DECK_LINES = 6  # lines atop a text where its issuers and date stand (after a repeated title)


def deck_issuer(body: str) -> str | None:
    """The issuers a text names atop itself over its date, as written: "江西省统计局 国家统计局江西调查总队"
    above "2023年3月28日" (a statistical bulletin, a joint report)."""
    lines = [_SPACE_RUN.sub(" ", line).strip() for line in (body or "").split("\n")[:_DECK_LINES]]
    lines = [line for line in lines if line]
    for n, line in enumerate(lines[:-2]):  # text follows the date: a signature at the end is no deck
        if _SENTENCE.search(line):
            return None  # the text has begun
        names = [name for name in _SPLIT.split(line) if name]
        date = _SPACE_RUN.sub("", lines[n + 1]).strip("（）()")
        if names and len(line) <= 80 and all(map(_is_organ, names)) and _SIGNATURE_DATE.match(date):
            return line
    return None


def _is_organ(name: str) -> bool:
    return bool(_ORGAN.match(name) or _SHORT_ORGAN.match(name))


def signature_issuer(body: str) -> str | None:
    """The body or bodies a text is signed by: organ names on the lines just above its closing date, or in
    brackets on its last line."""
    lines = [line.strip() for line in (body or "").split("\n")[-_SIGNATURE_LINES:] if line.strip()]
    for n in range(len(lines) - 1, 0, -1):
        if not _SIGNATURE_DATE.match(_SPACE_RUN.sub("", lines[n])):
            continue
        signers: list[str] = []
        for line in reversed(lines[max(0, n - 8):n]):
            names = [name for name in _SPLIT.split(line) if name]
            if not names or len(line) > 80 or not all(map(_is_organ, names)):
                break
            signers[:0] = names
        if signers:
            return "、".join(dict.fromkeys(signers))
    # A bulletin signs with its body in brackets as its last line: "（万载县统计局）".
    bracketed = _BRACKETED_SIGNER.match(lines[-1]) if lines else None
    if bracketed and all(map(_is_organ, _SPLIT.split(bracketed.group(1).strip()))):
        return bracketed.group(1).strip()
    return None


_COPYRIGHT = re.compile(
    r"([\u4e00-\u9fff]{4,30})\s*版权所有|(?:版权所有|Copyright)\s*[:：©]?\s*(?:©\s*)?(?:\d{4}\s*(?:-\s*\d{4}\s*)?)?"
    r"([\u4e00-\u9fff]{4,30})", re.I)


# The words every copyright line has; without them the costly pattern (which backtracks at every Chinese character)
# is not run at all.
_COPYRIGHT_WORD = re.compile("版权所有|copyright", re.I)


def copyright_owners(page_text: str) -> list[str]:
    """Bodies a page's copyright line names ("国家卫生健康委员会 版权所有"), in page order."""
    tail = page_text[-5000:]
    if not _COPYRIGHT_WORD.search(tail):
        return []
    return [a or b for a, b in _COPYRIGHT.findall(tail)]
