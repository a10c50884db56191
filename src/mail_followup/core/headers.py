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
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from email import policy
from email.header import decode_header, make_header
from email.utils import parsedate_to_datetime

# What a scan fetches: enough to thread, classify and address, never a body.
FETCH_FIELDS = (
    "MESSAGE-ID", "IN-REPLY-TO", "REFERENCES", "FROM", "TO", "CC", "SUBJECT", "DATE",
    "AUTO-SUBMITTED", "PRECEDENCE", "LIST-ID", "X-AUTOREPLY", "X-AUTORESPOND",
    "X-MAIL-FOLLOWUP-FOR", "X-MAIL-FOLLOWUP-ATTEMPT",
    "BCC", "CONTENT-TYPE", "X-FAILED-RECIPIENTS", "X-MS-EXCHANGE-INBOX-RULES-LOOP",
    "THREAD-INDEX", "X-AUTO-RESPONSE-SUPPRESS", "LIST-UNSUBSCRIBE",
)
FETCH_ITEM = "BODY.PEEK[HEADER.FIELDS (" + " ".join(FETCH_FIELDS) + ")]"

_MSGID = re.compile(r"<[^<>\s]+>")
_ADDR_SPEC = r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+"
_ADDRESS_ITEM = re.compile(
    rf'\s*(?:"(?P<q>[^"\\]*)"\s*<(?P<a1>{_ADDR_SPEC})>|(?P<n>[^<>",;:@()\\]*?)\s*<(?P<a2>{_ADDR_SPEC})>'
    rf'|(?P<a3>{_ADDR_SPEC})|)\s*(?:,|$)'
)
_LOOSE_ADDRESS = re.compile(r"[^\s,;<>\"]+@[^\s,;<>\"]+")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class Addr:
    name: str
    address: str  # lower-cased addr-spec

    def formatted(self) -> str:
        return f"{self.name} <{self.address}>" if self.name else self.address


@dataclass(frozen=True, slots=True)
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
    thread_hint: str | None = None  # a conversation id: Gmail's X-GM-THRID, else Exchange's Thread-Index root
    auto_hint: bool = False  # Exchange's X-Auto-Response-Suppress: a hint of an automatic reply, never proof
    gone: bool = False  # it vanished from the server; kept so that it still counts
    problems: tuple[str, ...] = field(default=(), compare=False)

    @property
    def recipients(self) -> tuple[Addr, ...]:
        return self.to + self.cc

    @property
    def everyone_written_to(self) -> tuple[Addr, ...]:
        return self.to + self.cc + self.bcc


class Interner:
    """One object for equal values across many messages: the user's own address, the same
    contacts, the same flags, Message-IDs that References repeat. At 100,000 messages this
    is the difference between fitting in memory and not."""

    def __init__(self) -> None:
        self._addrs: dict[tuple[str, str], Addr] = {}
        self._strings: dict[str, str] = {}
        self._flags: dict[object, frozenset[str]] = {}

    def addr(self, name: str, address: str) -> Addr:
        found = self._addrs.get((name, address))
        if found is None:
            found = self._addrs[(name, address)] = Addr(name, address)
        return found

    def string(self, value: str) -> str:
        return self._strings.setdefault(value, value)

    def ids(self, values: list[str] | tuple[str, ...]) -> tuple[str, ...]:
        return tuple(self._strings.setdefault(v, v) for v in values) if values else ()

    def forget_strings(self) -> None:
        """Drop the shared Message-IDs (a first sync that streams its headers to the state holds none of them
        for long, and a table of a million would outweigh what it saves)."""
        self._strings.clear()

    def flags(self, key: object, values: Iterable[str]) -> frozenset[str]:
        found = self._flags.get(key)
        if found is None:
            found = self._flags[key] = frozenset(values)
        return found


