"""Extractive summaries: the sentences of a policy that carry what a reader acts on, in text order, ≤ 200 characters.

Editors of policy roundups keep the funding cap, the deadline, who may apply, the numbers and, for research
news, the finding; they drop the opener that restates the policy's purpose and the headings of its sections.
Sentences are scored by policywatch.digest.salience and picked greedily by what each adds to the summary per character;
room left is filled, in text order, with plain sentences (no values, no filler). The announcing
sentence (…印发《…》的通知…) is kept only when it tells more than the title. Whole sentences only (a sentence
longer than the budget is read as its clauses, split at "；"), at most 200 characters. A sentence loses only
its paragraph number, a salutation before it and a （以下简称…）; a short heading on its line becomes its label
(申报时间：…). The policy's name in 《》 and its document number stay as the page wrote them.
"""

from __future__ import annotations

import html
import re
from typing import TYPE_CHECKING

from policywatch.detection.edits import Edit, describe
from policywatch.digest.salience import Scorer, novelty

if TYPE_CHECKING:
    from collections.abc import Iterator

    from policywatch.digest.salience import Salience

MAX_CHARS = 200
_SENTENCE_END = re.compile(r"(?<=[。！？!?])")
_CLAUSE_END = re.compile(r"(?<=[；;])")
_ENDS = "。！？!?；;."
# Lines that are page furniture or letter scaffolding, not content.
_SCAFFOLD = re.compile(
    r"^(附件|联系人|联系电话|电话|传真|邮箱|地址|邮编|来源|发布时间|发布日期|责任编辑|抄送|主送)[：:]|^各.{1,20}[：:]$"
)
# A paragraph's number (一、 （二） 3. 第五条) or an answer's 答：, which a summary drops.
_NUMBERING = re.compile(
    r"^(?:[一二三四五六七八九十]+[、.．]|[（(][一二三四五六七八九十\d]{1,3}[)）]|\d{1,2}[、.．](?!\d+\s*(?:%|倍|元|万|亿))|[①-⑳]|"
    r"第[一二三四五六七八九十百零〇\d]+条|答[：:])\s*"
)
_LABEL = re.compile(r"^(?:专题|方向|任务|领域|类别|板块)[一二三四五六七八九十\d]+[：:]")
_SALUTATION = re.compile(r"^各[^。！？：:]{1,100}[：:]\s+")  # "各市（州）人民政府，…： " before a sentence on one line
_AS_CALLED = re.compile(r"[（(]以下(?:简称|称)[^）)]{1,30}[）)]")
_NUMERAL = r"[\d〇一二三四五六七八九十零\s]"
_DATE_LINE = re.compile(rf"^{_NUMERAL}{{2,5}}年{_NUMERAL}{{1,3}}月{_NUMERAL}{{1,3}}日")
_MIN_CHARS = 8
_LABEL_CHARS = 6  # a numbered heading this short labels the sentence after it
_HEADING_CHARS = 20  # a numbered piece this short, without a comma or a number, can be a section heading
_WRAP_CHARS = 16  # a line at least this long that stops mid-sentence was wrapped by the page, not ended

_TERMINAL = "。！？!?；;：:"  # a line ending with one of these ends where the page meant it to
_CONTINUES = "，,、（(《“‘—"  # a line ending with one of these stops in the middle of a sentence
_OPENS_MID = "，,。；;、）)》”’"  # a line starting with one of these goes on from the line before
_INNER = "，,；;。：:"
ALPHA = 0.5  # how much a long sentence's length counts against what it adds: between its worth and its density
LEAD_BIAS = 0.3  # the last sentence of a text counts this much less than the first
FILL_MAX_FILLER = 0.2  # a sentence filling the room left may have at most this share of filler
FILL_MIN_CHARS = 16  # and must be a sentence, not a list item's few words
MIN_NEW = 0.25  # a sentence with fewer of its character pairs new to the summary repeats it
MAX_SENTENCES = 1000  # sentences considered: a long policy has a few hundred, and states its main points first


def sentences(text: str) -> list[str]:
    """The text's sentences, stripped, without headings, salutations, contact lines and paragraph numbers.

    Lines the page wrapped in the middle of a sentence are joined first, so a sentence never starts halfway.
    """
    found = []
    for line in _lines(text):
        label = ""
        pieces = [piece for piece in _SENTENCE_END.split(line) if piece.strip()]
        for n, piece in enumerate(pieces):
            sentence = _clean(piece, run_in=n + 1 < len(pieces))
            if sentence:
                found.append(f"{label}：{sentence}" if label else sentence)
            label = _label(piece)
    return found


