"""The calendar of follow-ups: parsed back with icalendar, as a calendar app would read it."""

from __future__ import annotations

import hashlib
import re
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from icalendar import Calendar

from mail_followup.core.ics import followups_calendar

NOW = datetime(2026, 12, 9, 9, 30, tzinfo=timezone(timedelta(hours=1)))
HOSTILE = "Re: Offer, 50% off; \r\nBEGIN:VEVENT"


def report(**changes: Any) -> dict[str, Any]:
    """One thread as ``scan --json`` reports it (README), with ``changes``."""
    base: dict[str, Any] = {
        "account": "work", "message_id": "<first-sent@example.org>",
        "subject": "Coffee next week?", "to": ["kim@example.com", "lee@example.com"],
        "policy": "networking", "language": "en",
        "state": "waiting", "followups_sent": 1, "next_attempt": 2,
        "not_before": "2026-12-09T08:30:00+01:00",
        "draft_message_id": None,
        "last_sent": "2026-12-01T15:00:00+01:00",
        "reasons": [f"reason {i}" for i in range(1, 8)],
    }
    base.update(changes)
    return base


def parse(data: bytes) -> Calendar:
    return Calendar.from_ical(data)


def events(data: bytes) -> list[Any]:
    return list(parse(data).walk("VEVENT"))


def test_the_calendar_header() -> None:
    cal = parse(followups_calendar([report()], NOW))
    assert cal.name == "VCALENDAR"
    assert str(cal["PRODID"]) == "-//mail-followup//EN"
    assert str(cal["VERSION"]) == "2.0"
    assert str(cal["CALSCALE"]) == "GREGORIAN"
    assert str(cal["METHOD"]) == "PUBLISH"
    assert str(cal["X-WR-CALNAME"]) == "Follow-ups"


def test_one_waiting_thread_is_one_event_at_not_before_in_utc() -> None:
    data = followups_calendar([report()], NOW)
    [event] = events(data)
    start = event.decoded("DTSTART")
    assert start == datetime(2026, 12, 9, 7, 30, tzinfo=timezone.utc)
    assert start.utcoffset() == timedelta(0)
    assert re.search(rb"\r\nDTSTART(;VALUE=DATE-TIME)?:20261209T073000Z\r\n", data)  # UTC: no VTIMEZONE needed
    assert event.decoded("DURATION") == timedelta(minutes=15)
    assert event.decoded("DTSTAMP") == datetime(2026, 12, 9, 8, 30, tzinfo=timezone.utc)
    assert re.search(rb"\r\nDTSTAMP(;VALUE=DATE-TIME)?:20261209T083000Z\r\n", data)
    assert str(event["SUMMARY"]) == "Follow up: Coffee next week? (kim@example.com)"
    assert str(event["STATUS"]) == "CONFIRMED"
    assert [str(c) for c in event["CATEGORIES"].cats] == ["mail-followup"]
    assert str(event["UID"]).endswith("@mail-followup")


def test_the_description_says_state_attempt_scenario_and_the_last_five_reasons() -> None:
    [event] = events(followups_calendar([report(state="due")], NOW))
    description = str(event["DESCRIPTION"])
    assert "due" in description
    assert "follow-up 2 of the thread" in description
    assert "networking" in description
    assert [line for line in description.splitlines() if line.startswith("- ")] == \
        [f"- reason {i}" for i in range(3, 8)]
    assert "reason 2" not in description


@pytest.mark.parametrize(("state", "summary"), [
    ("waiting", "Follow up: Coffee next week? (kim@example.com)"),
    ("due", "Follow up: Coffee next week? (kim@example.com)"),
    ("drafted", "Send the follow-up: Coffee next week? (kim@example.com)"),
    ("snoozed", "Follow up (snoozed until then): Coffee next week? (kim@example.com)"),
    ("call", "Call kim@example.com: Coffee next week?"),
])
def test_the_summary_says_what_to_do(state: str, summary: str) -> None:
    [event] = events(followups_calendar([report(state=state)], NOW))
    assert str(event["SUMMARY"]) == summary


@pytest.mark.parametrize("state", ["replied", "ignored", "capped", "stopped", "bounced"])
def test_threads_that_need_nothing_more_are_left_out(state: str) -> None:
    data = followups_calendar([report(state=state), report(message_id="<other@example.org>")], NOW)
    [event] = events(data)
    assert "Follow up:" in str(event["SUMMARY"])


def test_a_thread_without_not_before_is_left_out() -> None:
    assert events(followups_calendar([report(not_before=None), report(state="due", not_before=None)], NOW)) == []


def test_an_empty_report_list_is_a_valid_calendar_without_events() -> None:
    data = followups_calendar([], NOW)
    cal = parse(data)
    assert cal.name == "VCALENDAR"
    assert events(data) == []
    assert data.startswith(b"BEGIN:VCALENDAR\r\n") and data.endswith(b"END:VCALENDAR\r\n")
    assert b"BEGIN:VEVENT" not in data


