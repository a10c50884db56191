"""The follow-up draft, as an ``email.message.EmailMessage`` (DESIGN.md "Drafts").

Pure: the thread, the decision, the texts and the quoted bodies go in; a
message comes out. Nothing read from received mail reaches a header without
passing through the strict address and Message-ID parsers first.
"""

from __future__ import annotations

import hashlib
import html
import re
from dataclasses import dataclass
from datetime import datetime, tzinfo
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime

from mail_followup.core.headers import Addr, Mail
from mail_followup.core.language import Texts, texts
from mail_followup.core.policy import Decision
from mail_followup.core.templates import Templates, builtin_templates
from mail_followup.core.threads import Thread, display_subject

HEADER_FOR = "X-Mail-Followup-For"
HEADER_ATTEMPT = "X-Mail-Followup-Attempt"
HEADER_CHECK = "X-Mail-Followup-Check"
MAX_QUOTED_LINES = 120
MAX_QUOTED_HTML = 200_000  # characters of a quoted HTML original
MAX_REFERENCES = 20
MAX_SUBJECT = 1000  # characters of the original subject in the draft's: a 1 MiB subject is cut, not folded
_MSGID = re.compile(r"^<[\x21-\x3b\x3d\x3f-\x7e]+@[\x21-\x3b\x3d\x3f-\x7e]+>$")


@dataclass(frozen=True)
class Sender:
    """Who signs the draft; ``name`` and ``signature`` come from the config when set."""

    name: str | None = None
    signature: str | None = None


@dataclass(frozen=True)
class Quoted:
    """A message the draft quotes: its text, and its HTML when it had some."""

    text: str
    html: str | None = None


def compose(
    thread: Thread,
    decision: Decision,
    own: tuple[str, ...],
    now: datetime,
    latest: Quoted,
    original: Quoted | None,
    sender: Sender = Sender(),
    language: str = "en",
    templates: Templates | None = None,
) -> EmailMessage:
    """Build the draft for ``decision.next_attempt`` of ``thread``, in ``language``.

    ``latest`` is the user's latest message in the thread; ``original`` the
    round's original when it differs from the latest (None otherwise).
    ``now`` becomes the Date header.
    """
    original_mail, latest_mail = thread.original, thread.last_user
    from_addr = original_mail.sender or latest_mail.sender
    if from_addr is None:
        raise ValueError("the original message has no usable From address")
    own_set = {a.lower() for a in own}
    to = _addresses(original_mail.to, own_set)
    cc = _addresses(original_mail.cc, own_set)
    if not to and cc:
        to, cc = cc, []
    lang = texts(language)
    parts = body_parts(thread, decision, lang, templates or builtin_templates(), own_set, latest, original, sender,
                       from_addr, now)

    msg = EmailMessage()
    msg["From"] = _address(from_addr) or from_addr.address
    if to:
        msg["To"] = to
    if cc:
        msg["Cc"] = cc
    msg["Subject"] = lang.reply_prefix + inert(display_subject(original_mail.subject))[:MAX_SUBJECT]
    msg["Date"] = format_datetime(now)
    msg["Message-ID"] = draft_message_id(thread.key, decision.next_attempt, from_addr.address)
    if _MSGID.match(latest_mail.message_id):
        msg["In-Reply-To"] = latest_mail.message_id
        refs = [r for r in latest_mail.references if _MSGID.match(r)] + [latest_mail.message_id]
        msg["References"] = " ".join(refs[-MAX_REFERENCES:])
    msg[HEADER_FOR] = thread.key if _MSGID.match(thread.key) else "<invalid@mail-followup.invalid>"
    msg[HEADER_ATTEMPT] = str(decision.next_attempt)
    msg["Auto-Submitted"] = "no"  # a person reviews and sends it; it must not look automatic
    msg.set_content(parts.text(), cte="quoted-printable")
    if latest.html is not None:
        msg.add_alternative(parts.html(), subtype="html", cte="quoted-printable")
    msg["Content-Language"] = lang.code  # after the content: setting it clears the Content-* headers
    return msg


