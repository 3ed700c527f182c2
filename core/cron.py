"""Cron strings from config.toml → APScheduler triggers.

Five fields are classic crontab (minute hour day month day-of-week); six put
seconds first, for schedules finer than a minute. ``@hourly``, ``@daily``,
``@weekly`` and ``@monthly`` are shorthands. Day-of-week follows crontab:
0 or 7 is Sunday, 1 Monday (APScheduler's own numbering starts at Monday = 0).
"""

from __future__ import annotations

from datetime import datetime, tzinfo
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from apscheduler.triggers.cron import CronTrigger

ALIASES = {"@hourly": "0 * * * *", "@daily": "0 6 * * *", "@weekly": "0 6 * * 1", "@monthly": "0 6 1 * *"}
_NAMES = ("second", "minute", "hour", "day", "month", "day_of_week")
_CRONTAB_DAYS = {"0": "sun", "1": "mon", "2": "tue", "3": "wed", "4": "thu", "5": "fri", "6": "sat", "7": "sun"}


class CronError(ValueError):
    """A schedule string that is not a cron expression; ``str()`` says why."""


def cron_trigger(expression: str, timezone: tzinfo) -> CronTrigger:
    """The trigger for a 5- or 6-field cron string (or an @alias) in ``timezone``.

    APScheduler is imported here, not with the module: a config without schedules, which every command reads,
    then never loads it."""
    from apscheduler.triggers.cron import CronTrigger

    fields = ALIASES.get(expression.strip(), expression).split()
    if len(fields) == 5:
        fields.insert(0, "0")
    if len(fields) != 6:
        raise CronError(f"{expression!r} is not a cron string: expected 5 fields (6 with seconds first)")
    values = dict(zip(_NAMES, fields, strict=True))
    values["day_of_week"] = _crontab_weekdays(values["day_of_week"])
    try:
        trigger = CronTrigger(timezone=timezone, **values)
    except ValueError as e:
        raise CronError(f"{expression!r} is not a valid cron string: {e}") from None
    # A date that no calendar has (31 February, 31 April) parses, but a job on it would never run: the
    # scheduler would have no next run time to sleep until.
    if trigger.get_next_fire_time(None, datetime.now(timezone)) is None:
        raise CronError(f"{expression!r} never fires: no date matches it")
    return trigger


def _crontab_weekdays(field: str) -> str:
    """Crontab's numeric weekdays (0/7 = Sunday) as names, which APScheduler reads unambiguously."""

    def day(token: str) -> str:
        return _CRONTAB_DAYS.get(token, token)

    parts = []
    for part in field.split(","):
        step = ""
        if "/" in part:
            part, step = part.split("/", 1)
            step = "/" + step
        part = "-".join(day(t) for t in part.split("-")) if part != "*" else part
        parts.append(part + step)
    return ",".join(parts)
