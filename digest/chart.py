"""A small bar chart of a digest's items over its period, as PNG bytes for the HTML email, and its caption.

Weeks of a month (or days of a week) along the bottom, with ASCII labels so Pillow's built-in font draws them on
any machine. The background is transparent and the colours are mid-tones, so the chart reads on light and dark
mail themes alike. The same counts always give the same bytes.

An image shrinks with the screen, and its text with it: on a 375 px phone the email's column is 335 px, so the
chart is shown at 335/WIDTH of its size. Its labels are drawn at LABEL px so that they are still 11 px or more
there (17 x 335/480 = 11.9), and it is only WIDTH px wide so that they are not outsized on a desktop.
"""

from __future__ import annotations

import io
from datetime import date, timedelta

from policywatch.core.hanzi import traditional
from policywatch.digest.period import Period

WIDTH, HEIGHT, SCALE = 480, 160, 2  # drawn at twice the size, shown at WIDTH x HEIGHT for sharp phone screens
LABEL = 17  # px, at WIDTH: the size of the counts and the axis labels
BAR, TEXT = (47, 125, 209, 255), (128, 128, 128, 255)
_CAPTIONS = {  # (a month's, a week's): what the bars count
    "zh-Hans": ("每周条目数，共 {n} 条", "每日条目数，共 {n} 条"),
    "en": ("items per week, {n} in all", "items per day, {n} in all"),
}


def buckets(period: Period, days: list[date]) -> list[tuple[str, int]]:
    """(label, count) per week of a month, or per day of a week; a month's first bucket starts on its 1st."""
    step = 7 if period.kind == "month" else 1
    starts = []
    day = period.start
    while day < period.end:
        starts.append(day)
        day += timedelta(days=step)
    counts = [0] * len(starts)
    for d in days:
        if period.start <= d < period.end:
            counts[(d - period.start).days // step] += 1
    if step == 1:
        return [(s.strftime("%a %d"), c) for s, c in zip(starts, counts, strict=True)]
    ends = [min(s + timedelta(days=6), period.end - timedelta(days=1)) for s in starts]
    return [(f"{s.month}/{s.day}-{e.day}", c) for s, e, c in zip(starts, ends, counts, strict=True)]


def bar_chart(series: list[tuple[str, int]]) -> bytes:
    """A PNG bar chart of (label, count) pairs, count above each bar."""
    from PIL import Image, ImageDraw, ImageFont

    width, height = WIDTH * SCALE, HEIGHT * SCALE
    image = Image.new("RGBA", (width, height), (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default(size=LABEL * SCALE)
    top, bottom = (LABEL + 10) * SCALE, height - (LABEL + 10) * SCALE
    slot = width / max(len(series), 1)
    peak = max((count for _, count in series), default=0) or 1
    for i, (label, count) in enumerate(series):
        left = i * slot + slot * 0.2
        right = (i + 1) * slot - slot * 0.2
        bar_top = bottom - (bottom - top) * count / peak
        if count:
            draw.rectangle((left, bar_top, right, bottom), fill=BAR)
        centre = (left + right) / 2
        draw.text((centre, bar_top - 4 * SCALE), str(count), fill=TEXT, font=font, anchor="mb")
        draw.text((centre, bottom + 5 * SCALE), label, fill=TEXT, font=font, anchor="mt")
    draw.line((0, bottom, width, bottom), fill=TEXT, width=SCALE)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()


def caption(series: list[tuple[str, int]], period: Period, language: str) -> str:
    """What the chart shows, for the line under it: "每周条目数，共 12 条"."""
    words = _CAPTIONS["en" if language == "en" else "zh-Hans"][period.kind != "month"]
    text = words.format(n=sum(count for _, count in series))
    return traditional(text) if language == "zh-Hant" else text
