"""Digest periods: a calendar month ("2023-12") or an ISO week ("2023-W50"), as half-open date ranges."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta, tzinfo

from policywatch.core.localtime import day_start

_MONTH = re.compile(r"^(\d{4})-(\d{1,2})$")
_WEEK = re.compile(r"^(\d{4})-W(\d{1,2})$", re.IGNORECASE)


class PeriodError(ValueError):
    """A period that is not a month like 2023-12 or a week like 2023-W50; the message says which."""


@dataclass(frozen=True)
class Period:
    kind: str  # "month" or "week"
    start: date  # first day
    end: date  # the day after the last day

    @property
    def key(self) -> str:
        """The period as written on the command line: 2023-12 or 2023-W50."""
        if self.kind == "month":
            return f"{self.start.year}-{self.start.month:02d}"
        year, week, _ = self.start.isocalendar()
        return f"{year}-W{week:02d}"

    @property
    def last_day(self) -> date:
        return self.end - timedelta(days=1)

    def utc_bounds(self, zone: tzinfo) -> tuple[str, str]:
        """The moments the period starts and ends in ``zone``, in UTC as state.db writes them: a record stored at
        or after the first and before the second happened within the period for a reader in ``zone``."""
        return day_start(self.start, zone), day_start(self.end, zone)

    def ended(self, today: date) -> bool:
        """Whether the period is over on ``today`` (a day in the configured zone): an unfinished one is still in
        progress, and its issue not yet complete."""
        return self.end <= today

    def next(self) -> Period:
        return period_of(self.kind, self.end)

    def previous(self) -> Period:
        return period_of(self.kind, self.start - timedelta(days=1))


def parse_period(text: str, kind: str) -> Period:
    """The ``kind`` period named by ``text``; a week for a monthly digest (or the reverse) is an error."""
    text = text.strip()
    if kind == "month":
        match = _MONTH.match(text)
        if not match or not 1 <= int(match[2]) <= 12:
            raise PeriodError(f"{text!r} is not a month like 2023-12")
        return period_of("month", date(int(match[1]), int(match[2]), 1))
    match = _WEEK.match(text)
    if not match:
        raise PeriodError(f"{text!r} is not an ISO week like 2023-W50")
    try:
        monday = date.fromisocalendar(int(match[1]), int(match[2]), 1)
    except ValueError:
        raise PeriodError(f"{text!r}: year {match[1]} has no week {int(match[2])}") from None
    return period_of("week", monday)


def period_of(kind: str, day: date) -> Period:
    """The month or ISO week that contains ``day``."""
    if kind == "month":
        start = day.replace(day=1)
        end = (start + timedelta(days=32)).replace(day=1)
        return Period("month", start, end)
    start = day - timedelta(days=day.weekday())
    return Period("week", start, start + timedelta(days=7))
