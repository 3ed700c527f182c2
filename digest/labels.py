"""The words a digest prints around the policies, in Simplified and Traditional Chinese and English.

zh-Hant is not kept by hand: it is the Simplified wording converted by OpenCC, like the policies themselves.
"""

from __future__ import annotations

from datetime import date
from functools import cache

from policywatch.core.hanzi import traditional
from policywatch.digest.period import Period

MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
          "November", "December")

_ZH = {
    "colon": "：",
    "comma": "、",
    "kicker": "政策汇总",
    "issued": "发布时间",
    "source": "来源",
    "doc_number": "文号",
    "link": "原文链接",
    "also": "同时发布",
    "changed": "政策更新",
    "removed": "已撤下的政策",
    "removed_note": "以下政策页面已连续两次无法访问，可能已被撤下或迁移：",
    "empty": "本期暂无符合主题的新政策。",
    "topics": "主题",
    "chart": "条目分布",
    "local": "地方层面",
    "feed": "政策动态",
    "unsubscribe": "退订",
    "more": "其他%d条政策",
    "more_note": "本期符合主题的政策较多，以上详列相关度最高的%d条，其余按发布日期列出：",
    "news": "行业动态",
    "updated": "已更新",
    "post_more": "另有%d条未列出",
    "post_archive": "阅读本期全文",
}
_EN = {
    "colon": ": ",
    "comma": ", ",
    "kicker": "Policy roundup",
    "issued": "Release time",
    "source": "Source",
    "doc_number": "Document No.",
    "link": "Read the original",
    "also": "Also reported by",
    "changed": "Updated policies",
    "removed": "Removed policies",
    "removed_note": "These policy pages have failed two checks in a row and may have been withdrawn or moved:",
    "empty": "No new policies on these topics this period.",
    "topics": "Topics",
    "chart": "Items over the period",
    "local": "Local level",
    "feed": "Policy updates",
    "unsubscribe": "Unsubscribe",
    "more": "%d more policies",
    "more_note": "A busy period: the %d most relevant policies are written up above; the others follow by date.",
    "news": "Industry news",
    "updated": "updated",
    "post_more": "and %d more",
    "post_archive": "Read the full issue",
}


@cache
def for_language(language: str) -> dict[str, str]:
    if language == "en":
        return dict(_EN)
    if language == "zh-Hant":
        return {key: traditional(value) for key, value in _ZH.items()}
    return dict(_ZH)


def title(language: str, period: Period) -> str:
    """The digest's headline, with its year, as an archive of many years needs it: "政策汇总 | 2023年12月份行业政策及
    动态汇总", or for a week its ISO year, "政策汇总 | 2024年第1周行业政策及动态汇总" (a week that starts on
    2023-12-31 is 2024's first)."""
    if language == "en":
        when = (f"{MONTHS[period.start.month - 1]} {period.start.year}" if period.kind == "month"
                else f"week {period.key[-2:].lstrip('0')} of {period.key[:4]}")
        return f"Policy roundup | Policies and news, {when}"
    when = (f"{period.start.year}年{period.start.month}月份" if period.kind == "month"
            else f"{period.key[:4]}年第{int(period.key[-2:])}周")
    headline = f"政策汇总 | {when}行业政策及动态汇总"
    return traditional(headline) if language == "zh-Hant" else headline


def summary_heading(language: str, period: Period) -> str:
    """The heading of the numbered list, e.g. "12月政策摘要"."""
    if language == "en":
        return (f"{MONTHS[period.start.month - 1]} at a glance" if period.kind == "month"
                else f"Week {int(period.key[-2:])} at a glance")
    heading = f"{period.start.month}月政策摘要" if period.kind == "month" else f"第{int(period.key[-2:])}周政策摘要"
    return traditional(heading) if language == "zh-Hant" else heading


def format_date(day: date | None, language: str) -> str:
    """2023年12月5日, or December 5, 2023; empty for no date."""
    if day is None:
        return ""
    if language == "en":
        return f"{MONTHS[day.month - 1]} {day.day}, {day.year}"
    return f"{day.year}年{day.month}月{day.day}日"