def summarise(text: str, terms: tuple[str, ...], max_chars: int = MAX_CHARS, title: str = "") -> str:
    """The sentences that add most of what a reader acts on, in text order, within max_chars; "" for no text.

    ``title`` is the policy's title as the digest shows it: a sentence that mostly repeats it adds nothing.
    When every sentence is filler, the one with the least stands alone.
    """
    candidates = _candidates(text, max_chars)
    if not candidates:
        return ""
    scorer = Scorer(terms, title)
    scores = [scorer.score(s) for s in candidates]
    return _join(candidates, _pick(candidates, scores, max_chars) or [_fallback(scores)])


def _lines(text: str) -> Iterator[str]:
    """The text's lines, with the lines of a hard-wrapped sentence joined into one."""
    held, last = "", ""
    for raw in text.splitlines():
        line = raw.strip(" \t\u3000|")
        if not line:
            continue
        if held and _wrapped(last, line):
            held += " " + line if last[-1].isascii() and line[0].isascii() else line
        else:
            if held:
                yield held
            held = line
        last = line
    if held:
        yield held


def _wrapped(line: str, following: str) -> bool:
    """Does ``line`` stop in the middle of a sentence that ``following`` goes on with?"""
    if line[-1] in _TERMINAL or _SCAFFOLD.search(line) or _starts_paragraph(following):
        return False
    if line[-1] in _CONTINUES or following[0] in _OPENS_MID:
        return True
    # A long line with a clause or two in it, stopping without a full stop: the page's line width cut it.
    return len(line) >= _WRAP_CHARS and any(ch in _INNER for ch in _NUMBERING.sub("", line)[1:])


def _starts_paragraph(line: str) -> bool:
    return bool(_NUMBERING.match(line) or _SCAFFOLD.search(line) or _DATE_LINE.match(line)
                or (line[0] == "各" and line[-1] in "：:"))


def _clean(piece: str, run_in: bool = False) -> str | None:
    """The piece as a summary may quote it, or None when it is no sentence, or only a section heading or a list
    item's few words: a short numbered piece that the paragraph's text follows on its line (``run_in``, as in
    一、检查范围。已完成备案的…) or that ends in "；" (（二）本市户籍人员；)."""
    piece = _SALUTATION.sub("", piece.strip(" \t\u3000|"))
    numbered = False
    while match := _NUMBERING.match(piece):
        piece, numbered = piece[match.end():], True
    headed = numbered or bool(_LABEL.match(piece))
    piece = _AS_CALLED.sub("", piece)
    if len(piece) < _MIN_CHARS or piece[-1] not in _ENDS or _SCAFFOLD.search(piece):
        return None
    if ((run_in or piece[-1] in "；;") and headed and len(piece) <= _HEADING_CHARS
            and not re.search(r"[，,；;\d]", piece[:-1])):
        return None
    return piece


def _label(piece: str) -> str:
    """The words of a short numbered heading (一、征集对象。), which the sentence after it on its line reads under
    (征集对象：本市高等院校…); "" for any other piece."""
    match = _NUMBERING.match(piece.strip(" \t\u3000|"))
    words = piece.strip(" \t\u3000|")[match.end():-1] if match else ""
    return words if 2 <= len(words) <= _LABEL_CHARS and piece.rstrip()[-1:] == "。" and words.isalnum() else ""


def _candidates(text: str, max_chars: int) -> list[str]:
    """Each distinct sentence that fits the budget, a longer one offering its clauses (split at "；") instead; the
    first MAX_SENTENCES of them, so that a huge page costs no more than a long policy."""
    found: dict[str, None] = {}
    for sentence in sentences(text):
        if sentence[-1] in "？?":  # a question states nothing; its answer is the sentence after it
            continue
        parts = [sentence] if len(sentence) <= max_chars else _CLAUSE_END.split(sentence)
        found.update((p.strip(), None) for p in parts if _MIN_CHARS <= len(p.strip()) <= max_chars)
        if len(found) >= MAX_SENTENCES:
            break
    return list(found)[:MAX_SENTENCES]


