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
from mail_followup.core.language import texts

HEADER_DIGEST = "X-Mail-Followup-Digest"
DAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
SECTIONS = ("drafted", "waiting", "call", "touched", "capped")  # in this order; their words: lang/*.yaml "review"
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
    """The review in the user's language (``settings.language``)."""
    words = texts(settings.language).review
    groups: dict[str, list[Mapping[str, Any]]] = {state: [] for state in SECTIONS}
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
    greeting = words["greeting"]["named"].format(name=name.split()[0]) if name else words["greeting"]["anonymous"]
    lines = [greeting, "", words["intro"].format(week=week, account=account), ""]
    if not any(counts.values()):
        lines += [words["nobody"], ""]
    for state in SECTIONS:
        rows = groups[state]
        if not rows:
            continue
        lines.append(f"{words['sections'][state]} ({len(rows)})")
        for row in sorted(rows, key=lambda r: (str(r.get("not_before") or ""), str(r["subject"]))):
            lines.append(f"  - {_line(row, state, words)}")
        lines.append("")
    day = words["days"][DAYS.index(settings.digest.day)]
    lines += ["-- ", words["footer"].format(day=day, time=settings.digest.time)]
    msg = EmailMessage()
    msg["From"] = Address("mail-followup", "noreply", "mail-followup.invalid")
    msg["To"] = Address(name or "", *address.rsplit("@", 1))
    msg["Subject"] = words["subject"].format(drafted=counts["drafted"], waiting=counts["waiting"], week=week)
    msg["Date"] = format_datetime(local)
    msg["Message-ID"] = f"<digest-{week}-{hashlib.sha256(account.encode()).hexdigest()[:12]}@mail-followup.invalid>"
    msg[HEADER_DIGEST] = marker(account, week)
    msg["Auto-Submitted"] = "auto-generated"  # a report, not mail from a person: never taken for an answer
    msg.set_content("\n".join(lines) + "\n")
    msg["Content-Language"] = settings.language  # after the content: setting it clears the Content-* headers
    return msg


def _line(row: Mapping[str, Any], state: str, words: Mapping[str, Any]) -> str:
    lines = words["lines"]
    to = ", ".join(row.get("to") or []) or "-"
    subject = str(row["subject"]) or words["no_subject"]
    sent = str(row.get("last_sent") or "")[:10]
    when = str(row.get("not_before") or "")[:16].replace("T", " ")
    if state == "drafted":
        return str(lines["drafted"].format(subject=subject, to=to, attempt=row["next_attempt"]))
    if state == "call":
        return str(lines["call"].format(subject=subject, to=to, when=when))
    if state == "capped":
        return str(lines["capped"].format(subject=subject, to=to, sent=sent))
    if state == "touched":
        touch = row["in_touch"]
        return str(lines["touched"].format(subject=subject, to=to, who=touch["from"], folder=touch["folder"],
                                           when=str(touch["date"])[:16].replace("T", " "),
                                           their_subject=touch["subject"], message_id=row["message_id"]))
    line = lines["waiting"].format(subject=subject, to=to, sent=sent)
    return str(lines["next"].format(line=line, when=when) if when else line)
