"""What a message is: a human answer, an automatic reply, a bounce, a stop request; a closing note.

Pure: headers and, where needed, the raw message go in; a ``Verdict`` comes
out. The phrase lists live in ``phrases/<language>.yaml``. Every doubt
leans towards *not* following up: an unclear inbound message is a human
answer, never an automatic one.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, replace
from datetime import date, datetime, timedelta
from email import message_from_bytes, policy
from email.message import Message
from functools import cache
from typing import Any

from mail_followup.core.deadlines import promised_date, read_date
from mail_followup.core.headers import Mail
from mail_followup.core.language import detect_language
from mail_followup.core.packaged import yaml_data, yaml_names

_MSGID = re.compile(r"<[^<>\s]+>")
_BOUNCE_SENDER = re.compile(r"^(mailer-daemon|postmaster|mail-daemon|mailerdaemon)@", re.I)
_ADDRESS = re.compile(r"[^\s<>;:\"]+@[^\s<>;:\"]+\.[a-z]{2,}", re.I)
_WORD = re.compile(r"\w+", re.UNICODE)
EXCERPT_CHARS = 1000  # of the user's own message, kept for the scenario rules (the state is private)
RETURN_DATE_WINDOW = timedelta(days=120)  # a return date further away than this is a misreading


@dataclass(frozen=True)
class Phrases:
    code: str
    auto_reply_subjects: tuple[str, ...]
    stop_phrases: tuple[str, ...]
    return_cues: tuple[str, ...]
    back_cues: tuple[str, ...]
    calendar_subjects: tuple[str, ...]
    closing_phrases: tuple[str, ...]
    request_phrases: tuple[str, ...]
    quote_headers: tuple[re.Pattern[str], ...]


@cache
def phrase_files() -> tuple[tuple[str, dict[str, Any]], ...]:
    """Every language's ``phrases/<code>.yaml``, read once: (code, its contents)."""
    return tuple((code, yaml_data("phrases", code)) for code in yaml_names("phrases"))


@cache
def all_phrases() -> tuple[Phrases, ...]:
    found = []
    for code, raw in phrase_files():
        found.append(Phrases(
            code=code,
            quote_headers=tuple(re.compile(p, re.I) for p in raw["quote_headers"]),
            **{k: tuple(str(v).lower() for v in raw[k]) for k in (
                "auto_reply_subjects", "stop_phrases", "return_cues", "back_cues", "calendar_subjects",
                "closing_phrases", "request_phrases")},
        ))
    return tuple(found)


@dataclass(frozen=True)
class Verdict:
    """What a message turned out to be, and why. Cached in the store by Message-ID.

    ``kind``: for inbound mail ``human``, ``auto``, ``bounce`` or ``stop``;
    for the user's own mail ``closing`` (expects no answer) or ``open``.
    """

    kind: str
    reason: str
    language: str | None = None
    return_date: date | None = None
    refers_to: tuple[str, ...] = ()
    failed: tuple[str, ...] = ()
    excerpt: str | None = None  # the user's own message: the start of its new text, for the scenario rules
    promise_day: date | None = None  # an answer: the day its writer said they would come back by (R6)
    promise_phrase: str | None = None
    quotable: tuple[str, ...] = ()  # the user's own message: runs of its words a quote of it would hold
    calendar_method: str | None = None  # an iMIP part inside (RFC 6047): its METHOD, organiser and attendees
    organiser: str | None = None
    attendees: tuple[str, ...] = ()

    def to_json(self) -> str:
        data = asdict(self)
        for key in ("return_date", "promise_day"):
            data[key] = data[key].isoformat() if data[key] else None
        return json.dumps(data, ensure_ascii=False)

    @classmethod
    def from_json(cls, text: str) -> Verdict:
        data = json.loads(text)
        for key in ("return_date", "promise_day"):
            data[key] = date.fromisoformat(data[key]) if data.get(key) else None
        for key in ("refers_to", "failed", "quotable", "attendees"):
            data[key] = tuple(data.get(key, ()))
        return cls(**data)


def header_kind(mail: Mail) -> Verdict | None:
    """What the headers alone prove: a bounce or an automatic reply. None when only the body can tell."""
    if mail.content_type == "multipart/report; delivery-status" or mail.failed_recipients:
        return Verdict("bounce", "a delivery status report" if mail.failed_recipients == () else
                       f"delivery failed for {', '.join(mail.failed_recipients)}", failed=mail.failed_recipients)
    if mail.sender is not None and _BOUNCE_SENDER.match(mail.sender.address):
        return Verdict("bounce", f"sent by {mail.sender.address}")
    if mail.auto_reply:
        return Verdict("auto", "marked automatic in its headers (Auto-Submitted, X-Autoreply, Precedence)")
    if mail.content_type == "multipart/report; disposition-notification":
        return Verdict("auto", "a read receipt")
    match = _auto_subject().match(mail.subject.lower().lstrip())
    if match:
        code, start = next((ph.code, p) for ph in all_phrases() for p in ph.auto_reply_subjects if p == match.group(0))
        return Verdict("auto", f"subject starts with {start!r}", language=code)
    return None


