"""Readable tables for people, and the JSON documents around the reports; a report's own shape lives
with the scan (``scan.report``)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any, TextIO

TOUCHED = "touched"  # a group of the table: answered, but outside the thread (a report's ``in_touch``)

GROUP_ORDER = ("due", "drafted", "call", "waiting", "snoozed", TOUCHED, "capped", "stopped", "bounced", "replied",
               "ignored")
HEADINGS = {
    "due": "Due now (not yet written)",
    "drafted": "Drafts ready to review and send",
    "call": "Call them instead (they prefer the phone)",
    "waiting": "Waiting",
    "snoozed": "Snoozed",
    TOUCHED: "In touch outside the thread (if that was no answer: mail-followup resume MESSAGE-ID)",
    "capped": "Reached the cap (no more follow-ups)",
    "stopped": "Stopped",
    "bounced": "Bounced",
    "replied": "Answered",
    "ignored": "Not tracked (expects no answer)",
}


def write_json_document(out: TextIO, head: dict[str, Any], threads: Iterable[str]) -> None:
    """``head`` as indented JSON, its empty ``threads`` list filled from JSON texts, one per line.

    The reports are stored as JSON: handing them on as text spares decoding and encoding them again,
    which for 100,000 threads is seconds; and they are written one by one, because the whole document
    at once was three copies of 90 MB at 1,000,000 messages. (Inside a JSON string a quote is escaped,
    so the only ``"threads": []`` in the text is the key's own.)
    """
    before, key, after = json.dumps(head, ensure_ascii=False, indent=1).partition('"threads": []')
    out.write(before)
    opened = False
    for text in threads:
        out.write(",\n  " + text if opened else '"threads": [\n  ' + text)
        opened = True
    out.write("\n ]" if opened else key)
    out.write(after)


# What table() reads.
TABLE_FIELDS = ("account", "state", "to", "subject", "last_sent", "not_before", "next_attempt", "message_id",
                "in_touch")


def table(threads: Iterable[Mapping[str, Any]], now: datetime, verbose: bool = False) -> str:
    """Threads grouped by state: contact, subject, days since your last message, and the next date.

    Answered and ignored threads are counted, and listed only with ``verbose``.
    """
    groups: dict[str, list[Mapping[str, Any]]] = {}
    for thread in threads:
        state = state_at(str(thread["state"]), thread.get("not_before"), now)
        if state != thread["state"]:
            thread = {**thread, "state": state}
        groups.setdefault(TOUCHED if state == "replied" and thread.get("in_touch") else state, []).append(thread)
    if not groups:
        return "No threads tracked yet. Run `mail-followup scan` first.\n"
    out: list[str] = []
    for state in sorted(groups, key=lambda s: GROUP_ORDER.index(s) if s in GROUP_ORDER else 99):
        rows = groups[state]
        out.append(f"{HEADINGS.get(state, state)} ({len(rows)})")
        if state in ("replied", "ignored") and not verbose:
            out.append("")
            continue
        lines = [("contact", "subject", "days", "next", "account")]
        ordered = sorted(rows, key=lambda r: (str(r.get("not_before") or ""), str(r["subject"])))
        for t in ordered:
            lines.append((
                _short(", ".join(t.get("to") or []) or "-", 32),
                _short(str(t["subject"]) or "(no subject)", 40),
                _days(t.get("last_sent"), now),
                _next(t),
                str(t["account"]),
            ))
        widths = [max(len(row[i]) for row in lines) for i in range(len(lines[0]))]
        for row, details in zip(lines, [None, *map(_touch_line, ordered)]):
            out.append("  " + "  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip())
            if details:
                out.append(details)
        out.append("")
    return "\n".join(out)


def state_at(state: str, not_before: object, now: datetime) -> str:
    """The state of a standing report at ``now``: a snooze whose moment has come is over, and the thread is
    ``due`` (the next pass decides it again and writes its draft), never shown snoozed with a date past."""
    if state == "snoozed" and not_before and datetime.fromisoformat(str(not_before)) <= now:
        return "due"
    return state


def report_text_at(text: str, now: datetime) -> str:
    """A stored report's JSON text as of ``now`` (``state_at``); only a snoozed one is decoded, and only one
    whose snooze has ended is written again, with the reason."""
    if '"snoozed"' not in text:
        return text
    report = json.loads(text)
    state = state_at(str(report.get("state")), report.get("not_before"), now)
    if state == report.get("state"):
        return text
    report["state"] = state
    report["reasons"] = [*report.get("reasons", []),
                         f"the snooze ended at {report['not_before']}: due; the next pass decides it again"]
    return json.dumps(report, ensure_ascii=False)


def _touch_line(thread: Mapping[str, Any]) -> str | None:
    """For a thread answered outside it: which message counted, when, where, and the key to resume it."""
    touch = thread.get("in_touch")
    if isinstance(touch, str):  # as status reads it: the JSON text of the field
        touch = json.loads(touch)
    if not touch:
        return None
    where = touch["folder"] + (f" ({touch['account']})" if touch.get("account") != thread.get("account") else "")
    return (f"    {_short(str(touch['from']), 40)} wrote {str(touch['date'])[:16].replace('T', ' ')} in {where}: "
            f"\u201c{_short(str(touch['subject']) or '(no subject)', 50)}\u201d  [{thread.get('message_id', '')}]")


def _next(thread: Mapping[str, Any]) -> str:
    state = thread["state"]
    if state == "drafted":
        return f"follow-up {thread['next_attempt']} in Drafts"
    if state in ("waiting", "due", "snoozed", "call") and thread.get("not_before"):
        return str(thread["not_before"])[:16].replace("T", " ")
    return "-"


def _days(last_sent: Any, now: datetime) -> str:
    if not last_sent:
        return "-"
    try:
        sent = datetime.fromisoformat(str(last_sent))
        return str(max((now.astimezone(sent.tzinfo).date() - sent.date()).days, 0))
    except ValueError:
        return "-"


def _short(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"