@dataclass(frozen=True)
class BodyParts:
    """The pieces of a draft's body, laid out as plain text or as HTML."""

    greeting: str
    new_text: str
    closing: str
    signature: str
    quotes: tuple[tuple[str, Quoted], ...]  # (attribution line, message), the latest first
    trimmed: str

    def text(self) -> str:
        parts = [self.greeting, "", self.new_text, "", self.closing]
        if self.signature:
            parts.append(self.signature)
        (first_line, first), *rest = self.quotes
        parts += ["", first_line, quote(first.text, self.trimmed)]
        for line, earlier in rest:
            parts += [">", "> " + line, quote(quote(earlier.text, self.trimmed), self.trimmed)]
        return "\n".join(parts) + "\n"

    def html(self) -> str:
        own = [self.greeting, *self.new_text.split("\n\n"), "\n".join(filter(None, (self.closing, self.signature)))]
        out = [f"<p>{_html_lines(p)}</p>" for p in own if p]
        nested = ""
        for line, message in reversed(self.quotes):  # the earliest innermost
            inner = sanitize_html(message.html, self.trimmed) if message.html else f"<p>{_html_lines(message.text)}</p>"
            nested = f"<div>{html.escape(line)}</div><blockquote type=\"cite\">{inner}{nested}</blockquote>"
        return "<!DOCTYPE html>\n<html><body>" + "".join(out) + nested + "</body></html>\n"


def body_parts(
    thread: Thread,
    decision: Decision,
    lang: Texts,
    templates: Templates,
    own: set[str],
    latest: Quoted,
    original: Quoted | None,
    sender: Sender,
    from_addr: Addr,
    now: datetime,
) -> BodyParts:
    from mail_followup.core.classify import new_text as written_now

    own_texts = (written_now(latest.text), written_now(original.text) if original else "")
    own_words = "\n".join(own_texts)
    formal = is_formal(own_words, lang)
    greeting_line, their_name = greeting(thread.original, lang, own, own_texts, formal)
    name = sender.name or from_addr.name or ""
    context = {
        "subject": display_subject(thread.original.subject), "scenario": decision.scenario,
        "attempt": decision.next_attempt, "kind": decision.attempt_kind, "formal": formal,
        "their_name": their_name, "days": max((now - thread.last_user.date).days, 0), "sender_name": name,
    }
    new_text = templates.render(lang.code, decision.attempt_kind, thread.key, context)
    if not greeting_line.endswith(","):  # "Hallo Lena!" starts a new sentence, even where "," would not
        new_text = new_text[:1].upper() + new_text[1:]
    signature = sender.signature if sender.signature is not None else (own_name(written_now(latest.text), name) or name)
    tz = now.tzinfo
    quotes = [(attribution(thread.last_user, lang, tz), latest)]
    if original is not None and not _already_quotes(latest.text):
        quotes.append((attribution(thread.original, lang, tz), original))
    closing = own_signoff(written_now(latest.text)) or lang.closing[lang.register(formal)]
    return BodyParts(greeting_line, new_text, closing, signature, tuple(quotes), lang.trimmed)


def is_formal(words: str, lang: Texts) -> bool:
    """The register of the user's own words: the formal markers (German Sie, Ihnen) against the informal
    ones (du, dir), counted where they cannot be a sentence's first word; else the language's default."""
    formal = informal = 0
    for match in re.finditer(r"(?<=[\w,;:] )(\w+)", words):
        word = match.group(1)
        formal += word in lang.formal_markers
        informal += word in lang.informal_markers
    if formal == informal:
        return lang.default_formal
    return formal > informal


def greeting(original: Mail, lang: Texts, own: set[str], own_texts: tuple[str, ...], formal: bool
             ) -> tuple[str, str]:
    """The greeting line and the name in it.

    The user's own greeting ("Sehr geehrte Frau Berg,", "Hei Kari!") is
    reused as written: it has the name and the register they chose. Else
    the one addressee is greeted by the name the original gave (the first
    name, or the whole name in a formal register), unless the address is a
    role's (info@, bookings@); else neutrally.
    """
    for words in own_texts:  # the latest message's greeting, else the original's: "Frau Schneider" is known
        own_line = own_greeting(words)
        if own_line is not None:
            return own_line
    register = lang.register(formal)
    people = [a for a in original.to if a.address not in own]
    if len(people) == 1 and people[0].name and not is_role_mailbox(people[0].address):
        name = people[0].name
        if "," in name:  # "Larsen, Kim"
            last, _, first_names = name.partition(",")
            name = f"{first_names} {last}"
        parts = name.split()
        if parts and not any("@" in w for w in parts):
            # Formal: the whole name, as "Guten Tag Anna Schneider," does where "Frau" or "Herr" cannot
            # be known; informal: the first name.
            called = " ".join(parts) if formal else parts[0]
            return lang.greeting[register].format(name=called), called
    return lang.greeting_anonymous[register], ""