@cache
def _auto_subject() -> re.Pattern[str]:
    """One pattern for every language's auto-reply subjects, longest first (it runs on every message)."""
    starts = sorted({p for ph in all_phrases() for p in ph.auto_reply_subjects}, key=len, reverse=True)
    return re.compile("|".join(re.escape(p) for p in starts))


def classify_inbound(mail: Mail, raw: bytes | None) -> Verdict:
    """Classify a message someone else sent, with its body where we have it; an invitation or a calendar
    answer inside is kept with the verdict, whatever kind of message carried it."""
    message = _parse(raw) if raw else None
    verdict = _classify_inbound(mail, message)
    found = calendar_facts(message) if message is not None else None
    if found is None:
        return verdict
    method, organiser, attendees = found
    return replace(verdict, calendar_method=method, organiser=organiser, attendees=attendees)


def _classify_inbound(mail: Mail, message: Message | None) -> Verdict:
    verdict = header_kind(mail)
    if verdict is not None and verdict.kind == "bounce":
        if message is None:
            return verdict
        refers, failed, delivered = _report(message)
        if delivered and not failed and not verdict.failed:
            # A delivery status report that says "delivered" (or "delayed", "relayed"): a notification, not a
            # bounce, and no answer either.
            return Verdict("auto", "a delivery notification: the mail was delivered (or is on its way)")
        return Verdict("bounce", verdict.reason, refers_to=refers, failed=tuple(dict.fromkeys(verdict.failed + failed)))
    text = new_text(_text(message)) if message is not None else ""
    if verdict is not None:  # automatic: keep the return date for the timing rules
        found = return_date(text, mail.date) if text else None
        if found is None:
            return verdict
        when, code = found
        return Verdict("auto", verdict.reason + f"; back on {when.isoformat()}", language=code, return_date=when)
    if mail.auto_hint and text and _reads_like_out_of_office(text):
        # Exchange's X-Auto-Response-Suppress alone proves nothing (senders set it on ordinary mail too);
        # with a short text that says "out of office" and names a return date, it is an out-of-office
        # whose subject did not say so. Anything less stays a human answer.
        found = return_date(text, mail.date)
        if found is not None:
            when, code = found
            return Verdict("auto", f"marked X-Auto-Response-Suppress and says it is back on {when.isoformat()}",
                           language=code, return_date=when)
    lowered = " ".join(text.lower().split())
    for phrases in all_phrases():
        for phrase in phrases.stop_phrases:
            if phrase in lowered:
                return Verdict("stop", f"asks to stop: {phrase!r}", language=phrases.code)
    promise = promised_date(text, mail.date) if text else None
    if promise is not None:
        return Verdict("human", f"an answer from a person; they will come back by {promise.day.isoformat()}",
                       language=promise.language, promise_day=promise.day, promise_phrase=promise.phrase)
    return Verdict("human", "an answer from a person")


def _reads_like_out_of_office(text: str) -> bool:
    """Short, and an out-of-office phrase (those of the subjects) near its start."""
    lowered = " ".join(text.lower().split())
    if len(_WORD.findall(lowered)) > 80:
        return False
    head = lowered[:300]
    return any(p in head for ph in all_phrases() for p in ph.auto_reply_subjects)


def classify_sent(raw: bytes | None) -> Verdict:
    """Does the user's own message expect an answer? A short thank-you with no question or request does not."""
    message = _parse(raw) if raw else None
    text = new_text(_text(message)) if message is not None else ""
    reason = closing_note(text)
    excerpt = " ".join(text.split())[:EXCERPT_CHARS]
    language = detect_language(text) if text else None
    quotable = quotable_runs(text)
    if reason:
        return Verdict("closing", reason, language=language, excerpt=excerpt, quotable=quotable)
    return Verdict("open", "expects an answer", language=language, excerpt=excerpt, quotable=quotable)


QUOTE_RUN_WORDS = 5  # short enough that a quoting client's new line breaks rarely split one


