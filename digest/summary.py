"""Extractive summaries: the announcing sentence plus the sentences densest in the digest's topic terms.

Editors of policy roundups open with the sentence that says who issued what (…印发《…》的通知…) and follow with
what the policy says about their field. Whole sentences only, in their original order, at most 200 characters;
the policy's name in 《》 and its document number stay as the page wrote them.
"""

from __future__ import annotations

import html
import re

from detection.edits import Edit, describe

MAX_CHARS = 200
_SENTENCE_END = re.compile(r"(?<=[。！？!?])|\n")
_ANNOUNCING = re.compile(r"发布|印发|公布|出台|颁布|下发|施行|通知|通告|公告|立项|批复|发表|报道")
# Lines that are page furniture or letter scaffolding, not content.
_SCAFFOLD = re.compile(
    r"^(附件|联系人|联系电话|电话|传真|邮箱|地址|邮编|来源|发布时间|发布日期|责任编辑|抄送|主送)[：:]|^各.{1,20}[：:]$"
)
_MIN_CHARS = 8
_LOOKAHEAD = 6  # the announcing sentence is looked for among the first few sentences


def sentences(text: str) -> list[str]:
    """The text's sentences, stripped, without headings, salutations and contact lines."""
    found = []
    for piece in _SENTENCE_END.split(text):
        piece = piece.strip(" \t\u3000")
        if len(piece) >= _MIN_CHARS and not _SCAFFOLD.search(piece) and piece[-1] in "。！？!?；;.":
            found.append(piece)
    return found


def summarise(text: str, terms: tuple[str, ...], max_chars: int = MAX_CHARS) -> str:
    """The announcing sentence plus the most topic-dense sentences that fit, in text order; "" for no text."""
    candidates = [s for s in sentences(text) if len(s) <= max_chars]
    if not candidates:
        return ""
    lead = _announcing(candidates[:_LOOKAHEAD]) or candidates[0]
    chosen, used = {candidates.index(lead)}, len(lead)
    folded = tuple(term.casefold() for term in terms)
    density = [_density(s, folded) for s in candidates]
    ranked = sorted((i for i in range(len(candidates)) if i not in chosen), key=lambda i: (-density[i], i))
    for i in ranked:
        if density[i] == 0:
            break
        if used + len(candidates[i]) <= max_chars:
            chosen.add(i)
            used += len(candidates[i])
    return _join(candidates[i] for i in sorted(chosen))


def _announcing(candidates: list[str]) -> str | None:
    """The first sentence that says something was issued, preferring one that names the policy in 《》."""
    issuing = [s for s in candidates if _ANNOUNCING.search(s)]
    return next((s for s in issuing if "《" in s), issuing[0] if issuing else None)


def _density(sentence: str, folded_terms: tuple[str, ...]) -> float:
    """Topic terms (already casefolded) per character of the sentence."""
    folded = sentence.casefold()
    return sum(folded.count(term) for term in folded_terms) / len(sentence)


def _join(parts: object) -> str:
    text = ""
    for part in parts:
        text += (" " if text and text[-1] in ".!?;" else "") + part
    return text


def change_line(fields: list[str], edits: list[Edit] | None, language: str, marked: bool = False) -> str:
    """One line saying what changed: the parts, and for the text each edited sentence in context
    (detection.edits): "更新：正文：资助金额由“最高200万元”调整为“最高250万元”". ``marked``: HTML, with the changed
    words in ``<del>``/``<ins>``."""
    names = FIELD_NAMES["en" if language == "en" else "zh"]
    parts = [names.get(f, f) for f in fields]
    line = ("Updated: " if language == "en" else "更新：") + (", " if language == "en" else "、").join(parts)
    if marked:
        line = html.escape(line)
    if not edits:
        return line
    return line + (" — " if language == "en" else "。") + describe(edits, language, marked)


def _clip(text: str, limit: int = 30) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


FIELD_NAMES = {
    "zh": {"text": "正文", "title": "标题", "published": "发布日期", "authority": "发布机构", "doc_number": "文号",
           "index_number": "索引号", "written": "成文日期", "subject": "主题分类",
           "attachments": "附件列表", "attachment": "附件内容"},
    "en": {"text": "text", "title": "title", "published": "publish date", "authority": "issuer",
           "doc_number": "document number", "index_number": "index number", "written": "date written",
           "subject": "subject category", "attachments": "attachment list", "attachment": "attachment"},
}
