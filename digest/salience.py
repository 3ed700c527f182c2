"""What in a sentence a reader acts on, and what is filler: the scores the summariser picks sentences by.

A subscriber reads a policy's summary to decide what to do: how much money (250万元), by when (2024年1月31日前),
who may apply (申报单位应为…), how many (28个项目), under which document (沪科指南〔2023〕18号), and for research
news what was found (与对照组相比, …降低). Government texts wrap these in openers that tell the reader nothing
(为深入贯彻…, 根据…要求, 经…同意) and closers (现将有关事项通知如下, 请认真贯彻落实).

A value (an amount, a date, a count, a document number) is kept under the text it matched, so two sentences
repeating one deadline count it once; a cue (who may apply, a prohibition, a finding) belongs to its sentence.
Within a sentence each further match of the same kind counts half the one before: a table row of ten amounts is
not ten times a sentence with one. Filler is measured as the share of the sentence's characters it takes, and
scales the sentence's worth down. Patterns, not a model: deterministic, and cheap enough for an archive of every
document.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from itertools import pairwise

# Values: (pattern, weight), keyed by the text matched.
_VALUES: tuple[tuple[re.Pattern[str], float], ...] = tuple((re.compile(p), w) for p, w in (
    # amounts of money, and what a reader pays
    (r"\d[\d,.]*\s*(?:多|余)?(?:万亿|亿|万|千|百)?(?:元|美元|欧元|港元)|[百千万亿]+级"
     r"|(?:免费|不收取|收取)[^，。；]{0,8}费", 3.0),
    # a date with what happens by or from then: a deadline, a start, a period
    (r"(?:\d{4}\s*年\s*)?\d{1,2}\s*月(?:\s*\d{1,2}\s*日)?(?:\s*\d{1,2}[:：]\d{2})?\s*"
     r"(?:前|之前|以前|止|为止|截止|起|开始|至|到|内|底前)"
     r"|(?:至|到|截至|截止)(?:时间|日期)?(?:为|是|:)?\s*(?:\d{4}\s*年\s*)?\d{1,2}\s*月(?:\s*\d{1,2}\s*日)?", 3.0),
    # a year as a target or deadline
    (r"(?:到|至|截至|截止)\s*\d{4}\s*年(?:底|末)?|\d{4}\s*年\s*(?:底|末|初|前|内|以前)", 2.0),
    (r"自(?:发布|印发|公布)之日起(?:施行|执行|实施)|(?:起|开始)(?:施行|执行|实施)", 2.0),
    # other dates: when something happens
    (r"\d{4}\s*年\s*\d{1,2}\s*月(?:\s*\d{1,2}\s*日)?|(?<![\d年])\d{1,2}\s*月\s*\d{1,2}\s*日", 1.5),
    # shares and quantities
    (r"\d[\d.]*\s*(?:%|‰|个百分点)(?:\s*[—–-]+\s*\d[\d.]*\s*%)?", 2.0),
    (r"(?<![\d.])\d+(?:\.\d+)?\s*(?:多|余)?(?:万|亿)?(?:个|项|家|所|名|位|人|户|套|条|批|例|天|周岁|岁|分|倍|吨|"
     r"平方米|小时|次|类|种|件|台|张|床|个工作日|工作日|℃)|[二三四五六七八九十两]+个?(?:方面|项|类|条|种|批)", 1.5),
    (r"(?:每|满|近|连续|不超过|最长|期限|有效期|试行期|执行期|为期)\s*(?:\d+|[一二三四五六七八九十两]+)\s*(?:个)?"
     r"(?:年|月|周)(?!\d)", 2.0),
    # a document number, or a numbered announcement
    (r"[〔\[［]\d{4}[〕\]］]\s*第?\d+号|第\d+号令|令第\d+号|\d{4}年第\d+号", 2.0),
))
# Cues: (pattern, weight), each belonging to its sentence.
_CUES: tuple[tuple[re.Pattern[str], float], ...] = tuple((re.compile(p), w) for p, w in (
    # who may apply or is covered
    (r"申报条件|申报对象|申报单位应|申请条件|申请对象|申请人应(?:为|符合|具备|具有)|评价对象|征集对象|补贴对象|"
     r"支持对象|资助对象|适用于|适用范围|须为|应为|应当具备|应具备|应具有|年满|周岁以下|周岁以上|注册在本市|"
     r"在本市注册|独立法人", 2.0),
    # money or support a reader can claim, and who is awarded what
    (r"专项资金|给予[^，。；]{0,6}(?:奖励|补贴|补助|资助|支持|贴息)|奖补|贴息|资助额度|补贴标准", 2.0),
    (r"授予[^，。；]{1,40}(?:奖|称号|资格)", 2.0),
    # the finding of research news
    (r"与[^，。；,;]{1,30}相比|结果(?:显示|表明)|研究(?:发现|表明|证实)|数据显示|研究人员发现", 3.0),
    # what must not be done
    (r"不得|严禁|禁止", 1.0),
))
# Changes in a measured quantity: a finding in research news, a slogan in a plan ("提高服务质量").
_OUTCOME = re.compile(r"(?:明显|显著)?(?:降低|升高|减轻|改善|下降|上升|增加|减少|缩小|延长|恢复|消退)")
_RESEARCH = re.compile(r"研究|试验|患者|小鼠|模型|受试者|队列|对照组|临床数据")
_NAMED = re.compile(r"《([^》]{2,60})》")

# Openers, closers and slogans that tell the reader nothing they act on.
_FILLER = tuple(re.compile(p) for p in (
    r"^为了?[^，。；]{2,60}，",
    r"(?:^|(?<=，))(?:根据|按照|依据|依照)[^。；]{0,120}?(?:要求|规定|部署|精神|安排)[^，。]{0,6}，",
    r"(?:^|(?<=，))经[^，。]{0,15}(?:同意|研究|批准|审定)，|^(?:近年来|当前|目前|近日)，",
    r"现将有关(?:事项|要求|情况)[^，。]{0,4}(?:通知|通告|公告|说明)如下|现就[^，。]{0,20}(?:通知|通告|提出)[^，。]{0,6}如下|"
    r"(?:通知|通告|公告|说明)如下|现予(?:以)?(?:公布|公告|公示|印发|发布)|予以公布|现?印发给你们|"
    r"请(?:认真)?(?:贯彻|遵照|参照|结合)[^，。]{0,12}(?:执行|落实)|抓好落实|确保[^，。]{0,24}落(?:地|实)见效|"
    r"认真贯彻落实|遵照执行|接受采访|回答了记者提问",
    r"以习近平新时代中国特色社会主义思想为指导|全面贯彻党的[^，。]{0,30}精神|(?:坚定|深入)?实施[^，。]{0,30}战略|"
    r"稳中求进|新发展理念|决策部署",
))
# What comes before or after a date to make it a deadline or a start; a fact's key leaves it off, so "1月31日前",
# "截止时间为1月31日" and "1月31日" are one date.
_CUE = re.compile(r"^(?:至|到|截至|截止)(?:时间|日期)?(?:为|是|:)?"
                  r"|(?:前|之前|以前|止|为止|截止|起|开始|至|到|内|底前)$")
_NOT_WORD = re.compile(r"[\W_]+")
_FOLD = str.maketrans("０１２３４５６７８９％：", "0123456789%:")

TOPIC_WEIGHT = 0.5
TOPIC_CAP = 2  # topic terms beyond this many add nothing: a sentence listing every term is not a fact
NAMED_WEIGHT = 0.5
OUTCOME_WEIGHT = 1.5
REPEAT_FACTOR = 0.5  # each further match of one kind in a sentence counts this much of the one before
FILLER_WEIGHT = 1.0  # what a sentence made only of filler is worth below nothing
MIN_NOVELTY = 0.4  # a sentence with fewer of its character pairs outside the title repeats the title


@dataclass(frozen=True)
class Salience:
    """What one sentence is worth to a reader.

    ``facts`` maps each value the sentence states (an amount, a date, a count, a document number, a named
    document) to its weight, keyed by the value, so the same value in another sentence counts once; ``cues`` is
    the worth of what belongs to this sentence alone (who may apply, what is granted or forbidden, a finding) and
    ``topic`` that of its topic terms; ``filler`` is the share of its characters that are openers, closers and
    slogans. A sentence that mostly repeats the title is worth nothing.
    """

    facts: dict[str, float] = field(default_factory=dict)
    cues: float = 0.0
    topic: float = 0.0
    filler: float = 0.0
    repeats_title: bool = False
    pairs: set[tuple[str, str]] = field(default_factory=set)  # its character pairs, to tell a repeat

    def gain(self, covered: set[str]) -> float:
        """The sentence's worth given the values already in the summary; below zero for filler."""
        if self.repeats_title:
            return 0.0
        new = sum(weight for fact, weight in self.facts.items() if fact not in covered)
        return (1 - self.filler) * (new + self.cues + self.topic) - FILLER_WEIGHT * self.filler


