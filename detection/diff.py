"""Word-level diffs of policy texts (Chinese segmented by jieba) and their text, terminal and HTML renderings."""

from __future__ import annotations

import html
import logging
import re
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache

from diff_match_patch import diff_match_patch

DELETE, EQUAL, INSERT = -1, 0, 1

# Exactly jieba's own Han range: a run of these goes to jieba whole, anything else is split by _OTHER.
_HAN = re.compile(r"([\u4E00-\u9FD5]+)")
_OTHER = re.compile(r"\w+|\s+|.", re.DOTALL)
# Han, whitespace, other word characters; anything else is a punctuation mark, which _OTHER makes a word alone.
_KIND = re.compile(r"([\u4E00-\u9FD5])|(\s)|(\w)")
# Paragraphs (with the blank lines after them), then sentences: coarse units diffed before tokens.
_LEVELS = (re.compile(r"[^\n]*\n+|[^\n]+"), re.compile(r"[^。；！？\n]*(?:[。；！？]+|\n+)|[^。；！？\n]+"))
# Changed text past _SMALL (product of the two lengths) is diffed word by word only when at least _RELATED
# similar (see _similarity); unrelated text of more than _PAIRS sentence pairs is not searched for a similar pair.
_SMALL, _RELATED, _PAIRS = 2500, 0.3, 400
_ANSI = {DELETE: "\x1b[31;9m", INSERT: "\x1b[32;4m"}
_RESET = "\x1b[0m"
# Scraped text may carry its own escape sequences; never let them reach a terminal raw.
_CONTROLS = {c: "\ufffd" for c in [*range(0x20), *range(0x7F, 0xA0)] if c not in (0x09, 0x0A)}

@dataclass(frozen=True)
class Diff:
    """A diff as (op, text) pairs, op -1 delete, 0 equal, 1 insert (the diff-match-patch convention)."""

    ops: tuple[tuple[int, str], ...]

    @property
    def added(self) -> int:
        """Characters inserted: the size of a change, for thresholds and digests."""
        return sum(len(text) for op, text in self.ops if op == INSERT)

    @property
    def removed(self) -> int:
        """Characters deleted."""
        return sum(len(text) for op, text in self.ops if op == DELETE)

    @property
    def changed(self) -> bool:
        """Whether anything was inserted or deleted at all."""
        return any(op != EQUAL for op, _ in self.ops)


@cache
def _segmenter():
    """jieba, loaded on first use: its dictionary takes about a second, so importing this module stays cheap."""
    import jieba

    jieba.setLogLevel(logging.WARNING)
    jieba.initialize()
    return jieba


def tokenize(text: str, words: dict[str, list[str]] | None = None) -> list[str]:
    """Split into words, so a diff shows "和免疫细胞" changing rather than scattered characters.

    Han runs are segmented by jieba (HMM on, so unknown words still come out whole); other runs become
    words, whitespace runs and single punctuation marks. The tokens always join back to ``text`` exactly.
    ``words`` keeps jieba's words for each Han run, for callers that segment many texts sharing runs.
    """
    words = {} if words is None else words
    tokens: list[str] = []
    for i, run in enumerate(_HAN.split(text)):
        if not run:
            continue
        if i % 2:
            if run not in words:
                cut = _segmenter().lcut(run, HMM=True)
                words[run] = cut if "".join(cut) == run else list(run)  # never trust a segmenter with the text
            tokens.extend(words[run])
        else:
            tokens.extend(_OTHER.findall(run))
    return tokens


def _code(index: int) -> str:
    """The character standing for the index-th distinct unit: planes 15-16 (private use), then planes 1-14."""
    if index >= 0x100000:
        raise ValueError("too many distinct tokens to diff")
    return chr(0xF0000 + index if index < 0x20000 else index - 0x10000)


def _trigrams(text: str) -> set[str]:
    """Every run of three characters in ``text``."""
    return {text[i : i + 3] for i in range(len(text) - 2)}


def _similarity(a: set[str], b: set[str]) -> float:
    """The share of the smaller set of trigrams that the other set holds too.

    Cheap next to segmenting and diffing, and it tells revised text from replaced text: in real revisions,
    sentences that keep some of their words score 0.3-1.0, while unrelated text of the same field scores
    mostly below 0.2, even two whole regulations.
    """
    return len(a & b) / max(1, min(len(a), len(b)))


