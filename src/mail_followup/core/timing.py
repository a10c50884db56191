"""Which days and hours a follow-up may appear (DOMAIN.md R7, R8).

Pure: the clock and the holiday calendars are passed in. A day is
forbidden on weekends, on Mondays and Fridays, on a public holiday and the
days next to one (the recipient's holidays where they can be known, R7),
and on the user's vacation days; each of these can be switched off. Drafts
appear only inside the configured windows, in the account's timezone, and
a follow-up avoids the weekday and the half of the day of the message
before it (R8), so that attempts do not arrive like clockwork.
"""

from __future__ import annotations

from collections.abc import Container, Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any, Protocol
from zoneinfo import ZoneInfo

WEEKDAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
NOON = time(12, 0)
_SEARCH_DAYS = 370  # a year of forbidden days in a row would be a configuration mistake

# Country-code top-level domains that are sold as generic names (.io, .co, .me, .tv, ...): they say
# nothing about where the recipient lives.
GENERIC_CCTLDS = frozenset(
    "ac ag ai am as bz cc cd co dj fm gg gl im io la ly me ms mu nu sh so st tk to tv vc ws".split())
_TLD_COUNTRY = {"uk": "GB"}  # the one ccTLD that is not the ISO code


class HolidayCalendar(Protocol):
    def get(self, key: Any, default: Any = None) -> Any: ...


@dataclass(frozen=True)
class Region:
    """A holiday calendar and why it applies ("kim@example.se: the .se domain")."""

    country: str
    subdivision: str | None
    why: str

    @property
    def code(self) -> str:
        return f"{self.country}-{self.subdivision}" if self.subdivision else self.country


@dataclass(frozen=True)
class Calendar:
    tz: ZoneInfo
    windows: tuple[tuple[time, time], ...]
    # Either (code, calendar) pairs (the shell's way: the names go into the explanation), or one
    # calendar or set of days.
    holidays: tuple[tuple[str, HolidayCalendar], ...] | HolidayCalendar | Container[date] = ()
    forbidden_weekdays: frozenset[int] = frozenset({0, 4, 5, 6})  # Monday, Friday, Saturday, Sunday
    avoid_holidays: bool = True
    avoid_days_around_holidays: bool = True
    vacation: frozenset[date] = frozenset()
    regions: tuple[Region, ...] = ()  # whose holidays ``holidays`` holds, for the explanation

    def holiday(self, day: date) -> str | None:
        """The name of the public holiday on ``day`` and whose it is, or None."""
        if isinstance(self.holidays, tuple):
            for code, calendar in self.holidays:
                name = calendar.get(day)
                if name:
                    return f"{name} ({code})"
            return None
        if hasattr(self.holidays, "get"):
            return self.holidays.get(day)
        return "a public holiday" if day in self.holidays else None

    def is_business_day(self, day: date) -> bool:
        return day.weekday() < 5 and self.holiday(day) is None and day not in self.vacation


def forbidden_reason(cal: Calendar, day: date) -> str | None:
    """Why no follow-up may appear on ``day``, or None when it may."""
    if day.weekday() in cal.forbidden_weekdays:
        return f"{day.isoformat()} is a {WEEKDAY_NAMES[day.weekday()]}"
    if day in cal.vacation:
        return f"{day.isoformat()} is one of your vacation days"
    if cal.avoid_holidays and (name := cal.holiday(day)):
        return f"{day.isoformat()} is a public holiday: {name}"
    if cal.avoid_days_around_holidays:
        if name := cal.holiday(day - timedelta(days=1)):
            return f"{day.isoformat()} is the day after a public holiday: {name}"
        if name := cal.holiday(day + timedelta(days=1)):
            return f"{day.isoformat()} is the day before a public holiday: {name}"
    return None


def add_business_days(cal: Calendar, day: date, count: int) -> date:
    """The day ``count`` business days after ``day`` (weekends, public holidays and vacation do not count)."""
    for _ in range(count):
        day += timedelta(days=1)
        for _ in range(_SEARCH_DAYS):
            if cal.is_business_day(day):
                break
            day += timedelta(days=1)
    return day


def first_allowed_moment(
    cal: Calendar,
    earliest_day: date,
    now: datetime,
    avoid_weekday: int | None = None,
    afternoon: bool | None = None,
) -> tuple[datetime, list[str]]:
    """Return the start of the first draft window on an allowed day on or after ``earliest_day``
    whose window has not yet closed at ``now``, with the days skipped and why.

    ``avoid_weekday`` is the weekday of the previous message, ignored when
    the configured days leave no other; ``afternoon`` the half of the day
    to prefer (R8): on a day whose preferred windows have closed, the
    others still serve, so that a missed morning never costs a week. A result at or
    before ``now`` means a follow-up may be written now. Raise ValueError
    when no such moment exists within a year (every day forbidden).
    """
    skipped: list[str] = []
    open_days = set(range(7)) - cal.forbidden_weekdays
    if avoid_weekday is not None and not open_days - {avoid_weekday}:
        avoid_weekday = None
    windows = cal.windows
    if afternoon is not None:  # the preferred half first; the other only once it has closed that day
        windows = tuple(sorted(cal.windows, key=lambda w: (w[0] >= NOON) != afternoon))
    local_now = now.astimezone(cal.tz)
    day = max(earliest_day, local_now.date())
    for _ in range(_SEARCH_DAYS):
        reason = forbidden_reason(cal, day)
        if reason is None and day.weekday() == avoid_weekday:
            reason = f"{day.isoformat()} is a {WEEKDAY_NAMES[day.weekday()]}, the weekday of your last message"
        if reason is not None:
            skipped.append(reason)
        else:
            for start, end in windows:
                if _at(cal.tz, day, end) > local_now:
                    return _at(cal.tz, day, start), skipped
        day += timedelta(days=1)
    raise ValueError("no allowed day within a year: check the forbidden days, holidays and vacation")


def recipient_regions(
    addresses: Iterable[str],
    settings_for: Mapping[str, tuple[str | None, str | None, str]],
    supported: Iterable[str],
) -> tuple[Region, ...]:
    """The holiday calendars of the people written to, where they can be known (R7).

    ``settings_for`` maps an address to the country and subdivision the
    config gives for it and the pattern that gave it; failing that the
    domain's country-code TLD names the country (.se, .no, .de, .co.uk),
    unless it is one sold as a generic name (.io, .co).
    """
    known = set(supported)
    found: dict[str, Region] = {}
    for address in addresses:
        country, subdivision, pattern = settings_for.get(address, (None, None, ""))
        if country:
            region = Region(country, subdivision, f"{address}: contacts {pattern!r} in the config")
        else:
            tld = address.rpartition(".")[2].lower()
            code = _TLD_COUNTRY.get(tld, tld.upper())
            if len(tld) != 2 or tld in GENERIC_CCTLDS or code not in known:
                continue
            region = Region(code, None, f"{address}: the .{tld} domain")
        found.setdefault(region.code, region)
    return tuple(found.values())


def _at(tz: ZoneInfo, day: date, clock: time) -> datetime:
    """The aware moment ``clock`` on ``day`` in ``tz`` (a time skipped by DST moves forward)."""
    naive = datetime.combine(day, clock)
    moment = naive.replace(tzinfo=tz)
    # Round-trip through UTC normalises a wall time that does not exist.
    return moment.astimezone(ZoneInfo("UTC")).astimezone(tz)
