"""Drafts worth sending (issue 5): the thread's language and register, the quote, HTML, headers; golden files.

Set MF_UPDATE_GOLDEN=1 to rewrite the golden files after a deliberate change
of wording, then read the diff as a reviewer would.
"""

from __future__ import annotations

import os
from datetime import datetime, timedelta
from email import message_from_bytes, policy
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from mail_followup.core.classify import Verdict, classify_sent
from mail_followup.core.compose import Quoted, as_bytes, compose, is_unedited
from mail_followup.core.headers import Addr, Mail
from mail_followup.core.policy import Decision
from mail_followup.core.threads import build_threads
from mails import raw_mail

GOLDEN = Path(__file__).parent / "golden"
OSLO = ZoneInfo("Europe/Oslo")
NOW = datetime(2026, 12, 9, 9, 30, tzinfo=OSLO)
ME = Addr("Kari Nordmann", "kari@example.org")

# The user's own first message, per language: what the draft must match in language and register.
ORIGINALS = {
    "en": ("Lena Berg", "Application: product designer",
           "Hi Lena,\n\nThank you for the phone call today. I enjoyed hearing about the team and the role, and "
           "I am very interested.\n\nBest regards,\nKari"),
    "de": ("Lena Berg", "Bewerbung als Produktdesignerin",
           "Sehr geehrte Frau Berg,\n\nvielen Dank für das freundliche Gespräch. Ich würde mich sehr freuen, "
           "von Ihnen zu hören, und sende Ihnen gern weitere Unterlagen.\n\nMit freundlichen Grüßen\nKari Nordmann"),
    "sv": ("Anna Lind", "Ansökan: produktdesigner",
           "Hej Anna,\n\ntack för ett trevligt samtal i dag. Jag är fortfarande mycket intresserad av tjänsten "
           "och skickar gärna mer material.\n\nMed vänliga hälsningar\nKari"),
    "nb": ("Ola Hansen", "Søknad: produktdesigner",
           "Hei Ola,\n\ntakk for en hyggelig samtale i dag. Jeg er fortsatt veldig interessert i stillingen, "
           "og sender gjerne mer dokumentasjon.\n\nMed vennlig hilsen\nKari"),
}
KINDS = {"first": 1, "later": 2, "last": 5}


def thread_in(code: str, text: str | None = None, detected: str | None = None):
    name, subject, body = ORIGINALS[code]
    to = Addr(name, f"{name.split()[0].lower()}@example.com")
    sent = Mail("Sent", 1, "<orig@example.org>", (), (), ME, (to,), (), subject, NOW - timedelta(days=8))
    verdict = Verdict("open", "", language=detected if detected is not None else code, excerpt=text or body)
    (thread,) = build_threads([sent], [ME.address], {"<orig@example.org>": verdict})
    return thread, text or body


def decision(kind: str, scenario: str = "job-application") -> Decision:
    return Decision("<orig@example.org>", "due", scenario, KINDS[kind], kind, NOW, ())


def draft(code: str, kind: str = "first", latest_html: str | None = None, text: str | None = None,
          language: str | None = None):
    thread, body = thread_in(code, text)
    msg = compose(thread, decision(kind), (ME.address,), NOW, Quoted(body, latest_html), None,
                  language=language or code)
    raw = as_bytes(msg)
    return raw, message_from_bytes(raw, policy=policy.default)


def plain(msg) -> str:
    return msg.get_body(("plain",)).get_content().replace("\r\n", "\n")


@pytest.mark.parametrize("code", list(ORIGINALS))
@pytest.mark.parametrize("kind", list(KINDS))
def test_golden_draft_per_language_and_attempt(code: str, kind: str) -> None:
    raw, msg = draft(code, kind)
    assert not msg.defects and all(not getattr(v, "defects", ()) for v in msg.values())
    text = plain(msg)
    path = GOLDEN / f"{code}-{kind}.txt"
    if os.environ.get("MF_UPDATE_GOLDEN") == "1":
        path.parent.mkdir(exist_ok=True)
        path.write_text(text)
    assert path.exists(), f"{path} is missing: run with MF_UPDATE_GOLDEN=1 and review it"
    assert text == path.read_text()
    assert msg["Content-Language"] == code and is_unedited(raw)


def test_the_register_and_the_greeting_follow_the_users_own_words() -> None:
    formal = plain(draft("de")[1])
    assert formal.startswith("Sehr geehrte Frau Berg,\n") and "Mit freundlichen Grüßen" in formal
    informal_text = ("Hallo Lena,\n\ndanke dir für das nette Gespräch! Ich freue mich, wenn du dich meldest.\n\n"
                     "Viele Grüße\nKari")
    informal = plain(draft("de", text=informal_text)[1])
    new_text = informal.split("\n\n")[1]
    assert informal.startswith("Hallo Lena,\n")
    assert " Sie " not in f" {new_text} " and " Ihnen " not in f" {new_text} "
    english = plain(draft("en")[1])
    assert english.startswith("Hi Lena,\n")


def test_without_a_greeting_of_their_own_the_addressee_is_greeted_by_first_name() -> None:
    text = plain(draft("sv", text="Tack för samtalet i dag, jag är fortfarande intresserad.")[1])
    assert text.startswith("Hej Anna,\n")


def test_the_language_comes_from_the_users_words() -> None:
    for code in ORIGINALS:
        name, subject, body = ORIGINALS[code]
        raw = raw_mail(f"Kari <{ME.address}>", "x@example.com", subject, NOW, "<m@example.org>", body)
        assert classify_sent(raw).language == code
    assert classify_sent(raw_mail(ME.address, "x@example.com", "Hi", NOW, "<n@x>", "Ok!")).language is None


