"""Header blocks from IMAP, parsed into plain records the core can trust.

Pure: bytes in, ``Mail`` out. Received mail is hostile by default: every
value is decoded defensively, addresses are parsed with the strict modern
parser, and a value with a line break never survives (CVE-2024-6923). A
problem is recorded on the record, never raised, so one broken message
cannot stop a scan.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from email import policy
from email.header import decode_header, make_header
from email.parser import BytesHeaderParser
from email.utils import parsedate_to_datetime

# What a scan fetches: enough to thread, classify and address, never a body.
FETCH_FIELDS = (
    "MESSAGE-ID", "IN-REPLY-TO", "REFERENCES", "FROM", "TO", "CC", "SUBJECT", "DATE",
    "AUTO-SUBMITTED", "PRECEDENCE", "LIST-ID", "X-AUTOREPLY", "X-AUTORESPOND",
    "X-MAIL-FOLLOWUP-FOR", "X-MAIL-FOLLOWUP-ATTEMPT",
    "BCC", "CONTENT-TYPE", "X-FAILED-RECIPIENTS", "X-MS-EXCHANGE-INBOX-RULES-LOOP",
)
FETCH_ITEM = "BODY.PEEK[HEADER.FIELDS (" + " ".join(FETCH_FIELDS) + ")]"
FETCH_KEY = b"BODY[HEADER.FIELDS (" + " ".join(FETCH_FIELDS).encode() + b")]"

_MSGID = re.compile(r"<[^<>\s]+>")
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


@dataclass(frozen=True)
class Addr:
    name: str
    address: str  # lower-cased addr-spec

    def formatted(self) -> str:
        return f"{self.name} <{self.address}>" if self.name else self.address


@dataclass(frozen=True)
class Mail:
    """One message as the core sees it: identity, threading, people, time, and the marks that matter."""

    folder: str
    uid: int
    message_id: str
    in_reply_to: tuple[str, ...] = ()
    references: tuple[str, ...] = ()
    sender: Addr | None = None
    to: tuple[Addr, ...] = ()
    cc: tuple[Addr, ...] = ()
    subject: str = ""
    date: datetime = _EPOCH
    flags: frozenset[str] = frozenset()
    auto_reply: bool = False
    bulk: bool = False
    followup_for: str | None = None
    followup_attempt: int | None = None
    bcc: tuple[Addr, ...] = ()
    content_type: str = ""  # "type/subtype" plus the parameter that matters, e.g. "multipart/report; delivery-status"
    failed_recipients: tuple[str, ...] = ()
    thread_hint: str | None = None  # a server's own thread id (Gmail's X-GM-THRID)
    gone: bool = False  # it vanished from the server; kept so that it still counts
    problems: tuple[str, ...] = field(default=(), compare=False)

    @property
    def recipients(self) -> tuple[Addr, ...]:
        return self.to + self.cc

    @property
    def everyone_written_to(self) -> tuple[Addr, ...]:
        return self.to + self.cc + self.bcc


def parse_header_block(
    folder: str,
    uid: int,
    raw: bytes,
    flags: tuple[bytes | str, ...] = (),
    internaldate: datetime | None = None,
    thread_hint: str | None = None,
) -> Mail:
    """Parse the fetched header fields of one message; never raise for bad input."""
    problems: list[str] = []
    msg = BytesHeaderParser(policy=policy.compat32).parsebytes(raw or b"")

    def text(name: str) -> str:
        values = msg.get_all(name) or []
        if not values:
            return ""
        return _decode(str(values[0]) if not isinstance(values[0], str) else values[0], name, problems)

    subject = text("Subject")
    sender_list = _addresses(text("From"), "From", problems)
    to = _addresses(text("To"), "To", problems)
    cc = _addresses(text("Cc"), "Cc", problems)
    date = _date(text("Date"), internaldate, problems)
    message_ids = _MSGID.findall(text("Message-ID"))
    if message_ids:
        message_id = message_ids[0]
    else:
        message_id = synthetic_message_id(text("Date"), text("From"), subject, text("To"))
        problems.append("no Message-ID; using a stable key made from Date, From, Subject and To")
    auto_submitted = text("Auto-Submitted").strip().lower()
    precedence = text("Precedence").strip().lower()
    attempt_text = text("X-Mail-Followup-Attempt").strip()
    followup_for = _MSGID.findall(text("X-Mail-Followup-For"))
    return Mail(
        folder=folder,
        uid=uid,
        message_id=message_id,
        in_reply_to=tuple(_MSGID.findall(text("In-Reply-To"))),
        references=tuple(_MSGID.findall(text("References"))),
        sender=sender_list[0] if sender_list else None,
        to=tuple(to),
        cc=tuple(cc),
        subject=subject,
        date=date,
        flags=frozenset(f.decode("ascii", "replace") if isinstance(f, bytes) else str(f) for f in flags),
        auto_reply=(auto_submitted not in ("", "no"))
        or precedence in ("auto_reply", "bulk", "junk")
        or bool(text("X-Autoreply") or text("X-Autorespond") or text("X-MS-Exchange-Inbox-Rules-Loop")),
        bulk=precedence in ("bulk", "list", "junk") or bool(text("List-Id")),
        followup_for=followup_for[0] if followup_for else None,
        followup_attempt=int(attempt_text) if attempt_text.isdigit() else None,
        bcc=tuple(_addresses(text("Bcc"), "Bcc", problems)),
        content_type=_content_type(text("Content-Type")),
        failed_recipients=tuple(a.lower() for a in re.findall(r"[^\s,;<>\"]+@[^\s,;<>\"]+", text("X-Failed-Recipients"))),
        thread_hint=thread_hint,
        problems=tuple(problems),
    )


def _content_type(value: str) -> str:
    """The media type, and for reports and calendars the parameter that says what they are."""
    if not value:
        return ""
    parts = [p.strip() for p in value.split(";")]
    kind = parts[0].lower()
    for part in parts[1:]:
        key, _, val = part.partition("=")
        if key.strip().lower() in ("report-type", "method"):
            return f"{kind}; {val.strip().strip(chr(34)).lower()}"
    return kind


def synthetic_message_id(*parts: str) -> str:
    """A stable key for a message without Message-ID: the same headers give the same key on every pass."""
    digest = hashlib.sha256("\x00".join(parts).encode("utf-8", "replace")).hexdigest()[:32]
    return f"<{digest}@missing-message-id.mail-followup.invalid>"


def _decode(value: str, name: str, problems: list[str]) -> str:
    """Decode RFC 2047 words; a value that cannot be decoded is kept with replacement characters."""
    try:
        decoded = str(make_header(decode_header(value)))
    except Exception:  # every kind of broken encoded word ends here, by design
        problems.append(f"{name}: undecodable encoded words; kept as raw text")
        decoded = value
    # Folding whitespace and any line break are collapsed: nothing from received
    # mail may ever carry a newline into a header we write.
    return " ".join(decoded.replace("\x00", "").split())


def _addresses(value: str, name: str, problems: list[str]) -> list[Addr]:
    if not value:
        return []
    try:
        header = policy.default.header_factory(name, value)
        found = [Addr(a.display_name or "", a.addr_spec.lower()) for a in header.addresses]
    except Exception:
        problems.append(f"{name}: cannot be parsed as addresses")
        return []
    good = [a for a in found if _plausible(a.address)]
    if len(good) != len(found) or header.defects:
        problems.append(f"{name}: malformed address(es) left out")
    return good


def _plausible(address: str) -> bool:
    local, at, domain = address.rpartition("@")
    return bool(at and local and domain and "." in domain and not any(c.isspace() or c in "<>,;\"" for c in address))


def _date(value: str, internaldate: datetime | None, problems: list[str]) -> datetime:
    if value:
        try:
            parsed = parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            parsed = None
        if parsed is not None:
            return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)
        problems.append("Date: unreadable; using the server's arrival time")
    if internaldate is not None:
        return internaldate if internaldate.tzinfo else internaldate.replace(tzinfo=timezone.utc)
    return _EPOCH