def _similar_pair(olds: list[str], news: list[str]) -> tuple[int, int] | None:
    """The first most similar pair of an old and a new sentence, if it is similar enough to diff word by word.

    None when there is only one pair (the caller has just scored it) or too many to score.
    """
    if len(olds) * len(news) == 1 or len(olds) * len(news) > _PAIRS:
        return None
    old_sets, new_sets = [_trigrams(s) for s in olds], [_trigrams(s) for s in news]
    scores = ((_similarity(a, b), i, j) for i, a in enumerate(old_sets) for j, b in enumerate(new_sets))
    score, i, j = max(scores, key=lambda found: found[0])
    return (i, j) if score >= _RELATED else None


def _boundary(text: str, at: int) -> bool:
    """Whether a word ends at ``at`` in ``text`` however jieba segments it.

    That is at either end, next to a punctuation mark, or where characters of two kinds meet (Han,
    whitespace, other word characters): tokenize never joins two kinds into one word.
    """
    if at in (0, len(text)):
        return True
    kinds = [_KIND.match(char) for char in text[at - 1 : at + 1]]
    return None in kinds or kinds[0].lastindex != kinds[1].lastindex


def _swap(old: str, new: str) -> list[tuple[int, str]]:
    """``old`` deleted and ``new`` inserted, but for the words both begin or end with, which stay equal.

    Only words that end at a sure boundary in both texts count, so the ends are found without jieba and
    never cut a word; they are what a word diff would keep, such as an article number or the closing 。.
    """
    most = min(len(old), len(new))
    head = next((n for n in range(most) if old[n] != new[n]), most)
    while not (_boundary(old, head) and _boundary(new, head)):
        head -= 1
    most -= head
    tail = next((n for n in range(most) if old[-1 - n] != new[-1 - n]), most)
    while not (_boundary(old, len(old) - tail) and _boundary(new, len(new) - tail)):
        tail -= 1
    return [
        (EQUAL, old[:head]), (DELETE, old[head : len(old) - tail]), (INSERT, new[head : len(new) - tail]),
        (EQUAL, old[len(old) - tail :]),
    ]


class _Differ:
    """One diff in progress: dmp with its deadline, and jieba's words for every Han run segmented so far.

    Old and new text share most of their runs (an edit leaves the clauses around it alone), and policy
    texts repeat their boilerplate, so with the words kept each distinct run is segmented once.
    """

    def __init__(self, deadline: float) -> None:
        self.dmp = diff_match_patch()
        self.deadline = deadline
        self.words: dict[str, list[str]] = {}

    def units(self, old: list[str], new: list[str], semantic: bool) -> list[tuple[int, str]]:
        """dmp over sequences of units (its linesToChars trick): each distinct unit becomes one character.

        The encoded strings never mix with real text, so any code point would do; private use ones keep dmp's
        word-boundary scoring neutral, and Python strings take the supplementary planes, so >65k units fit.
        """
        codes: dict[str, str] = {}  # unit -> its character
        units: dict[str, str] = {}  # character -> its unit

        def encode(seq: list[str]) -> str:
            for unit in seq:
                if unit not in codes:
                    codes[unit] = code = _code(len(units))
                    units[code] = unit
            return "".join(map(codes.__getitem__, seq))

        encoded = self.dmp.diff_main(encode(old), encode(new), False, self.deadline)
        if semantic:
            self.dmp.diff_cleanupSemantic(encoded)
        return [(op, "".join(map(units.__getitem__, chars))) for op, chars in encoded]

    def refine(self, old: str, new: str, level: int = 0) -> list[tuple[int, str]]:
        """Diff by paragraphs, then by sentences inside replaced paragraphs, then by words inside replaced sentences.

        jieba costs about 2 µs a character and dmp's bisection grows with the product of the lengths, so only
        text that really changed is segmented, in small pieces; equal text never reaches jieba at all.
        """
        if level == len(_LEVELS):
            return self.replaced(old, new)
        ops: list[tuple[int, str]] = []
        replaced = {DELETE: "", INSERT: ""}
        units = self.units(_LEVELS[level].findall(old), _LEVELS[level].findall(new), semantic=False)
        for op, text in [*units, (EQUAL, "")]:
            if op != EQUAL:
                replaced[op] += text
                continue
            if replaced[DELETE] and replaced[INSERT]:
                ops += self.refine(replaced[DELETE], replaced[INSERT], level + 1)
            else:
                ops += replaced.items()
            ops.append((EQUAL, text))
            replaced = {DELETE: "", INSERT: ""}
        return ops

    def replaced(self, old: str, new: str) -> list[tuple[int, str]]:
        """Word diff of whole sentences that changed, unless they were replaced by unrelated text.

        Segmenting and diffing unrelated text costs the most (dmp's bisection is quadratic when little
        matches) and shows only scattered common words, so such text becomes one deletion and one insertion.
        Inside it the most similar pair of sentences is still diffed word by word, as difflib's ndiff pairs
        similar lines. Short texts are always diffed word by word: that is cheap and tells more than a score.
        """
        if not old or not new:
            return [(DELETE, old), (INSERT, new)]
        if len(old) * len(new) <= _SMALL or _similarity(_trigrams(old), _trigrams(new)) >= _RELATED:
            return self.units(tokenize(old, self.words), tokenize(new, self.words), semantic=True)
        olds, news = _LEVELS[1].findall(old), _LEVELS[1].findall(new)
        pair = _similar_pair(olds, news)
        if pair is None:
            return _swap(old, new)
        i, j = pair
        return [
            *self.replaced("".join(olds[:i]), "".join(news[:j])),
            *self.replaced(olds[i], news[j]),
            *self.replaced("".join(olds[i + 1 :]), "".join(news[j + 1 :])),
        ]