def quotable_runs(text: str, wanted: int = 2) -> tuple[str, ...]:
    """Runs of words of ``text`` that a message quoting it would hold as they are, to search for on the server.

    Taken from inside single lines (a quote may wrap lines anew, but it keeps
    what was on one line together, after its "> "), from the longest lines,
    past the greeting: the words most particular to this message. Only
    letters, digits and spaces, so that a server's search needs no escaping.
    """
    lines = [line.strip() for line in text.split("\n") if line.strip()]
    body = lines[1:] if len(lines) > 2 else lines  # the first line is most often the greeting
    runs: list[str] = []
    for line in sorted(body, key=len, reverse=True):
        words = _WORD.findall(line)
        if len(words) < QUOTE_RUN_WORDS + 2:
            continue
        # From the middle outwards (a line's opening words repeat most), the first run that stands in the
        # line just so: no punctuation between its words.
        middle = (len(words) - QUOTE_RUN_WORDS) // 2
        starts = sorted(range(len(words) - QUOTE_RUN_WORDS + 1), key=lambda i: (abs(i - middle), i))
        run = next((r for r in (" ".join(words[i:i + QUOTE_RUN_WORDS]) for i in starts) if r in line), None)
        if run is not None and run not in runs:
            runs.append(run)
        if len(runs) == wanted:
            break
    return tuple(runs)


def calendar_facts(message: Message) -> tuple[str, str | None, tuple[str, ...]] | None:
    """(METHOD, the organiser's address, the attendees who answered) of the first iMIP part (RFC 6047), or
    None when there is none or it cannot be read."""
    for part in message.walk():
        if part.get_content_type() not in ("text/calendar", "application/ics"):
            continue
        payload = part.get_payload(decode=True)
        if not isinstance(payload, bytes) or not payload.strip():
            continue
        from icalendar import Calendar  # loaded only for mail that carries a calendar

        try:
            calendar = Calendar.from_ical(payload)
        except Exception:  # a broken calendar is no calendar; the message is classified without it
            continue
        method = str(calendar.get("METHOD", "") or part.get_param("method") or "").upper() or None
        for event in calendar.walk("VEVENT"):
            organiser = _mailto(event.get("ORGANIZER"))
            people = event.get("ATTENDEE") or []
            people = people if isinstance(people, list) else [people]
            answered = tuple(a for a in (_mailto(p) for p in people
                                         if str(getattr(p, "params", {}).get("PARTSTAT", "")).upper()
                                         not in ("", "NEEDS-ACTION")) if a)
            return (method or "PUBLISH"), organiser, answered
    return None


def _mailto(value: object) -> str | None:
    text = str(value or "").strip()
    if text.lower().startswith("mailto:"):
        text = text[7:]
    text = text.strip().lower()
    return text if "@" in text and not any(c.isspace() for c in text) else None


def closing_note(text: str) -> str | None:
    """Why ``text`` is a closing note, or None.

    The heuristic, in every language we have phrases for: at most 40 words
    before any quoted text, no question mark, none of the language's request
    phrases, and at least one of its closing phrases ("thanks", "talk soon").
    """
    lowered = " ".join(new_text(text).lower().split())
    if not lowered or "?" in lowered or len(_WORD.findall(lowered)) > 40:
        return None
    padded = f" {' '.join(_WORD.findall(lowered))} "
    if any(f" {p} " in padded for ph in all_phrases() for p in ph.request_phrases):
        return None
    for phrases in all_phrases():
        for phrase in phrases.closing_phrases:
            if f" {phrase} " in padded:
                return f"a short closing note ({phrase!r}) with no question or request"
    return None


def new_text(text: str) -> str:
    """The part of a message its author wrote now: everything before the quoted earlier messages."""
    kept = []
    patterns = [p for ph in all_phrases() for p in ph.quote_headers]
    for line in text.split("\n"):
        stripped = line.strip()
        if stripped.startswith(">") or any(p.match(stripped) for p in patterns):
            break
        kept.append(line)
    return "\n".join(kept).strip()


