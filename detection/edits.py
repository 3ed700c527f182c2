"""What an edit of a policy's text changed, sentence by sentence, in words a reader can act on.

A word count ("新增“20”，删去“15”") says that something moved, not what: the reader needs the sentence around the
change. The old and new texts are split into sentences and the sentences aligned; a sentence only edited is told
as the clause around the edit, before and after ("资助金额由“最高200万元”调整为“最高250万元”"), with the changed
words marked; an inserted or deleted sentence is quoted whole, shortened if long. Digests (every format), the
archive site and ``policywatch changes`` all print :func:`describe` of :func:`sentence_edits`, so a reader sees the
same words wherever the change is shown.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from difflib import SequenceMatcher

from policywatch.detection.diff import tokenize

_SENTENCE = re.compile(r"[^。！？!?；;\n]*(?:[。！？!?；;]+|\n|$)")
_CLAUSE_BREAK = "，,、：:（）()“”\"《》 "
_SIMILAR = 0.5  # below this share of words in common, an edited sentence is told as removed and added
_CONTEXT = 1  # words kept on each side of the changed words, within their clause
# A one-character linking word next to the change (…日期为2023年…) is left out of the quote and the lead: the
# line reads "申报截止日期由“2023年…”调整为…", not "…日期为由“…”".
_LINKING = set("为是于在至由的了和及与对自从按将把被")
_LEAD = 12  # characters of the clause before the kept words, to say what the changed words are about
_QUOTE = 60  # characters of an inserted or deleted sentence quoted
# Bounds on what is aligned (SequenceMatcher is quadratic on repeated items, and a page is anyone's): past the
# common start and end, at most this many sentences a side are aligned; a longer middle is told as no detail. A
# sentence longer than _LONG characters is not diffed word by word, but told as removed and added.
_MAX_SENTENCES = 400
_LONG = 2000


@dataclass(frozen=True)
class Edit:
    """One sentence's change. ``before``/``after``: (text, changed) runs, shortened around the change (``before``
    empty for an added sentence, ``after`` for a removed one); ``lead``: the clause's words before them."""

    kind: str  # "changed", "added" or "removed"
    before: tuple[tuple[str, bool], ...]
    after: tuple[tuple[str, bool], ...]
    lead: str = ""


def sentences(text: str) -> list[str]:
    """The text's sentences, each with its closing punctuation, blank ones left out."""
    return [s.strip() for s in _SENTENCE.findall(text) if s.strip()]


def sentence_edits(old: str, new: str) -> list[Edit]:
    """Every sentence-level edit from ``old`` to ``new``, in the new text's order; none (no detail to tell) when
    more than _MAX_SENTENCES sentences a side differ between the texts' common start and end."""
    old_s, new_s = sentences(old), sentences(new)
    head = 0
    while head < min(len(old_s), len(new_s)) and old_s[head] == new_s[head]:
        head += 1
    tail = 0
    while tail < min(len(old_s), len(new_s)) - head and old_s[-1 - tail] == new_s[-1 - tail]:
        tail += 1
    old_s, new_s = old_s[head:len(old_s) - tail], new_s[head:len(new_s) - tail]
    if max(len(old_s), len(new_s)) > _MAX_SENTENCES:
        return []
    edits: list[Edit] = []
    for op, a1, a2, b1, b2 in SequenceMatcher(None, old_s, new_s, autojunk=False).get_opcodes():
        if op == "equal":
            continue
        olds, news = old_s[a1:a2], new_s[b1:b2]
        paired = min(len(olds), len(news))
        for before, after in zip(olds[:paired], news[:paired], strict=True):
            edits += _edited(before, after)
        edits += [_whole("removed", s) for s in olds[paired:]]
        edits += [_whole("added", s) for s in news[paired:]]
    return edits


def describe(edits: list[Edit], language: str, marked: bool = False, limit: int = 3) -> str:
    """The edits as one line, at most ``limit`` of them and a count of the rest. ``marked``: HTML, the text
    escaped and the changed words in ``<del>``/``<ins>``; else plain text."""
    english = language == "en"
    told = [_told(e, english, marked) for e in edits[:limit]]
    if len(edits) > limit:
        rest = len(edits) - limit
        told.append(f"and {rest} more edit{'s' if rest > 1 else ''}" if english else f"等另外{rest}处修改")
    return ("; " if english else "；").join(told)


def _edited(before: str, after: str) -> list[Edit]:
    """One sentence edited: each clause's changed words in context, or a removal and an addition if little is left
    (or if the sentence is too long to diff word by word)."""
    if len(before) + len(after) > _LONG:
        return [_whole("removed", before), _whole("added", after)]
    old_t, new_t = tokenize(before), tokenize(after)
    matcher = SequenceMatcher(None, old_t, new_t, autojunk=False)
    if matcher.ratio() < _SIMILAR:
        return [_whole("removed", before), _whole("added", after)]
    # Edits whose kept words between them cross a clause break are told apart, each with its own clause.
    clusters: list[list[tuple[str, int, int, int, int]]] = []
    for op in matcher.get_opcodes():
        if op[0] == "equal":
            if clusters and clusters[-1] and _breaks(old_t[op[1]:op[2]]):
                clusters.append([])
            continue
        if not clusters:
            clusters.append([])
        clusters[-1].append(op)
    return [_in_context(old_t, new_t, matcher, ops) for ops in clusters if ops]