def diff(old: str, new: str, timeout: float = 2.0) -> Diff:
    """Diff two texts word by word, so an edit shows as the words that changed, within ``timeout`` seconds.

    Past the timeout the diff is coarser but still exact. Adjacent operations of one kind are merged.
    """
    deadline = time.time() + timeout if timeout > 0 else float(sys.maxsize)
    merged: list[tuple[int, str]] = []
    for op, text in _Differ(deadline).refine(old, new):
        if text and merged and merged[-1][0] == op:
            merged[-1] = (op, merged[-1][1] + text)
        elif text:
            merged.append((op, text))
    return Diff(tuple(merged))


def apply(old: str, d: Diff) -> str:
    """Rebuild the new text from the old one, checking that the diff really belongs to ``old``."""
    out: list[str] = []
    pos = 0
    for op, text in d.ops:
        if op != INSERT and old[pos : pos + len(text)] != text:
            raise ValueError(f"diff does not match the old text at character {pos}")
        pos += len(text) if op != INSERT else 0
        out += [text] if op != DELETE else []
    if pos != len(old):
        raise ValueError(f"diff covers {pos} of {len(old)} characters of the old text")
    return "".join(out)


def to_text(d: Diff) -> str:
    """Plain text with [-removed-]{+added+} marks, for logs and plain-text mail."""
    marks = {DELETE: "[-{}-]", EQUAL: "{}", INSERT: "{{+{}+}}"}
    return "".join(marks[op].format(text) for op, text in d.ops)


def to_terminal(d: Diff) -> str:
    """ANSI colours: deletions red struck through, insertions green underlined.

    Styles are closed at every line end so pagers like ``less -R`` keep them, and control characters from
    the scraped text are replaced, so a page cannot send escape sequences to the reader's terminal.
    """
    out = []
    for op, text in d.ops:
        text = text.replace("\r\n", "\n").translate(_CONTROLS)
        if op == EQUAL:
            out.append(text)
        else:
            out.append("\n".join(f"{_ANSI[op]}{line}{_RESET}" if line else "" for line in text.split("\n")))
    return "".join(out)


def _html_fragment(op: int, text: str) -> str:
    """One escaped piece of text, marked as deleted or inserted when it is."""
    body = html.escape(text.replace("\r\n", "\n")).replace("\n", "<br>")
    tag = {DELETE: "del", INSERT: "ins"}.get(op)
    return f'<{tag} class="pw-{tag}">{body}</{tag}>' if tag and body else body


def to_html(d: Diff) -> str:
    """Inline HTML: <del class="pw-del"> and <ins class="pw-ins"> around changes, every piece of text escaped."""
    return "".join(_html_fragment(op, text) for op, text in d.ops)


def to_html_side_by_side(d: Diff, keep: int | None = None, fold: str = "{n} unchanged lines") -> str:
    """A two-column table (old | new), one row per line, so readers can compare long articles clause by clause.

    A line only inserted sits beside an empty old cell, a line only deleted beside an empty new cell, and an
    edited line beside its old self (see :func:`_aligned`). With ``keep``, unchanged rows more than ``keep``
    rows away from a change fold into one row saying how many there were (``fold``), as a one-clause edit of a
    long regulation should read.
    """
    rows = [_row(old, new) for old, new in _line_pairs(d)]
    shown = [html for _, html in rows] if keep is None else _folded(rows, keep, fold)
    return '<table class="pw-sbs">\n' + "\n".join(shown) + "\n</table>"


