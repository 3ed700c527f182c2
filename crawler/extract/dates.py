"""Publish dates as Chinese portals write them: 2023-12-05, 2023/12/05, 2023年12月5日, 2023 年 3 月 18 日."""

from __future__ import annotations

import re
from datetime import date
from urllib.parse import urlsplit

from policywatch.core.hanzi import either_script

# One pattern for every form: year, separator (- / . 年), month, separator, day, optional 日.
DATE = re.compile(
    r"(?<!\d)((?:19|20)\d{2})\s*(?:[-/.]|年)\s*(\d{1,2})\s*(?:[-/.]|月)\s*(\d{1,2})(?!\d)\s*日?"
)
# A date introduced by a publication label is the publish date, whatever else the page holds;
# bare 时间/日期 labels count only when no publication label has a date, and only standing
# alone: 成文日期 (signing), 实施日期, 截止时间 and the like are not publication dates.
_VALUE = r"\s*[:：]?\s*[\[【(（]?\s*" + DATE.pattern
# 生成日期 is the 政府信息公开 catalogue's word for the day an entry was published.
_PUBLICATION = ("发布时间", "发布日期", "公开日期", "发表时间", "发文日期", "生成日期")
LABELLED = (  # in either script: Traditional pages say 發布時間
    re.compile("(?:" + "|".join(map(either_script, _PUBLICATION)) + "|PubDate)" + _VALUE),
    re.compile(r"(?<![\u4e00-\u9fff])(?:" + either_script("时间") + "|" + either_script("日期") + ")" + _VALUE),
)


def to_iso(year: str, month: str, day: str) -> str | None:
    """A valid calendar date as ISO text, or None for 2023-02-30 and the like."""
    try:
        return date(int(year), int(month), int(day)).isoformat()
    except ValueError:
        return None


def parse_date(text: str | None) -> str | None:
    """The first valid date in ``text`` as ISO ``YYYY-MM-DD``, or None."""
    if not text:
        return None
    for match in DATE.finditer(text):
        iso = to_iso(*match.groups())
        if iso:
            return iso
    return None


def labelled_date(text: str) -> str | None:
    """The first valid date after a publication label (发布时间 …), else after 时间/日期, or None."""
    for pattern in LABELLED:
        for match in pattern.finditer(text):
            iso = to_iso(*match.groups())
            if iso:
                return iso
    return None


# A day in a URL's path, as CMSs write it: /t20180314_224599.html, /art/2023/10/23/art_…, /2023-10/23/c_….htm,
# /20260928/<id>/c.html. Month-only folders (/202305/) say no day.
_URL_DATE = re.compile(r"(?:/t|/)((?:19|20)\d{2})(\d{2})(\d{2})(?=[_/])|/((?:19|20)\d{2})[/-](\d{1,2})/(\d{1,2})/")


def url_date(url: str) -> str | None:
    """The publication day a URL's path names, or None."""
    match = _URL_DATE.search(urlsplit(url).path)
    if match is None:
        return None
    year, month, day = (g for g in match.groups() if g is not None)
    return to_iso(year, month, day)