def _pick(candidates: list[str], scores: list[Salience], max_chars: int) -> list[int]:
    """The sentences to keep, in text order.

    First, greedily, the sentence whose facts add the most per character (softened by ALPHA), earlier sentences
    slightly ahead (LEAD_BIAS: a policy states its main points first), while one fits. Then, in text order, the
    sentences that state no value and carry no filler, while they fit: a summary with room left tells more, not
    less. A sentence that mostly repeats those already kept is never added.
    """
    picked = _Picked(max_chars)
    lead = [1 - LEAD_BIAS * i / len(candidates) for i in range(len(candidates))]
    while True:
        best, best_value = -1, 0.0
        for i, (sentence, salience) in enumerate(zip(candidates, scores, strict=True)):
            if picked.fits(i, sentence, salience):
                value = lead[i] * salience.gain(picked.covered) / _size(sentence) ** ALPHA
                if value > best_value:
                    best, best_value = i, value
        if best < 0:
            break
        picked.add(best, candidates[best], scores[best])
    for i, (sentence, salience) in enumerate(zip(candidates, scores, strict=True)):
        if (not salience.facts and len(sentence) >= FILL_MIN_CHARS and not salience.repeats_title
                and salience.filler <= FILL_MAX_FILLER
                and picked.fits(i, sentence, salience)):
            picked.add(i, sentence, salience)
    return sorted(picked.chosen)


class _Picked:
    """The sentences picked so far: their places, size, facts and character pairs."""

    def __init__(self, max_chars: int) -> None:
        self.max_chars = max_chars
        self.chosen: list[int] = []
        self.covered: set[str] = set()
        self.pairs: set[tuple[str, str]] = set()
        self.used = 0

    def fits(self, i: int, sentence: str, salience: Salience) -> bool:
        """Not picked yet, within the budget, and not a repeat of what is picked: new values, or mostly new words."""
        return (i not in self.chosen and self.used + _size(sentence) <= self.max_chars
                and (not salience.facts.keys() <= self.covered or novelty(salience.pairs, self.pairs) >= MIN_NEW))

    def add(self, i: int, sentence: str, salience: Salience) -> None:
        self.chosen.append(i)
        self.covered |= salience.facts.keys()
        self.pairs |= salience.pairs
        self.used += _size(sentence)


def _size(sentence: str) -> int:
    """Characters the sentence takes in the summary, with the space after a Latin full stop."""
    return len(sentence) + (sentence[-1] in ".!?;")


def _fallback(scores: list[Salience]) -> int:
    """The sentence worth most (the first of equals) when none is worth anything: the least filler."""
    gains = [salience.gain(set()) for salience in scores]
    return gains.index(max(gains))


def _join(candidates: list[str], chosen: list[int]) -> str:
    """The chosen sentences in order; a clause ending in "；" ends in "。" unless the next clause follows it."""
    text = ""
    for n, i in enumerate(chosen):
        part = candidates[i]
        if part[-1] in "；;" and (n + 1 == len(chosen) or chosen[n + 1] != i + 1):
            part = part[:-1] + ("。" if part[-1] == "；" else ".")
        text += (" " if text and text[-1] in ".!?;" else "") + part
    return text


def change_line(fields: list[str], edits: list[Edit] | None, language: str, marked: bool = False) -> str:
    """One line saying what changed: the parts, and for the text each edited sentence in context
    (policywatch.detection.edits): "更新：正文：资助金额由“最高200万元”调整为“最高250万元”". ``marked``: HTML, with the
    changed words in ``<del>``/``<ins>``."""
    names = FIELD_NAMES["en" if language == "en" else "zh"]
    parts = [names.get(f, f) for f in fields]
    line = ("Updated: " if language == "en" else "更新：") + (", " if language == "en" else "、").join(parts)
    if marked:
        line = html.escape(line)
    if not edits:
        return line
    return line + (" — " if language == "en" else "。") + describe(edits, language, marked)


FIELD_NAMES = {
    "zh": {"text": "正文", "title": "标题", "published": "发布日期", "authority": "发布机构", "doc_number": "文号",
           "index_number": "索引号", "written": "成文日期", "subject": "主题分类",
           "attachments": "附件列表", "attachment": "附件内容"},
    "en": {"text": "text", "title": "title", "published": "publish date", "authority": "issuer",
           "doc_number": "document number", "index_number": "index number", "written": "date written",
           "subject": "subject category", "attachments": "attachment list", "attachment": "attachment"},
}