_Line = list[tuple[int, str]]  # one line of one side: its (op, text) pieces, without the line end


def _line_pairs(d: Diff) -> Iterator[tuple[_Line | None, _Line | None]]:
    """The rows of a side-by-side view: (old line, new line), None for an empty cell.

    A line end inside equal text ends a line on both sides at once; the lines between two such ends (a
    stretch) are aligned by :func:`_aligned`. After the last line end, a side whose text ended with one has no
    line left, so a line appended to the other side is paired with nothing.
    """
    left: list[_Line] = [[]]
    right: list[_Line] = [[]]
    for op, text in d.ops:
        for i, part in enumerate(text.replace("\r\n", "\n").split("\n")):
            if i and op == EQUAL:
                yield from _aligned(left, right)
                left, right = [[]], [[]]
            elif i:
                (left if op == DELETE else right).append([])
            if part:
                if op <= EQUAL:
                    left[-1].append((op, part))
                if op >= EQUAL:
                    right[-1].append((op, part))
    yield from _aligned(left[:-1] if not left[-1] else left, right[:-1] if not right[-1] else right)


def _aligned(left: list[_Line], right: list[_Line]) -> list[tuple[_Line | None, _Line | None]]:
    """One stretch's old and new lines, paired in order.

    A line holding unchanged text is anchored: it pairs with the other side's next anchored line, as the
    same line edited. A line with no unchanged text was wholly deleted (old) or inserted (new): it pairs with
    a wholly inserted or deleted line facing it (one line replaced by another), else with an empty cell, so
    an inserted line never pushes the lines after it out of step with their old selves.
    """
    pairs: list[tuple[_Line | None, _Line | None]] = []
    i = j = 0
    while i < len(left) or j < len(right):
        old = left[i] if i < len(left) else None
        new = right[j] if j < len(right) else None
        if old is not None and new is not None and _anchored(old) == _anchored(new):
            pairs.append((old, new))
            i, j = i + 1, j + 1
        elif old is not None and (new is None or not _anchored(old)):
            pairs.append((old, None))
            i += 1
        else:
            pairs.append((None, new))
            j += 1
    return pairs


def _anchored(line: _Line) -> bool:
    return any(op == EQUAL for op, _ in line)


def _row(old: _Line | None, new: _Line | None) -> tuple[bool, str]:
    """Whether the row shows a change, and its <tr>: every piece of text escaped, an empty cell marked."""
    changed = old is None or new is None or any(op != EQUAL for line in (old, new) for op, _ in line)
    cells = "".join(
        f'<td class="pw-{name}{" pw-empty" if line is None else ""}">'
        + "".join(_html_fragment(op, part) for op, part in line or ())
        + "</td>"
        for name, line in (("old", old), ("new", new))
    )
    return changed, ('<tr class="pw-changed">' if changed else "<tr>") + cells + "</tr>"


def _folded(rows: list[tuple[bool, str]], keep: int, fold: str) -> list[str]:
    """The rows within ``keep`` of a changed one; each run of the others becomes one "pw-fold" row."""
    near = {j for i, (changed, _) in enumerate(rows) if changed for j in range(i - keep, i + keep + 1)}
    out: list[str] = []
    hidden = 0
    for i, (_, row) in enumerate([*rows, (True, None)]):  # the last item ends a trailing run
        if i not in near and row is not None:
            hidden += 1
            continue
        if hidden:
            out.append(f'<tr class="pw-fold"><td colspan="2">{html.escape(fold.format(n=hidden))}</td></tr>')
            hidden = 0
        if row is not None:
            out.append(row)
    return out


def context(d: Diff, width: int = 40) -> Diff:
    """Shorten long unchanged runs to ``width`` characters on each side of a change, joined by "…".

    For emails and terminals, where a one-word edit in a 20,000-character regulation must stay readable.
    The result is for display only: apply() cannot rebuild the new text from it.
    """
    ops: list[tuple[int, str]] = []
    last = len(d.ops) - 1
    for i, (op, text) in enumerate(d.ops):
        if op == EQUAL:
            only = last == 0  # an unchanged text keeps its start and end
            head = text[:width] if i > 0 or only else ""
            tail = text[len(text) - width :] if i < last or only else ""
            if len(head) + len(tail) + 1 < len(text):
                text = f"{head}…{tail}"
        ops.append((op, text))
    return Diff(tuple(ops))
