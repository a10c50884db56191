"""Days, hours and holiday calendars as a config writes them, read into values or refused in words.

``vacation: 2026-12-21..2027-01-03``, ``draft_hours: 09:00-11:30`` and
``country: NO`` are plain strings in the YAML; these read them, and say how
to write one that cannot be read. The settings validate with them, and
read the values through them when asked (``Settings.windows``,
``CalendarRules.vacation_days``).
"""

from __future__ import annotations

import functools
import re
from datetime import date, time, timedelta

_HOURS = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$")


def parse_days(text: str) -> list[date]:
    """``2026-12-24`` or ``2026-12-21..2027-01-03`` (both ends included); ValueError says how to write it."""
    first, sep, last = str(text).partition("..")
    try:
        start = date.fromisoformat(first.strip())
        end = date.fromisoformat(last.strip()) if sep else start
    except ValueError:
        raise ValueError(f"{text!r} is not a day or a range; write 2026-12-24 or 2026-12-21..2027-01-03") from None
    if end < start:
        raise ValueError(f"{text!r} ends before it starts")
    if (end - start).days > 366:
        raise ValueError(f"{text!r} is longer than a year")
    return [start + timedelta(days=i) for i in range((end - start).days + 1)]


def parse_window(text: str) -> tuple[time, time]:
    """Parse ``"HH:MM-HH:MM"``; raise ValueError with the fix in words."""
    match = _HOURS.match(text)
    if not match:
        raise ValueError(f"{text!r} is not a time window; write it as 'HH:MM-HH:MM', such as '09:00-11:30'")
    h1, m1, h2, m2 = (int(g) for g in match.groups())
    try:
        start, end = time(h1, m1), time(h2, m2)
    except ValueError:
        raise ValueError(f"{text!r} has an impossible time of day") from None
    if start >= end:
        raise ValueError(f"{text!r} ends before it starts")
    return start, end


def known_country(value: str | None) -> str | None:
    """The upper-case ISO code of a country the holidays package knows; ValueError otherwise."""
    if value is None:
        return None
    code = value.upper()
    if code not in holiday_classes():
        raise ValueError(f"unknown country code {value!r}; use an ISO 3166 code such as NO, SE, DE, GB, US")
    return code


@functools.cache
def holiday_classes() -> dict[str, str]:
    """Each country code the holidays package knows (ISO alpha-2 and -3, and its aliases such as UK) and
    the name of its class. Read from the package's registry, which costs milliseconds: its
    ``list_supported_countries`` imports every country, a third of a second on every command."""
    from holidays.registry import COUNTRIES

    return {code: names[0] for names in COUNTRIES.values() for code in names[1:] if code.isupper()}


def known_subdivision(country: str | None, subdivision: str | None) -> None:
    if subdivision and not country:
        raise ValueError("a subdivision needs a country")
    if subdivision and country:
        import holidays

        known = getattr(holidays, holiday_classes()[country]).subdivisions  # imports that one country
        if subdivision not in known:
            raise ValueError(f"unknown subdivision {subdivision!r} for country {country}")