def test_the_attribution_line_speaks_the_language() -> None:
    assert "Am Di., 1. Dez. 2026" in plain(draft("de")[1]) or "schrieb Kari Nordmann" in plain(draft("de")[1])
    assert "skrev Kari Nordmann" in plain(draft("sv")[1]) and "skrev Kari Nordmann" in plain(draft("nb")[1])
    assert "Kari Nordmann <kari@example.org> wrote:" in plain(draft("en")[1])


HOSTILE = """<html><head><style>body{background:url(https://track.example/bg.png)}</style>
<script>alert(1)</script></head><body><p onclick="steal()">Hi Lena,</p>
<p>See <a href="https://example.com/portfolio">my portfolio</a> and <a href="javascript:alert(1)">this</a>.</p>
<img src="https://track.example/pixel.gif"><form action="https://evil.example"><input name="pw"></form>
<iframe src="https://evil.example"></iframe></body></html>"""


def test_an_html_original_is_quoted_sanitized_in_an_html_part() -> None:
    raw, msg = draft("en", latest_html=HOSTILE)
    html = msg.get_body(("html",)).get_content()
    assert '<blockquote type="cite">' in html and "my portfolio" in html
    lowered = html.lower()
    for bad in ("<script", "alert(", "onclick", "<img", "track.example", "<form", "<input", "<iframe", "javascript:",
                "<style"):
        assert bad not in lowered, bad
    assert 'rel="noopener noreferrer"' in html
    assert plain(msg).startswith("Hi Lena,")  # the plain part is still there, first
    assert not msg.defects


def test_nothing_from_the_original_can_inject_a_header() -> None:
    evil = Addr("Eve\r\nBcc: all@example.net", "eve@example.com")
    sent = Mail("Sent", 1, "<orig@example.org>", (), (), ME, (evil,), (),
                "Offer\r\nBcc: all@example.net", NOW - timedelta(days=8))
    (thread,) = build_threads([sent], [ME.address], {"<orig@example.org>": Verdict("open", "", excerpt="Hi.")})
    raw = as_bytes(compose(thread, decision("first", "default"), (ME.address,), NOW, Quoted("Hi."), None))
    msg = message_from_bytes(raw, policy=policy.default)
    assert msg["Bcc"] is None and "\n" not in str(msg["Subject"]) and len(msg.get_all("To")) == 1


def test_a_changed_byte_makes_a_draft_edited() -> None:
    raw, _ = draft("nb")
    assert is_unedited(raw)
    assert not is_unedited(raw.replace(b"Hei Ola", b"Hei Ole"))
    assert not is_unedited(raw.split(b"\r\n", 1)[1])  # the check line dropped


def test_a_formal_draft_without_a_greeting_of_ones_own_greets_by_the_whole_name() -> None:
    """ "Guten Tag," dropped the name a review missed; "Frau" or "Herr" cannot be known from a name."""
    text = plain(draft("de", text="vielen Dank für das Gespräch. Ich würde mich freuen, von Ihnen zu hören, "
                       "und sende Ihnen gern weitere Unterlagen.")[1])
    assert text.startswith("Guten Tag Lena Berg,\n")


def test_a_mailbox_of_a_role_is_greeted_without_a_name() -> None:
    from mail_followup.core.compose import greeting
    from mail_followup.core.language import texts

    def hello(name: str, address: str, code: str = "en", formal: bool = False) -> str:
        sent = Mail("Sent", 1, "<r@example.org>", (), (), ME, (Addr(name, address),), (), "Room", NOW)
        return greeting(sent, texts(code), {ME.address}, ("",), formal)[0]

    assert hello("Front desk", "bookings@grandhotel.example") == "Hi,"
    assert hello("Kundenservice", "kunden.service@shop.example", "de", formal=True) == "Guten Tag,"
    assert hello("Larsen, Kim", "kim@example.com") == "Hi Kim,"
    assert hello("Larsen, Kim", "kim@example.com", "de", formal=True) == "Guten Tag Kim Larsen,"


def test_the_draft_is_signed_the_way_the_user_signed() -> None:
    assert plain(draft("sv")[1]).split("\n\nDen ")[0].endswith("Med vänliga hälsningar\nKari")
    signed_in_full = ORIGINALS["en"][2].replace("Best regards,\nKari", "Best regards,\nKari Nordmann\n+47 900 00 000")
    assert "Best regards,\nKari Nordmann\n\n" in plain(draft("en", text=signed_in_full)[1])
    thread, _ = thread_in("en")
    just_a_name = "Hi Lena,\n\nWould you like to give a talk at our meetup?\n\nKari"
    msg = compose(thread, decision("first", "default"), (ME.address,), NOW, Quoted(just_a_name), None, language="en")
    assert "\n\nBest regards,\nKari\n\nOn " in plain(msg)


def test_the_greeting_of_the_original_is_kept_when_the_latest_message_has_none() -> None:
    thread, original = thread_in("de")
    nudge = "kurze Rückfrage: Haben Sie meine Unterlagen erhalten?\n\nMit freundlichen Grüßen\nKari Nordmann"
    msg = compose(thread, decision("later"), (ME.address,), NOW, Quoted(nudge), Quoted(original), language="de")
    assert plain(msg).startswith("Sehr geehrte Frau Berg,\n")
