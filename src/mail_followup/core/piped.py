"""A message a mail client pipes in (``mail-followup stop -``): the Message-IDs that may name its thread.

Pure: the bytes of the message's header block in, a ``Piped`` out. A mail
client hands the message over as it holds it: perhaps an mbox "From " line
first, CRLF or LF line ends, headers in any charset. Only the header block
counts, and it is read as a scan reads headers (``parse_header_block``), so
a hostile header is as harmless here as there.

The message may be a follow-up draft this program wrote (``X-Mail-Followup-For``
names its thread), the user's own sent message (its Message-ID), or an
answer to it (In-Reply-To, References). Its pointers are tried in that
order, References newest first.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from mail_followup.core.headers import parse_header_block, split_fields

MAX_HEAD = 1 << 20  # bytes of a header block read; headers beyond that (a hostile message) are not
_BLANK_LINE = re.compile(rb"\n\r?\n")
_MSGID = re.compile(r"<[^<>\s]+>")


@dataclass(frozen=True)
class Piped:
    """What a piped message says about where it belongs."""

    subject: str
    message_id: str | None  # None: it has no Message-ID
    pointers: tuple[tuple[str, str], ...]  # (the header it is in, a Message-ID), in the order they are tried
    headers: bool = True  # False: nothing in it reads as a header field (an empty input, not a message)

    @property
    def named(self) -> str:
        """The message as one line of text names it: its subject and Message-ID, safe to print."""
        subject = printable(self.subject) or "(no subject)"
        subject = subject if len(subject) <= 80 else subject[:79] + "…"
        return f"\u201c{subject}\u201d {printable(self.message_id) if self.message_id else '(no Message-ID)'}"


def head_end(data: bytes | bytearray) -> int | None:
    """Where the header block of a message that begins ``data`` ends: the offset after its blank line.

    None while no blank line has come yet (read more; at the end, all of it is the head).
    """
    if data.startswith((b"\n", b"\r\n")):  # no header at all
        return data.index(b"\n") + 1
    found = _BLANK_LINE.search(data)
    return found.end() if found else None


def piped_message(head: bytes) -> Piped:
    """The subject, the Message-ID and the pointers of a message from its header block ``head``.

    An mbox "From " line before the headers (what mutt's ``<pipe-message>`` writes first) is skipped.
    Pointers: X-Mail-Followup-For, Message-ID, In-Reply-To, then References newest first; each
    Message-ID once, where it first comes.
    """
    head = head[:MAX_HEAD]
    if head.startswith(b"From "):
        head = head.partition(b"\n")[2]
    mail = parse_header_block("", 0, head)
    fields = split_fields(head)
    has_id = bool(_MSGID.search(fields.get("message-id", "")))
    pointers: list[tuple[str, str]] = []
    seen: set[str] = set()
    for header, ids in (("X-Mail-Followup-For", (mail.followup_for,) if mail.followup_for else ()),
                        ("Message-ID", (mail.message_id,) if has_id else ()),
                        ("In-Reply-To", mail.in_reply_to),
                        ("References", tuple(reversed(mail.references)))):
        for message_id in ids:
            if message_id not in seen:
                seen.add(message_id)
                pointers.append((header, message_id))
    return Piped(mail.subject, mail.message_id if has_id else None, tuple(pointers), bool(fields))


def printable(text: str) -> str:
    """``text`` with control characters (a terminal's escape sequences among them) and the marks that turn
    text around shown as "?"."""
    return "".join("?" if unicodedata.category(c) == "Cc" or c in _BIDI else c for c in text)


_BIDI = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