def parse_header_block(
    folder: str,
    uid: int,
    raw: bytes,
    flags: tuple[bytes | str, ...] = (),
    internaldate: datetime | None = None,
    thread_hint: str | None = None,
    interner: Interner | None = None,
    server_id: str | None = None,
) -> Mail:
    """Parse the fetched header fields of one message; never raise for bad input.

    ``server_id`` is the server's own id of the message (Gmail's X-GM-MSGID): the identity of a
    message that has no Message-ID.
    """
    problems: list[str] = []
    share = interner or Interner()
    fields = split_fields(raw or b"")

    def text(name: str) -> str:
        value = fields.get(name, "")
        return _decode(value, name, problems) if value else ""

    def people(name: str) -> list[Addr]:
        return [share.addr(a.name, a.address) for a in _addresses(fields.get(name, ""), name, problems)]

    subject = text("subject")
    sender_list = people("from")
    date = _date(text("date"), internaldate, problems)
    message_ids = _MSGID.findall(fields.get("message-id", ""))
    if message_ids:
        message_id = message_ids[0]
    elif server_id:
        message_id = f"<{server_id}@server-id.mail-followup.invalid>"
        problems.append("no Message-ID; using the server's own id of the message")
    else:
        message_id = synthetic_message_id(text("date"), text("from"), subject, text("to"))
        problems.append("no Message-ID; using a stable key made from Date, From, Subject and To")
    if thread_hint is None:
        thread_hint = thread_index_root(fields.get("thread-index", ""))
    auto_submitted = fields.get("auto-submitted", "").strip().lower()
    precedence = fields.get("precedence", "").strip().lower()
    attempt_text = fields.get("x-mail-followup-attempt", "").strip()
    followup_for = _MSGID.findall(fields.get("x-mail-followup-for", ""))
    return Mail(
        folder=folder,
        uid=uid,
        message_id=share.string(message_id),
        in_reply_to=share.ids(_MSGID.findall(fields.get("in-reply-to", ""))),
        references=share.ids(_MSGID.findall(fields.get("references", ""))),
        sender=sender_list[0] if sender_list else None,
        to=tuple(people("to")),
        cc=tuple(people("cc")),
        subject=subject,
        date=date,
        flags=share.flags(flags, (f.decode("ascii", "replace") if isinstance(f, bytes) else str(f) for f in flags)),
        auto_reply=(auto_submitted not in ("", "no"))
        or precedence in ("auto_reply", "bulk", "junk")
        or any(fields.get(h) for h in ("x-autoreply", "x-autorespond", "x-ms-exchange-inbox-rules-loop")),
        # A newsletter says so with List-Id or Precedence, or at least (RFC 2369, RFC 8058) List-Unsubscribe.
        bulk=precedence in ("bulk", "list", "junk") or bool(fields.get("list-id") or fields.get("list-unsubscribe")),
        followup_for=followup_for[0] if followup_for else None,
        followup_attempt=int(attempt_text) if attempt_text.isdigit() else None,
        bcc=tuple(people("bcc")),
        content_type=_content_type(fields.get("content-type", "")),
        failed_recipients=tuple(a.lower() for a in _LOOSE_ADDRESS.findall(fields.get("x-failed-recipients", ""))),
        thread_hint=thread_hint,
        auto_hint=bool(fields.get("x-auto-response-suppress")),
        problems=tuple(problems),
    )


def thread_index_root(value: str) -> str | None:
    """The conversation an Exchange/Outlook Thread-Index names: its first 22 bytes (a FILETIME and a GUID),
    the same in every message of the conversation. None when the value is not a Thread-Index."""
    import base64
    import binascii

    compact = "".join(value.split())
    if len(compact) < 30:
        return None
    try:
        raw = base64.b64decode(compact[:32] + "=" * (-len(compact[:32]) % 4), validate=True)
    except (binascii.Error, ValueError):
        return None
    return "ti:" + raw[:22].hex() if len(raw) >= 22 else None


def split_fields(raw: bytes) -> dict[str, str]:
    """The header fields of a header block, by lower-case name, unfolded; the first of repeated fields wins.

    Far faster than the email package's parser for the few fields a scan
    reads, which matters at 100,000 messages. Bytes that are not UTF-8 are
    read as Latin-1, line by line, so nothing is ever lost to a decoding error.
    """
    try:
        lines = raw.decode("utf-8").split("\n")
    except UnicodeDecodeError:
        lines = [_line(part) for part in raw.split(b"\n")]
    found: dict[str, str] = {}
    key: str | None = None
    for line in lines:
        if line[:1] in (" ", "\t"):
            if key is not None:
                found[key] += " " + line
            continue
        line = line.rstrip("\r")
        name, sep, value = line.partition(":")
        if not sep:
            key = None
            continue
        name = name.strip().lower()
        if not name or name in found:
            key = None  # a repeated field: the first one counts
            continue
        found[name] = value
        key = name
    return {k: " ".join(v.replace("\x00", "").split()) for k, v in found.items()}


def _line(part: bytes) -> str:
    try:
        return part.decode("utf-8")
    except UnicodeDecodeError:
        return part.decode("latin-1")


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


MAX_DECODED_CHARS = 65536  # of one field's value: decoding encoded words costs more than linear time
MAX_STRICT_ADDRESS_CHARS = 8192  # given to the email package's address parser, which is far worse than linear


def _clean(text: str) -> str:
    """No NUL, no lone surrogate (an unknown charset leaves them; they cannot be encoded or stored)."""
    if "\x00" in text:
        text = text.replace("\x00", "")
    return _SURROGATE.sub("\ufffd", text)


_SURROGATE = re.compile("[\ud800-\udfff]")


