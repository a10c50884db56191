"""The weekly review (DOMAIN.md R18): one message in INBOX about everyone the user is waiting on.

Pure: the thread reports of the pass, the settings and the clock in, a
message out. The seeds advise a weekly look at who has not answered (001);
a message in the user's own inbox is the one place they are sure to see it,
in any mail client. The shell writes it unread, once per ISO week: the
store remembers it, and INBOX itself is searched for its marker first, as
for drafts, so a lost state never doubles it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from datetime import datetime, time
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime
from typing import Any

from mail_followup.config import Settings

HEADER_DIGEST = "X-Mail-Followup-Digest"
DAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
SECTIONS = (
    ("drafted", "Drafts ready to review and send"),
    ("waiting", "Waiting on an answer"),
    ("call", "They prefer a phone call"),
    ("touched", "Answered outside the thread this week (if that was no answer: mail-followup resume MESSAGE-ID)"),
    ("capped", "Reached the cap (no more follow-ups)"),
)
TOUCHED_DAYS = 7  # the threads answered outside them that the review lists: those of the week it covers


def due_week(settings: Settings, now: datetime) -> str | None:
    """This week's key ("2026-W50") once its digest moment has come, else None."""
    local = now.astimezone(settings.tz)
    day = DAYS.index(settings.digest.day)
    hour, minute = (int(x) for x in settings.digest.time.split(":"))
    if (local.weekday(), local.time()) < (day, time(hour, minute)):
        return None
    year, week, _ = local.isocalendar()
    return f"{year}-W{week:02d}"


def marker(account: str, week: str) -> str:
    return f"{account} {week}"


def compose_digest(account: str, address: str, name: str | None, reports: Iterable[Mapping[str, Any]],
                   settings: Settings, now: datetime, week: str) -> EmailMessage:
    groups: dict[str, list[Mapping[str, Any]]] = {state: [] for state, _ in SECTIONS}
    local = now.astimezone(settings.tz)
    for report in reports:
        state = str(report["state"])
        key = "waiting" if state in ("waiting", "due", "snoozed") else state
        touch = report.get("in_touch")
        if state == "replied" and isinstance(touch, Mapping) and \
                (local - datetime.fromisoformat(str(touch["date"]))).days < TOUCHED_DAYS:
            key = "touched"  # a judgement call the user may disagree with: shown for a week
        if key in groups:
            groups[key].append(report)
    counts = {state: len(rows) for state, rows in groups.items()}
    lines = [f"Hi {name.split()[0]}," if name else "Hi,", "",
             f"Here is your weekly review of the mail you are waiting on ({week}, account {account}).", ""]
    if not any(counts.values()):
        lines += ["Nobody to wait on this week: every thread is answered, stopped or not yet sent.", ""]
    for state, heading in SECTIONS:
        rows = groups[state]
        if not rows:
            continue
        lines.append(f"{heading} ({len(rows)})")
        for row in sorted(rows, key=lambda r: (str(r.get("not_before") or ""), str(r["subject"]))):
            lines.append(f"  - {_line(row, state, local)}")
        lines.append("")
    lines += ["-- ", f"mail-followup writes this review every {settings.digest.day.capitalize()} at "
              f"{settings.digest.time}; `digest: {{enabled: false}}` in the config turns it off.",
              "`mail-followup status` shows the same, and `mail-followup explain MESSAGE-ID` why."]
    msg = EmailMessage()
    msg["From"] = Address("mail-followup", "noreply", "mail-followup.invalid")
    msg["To"] = Address(name or "", *address.rsplit("@", 1))
    msg["Subject"] = (f"Your follow-ups: {counts['drafted']} draft(s) to send, {counts['waiting']} waiting "
                      f"({week})")
    msg["Date"] = format_datetime(local)
    msg["Message-ID"] = f"<digest-{week}-{hashlib.sha256(account.encode()).hexdigest()[:12]}@mail-followup.invalid>"
    msg[HEADER_DIGEST] = marker(account, week)
    msg["Auto-Submitted"] = "auto-generated"  # a report, not mail from a person: never taken for an answer
    msg.set_content("\n".join(lines) + "\n")
    return msg


def _line(row: Mapping[str, Any], state: str, local: datetime) -> str:
    to = ", ".join(row.get("to") or []) or "-"
    subject = str(row["subject"]) or "(no subject)"
    sent = str(row.get("last_sent") or "")[:10]
    when = str(row.get("not_before") or "")[:16].replace("T", " ")
    if state == "drafted":
        return f"{subject}: to {to}; follow-up {row['next_attempt']} is in Drafts"
    if state == "call":
        return f"{subject}: call {to} (from {when})"
    if state == "capped":
        return f"{subject}: to {to}; last message {sent}"
    if state == "touched":
        touch = row["in_touch"]
        return (f"{subject}: to {to}; {touch['from']} wrote {str(touch['date'])[:16].replace('T', ' ')} in "
                f"{touch['folder']}: \u201c{touch['subject']}\u201d ({row['message_id']})")
    return f"{subject}: to {to}; your last message {sent}" + (f", next follow-up {when}" if when else "")
