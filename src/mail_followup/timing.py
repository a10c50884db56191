"""Which days and hours a follow-up may appear (DOMAIN.md R7, R8 first version).

Pure: the clock and the holiday calendar are passed in. A day is forbidden
on weekends, on Mondays and Fridays, and on the day before or after a public
holiday; drafts appear only inside the configured windows, in the account's
timezone.
"""

from __future__ import annotations

from collections.abc import Container
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

WEEKDAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_SEARCH_DAYS = 370  # a year of forbidden days in a row would be a configuration mistake


@dataclass(frozen=True)
class Calendar:
    tz: ZoneInfo
    windows: tuple[tuple[time, time], ...]
    holidays: Container[date] = field(default_factory=frozenset)
    forbidden_weekdays: frozenset[int] = frozenset({0, 4, 5, 6})  # Monday, Friday, Saturday, Sunday


def forbidden_reason(cal: Calendar, day: date) -> str | None:
    """Why no follow-up may appear on ``day``, or None when it may."""
    if day.weekday() in cal.forbidden_weekdays:
        return f"{day.isoformat()} is a {WEEKDAY_NAMES[day.weekday()]}"
    if day in cal.holidays:
        return f"{day.isoformat()} is a public holiday"
    if day - timedelta(days=1) in cal.holidays:
        return f"{day.isoformat()} is the day after a public holiday"
    if day + timedelta(days=1) in cal.holidays:
        return f"{day.isoformat()} is the day before a public holiday"
    return None


def first_allowed_moment(cal: Calendar, earliest_day: date, now: datetime) -> tuple[datetime, list[str]]:
    """Return the start of the first draft window on an allowed day on or after ``earliest_day``
    whose window has not yet closed at ``now``, with the days skipped and why.

    A result at or before ``now`` means a follow-up may be written now.
    Raise ValueError when no such moment exists within a year (every day forbidden).
    """
    skipped: list[str] = []
    local_now = now.astimezone(cal.tz)
    day = max(earliest_day, local_now.date())
    for _ in range(_SEARCH_DAYS):
        reason = forbidden_reason(cal, day)
        if reason is not None:
            skipped.append(reason)
        else:
            for start, end in cal.windows:
                if _at(cal.tz, day, end) > local_now:
                    return _at(cal.tz, day, start), skipped
        day += timedelta(days=1)
    raise ValueError("no allowed day within a year: check the forbidden days and holidays")


def _at(tz: ZoneInfo, day: date, clock: time) -> datetime:
    """The aware moment ``clock`` on ``day`` in ``tz`` (a time skipped by DST moves forward)."""
    naive = datetime.combine(day, clock)
    moment = naive.replace(tzinfo=tz)
    # Round-trip through UTC normalises a wall time that does not exist.
    return moment.astimezone(ZoneInfo("UTC")).astimezone(tz)