def _decode(value: str, name: str, problems: list[str]) -> str:
    """Decode RFC 2047 words; a value that cannot be decoded is kept as it is."""
    if "=?" not in value:
        return value  # already unfolded and free of line breaks
    if len(value) > MAX_DECODED_CHARS:
        # A 1 MiB line of encoded words took over 10 s to decode: only the start is read, and said so.
        problems.append(f"{name}: longer than {MAX_DECODED_CHARS} characters; only the start is read")
        value = value[:MAX_DECODED_CHARS]
    try:
        decoded = str(make_header(decode_header(value)))
    except Exception:  # every kind of broken encoded word ends here, by design
        mixed = _decode_mixed(value)
        if mixed is None:
            problems.append(f"{name}: undecodable encoded words; kept as raw text")
        decoded = value if mixed is None else mixed
    # Folding whitespace and any line break are collapsed: nothing from received
    # mail may ever carry a newline into a header we write.
    return " ".join(_clean(decoded).split())


def _decode_mixed(value: str) -> str | None:
    """Encoded words beside raw UTF-8 (``Re: =?utf-8?q?Caf=C3=A9?= Ø``), which ``make_header`` refuses: its
    plain parts must be ASCII. Each part decoded on its own; None if an encoded word is itself broken."""
    try:
        # decode_header hands back the plain parts as raw-unicode-escape bytes, the encoded ones in their charset
        return "".join(data.decode(charset or "raw-unicode-escape", "replace") if isinstance(data, bytes) else data
                       for data, charset in decode_header(value))
    except Exception:  # an unknown charset, a broken word
        return None


def _addresses(value: str, name: str, problems: list[str]) -> list[Addr]:
    """Parse an address list strictly: simple, unambiguous forms by pattern, everything else by the
    email package's strict parser. A value neither accepts is reported and left out."""
    if not value:
        return []
    simple = _simple_addresses(value, name, problems)
    if simple is not None:
        return simple
    if len(value) > MAX_STRICT_ADDRESS_CHARS:
        # The strict parser took minutes (and gigabytes) on 100,000 addresses with one broken item: it gets
        # the first addresses only, enough to see who and how many (bulk), and the cut is reported.
        problems.append(f"{name}: longer than {MAX_STRICT_ADDRESS_CHARS} characters and not a plain list; "
                        "only the first addresses are read")
        value = value[:MAX_STRICT_ADDRESS_CHARS].rpartition(",")[0] or value[:MAX_STRICT_ADDRESS_CHARS]
    try:
        header = policy.default.header_factory(name, value)
        found = [Addr(" ".join(_clean(a.display_name or "").split()), a.addr_spec.lower()) for a in header.addresses]
    except Exception:
        problems.append(f"{name}: cannot be parsed as addresses")
        return []
    good = [a for a in found if _plausible(a.address)]
    if len(good) != len(found) or header.defects:
        problems.append(f"{name}: malformed address(es) left out")
    return good


def _simple_addresses(value: str, name: str, problems: list[str]) -> list[Addr] | None:
    """``a@b``, ``Name <a@b>`` and ``"Name" <a@b>`` lists with plain ASCII addresses; None for anything else."""
    found = []
    pos = 0
    while pos < len(value):
        match = _ADDRESS_ITEM.match(value, pos)
        if match is None:
            return None
        address = match.group("a1") or match.group("a2") or match.group("a3")
        display = match.group("q") if match.group("q") is not None else (match.group("n") or "")
        if address:
            found.append(Addr(_decode(display.strip(), name, problems) if display else "", address.lower()))
        pos = match.end()
    return found


def _plausible(address: str) -> bool:
    local, at, domain = address.rpartition("@")
    return bool(at and local and domain and "." in domain and not any(c.isspace() or c in "<>,;\"" for c in address))


_RFC5322_DATE = re.compile(
    r"^(?:[A-Za-z]{3},\s*)?(\d{1,2})\s+([A-Za-z]{3})\s+(\d{4})\s+(\d{1,2}):(\d{2})(?::(\d{2}))?\s*([+-])(\d{2})(\d{2})")
MONTHS = {m: i for i, m in enumerate(("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov",
                                      "dec"), start=1)}
_ZONES: dict[str, timezone] = {}


def _date(value: str, internaldate: datetime | None, problems: list[str]) -> datetime:
    match = _RFC5322_DATE.match(value)  # the usual form, read without the general parser
    if match is not None and match.group(2).lower() in MONTHS:
        day, month, year, hour, minute, second, sign, oh, om = match.groups()
        offset = sign + oh + om
        zone = _ZONES.get(offset)
        if zone is None:
            delta = timedelta(hours=int(oh), minutes=int(om))
            zone = _ZONES[offset] = timezone(-delta if sign == "-" else delta)
        try:
            return datetime(int(year), MONTHS[month.lower()], int(day), int(hour), int(minute), int(second or 0),
                            tzinfo=zone)
        except ValueError:
            pass  # an impossible date: the general parser decides
    if value:
        try:
            parsed = parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            parsed = None
        if parsed is not None:
            return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
        problems.append("Date: unreadable; using the server's arrival time")
    if internaldate is not None:
        return internaldate if internaldate.tzinfo else internaldate.replace(tzinfo=UTC)
    return _EPOCH
