"""The first version of DOMAIN.md R5, R7, R9, R10, R11 for the default scenario, row by row."""

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

import holidays
import pytest

from mail_followup.config import Policy, Settings
from mail_followup.policy import decide, in_lookback, left_for_next_pass, oldest_first
from mail_followup.threads import build_threads
from mail_followup.timing import Calendar
from mails import ME, mail

OSLO = ZoneInfo("Europe/Oslo")
CAL = Calendar(OSLO, ((time(8, 30), time(11, 30)), (time(14, 0), time(16, 0))), holidays.country_holidays("NO"))
SETTINGS = Settings(timezone="Europe/Oslo", country="NO")
KIM = "kim@example.com"
SENT = datetime(2026, 12, 1, 10, 0, tzinfo=OSLO)  # a Tuesday


def thread(*followup_days: int, answered: bool = False):
    mails = [mail("<a@x>", ME, (KIM,), SENT)]
    prev = "<a@x>"
    for i, days in enumerate(followup_days):
        mid = f"<f{i}@x>"
        mails.append(mail(mid, ME, (KIM,), SENT + timedelta(days=days), "Re: Coffee next week?", (prev,)))
        prev = mid
    if answered:
        mails.append(mail("<r@y>", KIM, (ME,), SENT + timedelta(days=30), "Re: Coffee", (prev,), "INBOX"))
    (t,) = build_threads(mails, [ME])
    return t


@pytest.mark.parametrize(
    ("now", "state", "not_before"),
    [
        # R5: a week first. Tuesday + 7 = Tuesday Dec 8, the morning window.
        (datetime(2026, 12, 4, 9, 0, tzinfo=OSLO), "waiting", datetime(2026, 12, 8, 8, 30, tzinfo=OSLO)),
        (datetime(2026, 12, 8, 9, 0, tzinfo=OSLO), "due", datetime(2026, 12, 8, 8, 30, tzinfo=OSLO)),
        (datetime(2026, 12, 9, 15, 0, tzinfo=OSLO), "due", datetime(2026, 12, 9, 14, 0, tzinfo=OSLO)),
        # R7: outside the windows and on a Friday nothing is due; the next allowed moment is named.
        (datetime(2026, 12, 8, 12, 30, tzinfo=OSLO), "waiting", datetime(2026, 12, 8, 14, 0, tzinfo=OSLO)),
        (datetime(2026, 12, 11, 9, 0, tzinfo=OSLO), "waiting", datetime(2026, 12, 15, 8, 30, tzinfo=OSLO)),
    ],
)
def test_first_followup_timing(now: datetime, state: str, not_before: datetime) -> None:
    d = decide(thread(), SETTINGS, CAL, now, drafted=())
    assert (d.state, d.not_before, d.next_attempt, d.attempt_kind) == (state, not_before, 1, "first")


def test_the_second_followup_waits_a_week_after_the_first_and_is_the_should_i_stop_note() -> None:
    t = thread(8)  # follow-up 1 sent Wednesday Dec 9
    d = decide(t, SETTINGS, CAL, datetime(2026, 12, 14, 9, 0, tzinfo=OSLO), drafted=())
    assert d.state == "waiting" and d.next_attempt == 2 and d.attempt_kind == "last"
    assert d.not_before == datetime(2026, 12, 16, 8, 30, tzinfo=OSLO)


def test_the_cap_stops_after_two_followups() -> None:
    d = decide(thread(8, 16), SETTINGS, CAL, datetime(2027, 1, 13, 9, 0, tzinfo=OSLO), drafted=())
    assert d.state == "capped" and any("cap reached" in r for r in d.reasons)


def test_the_waits_and_the_cap_come_from_the_config() -> None:
    custom = Settings(timezone="Europe/Oslo", policies={"default": Policy(waits_days=[2], max_followups=1)})
    d = decide(thread(), custom, CAL, datetime(2026, 12, 3, 9, 0, tzinfo=OSLO), drafted=())
    assert d.state == "due" and d.attempt_kind == "first"  # one follow-up only: no "should I stop?"
    assert decide(thread(3), custom, CAL, datetime(2026, 12, 30, 9, 0, tzinfo=OSLO), drafted=()).state == "capped"


def test_answered_and_drafted_threads() -> None:
    now = datetime(2027, 1, 13, 9, 0, tzinfo=OSLO)
    assert decide(thread(answered=True), SETTINGS, CAL, now, drafted=()).state == "replied"
    assert decide(thread(), SETTINGS, CAL, now, drafted={1}).state == "drafted"


def test_reasons_explain_the_decision() -> None:
    d = decide(thread(), SETTINGS, CAL, datetime(2026, 12, 11, 9, 0, tzinfo=OSLO), drafted=())
    text = "\n".join(d.reasons)
    assert "waits 7 day(s): not before 2026-12-08" in text
    assert "2026-12-11 is a Friday" in text and "2026-12-14 is a Monday" in text


def test_lookback_keeps_old_threads_out() -> None:
    t = thread()
    assert in_lookback(t, SETTINGS, SENT + timedelta(days=59))
    assert not in_lookback(t, SETTINGS, SENT + timedelta(days=61))


def test_the_oldest_due_threads_come_first() -> None:
    now = datetime(2026, 12, 9, 9, 0, tzinfo=OSLO)
    pairs = []
    for i in range(5):
        (t,) = build_threads([mail(f"<{i}@x>", ME, (KIM,), SENT - timedelta(days=i), f"s{i}")], [ME])
        pairs.append((decide(t, SETTINGS, CAL, now, drafted=()), t.last_user.date))
    ordered = oldest_first(pairs)
    assert [d.thread_key for d in ordered] == ["<4@x>", "<3@x>", "<2@x>", "<1@x>", "<0@x>"]
    assert "at most 3 draft(s) per pass" in left_for_next_pass(ordered[0], 3).reasons[-1]