def _in_context(old_t: list[str], new_t: list[str], matcher: SequenceMatcher,
                ops: list[tuple[str, int, int, int, int]]) -> Edit:
    """One cluster of changed words, widened to a word or so of its clause on each side, with the clause's words
    before them as the lead."""
    a1, b1 = ops[0][1], ops[0][3]
    a2, b2 = ops[-1][2], ops[-1][4]
    left = _reach(old_t, a1, -1)
    if left < a1 and old_t[left] in _LINKING:
        left += 1
    elif left > 0 and _single_han(old_t[left - 1]):  # 不|超过, 未|满: a one-character word goes with the next
        left -= 1
    right_old, right_new = _reach(old_t, a2 - 1, 1), _reach(new_t, b2 - 1, 1)
    lead_tokens = old_t[_clause_start(old_t, left):left]
    while lead_tokens and lead_tokens[0].strip(_CLAUSE_BREAK) == "":
        lead_tokens = lead_tokens[1:]
    if lead_tokens and lead_tokens[-1] in _LINKING:
        lead_tokens = lead_tokens[:-1]
    clipped = False
    while len("".join(lead_tokens)) > _LEAD:  # whole words only, from the left
        lead_tokens, clipped = lead_tokens[1:], True
    lead = ("…" if clipped else "") + "".join(lead_tokens).strip()
    before_runs = _runs(old_t, new_t, matcher, left, right_old + 1, side=0)
    after_runs = _runs(old_t, new_t, matcher, left + (b1 - a1), right_new + 1, side=1)
    return Edit("changed", before_runs, after_runs, lead)


def _breaks(tokens: list[str]) -> bool:
    """Whether kept words hold a clause or sentence break."""
    return any(t.strip() and (t.strip() in _CLAUSE_BREAK or t.strip() in "。！？!?；;") for t in tokens)


def _single_han(token: str) -> bool:
    return len(token) == 1 and "\u4e00" <= token <= "\u9fff" and token not in _LINKING


def _reach(tokens: list[str], index: int, step: int) -> int:
    """The furthest index, from ``index`` by ``step``, within _CONTEXT words and the same clause."""
    words, i = 0, index
    while 0 <= i + step < len(tokens) and words < _CONTEXT:
        token = tokens[i + step].strip()
        if token and (token in _CLAUSE_BREAK or token in "。！？!?；;"):
            break
        i += step
        words += bool(token)
    return i


def _clause_start(tokens: list[str], index: int) -> int:
    """Where the clause holding ``tokens[index]`` starts."""
    i = index
    while i > 0 and not (tokens[i - 1].strip() and tokens[i - 1].strip() in _CLAUSE_BREAK):
        i -= 1
    return i


def _runs(old_t: list[str], new_t: list[str], matcher: SequenceMatcher, start: int, end: int,
          side: int) -> tuple[tuple[str, bool], ...]:
    """One side's tokens from ``start`` to ``end`` (that side's indices) as (text, changed) runs."""
    runs: list[list] = []
    for op, a1, a2, b1, b2 in matcher.get_opcodes():
        lo, hi, tokens = (a1, a2, old_t) if side == 0 else (b1, b2, new_t)
        for i in range(max(lo, start), min(hi, end)):
            changed = op != "equal"
            if runs and runs[-1][1] == changed:
                runs[-1][0] += tokens[i]
            else:
                runs.append([tokens[i], changed])
    return tuple((text, changed) for text, changed in runs)


def _whole(kind: str, sentence: str) -> Edit:
    shown = sentence if len(sentence) <= _QUOTE else sentence[: _QUOTE - 1] + "…"
    runs = ((shown, True),)
    return Edit(kind, runs if kind == "removed" else (), runs if kind == "added" else ())


def _lone_change(other: tuple[tuple[str, bool], ...], runs: tuple[tuple[str, bool], ...]) -> bool:
    """Whether ``runs`` only add one stretch of words after some kept ones, which ``other`` lacks: a plain
    insertion (or, the sides swapped, a deletion), told as "在“…”后新增“…”"."""
    plain = not any(changed for _, changed in other)
    return plain and len(runs) >= 2 and not runs[0][1] and runs[1][1] and not any(c for _, c in runs[2:])


def _told(edit: Edit, english: bool, marked: bool) -> str:
    def side(runs: tuple[tuple[str, bool], ...], tag: str) -> str:
        if not marked:
            return "".join(text for text, _ in runs)
        return "".join(f"<{tag}>{html.escape(text)}</{tag}>" if changed else html.escape(text)
                       for text, changed in runs)

    lead = html.escape(edit.lead) if marked else edit.lead
    if edit.kind == "added":
        return f"added “{side(edit.after, 'ins')}”" if english else f"新增“{side(edit.after, 'ins')}”"
    if edit.kind == "removed":
        return f"removed “{side(edit.before, 'del')}”" if english else f"删去“{side(edit.before, 'del')}”"
    inserted, deleted = _lone_change(edit.before, edit.after), _lone_change(edit.after, edit.before)
    for lone, runs, tag in ((inserted, edit.after, "ins"), (deleted, edit.before, "del")):
        if not lone:
            continue
        after_words = edit.lead + runs[0][0]  # the words the inserted or deleted ones follow
        where = html.escape(after_words) if marked else after_words
        what = side(((runs[1][0], True),), tag)
        if english:
            return f"inserted “{what}” after “{where}”" if tag == "ins" else f"removed “{what}” after “{where}”"
        return f"在“{where}”后新增“{what}”" if tag == "ins" else f"删去“{where}”后的“{what}”"
    before, after = side(edit.before, "del"), side(edit.after, "ins")
    if english:
        return f"{lead + ' ' if lead else ''}changed from “{before}” to “{after}”"
    return f"{lead}由“{before}”调整为“{after}”"
