"""The follow-ups as an iCalendar file, so the user's calendar shows when each one is due.

``mail-followup calendar > followups.ics`` turns the reports of the last
passes (``Store.reports()``, the contract of ``scan --json``) into one event
per thread that still has a next step with a moment: a follow-up that is
waiting or due, a draft to review and send, a snoozed thread, a phone call.
Threads that need nothing more (replied, ignored, capped, stopped, bounced)
are left out.

Each event's UID comes from the account, the thread and the attempt, so
importing the file again (or subscribing to it) updates the events instead
of duplicating them, and the next attempt is a new event.

Pure: reports and ``now`` in, bytes out; no store, no network.
"""

from __future__ import annotations

import hashlib
import logging
import re
import unicodedata
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from icalendar import Calendar, Event

log = logging.getLogger(__name__)

PRODID = "-//mail-followup//EN"
CALENDAR_NAME = "Follow-ups"
CATEGORY = "mail-followup"
DURATION = timedelta(minutes=15)
REASONS_SHOWN = 5

# The states with a next step at ``not_before``; every other state needs nothing more.
CALENDAR_STATES = frozenset({"waiting", "due", "drafted", "snoozed", "call"})

_LINE_BREAKS = re.compile("\r\n|[\r\x85\u2028\u2029]")


def followups_calendar(reports: Iterable[Mapping[str, Any]], now: datetime) -> bytes:
    """One VCALENDAR with a VEVENT for every report whose state has a next step and that has a ``not_before``.

    ``now`` becomes every event's DTSTAMP (in UTC; a naive ``now`` is local
    time). Events come sorted by start, then UID, so the same reports and
    ``now`` always give the same bytes.
    """
    calendar = Calendar()
    calendar.add("prodid", PRODID)
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("method", "PUBLISH")
    calendar.add("x-wr-calname", CALENDAR_NAME)

    stamp = now.astimezone(UTC)
    events: dict[str, tuple[datetime, Event]] = {}
    for report in reports:
        made = _event(report, stamp)
        if made is not None:
            uid, start, event = made
            events.setdefault(uid, (start, event))  # a UID must be unique in a calendar
    for _uid, (_start, event) in sorted(events.items(), key=lambda item: (item[1][0], item[0])):
        calendar.add_component(event)
    data: bytes = calendar.to_ical()
    return data


def event_uid(report: Mapping[str, Any]) -> str:
    """The same for the same account, thread and attempt in every run; another attempt is another event."""
    attempt = report.get("next_attempt")
    material = f"{report.get('account', '')}{report.get('message_id', '')}{'' if attempt is None else attempt}"
    return f"{hashlib.sha256(material.encode('utf-8')).hexdigest()[:24]}@mail-followup"


def _event(report: Mapping[str, Any], stamp: datetime) -> tuple[str, datetime, Event] | None:
    state = report.get("state")
    if state not in CALENDAR_STATES:
        return None
    start = _moment(report.get("not_before"), stamp)
    if start is None:
        return None
    uid = event_uid(report)
    event = Event()
    event.add("uid", uid)
    event.add("dtstamp", stamp)
    event.add("dtstart", start)
    event.add("duration", DURATION)
    event.add("summary", _summary(report))
    event.add("description", _description(report))
    event.add("status", "CONFIRMED")
    event.add("categories", [CATEGORY])
    return uid, start, event


def _moment(value: Any, stamp: datetime) -> datetime | None:
    """``not_before`` in UTC; None when absent or not ISO 8601 (a report from elsewhere should not stop the rest)."""
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(str(value))
    except ValueError:
        log.warning("not a moment, left out of the calendar: not_before=%r", value)
        return None
    if moment.tzinfo is None:  # the contract has an offset; without one, it is the user's local time
        moment = moment.astimezone()
    return moment.astimezone(UTC)


def _summary(report: Mapping[str, Any]) -> str:
    subject = _line(report.get("subject")) or "(no subject)"
    recipient = _first_recipient(report)
    state = report.get("state")
    if state == "call":
        return f"Call {recipient or 'the contact'}: {subject}"
    about = f"{subject} ({recipient})" if recipient else subject
    if state == "drafted":
        return f"Send the follow-up: {about}"
    if state == "snoozed":
        return f"Follow up (snoozed until then): {about}"
    return f"Follow up: {about}"


def _description(report: Mapping[str, Any]) -> str:
    lines = [f"State: {_line(report.get('state'))}"]
    attempt = report.get("next_attempt")
    if attempt is not None:
        lines.append(f"Attempt: follow-up {_line(attempt)} of the thread")
    if report.get("policy"):
        lines.append(f"Scenario: {_line(report.get('policy'))}")
    recipients = [line for line in (_line(r) for r in _recipients(report)) if line]
    if recipients:
        lines.append(f"To: {', '.join(recipients)}")
    if report.get("account"):
        lines.append(f"Account: {_line(report.get('account'))}")
    reasons = report.get("reasons") or []
    if isinstance(reasons, str):
        reasons = [reasons]
    shown = [_text(r) for r in list(reasons)[-REASONS_SHOWN:]]
    if shown:
        lines.append("Why:")
        lines.extend(f"- {r}" for r in shown if r)
    return "\n".join(lines)


def _recipients(report: Mapping[str, Any]) -> list[Any]:
    to = report.get("to") or []
    return [to] if isinstance(to, str) else list(to)


def _first_recipient(report: Mapping[str, Any]) -> str:
    for recipient in _recipients(report):
        if line := _line(recipient):
            return line
    return ""


def _text(value: Any) -> str:
    """Text with its line breaks as ``\\n`` and no other control characters, which TEXT values may not hold.

    icalendar escapes commas, semicolons, backslashes and line breaks; a lone
    CR, a form feed or a NUL in a subject would still reach the file raw on
    some versions, and some readers break lines there.
    """
    text = _LINE_BREAKS.sub("\n", "" if value is None else str(value))
    return "".join(c for c in text if c in "\n\t" or unicodedata.category(c) != "Cc")


def _line(value: Any) -> str:
    """Text on one line: a summary is a title, and a subject's folding whitespace means nothing."""
    return " ".join(_text(value).split())
