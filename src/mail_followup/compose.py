"""The follow-up draft, as an ``email.message.EmailMessage`` (DESIGN.md "Drafts").

Pure: the thread, the decision, the texts and the quoted bodies go in; a
message comes out. Nothing read from received mail reaches a header without
passing through the strict address and Message-ID parsers first.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import datetime, tzinfo
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime

from mail_followup.headers import Addr, Mail
from mail_followup.language import Texts
from mail_followup.policy import Decision
from mail_followup.threads import Thread, display_subject

HEADER_FOR = "X-Mail-Followup-For"
HEADER_ATTEMPT = "X-Mail-Followup-Attempt"
MAX_QUOTED_LINES = 120
MAX_REFERENCES = 20
_MSGID = re.compile(r"^<[\x21-\x3b\x3d\x3f-\x7e]+@[\x21-\x3b\x3d\x3f-\x7e]+>$")


@dataclass(frozen=True)
class Sender:
    """Who signs the draft; ``name`` and ``signature`` come from the config when set."""

    name: str | None = None
    signature: str | None = None


def compose(
    thread: Thread,
    decision: Decision,
    texts: Texts,
    own: tuple[str, ...],
    now: datetime,
    latest_text: str,
    original_text: str | None,
    sender: Sender = Sender(),
) -> EmailMessage:
    """Build the draft for ``decision.next_attempt`` of ``thread``.

    ``latest_text`` is the body of the user's latest message in the thread;
    ``original_text`` the body of the round's original when it differs from
    the latest (None otherwise). ``now`` becomes the Date header.
    """
    original, latest = thread.original, thread.last_user
    from_addr = original.sender or latest.sender
    if from_addr is None:
        raise ValueError("the original message has no usable From address")
    own_set = {a.lower() for a in own}
    to = _addresses(original.to, own_set)
    cc = _addresses(original.cc, own_set)
    if not to and cc:
        to, cc = cc, []

    msg = EmailMessage()
    msg["From"] = _address(from_addr) or from_addr.address
    if to:
        msg["To"] = to
    if cc:
        msg["Cc"] = cc
    msg["Subject"] = texts.reply_prefix + display_subject(original.subject)
    msg["Date"] = format_datetime(now)
    msg["Message-ID"] = draft_message_id(thread.key, decision.next_attempt, from_addr.address)
    if _MSGID.match(latest.message_id):
        msg["In-Reply-To"] = latest.message_id
        refs = [r for r in latest.references if _MSGID.match(r)] + [latest.message_id]
        msg["References"] = " ".join(refs[-MAX_REFERENCES:])
    msg[HEADER_FOR] = thread.key if _MSGID.match(thread.key) else "<invalid@mail-followup.invalid>"
    msg[HEADER_ATTEMPT] = str(decision.next_attempt)
    msg["Auto-Submitted"] = "no"  # a person reviews and sends it; it must not look automatic
    msg.set_content(
        body_text(thread, decision, texts, own_set, latest_text, original_text, sender, from_addr, now),
        cte="quoted-printable",
    )
    return msg


def body_text(
    thread: Thread,
    decision: Decision,
    texts: Texts,
    own: set[str],
    latest_text: str,
    original_text: str | None,
    sender: Sender,
    from_addr: Addr,
    now: datetime,
) -> str:
    variants = texts.variants(decision.attempt_kind)
    # The variant depends on the thread and the attempt, so a rerun writes the
    # same words and consecutive attempts of one thread read differently.
    seed = int(hashlib.sha256(thread.key.encode()).hexdigest()[:8], 16)
    template = variants[(seed + decision.next_attempt) % len(variants)]
    new_text = template.format(subject=display_subject(thread.original.subject))
    name = sender.name or from_addr.name or ""
    signature = sender.signature if sender.signature is not None else name
    parts = [greeting(thread.original, texts, own), "", new_text, "", texts.closing]
    if signature:
        parts.append(signature)
    tz = now.tzinfo
    parts += ["", attribution(thread.last_user, texts, tz), quote(latest_text)]
    if original_text is not None and not _already_quotes(latest_text):
        parts += [">", "> " + attribution(thread.original, texts, tz), quote(quote(original_text))]
    return "\n".join(parts) + "\n"


def greeting(original: Mail, texts: Texts, own: set[str]) -> str:
    """Greet the one addressee by first name when the original named them; otherwise a neutral greeting."""
    people = [a for a in original.to if a.address not in own]
    if len(people) == 1 and people[0].name:
        name = people[0].name
        if "," in name:  # "Larsen, Kim"
            name = name.split(",", 1)[1]
        first = name.split()[0] if name.split() else ""
        if first and "@" not in first:
            return texts.greeting.format(name=first)
    return texts.greeting_anonymous


def attribution(mail: Mail, texts: Texts, tz: tzinfo | None = None) -> str:
    """The localized "On <date>, <name> wrote:" line, with the date in the user's timezone."""
    local = mail.date.astimezone(tz) if tz else mail.date
    when = texts.date_format.format(
        weekday=texts.weekdays[local.weekday()],
        day=local.day,
        month=texts.months[local.month - 1],
        year=local.year,
        hour=local.hour,
        minute=local.minute,
    )
    who = mail.sender.formatted() if mail.sender else "?"
    return texts.attribution.format(date=when, name=who)


def quote(text: str) -> str:
    lines = text.split("\n") if text else [""]
    if len(lines) > MAX_QUOTED_LINES:
        lines = lines[:MAX_QUOTED_LINES] + [f"[... {len(lines) - MAX_QUOTED_LINES} more lines not quoted ...]"]
    return "\n".join(">" + ("" if line.startswith(">") or not line else " ") + line for line in lines)


def draft_message_id(key: str, attempt: int, address: str) -> str:
    digest = hashlib.sha256(f"{key}\x00{attempt}".encode()).hexdigest()[:24]
    domain = address.rpartition("@")[2] or "mail-followup.invalid"
    if not re.fullmatch(r"[A-Za-z0-9.-]+", domain):
        domain = "mail-followup.invalid"
    return f"<followup-{attempt}-{digest}@{domain}>"


def as_bytes(msg: EmailMessage) -> bytes:
    """Serialise with CRLF line ends, as IMAP APPEND expects."""
    return msg.as_bytes(policy=SMTP)


def _already_quotes(text: str) -> bool:
    return any(line.startswith(">") for line in text.split("\n"))


def _addresses(addrs: tuple[Addr, ...], own: set[str]) -> list[Address]:
    out = []
    seen: set[str] = set()
    for addr in addrs:
        if addr.address in own or addr.address in seen:
            continue
        parsed = _address(addr)
        if parsed is not None:
            out.append(parsed)
            seen.add(addr.address)
    return out


def _address(addr: Addr) -> Address | None:
    """A strictly valid address or None: a value that does not parse never reaches a header."""
    local, _, domain = addr.address.rpartition("@")
    if not local or not domain or any(c in addr.address for c in "\r\n<>\",;\\ "):
        return None
    try:
        return Address(display_name=addr.name.replace("\r", " ").replace("\n", " "), username=local, domain=domain)
    except (ValueError, TypeError):
        return None