def return_date(text: str, sent: datetime) -> tuple[date, str] | None:
    """The first date an out-of-office names after a return cue ("back on 5 January"), and its language.

    A cue that names the day they are back ("back on", "zurück am", "åter
    den") wins over one that names the last day away ("until", "bis"): "out
    until 2 December, back on 3 December" is back on the 3rd. Each candidate
    is the few words after a cue, parsed by dateparser in the cue's language
    relative to when the reply was sent; a date before the reply or months
    after it is a misreading and is skipped.
    """
    lowered = " ".join(text.split())
    candidates: list[tuple[bool, int, str, str]] = []
    for phrases in all_phrases():
        for cue in phrases.return_cues:
            for match in re.finditer(rf"(?<!\w){re.escape(cue)}(?!\w)", lowered, re.I):
                tail = lowered[match.end():match.end() + 40]
                candidates.append((cue not in phrases.back_cues, match.start(), tail, phrases.code))
    if not candidates:
        return None
    base = sent.replace(tzinfo=None)
    for _, _, tail, code in sorted(candidates):  # our own date patterns first: dateparser misreads some
        when = read_date(tail, code, sent)
        if when is not None and base.date() <= when <= (base + RETURN_DATE_WINDOW).date():
            return when, code
    import dateparser  # heavy: loaded only when our patterns read nothing

    for _, _, tail, code in sorted(candidates):
        words = re.sub(r"^(den|dem|the|am|on)\s+", "", tail.strip(" ,.:;"), flags=re.I).split()
        for count in (4, 3, 2, 1):  # the longest reading wins: "3 March 2031" is not "3 March"
            phrase = " ".join(words[:count]).strip(" ,.:;()")
            if not phrase or phrase.isdigit():
                continue
            parsed = dateparser.parse(phrase, languages=[code],
                                      settings={"RELATIVE_BASE": base, "PREFER_DATES_FROM": "future"})
            if parsed is None:
                continue
            if base.date() <= parsed.date() <= (base + RETURN_DATE_WINDOW).date():
                return parsed.date(), code
            break
    return None


MAX_CLASSIFIED_BYTES = 1 << 20  # a scan fetches 64 KiB; a caller giving a 50 MB message took 25 s to classify


def _parse(raw: bytes) -> Message | None:
    try:
        return message_from_bytes(raw[:MAX_CLASSIFIED_BYTES], policy=policy.compat32)
    except Exception:  # a message too broken to parse is classified by its headers alone
        return None


def _text(message: Message) -> str:
    """The first text/plain part (or text/html without tags); quoted parts of reports are skipped."""
    from mail_followup.core.bodies import html_to_text

    html = None
    for part in message.walk():
        kind = part.get_content_type()
        if kind.startswith("message/") or part.get_content_maintype() == "multipart":
            continue
        if kind == "text/plain":
            return _decode(part)
        if kind == "text/html" and html is None:
            html = html_to_text(_decode(part))
    return (html or "").replace("\r\n", "\n")


def _decode(part: Message) -> str:
    payload = part.get_payload(decode=True)
    if not isinstance(payload, bytes):
        return ""
    charset = part.get_content_charset() or "utf-8"
    try:
        return payload.decode(charset, "replace").replace("\r\n", "\n")
    except (LookupError, ValueError):  # an unknown charset; ValueError: a charset name with a NUL in it
        return payload.decode("utf-8", "replace").replace("\r\n", "\n")


def _report(message: Message) -> tuple[tuple[str, ...], tuple[str, ...], bool]:
    """From a delivery report: the Message-IDs of the returned message, the failed recipients, and whether
    it reports recipients that did not fail (RFC 3464 Action: delivered, delayed, relayed, expanded).

    A recipient block whose Action is not given counts as failed, as reports without one always did."""
    refers: list[str] = []
    failed: list[str] = []
    delivered = False
    for part in message.walk():
        kind = part.get_content_type()
        if kind in ("message/rfc822", "text/rfc822-headers", "message/rfc822-headers"):
            payload = part.get_payload()
            if isinstance(payload, list):  # message/rfc822: the parsed original
                for inner in payload:
                    if isinstance(inner, Message):
                        refers += _MSGID.findall(str(inner.get("Message-ID", "")))
            else:
                text = part.get_payload(decode=True) or b""
                match = re.search(rb"^Message-ID:\s*(<[^<>\s]+>)", bytes(text), re.I | re.M)
                if match:
                    refers.append(match.group(1).decode("ascii", "replace"))
        elif kind == "message/delivery-status":
            body = part.get_payload()
            blocks = body if isinstance(body, list) else [part]
            for block in blocks:
                text = block.as_string() if isinstance(block, Message) else str(block)
                named: list[str] = []
                action = ""
                for line in text.split("\n"):
                    lowered = line.lower()
                    if lowered.startswith(("final-recipient:", "original-recipient:")):
                        named += [a.lower() for a in _ADDRESS.findall(line)]
                    elif lowered.startswith("action:"):
                        action = lowered.partition(":")[2].strip()
                if named and action in ("delivered", "delayed", "relayed", "expanded"):
                    delivered = True
                else:
                    failed += named
    return tuple(dict.fromkeys(refers)), tuple(dict.fromkeys(failed)), delivered
