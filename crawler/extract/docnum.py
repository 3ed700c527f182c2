"""Document numbers (发文字号) such as 沪科指南〔2023〕18号 and 国务院令第746号."""

from __future__ import annotations

import re
from collections.abc import Iterable

# Issuer abbreviation, bracketed year (〔〕 is standard; [] ［］ () （） 【】 occur), serial, 号.
_BRACKETED = r"[\u4e00-\u9fa5]{1,12}\s*[〔\[［(（【]\s*(?:19|20)\d{2}\s*[〕\]］)）】]\s*第?\s*\d{1,5}\s*号"
# "国家卫生健康委员会令 第3号", "八部委令第20号", "国家卫生健康委员会令（第3号）".
_DECREE = r"[\u4e00-\u9fa5]{1,12}令\s*(?:第\s*\d{1,5}\s*号|[（(]\s*第\s*\d{1,5}\s*号\s*[）)])"
# Announcements numbered by year: "国家药监局公告2023年第5号", "…通告（2024年第3号）", "2023年第12号公告".
# "（2026年第33期）" is a periodical's issue, not a document number: only 号 counts.
_YEAR_SERIAL = r"(?:19|20)\d{2}\s*年\s*(?:度\s*)?第\s*\d{1,5}\s*号"
_ANNOUNCED = (rf"[\u4e00-\u9fa5]{{0,12}}(?:公告|通告)\s*[（(〔\[［【]?\s*{_YEAR_SERIAL}[）)〕\]］】]?"
              rf"|{_YEAR_SERIAL}\s*(?:公告|通告)")
DOC_NUMBER = re.compile(f"{_BRACKETED}|{_DECREE}|{_ANNOUNCED}")
# The forms a title ends with when it names its own number ("国家卫生健康委员会令（第3号）", "…的公告（2024年第3号）",
# "《…办法》（国家市场监督管理总局令第78号）").
OWN_FORM_AT_END = re.compile(rf"(?:{_DECREE}|{_ANNOUNCED})\s*[）)]?\s*$")
# A year serial alone on a red-head line, under the 公告 heading: "2023年第5号", "（2023年第5号）".
YEAR_SERIAL_LINE = re.compile(rf"[（(]?\s*{_YEAR_SERIAL}\s*[）)]?")
_SPACE = re.compile(r"\s+")
_ANNOUNCED_NOISE = re.compile(r"^.*(?:的|关于)(?=公告|通告)")
_DECREE_BRACKETS = re.compile(r"令[（(](第\d+号)[）)]")
# Words that start a sentence, not an issuer: "根据《…》(沪科指南〔2023〕18号)" keeps only the number.
# A date just before the issuer ("2021年7月27日中华人民共和国国务院令…") is not part of it either.
_LEADING_NOISE = re.compile(r"^.*?(?:根据|按照|依据|依照|参照|印发|转发|关于|通知|的|日)(?=[\u4e00-\u9fa5]{2})")


def find_doc_number(text: str) -> str | None:
    """The first document number in ``text``, whitespace removed, or None."""
    match = DOC_NUMBER.search(text)
    if not match:
        return None
    number = _LEADING_NOISE.sub("", _SPACE.sub("", match.group(0)))
    # "令（第3号）" is written "令第3号"; "…产品的公告（2024年第3号）" is "公告（2024年第3号）".
    return _ANNOUNCED_NOISE.sub("", _DECREE_BRACKETS.sub(r"令\1", number))


_RED_HEAD_LINES = 8
_DECREE_HEAD = re.compile(r"[\u4e00-\u9fa5]{1,12}令")
_SERIAL_ALONE = re.compile(r"[（(]?\s*第\s*(\d{1,5})\s*号\s*[）)]?")


def red_head_number(lines: list[str]) -> str | None:
    """The number a red-head writes on lines of its own: "2023年第5号" under a 公告's heading, or a decree's
    "国家卫生健康委员会令" with "第6号" on the next line. Only whole lines count: a sentence quoting a number
    is about another document. Year serials count in the first ``_RED_HEAD_LINES`` lines only (a list of
    announcements elsewhere on the page has them too)."""
    for line in lines[:_RED_HEAD_LINES]:
        line = _SPACE.sub("", line)
        if YEAR_SERIAL_LINE.fullmatch(line):
            return line.strip("（）()")
    return decree_lines(lines)


def decree_lines(lines: Iterable[str]) -> str | None:
    """"国家卫生健康委员会令" and "第6号" on consecutive lines, anywhere: "国家卫生健康委员会令第6号"."""
    previous = ""
    for line in lines:
        line = _SPACE.sub("", line)
        if len(line) <= 16:
            serial = _SERIAL_ALONE.fullmatch(line)
            if serial and _DECREE_HEAD.fullmatch(previous):
                return f"{previous}第{serial.group(1)}号"
        previous = line if len(line) <= 16 else ""
    return None
