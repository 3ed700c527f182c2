"""Policies per region per month: the counts, and a stacked bar chart of them drawn as SVG shapes.

A policy is counted once however many portals reposted it (one duplicate group), in the month of its publish date
(first-seen date where the page gives none), under its region. The chart shows the last months of its layout with
the REGIONS busiest regions coloured and the rest as 其他; the table beside it holds every count, so nothing depends
on telling colours apart.

An SVG scales its text with its width, so one drawing cannot be legible everywhere: the WIDE layout (36 months)
is shown where the page gives it at least its own width, the NARROW one (12 months, larger type) on phones.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass

from policywatch.digest.period import parse_period
from policywatch.digest.regions import OTHER, region_label, region_order

REGIONS = 7
# Okabe–Ito colours: distinguishable with the common colour-vision deficiencies; the last is for 其他.
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#999999")
LEFT, BOTTOM, TOP = 36, 44, 12


@dataclass(frozen=True)
class Layout:
    """A chart's size in SVG user units, how many months it shows, and at most how many it labels."""

    width: int
    height: int
    months: int
    labels: int


WIDE, NARROW = Layout(720, 260, 36, 6), Layout(360, 240, 12, 4)
MONTHS = WIDE.months


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    colour: str
    label: str  # what a pointer's tooltip and a screen reader say: "2023-12 上海市 3"


@dataclass(frozen=True)
class Chart:
    months: tuple[str, ...]  # every month with a policy, oldest first ("2023-12")
    regions: tuple[str, ...]  # every region, in digest order
    counts: dict[tuple[str, str], int]  # (month, region) → policies
    legend: tuple[tuple[str, str], ...]  # (region label, colour) of the chart
    bars: tuple[Bar, ...]
    ticks: tuple[tuple[float, str], ...]  # (x, month) labels under the chart
    grid: tuple[tuple[float, int], ...]  # (y, count) lines across it
    clipped: bool = False  # whether there are more months than the chart shows
    width: int = WIDE.width
    height: int = WIDE.height
    shown: int = 0  # months drawn

    def total(self, month: str) -> int:
        return sum(self.counts.get((month, r), 0) for r in self.regions)


def policy_chart(
    policies: list[tuple[str, str]], layout: Layout = WIDE, colours: dict[str, str] | None = None
) -> Chart:
    """The chart of (month, region) pairs, one pair per policy, drawn to ``layout``; ``colours`` (region →
    colour, as :func:`region_colours` gives) keeps a second drawing of the same counts in the same colours."""
    counts = Counter(policies)
    months = _month_range(sorted({m for m, _ in counts}))
    regions = tuple(sorted({r for _, r in counts}, key=lambda r: (region_order(r), r)))
    shown = months[-layout.months:]
    colour = region_colours(policies, layout) if colours is None else colours
    stacks = [(m, _stack(counts, m, regions, colour)) for m in shown]
    peak = max((sum(n for _, n in stack) for _, stack in stacks), default=0) or 1
    plot_w, plot_h = layout.width - LEFT - 8, layout.height - BOTTOM - TOP
    slot = plot_w / max(len(shown), 1)
    bars, ticks = [], []
    every = max(1, math.ceil(len(shown) / layout.labels))  # few month labels, so they never run into each other
    for i, (month, stack) in enumerate(stacks):
        x, base = LEFT + i * slot + slot * 0.15, layout.height - BOTTOM
        for name, n in stack:
            h = plot_h * n / peak
            base -= h
            label = f"{month} {region_label(name, 'zh-Hans') if name in colour else OTHER} {n}"
            bars.append(Bar(round(x, 1), round(base, 1), round(slot * 0.7, 1), round(h, 1),
                            colour.get(name, PALETTE[-1]), label))
        if i % every == 0:
            ticks.append((round(LEFT + (i + 0.5) * slot, 1), month))
    grid = tuple((round(layout.height - BOTTOM - plot_h * n / peak, 1), n) for n in _nice_steps(peak))
    legend = tuple((region_label(r, "zh-Hans"), c) for r, c in colour.items())
    if any(r not in colour for (m, r) in counts if m in shown):
        legend += ((OTHER, PALETTE[-1]),)
    return Chart(tuple(months), regions, dict(counts), legend, tuple(bars), tuple(ticks), grid,
                 len(months) > layout.months, layout.width, layout.height, len(shown))


def region_colours(policies: list[tuple[str, str]], layout: Layout = WIDE) -> dict[str, str]:
    """The REGIONS busiest regions of the months ``layout`` shows, each with its colour, in digest order."""
    counts = Counter(policies)
    shown = set(_month_range(sorted({m for m, _ in counts}))[-layout.months:])
    busiest = Counter()
    for (month, region), n in counts.items():
        if month in shown:
            busiest[region] += n
    coloured = [r for r, _ in sorted(busiest.items(), key=lambda kv: (-kv[1], region_order(kv[0]), kv[0]))
                if r != OTHER][:REGIONS]
    coloured.sort(key=lambda r: (region_order(r), r))
    return {r: PALETTE[i] for i, r in enumerate(coloured)}


def _stack(counts: Counter, month: str, regions: tuple[str, ...], colour: dict[str, str]) -> list[tuple[str, int]]:
    """One month's segments, bottom up: coloured regions in digest order, then everything else as one."""
    stack = [(r, counts[(month, r)]) for r in regions if r in colour and counts[(month, r)]]
    rest = sum(counts[(month, r)] for r in regions if r not in colour)
    return stack + ([(OTHER, rest)] if rest else [])


def _month_range(months: list[str]) -> list[str]:
    """Every month from the first to the last, quiet ones included, so the axis keeps time evenly."""
    if not months:
        return []
    month, last = parse_period(months[0], "month"), parse_period(months[-1], "month")
    out = []
    while month.start <= last.start:
        out.append(month.key)
        month = month.next()
    return out


def _nice_steps(peak: int) -> list[int]:
    """Three or four round gridline values up to ``peak``."""
    step = 1
    for candidate in (1, 2, 5, 10, 20, 25, 50, 100, 200, 250, 500, 1000, 2000, 5000, 10000):
        step = candidate
        if peak / candidate <= 4:
            break
    return list(range(step, peak + 1, step))