def test_the_uid_is_stable_between_runs_and_differs_between_attempts() -> None:
    first = events(followups_calendar([report()], NOW))[0]
    again = events(followups_calendar([report(reasons=["changed"])], NOW + timedelta(days=1)))[0]
    next_attempt = events(followups_calendar([report(next_attempt=3)], NOW))[0]
    other_account = events(followups_calendar([report(account="home")], NOW))[0]
    assert str(first["UID"]) == str(again["UID"])
    assert str(first["UID"]) != str(next_attempt["UID"])
    assert str(first["UID"]) != str(other_account["UID"])
    expected = hashlib.sha256(b"work<first-sent@example.org>2").hexdigest()[:24]
    assert str(first["UID"]) == f"{expected}@mail-followup"


def test_the_same_reports_give_the_same_bytes() -> None:
    reports = [report(), report(message_id="<b@example.org>", not_before="2026-12-10T09:00:00+01:00")]
    assert followups_calendar(reports, NOW) == followups_calendar(list(reversed(reports)), NOW)


def test_events_come_in_time_order_and_keep_every_offset() -> None:
    reports = [
        report(message_id="<late@example.org>", not_before="2026-12-10T09:00:00-05:00"),
        report(message_id="<early@example.org>", not_before="2026-12-09T08:30:00+01:00"),
        report(message_id="<utc@example.org>", not_before="2026-12-09T12:00:00Z"),
    ]
    starts = [e.decoded("DTSTART") for e in events(followups_calendar(reports, NOW))]
    assert starts == [
        datetime(2026, 12, 9, 7, 30, tzinfo=timezone.utc),
        datetime(2026, 12, 9, 12, 0, tzinfo=timezone.utc),
        datetime(2026, 12, 10, 14, 0, tzinfo=timezone.utc),
    ]


def test_a_hostile_subject_is_escaped_and_makes_no_second_event() -> None:
    data = followups_calendar([report(subject=HOSTILE, reasons=[HOSTILE, "a\rBEGIN:VALARM\x00\x0c"])], NOW)
    lines = data.split(b"\r\n")
    assert lines.count(b"BEGIN:VEVENT") == 1 and lines.count(b"END:VEVENT") == 1
    assert b"BEGIN:VALARM" not in lines
    [event] = events(data)
    summary = str(event["SUMMARY"])
    assert summary == "Follow up: Re: Offer, 50% off; BEGIN:VEVENT (kim@example.com)"
    assert b"Re: Offer\\, 50% off\\;" in data  # the comma and the semicolon are escaped
    assert not list(parse(data).walk("VALARM"))
    for line in lines:
        assert b"\r" not in line and b"\n" not in line and b"\x00" not in line and b"\x0c" not in line
    # Every content line starts with a name, or is a folded continuation.
    assert all(line[:1] == b" " or line.split(b":")[0].split(b";")[0].replace(b"-", b"").isalnum()
               for line in lines if line)


def test_non_ascii_subjects_survive() -> None:
    subject = "Bewerbung: Müller, Jørgensen & Åström — 面试; 日程"
    [event] = events(followups_calendar([report(subject=subject, to=["jörg@exämple.de"])], NOW))
    assert str(event["SUMMARY"]) == f"Follow up: {subject} (jörg@exämple.de)"


def test_no_content_line_is_longer_than_75_octets() -> None:
    long_subject = "Långt ämne med åäö, 日本語の件名; " * 12
    reasons = ["x" * 300, "ø" * 200, "件" * 100]
    data = followups_calendar([report(subject=long_subject, reasons=reasons,
                                      to=["a-very-long-address-" * 5 + "@example.org"])], NOW)
    assert data.endswith(b"\r\n")
    lines = data.split(b"\r\n")
    assert len(lines) > 20
    assert max(len(line) for line in lines) <= 75
    for line in lines:
        line.decode("utf-8")  # no multi-byte character is split across a fold
    [event] = events(data)
    assert str(event["SUMMARY"]) == f"Follow up: {' '.join(long_subject.split())} (" + \
        "a-very-long-address-" * 5 + "@example.org)"
    assert "ø" * 200 in str(event["DESCRIPTION"])


def test_a_call_without_recipient_and_subject_still_reads() -> None:
    [event] = events(followups_calendar([report(state="call", to=[], subject="")], NOW))
    assert str(event["SUMMARY"]) == "Call the contact: (no subject)"


def test_a_report_with_a_broken_moment_is_left_out_and_the_rest_stays() -> None:
    data = followups_calendar([report(not_before="next tuesday"), report(message_id="<ok@example.org>")], NOW)
    assert len(events(data)) == 1


def test_the_reports_the_store_gives_back_are_what_the_calendar_takes(tmp_path: Path) -> None:
    """The command's path: a pass saved its reports; the calendar reads them back (offline)."""
    from mail_followup.state.store import Store

    with Store(tmp_path / "state") as store:
        store.save_reports("work", [report(subject=HOSTILE), report(state="replied", message_id="<r@example.org>")],
                           True, None, NOW)
        data = followups_calendar(store.reports(), NOW)
    [event] = events(data)
    assert str(event["SUMMARY"]) == "Follow up: Re: Offer, 50% off; BEGIN:VEVENT (kim@example.com)"
