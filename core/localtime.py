"""Stored UTC timestamps seen in the configured time zone: the day a record falls on, the time a reader is shown.

state.db keeps every timestamp as a UTC ISO-8601 string, so they sort and compare as text whatever zone a
machine runs in. Readers live in ``timezone`` (config.toml, default Asia/Shanghai): a change detected at
2023-11-30T17:30Z was detected on 1 December in Shanghai, and belongs to December's digest. Conversion happens
only at the edges: where a span of local days becomes bounds for a query (:func:`day_start`), and where a stored
time is filed under a day or shown (:func:`local_day`, :func:`local_time`).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, tzinfo


def parse_stamp(stamp: str) -> datetime:
    """A stored timestamp as an aware datetime; one written without an offset (by hand, or by an old version) is
    UTC, as every stored time is. Raises ValueError for text that is no ISO-8601 date or time."""
    moment = datetime.fromisoformat(stamp.strip())
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def local_day(stamp: str, zone: tzinfo) -> date:
    """The calendar day in ``zone`` on which the stored moment ``stamp`` fell: the day a change is filed under."""
    return parse_stamp(stamp).astimezone(zone).date()


def local_time(stamp: str | None, zone: tzinfo, seconds: bool = False) -> str:
    """A stored moment as a reader in ``zone`` reads it: "2023-12-01 01:30" (with seconds: "…:00"). None and
    anything else that is no timestamp (state.db edited by hand) are shown as they are, never an error on a page."""
    if not isinstance(stamp, str):
        return "" if stamp is None else str(stamp)
    try:
        moment = parse_stamp(stamp).astimezone(zone)
    except ValueError:
        return stamp
    return moment.strftime("%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M")


def local_iso(stamp: str | None, zone: tzinfo) -> str | None:
    """A stored moment in ISO-8601 with ``zone``'s offset ("2023-12-01T01:30:00+08:00"): the same instant, for
    JSON output read by people and programs alike. None and anything else that is no timestamp are returned as
    they are."""
    if not isinstance(stamp, str):
        return stamp
    try:
        return parse_stamp(stamp).astimezone(zone).isoformat(timespec="seconds")
    except ValueError:
        return stamp


def day_start(day: date, zone: tzinfo) -> str:
    """The UTC moment at which ``day`` begins in ``zone``, written as stored timestamps are, so that
    ``day_start(first, zone) <= stamp < day_start(after_last, zone)`` selects the stored moments of those days by
    plain text comparison. On a day that begins inside a daylight-saving gap, it begins when the clocks jump."""
    return datetime.combine(day, time(), tzinfo=zone).astimezone(UTC).isoformat(timespec="seconds")


def today(zone: tzinfo, now: datetime | None = None) -> date:
    """The current day in ``zone``; ``now`` (an aware datetime) fixes the moment, for tests and replays."""
    return (now or datetime.now(UTC)).astimezone(zone).date()
