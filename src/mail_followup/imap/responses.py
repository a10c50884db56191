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

_UID = re.compile(rb"(?:^|[ (])UID (\d+)")
_FLAGS = re.compile(rb"(?:^|[ (])FLAGS \(([^)]*)\)")
_INTERNALDATE = re.compile(
    rb'(?:^|[ (])INTERNALDATE "(\d{1,2})-([A-Za-z]{3})-(\d{4}) (\d\d):(\d\d):(\d\d) ([+-])(\d\d)(\d\d)"')
_THRID = re.compile(rb"(?:^|[ (])X-GM-THRID (\d+)")
_MSGID = re.compile(rb"(?:^|[ (])X-GM-MSGID (\d+)")
_MODSEQ = re.compile(rb"(?:^|[ (])MODSEQ \((\d+)\)")
_KNOWN = re.compile(rb'(?:UID \d+|FLAGS \([^)]*\)|INTERNALDATE "[^"]*"|X-GM-THRID \d+|X-GM-MSGID \d+|MODSEQ \(\d+\))')
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
        before, _, after = head.partition(b" \x00")
        record: dict[bytes, Any] = {}
        text = before + b" " + after
        uid = _UID.search(text)
        if uid is None:
            return parse_fetch_response(data, False, True)
        flags = _FLAGS.search(text)
        if flags is not None:
            record[b"FLAGS"] = tuple(flags.group(1).split())
        date = _INTERNALDATE.search(text)
        if date is not None:
            record[b"INTERNALDATE"] = _internaldate(date.groups())
        for pattern, key in ((_THRID, b"X-GM-THRID"), (_MSGID, b"X-GM-MSGID"), (_MODSEQ, b"MODSEQ")):
            found = pattern.search(text)
            if found is not None:
                record[key] = int(found.group(1))
        if literal is not None:
            section = _SECTION.search(before)
            if section is None:
                return parse_fetch_response(data, False, True)
            record[section.group(1)] = literal
            text = before[:section.start()] + b" " + after
        if _LEFTOVER.sub(b"", _KNOWN.sub(b"", text)).strip():
            return parse_fetch_response(data, False, True)  # an item this parser does not know: never drop it
        parsed.setdefault(int(uid.group(1)), {}).update(record)
    return parsed


def _starts_response(item: bytes) -> bool:
    """A line that starts a new FETCH response ("12 (UID ..."), not the tail of the one before."""
    head = item.lstrip()
    return head[:1].isdigit() and b" (" in head[:16]


def _internaldate(parts: tuple[bytes, ...]) -> datetime:
    day, month, year, hour, minute, second, sign, oh, om = parts
    offset = timedelta(hours=int(oh), minutes=int(om)) * (-1 if sign == b"-" else 1)
    return datetime(int(year), MONTHS.get(month.decode("ascii", "replace").lower(), 1), int(day), int(hour),
                    int(minute), int(second),
                    tzinfo=timezone(offset))


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