# Mailboxes of a role, not a person: "Front desk <bookings@…>" is greeted "Hello,", never "Hi Front,".
ROLE_MAILBOXES = frozenset((
    "info", "post", "postmaster", "contact", "kontakt", "office", "kontor", "hello", "hallo", "hej", "hei", "mail",
    "booking", "bookings", "bokning", "bokningar", "bestilling", "buchung", "reservation", "reservations",
    "reservasjon", "reception", "frontdesk", "resepsjon", "empfang", "kundtjanst", "support",
    "service", "customerservice", "kundeservice", "kundservice", "kundenservice", "sales", "salg", "vertrieb",
    "admin", "team", "jobs", "jobb", "careers", "karriere", "hr", "recruiting", "rekrytering", "rekruttering",
    "billing", "invoice", "invoices", "faktura", "rechnung", "accounts", "orders", "order", "bestellung",
    "events", "press", "presse", "noreply",
))


def is_role_mailbox(address: str) -> bool:
    local = address.rpartition("@")[0].split("+", 1)[0].lower()
    return re.sub(r"[._-]", "", local) in ROLE_MAILBOXES


def own_signoff(words: str) -> str | None:
    """The sign-off line of the user's message ("Best,", "Med vennlig hilsen"), as written, when it is one
    we know in any language: the draft ends the way the user ends their mail."""
    from mail_followup.core.language import available_languages

    known = {s for code in available_languages() for s in texts(code).signoffs}
    tail = [ln.strip() for ln in words.split("\n") if ln.strip()][-4:]
    for line in reversed(tail):
        if line.rstrip(",!.").strip().lower() in known:
            return line
    return None


def own_name(words: str, full_name: str = "") -> str | None:
    """The name the user signed with under their sign-off ("Best,\nKari"), or alone on the last line
    when it is a part of their name: a draft to someone they signed "Kari" for is not signed
    "Kari Nordmann"."""
    lines = [ln.strip() for ln in words.split("\n") if ln.strip()][-4:]
    signoff = own_signoff(words)
    if signoff is None or signoff not in lines:
        return lines[-1] if lines and lines[-1] in full_name.split() else None
    after = lines[lines.index(signoff) + 1:]
    if after and len(after[0]) <= 40 and not any(c.isdigit() or c in "@<>|:/" for c in after[0]):
        return after[0]
    return None


def own_greeting(words: str) -> tuple[str, str] | None:
    """The first line of the user's text when it is a greeting in any language we know, and the name in it."""
    from mail_followup.core.language import available_languages

    line = next((ln.strip() for ln in words.split("\n") if ln.strip()), "")
    if not line or len(line) > 60 or any(c in line for c in "<>@"):
        return None
    lowered = line.lower()
    for code in available_languages():
        for word in sorted(texts(code).salutations, key=len, reverse=True):
            if lowered == word or (lowered.startswith(word) and not lowered[len(word)].isalnum()):
                name = line[len(word):].strip(" ,!.:;")
                return line, name
    return None


def attribution(mail: Mail, lang: Texts, tz: tzinfo | None = None) -> str:
    """The localized "On <date>, <name> wrote:" line, with the date in the user's timezone."""
    local = mail.date.astimezone(tz) if tz else mail.date
    when = lang.date_format.format(
        weekday=lang.weekdays[local.weekday()],
        day=local.day,
        month=lang.months[local.month - 1],
        year=local.year,
        hour=local.hour,
        minute=local.minute,
    )
    who = mail.sender.formatted() if mail.sender else "?"
    return lang.attribution.format(date=when, name=who)


