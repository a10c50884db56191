from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import holidays
import pytest
from hypothesis import given, settings, strategies as st

from mail_followup.core.timing import Calendar, first_allowed_moment, forbidden_reason

OSLO = ZoneInfo("Europe/Oslo")
WINDOWS = ((time(8, 30), time(11, 30)), (time(14, 0), time(16, 0)))
NO = holidays.country_holidays("NO")
CAL = Calendar(OSLO, WINDOWS, NO)


@pytest.mark.parametrize(
    ("day", "why"),
    [
        (date(2026, 12, 7), "Monday"),
        (date(2026, 12, 11), "Friday"),
        (date(2026, 12, 12), "Saturday"),
        (date(2026, 12, 13), "Sunday"),
        (date(2027, 5, 17), "Monday"),  # Constitution Day is a Monday in 2027
        (date(2026, 5, 14), "public holiday"),  # Ascension Day, a Thursday
        (date(2026, 5, 13), "day before a public holiday"),
        (date(2026, 12, 24), "day before a public holiday"),  # Christmas Eve is no public holiday in Norway
        (date(2026, 12, 28), "Monday"),
        (date(2026, 12, 29), None),  # between the holidays, Tuesday: allowed
        (date(2027, 5, 18), "day after a public holiday"),
        (date(2026, 12, 9), None),
    ],
)
def test_forbidden_days(day: date, why: str | None) -> None:
    reason = forbidden_reason(CAL, day)
    assert (reason is None) if why is None else (why in str(reason))


def test_inside_a_window_on_an_allowed_day_is_now() -> None:
    now = datetime(2026, 12, 9, 9, 0, tzinfo=OSLO)  # Wednesday
    moment, skipped = first_allowed_moment(CAL, date(2026, 12, 8), now)
    assert moment == datetime(2026, 12, 9, 8, 30, tzinfo=OSLO) and moment <= now


def test_a_monday_moves_to_tuesday_morning() -> None:
    now = datetime(2026, 12, 7, 9, 0, tzinfo=OSLO)  # Monday
    moment, skipped = first_allowed_moment(CAL, date(2026, 12, 6), now)
    assert moment == datetime(2026, 12, 8, 8, 30, tzinfo=OSLO)
    assert any("Monday" in s for s in skipped)


def test_after_the_last_window_moves_to_the_next_day() -> None:
    now = datetime(2026, 12, 9, 16, 30, tzinfo=OSLO)
    moment, _ = first_allowed_moment(CAL, date(2026, 12, 9), now)
    assert moment == datetime(2026, 12, 10, 8, 30, tzinfo=OSLO)


def test_between_windows_waits_for_the_afternoon() -> None:
    now = datetime(2026, 12, 9, 12, 15, tzinfo=OSLO)
    moment, _ = first_allowed_moment(CAL, date(2026, 12, 9), now)
    assert moment == datetime(2026, 12, 9, 14, 0, tzinfo=OSLO)


COUNTRIES = ["NO", "SE", "DE", "AT", "CH", "DK", "FI", "GB", "US", "FR", "NL", "ES", "IT", "PL", "IE", "CA",
             "AU", "NZ", "BE", "PT", "JP", "BR"]


@settings(max_examples=300, deadline=None)
@given(
    country=st.sampled_from(COUNTRIES),
    earliest=st.dates(date(2026, 1, 1), date(2030, 12, 31)),
    offset_minutes=st.integers(0, 60 * 24 * 20),
    tz=st.sampled_from(["Europe/Oslo", "America/New_York", "Asia/Tokyo", "Australia/Sydney", "UTC"]),
)
def test_no_computed_moment_falls_on_a_forbidden_day(country: str, earliest: date, offset_minutes: int, tz: str) -> None:
    zone = ZoneInfo(tz)
    cal = Calendar(zone, WINDOWS, holidays.country_holidays(country))
    now = datetime.combine(earliest, time(0), zone) + timedelta(minutes=offset_minutes) - timedelta(days=10)
    moment, _ = first_allowed_moment(cal, earliest, now)
    local = moment.astimezone(zone)
    assert forbidden_reason(cal, local.date()) is None
    assert local.date() >= earliest
    assert any(start <= local.time() < end for start, end in WINDOWS)
    assert moment > now or any(start <= now.astimezone(zone).time() < end for start, end in WINDOWS)