class Scorer:
    """Scores the sentences of one text against its title and the digest's topic terms."""

    def __init__(self, terms: tuple[str, ...], title: str = "") -> None:
        self.terms = tuple(term.casefold() for term in terms)
        self.title = "".join(title.translate(_FOLD).split())
        self.title_pairs = char_pairs(self.title)

    def score(self, sentence: str) -> Salience:
        """The values the sentence states (those the title already gives do not count), its cues' and topic
        terms' worth and its share of filler."""
        text = sentence.translate(_FOLD)
        topic = TOPIC_WEIGHT * min(TOPIC_CAP, sum(text.casefold().count(term) for term in self.terms))
        filler = min(1.0, sum(len(m.group()) for p in _FILLER for m in p.finditer(text)) / len(text))
        cues = sum(weight for pattern, weight in _CUES if pattern.search(text))
        if _RESEARCH.search(text) and _OUTCOME.search(text):
            cues += OUTCOME_WEIGHT
        these = char_pairs(text)
        repeats = bool(self.title_pairs) and novelty(these, self.title_pairs) < MIN_NOVELTY
        return Salience(self._facts(text), cues, topic, filler, repeats, these)

    def _facts(self, text: str) -> dict[str, float]:
        facts: dict[str, float] = {}
        for pattern, weight in _VALUES:
            for match in pattern.finditer(text):
                key = _CUE.sub("", "".join(match.group().split()))
                if key not in self.title and not any(key in found for found in facts):
                    facts[key] = weight
                    weight *= REPEAT_FACTOR
        for name in dict.fromkeys(_NAMED.findall(text)):
            if name not in self.title:
                facts.setdefault(f"《{name}》", NAMED_WEIGHT)
        return facts


def char_pairs(text: str) -> set[tuple[str, str]]:
    """Adjacent character pairs of the text's letters and digits: enough to tell what two texts share."""
    plain = _NOT_WORD.sub("", text)
    return set(pairwise(plain))


def novelty(these: set[tuple[str, str]], known: set[tuple[str, str]]) -> float:
    """The share of these character pairs not already known; 1.0 for an empty text."""
    return len(these - known) / len(these) if these else 1.0
