"""A small bar chart of a digest's items over its period, as PNG bytes for the HTML email.

Weeks of a month (or days of a week) along the bottom, with ASCII labels so Pillow's built-in font draws them on
any machine. The background is transparent and the colours are mid-tones, so the chart reads on light and dark
mail themes alike. The same counts always give the same bytes.
"""

from __future__ import annotations

import io
from datetime import date, timedelta

from digest.period import Period

WIDTH, HEIGHT, SCALE = 560, 150, 2  # drawn at twice the size, shown at WIDTH x HEIGHT for sharp phone screens
BAR, TEXT = (47, 125, 209, 255), (128, 128, 128, 255)


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
    font = ImageFont.load_default(size=11 * SCALE)
    top, bottom = 22 * SCALE, height - 22 * SCALE
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
