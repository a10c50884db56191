"""IMAP responses read without a server: FETCH answers, UID sets, header blocks.

Pure, and tested with byte literals the way imapclient tests its parser.
These exist for speed: imapclient's own parser reads a response a byte at a
time in Python, which was most of a large scan's time.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import datetime, timedelta, timezone
from typing import Any

from imapclient.response_parser import parse_fetch_response

from mail_followup.core.headers import MONTHS

# The items a scan asks for, each after the start, a space or a parenthesis, found in one pass.
_ITEM = re.compile(rb'(?<![^ (])(?:UID (?P<uid>\d+)|FLAGS \((?P<flags>[^)]*)\)|INTERNALDATE "(?P<date>[^"]*)"'
                   rb"|X-GM-THRID (?P<thrid>\d+)|X-GM-MSGID (?P<msgid>\d+)|MODSEQ \((?P<modseq>\d+)\))")
_NAMES = {"uid": b"UID", "flags": b"FLAGS", "date": b"INTERNALDATE", "thrid": b"X-GM-THRID", "msgid": b"X-GM-MSGID",
          "modseq": b"MODSEQ"}
_INTERNALDATE = re.compile(rb"(\d{1,2})-([A-Za-z]{3})-(\d{4}) (\d\d):(\d\d):(\d\d) ([+-])(\d\d)(\d\d)")
_LEFTOVER = re.compile(rb"^\s*\d+\s*\(|\)\s*$")
_SECTION = re.compile(rb"(BODY\[[^\]]*\](?:<\d+>)?) \{\d+\}$")


def parse_fetch(data: list[Any]) -> dict[int, dict[bytes, Any]]:
    """Parse FETCH responses as imaplib hands them over: ``(prefix, literal)`` pairs and plain lines.

    imapclient's parser reads the response a byte at a time in Python, which
    is most of a large scan's time. Responses of the shapes a scan asks for
    (UID, FLAGS, INTERNALDATE, MODSEQ, X-GM-THRID, X-GM-MSGID and one body section as a
    literal) are read here with a few patterns; anything else goes to
    imapclient's parser, so no server's answer is ever misread.
    """
    parsed: dict[int, dict[bytes, Any]] = {}
    records: list[tuple[bytes, bytes | None]] = []
    for item in data:
        if isinstance(item, tuple) and len(item) == 2 and isinstance(item[0], bytes):
            records.append((item[0], item[1]))
        elif isinstance(item, bytes) and records and records[-1][1] is not None and not _starts_response(item):
            head, literal = records[-1]
            records[-1] = (head + b" \x00" + item, literal)  # text after the literal belongs to the same response
        elif isinstance(item, bytes):
            records.append((item, None))
        else:
            return parse_fetch_response(data, False, True)
    for head, literal in records:
        record = _record(head, literal)
        if record is None:
            return parse_fetch_response(data, False, True)  # an item this parser does not know: never drop it
        uid = record.pop(b"UID")
        parsed.setdefault(uid, {}).update(record)
    return parsed


def _record(head: bytes, literal: bytes | None) -> dict[bytes, Any] | None:
    """One FETCH response's items, with its UID under b"UID"; None where any part of it is not understood.

    One pass of one pattern over the text (it was one search per item, and two substitutions, a fifth of a
    first sync); what lies between the items must be nothing but the response's frame ("12 (" and ")")."""
    before, _, after = head.partition(b" \x00")
    record: dict[bytes, Any] = {}
    if literal is not None:
        section = _SECTION.search(before)
        if section is None:
            return None
        record[section.group(1)] = literal
        before = before[:section.start()]
    text = before + b" " + after
    gaps, pos = [], 0
    for item in _ITEM.finditer(text):
        gaps.append(text[pos:item.start()])
        pos = item.end()
        name = item.lastgroup
        if name is None or _NAMES[name] in record:  # the first of each counts, as a search finds it
            continue
        value = item.group(name)
        if name == "flags":
            record[b"FLAGS"] = tuple(value.split())
        elif name == "date":
            date = _INTERNALDATE.fullmatch(value)
            if date is not None:
                record[b"INTERNALDATE"] = _internaldate(date.groups())
        else:
            record[_NAMES[name]] = int(value)
    gaps.append(text[pos:])
    if b"UID" not in record or _LEFTOVER.sub(b"", b"".join(gaps)).strip():
        return None
    return record


def _starts_response(item: bytes) -> bool:
    """A line that starts a new FETCH response ("12 (UID ..."), not the tail of the one before."""
    head = item.lstrip()
    return head[:1].isdigit() and b" (" in head[:16]


def _internaldate(parts: tuple[bytes, ...]) -> datetime:
    day, month, year, hour, minute, second, sign, oh, om = parts
    zone = _ZONES.get((sign, oh, om))
    if zone is None:  # a mailbox has a handful of offsets: one object each
        offset = timedelta(hours=int(oh), minutes=int(om)) * (-1 if sign == b"-" else 1)
        zone = _ZONES[(sign, oh, om)] = timezone(offset)
    return datetime(int(year), MONTHS.get(month.decode("ascii", "replace").lower(), 1), int(day), int(hour),
                    int(minute), int(second), tzinfo=zone)


_ZONES: dict[tuple[bytes, bytes, bytes], timezone] = {}


def uid_ranges(uids: Iterable[int]) -> str:
    """``[1, 2, 3, 7]`` as ``"1:3,7"``: a short command for many UIDs."""
    ordered = sorted(set(uids))
    parts = []
    i = 0
    while i < len(ordered):
        j = i
        while j + 1 < len(ordered) and ordered[j + 1] == ordered[j] + 1:
            j += 1
        parts.append(str(ordered[i]) if i == j else f"{ordered[i]}:{ordered[j]}")
        i = j + 1
    return ",".join(parts)


def flag_set(flags: Iterable[bytes | str]) -> frozenset[str]:
    return frozenset(f.decode("ascii", "replace") if isinstance(f, bytes) else str(f) for f in flags)


def uid_set(text: str) -> set[int]:
    """Expand an IMAP sequence set such as ``1:3,7`` (no ``*``)."""
    found: set[int] = set()
    for part in text.split(","):
        if not part:
            continue
        low, _, high = part.partition(":")
        a, b = int(low), int(high or low)
        found.update(range(min(a, b), max(a, b) + 1))
    return found


def header_block(data: dict[Any, Any]) -> bytes:
    for key, value in data.items():
        if isinstance(key, bytes) and key.startswith(b"BODY[HEADER") and isinstance(value, bytes):
            return value
    return b""