def quote(text: str, trimmed: str = "[... {count} more lines not quoted ...]") -> str:
    """``text`` quoted one level deeper. Blank lines at its end, quoted or not, are left out: quoted
    once more they would end the quote in stray ">" and ">>" lines."""
    lines = text.split("\n") if text else [""]
    while len(lines) > 1 and not lines[-1].replace(">", "").strip():
        lines.pop()
    if len(lines) > MAX_QUOTED_LINES:
        lines = lines[:MAX_QUOTED_LINES] + [trimmed.format(count=len(lines) - MAX_QUOTED_LINES)]
    return "\n".join(">" + ("" if line.startswith(">") or not line else " ") + line for line in lines)


def sanitize_html(markup: str, trimmed: str) -> str:
    """The quoted HTML without anything active or loaded from afar: no scripts, styles, forms, frames or
    images, links that open without a referrer. A very long original is cut with a visible marker;
    the sanitizer closes what the cut left open."""
    import nh3

    cut = ""
    if len(markup) > MAX_QUOTED_HTML:
        cut = f"<p>{html.escape(trimmed.format(count='…'))}</p>"
        markup = markup[:MAX_QUOTED_HTML]
    tags = set(nh3.ALLOWED_TAGS) - {"img", "picture", "source", "video", "audio", "track", "map", "area"}
    clean = nh3.clean(markup, tags=tags, url_schemes={"http", "https", "mailto"}, strip_comments=True,
                      link_rel="noopener noreferrer")
    return clean + cut


def _html_lines(text: str) -> str:
    return "<br>\n".join(html.escape(line) for line in text.split("\n"))


def draft_message_id(key: str, attempt: int, address: str) -> str:
    digest = hashlib.sha256(f"{key}\x00{attempt}".encode()).hexdigest()[:24]
    domain = address.rpartition("@")[2] or "mail-followup.invalid"
    if not re.fullmatch(r"[A-Za-z0-9.-]+", domain):
        domain = "mail-followup.invalid"
    return f"<followup-{attempt}-{digest}@{domain}>"


def as_bytes(msg: EmailMessage) -> bytes:
    """Serialise with CRLF line ends, as IMAP APPEND expects, sealed (see ``is_unedited``)."""
    data = msg.as_bytes(policy=SMTP)
    return f"{HEADER_CHECK}: {_digest(data)}\r\n".encode() + data


def is_unedited(raw: bytes) -> bool:
    """Whether ``raw`` is a draft exactly as this product wrote it.

    The first header line carries a digest of everything after it. A mail
    client that saves an edited draft writes a new message: the digest no
    longer matches, or the line is gone. Only a draft that passes this may
    ever be withdrawn (DESIGN.md invariant 1).
    """
    first, sep, rest = raw.partition(b"\r\n")
    prefix = f"{HEADER_CHECK}: ".encode()
    return bool(sep) and first.startswith(prefix) and first[len(prefix):].decode("ascii", "replace") == _digest(rest)


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:40]


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


def inert(text: str) -> str:
    """Text read from received mail, made safe to set as a header value of the draft.

    The email package decodes RFC 2047 words in any value it is given, again, and (Python before
    3.11.10, CVE-2024-6923) writes what they decode to as is: a subject kept as raw text because one
    of its words was broken, "=?utf-8?q?x=0D=0ABcc:_evil?= =?utf-8?b?!?=", became a Bcc header of the
    draft. So "=?" is split by a word joiner (it can no longer start an encoded word, and reads the
    same), every line break (also U+2028, U+0085, VT, FF) becomes a space, and control characters go.
    """
    text = "".join(c if c >= " " or c == "\t" else " " for c in text.replace("\x7f", " "))
    return " ".join(text.split()).replace("=?", "=\u2060?")


def _address(addr: Addr) -> Address | None:
    """A strictly valid address or None: a value that does not parse never reaches a header."""
    local, _, domain = addr.address.rpartition("@")
    if not local or not domain or any(c in addr.address for c in "\r\n<>\",;\\ "):
        return None
    try:
        return Address(display_name=inert(addr.name), username=local, domain=domain)
    except (ValueError, TypeError):
        return None
