"""Classifying mail from its headers and, where needed, its body; in the four languages."""

from __future__ import annotations

from datetime import date, datetime, timezone
from email.message import EmailMessage
from email.policy import SMTP

import pytest

from mail_followup.core.classify import (
    classify_inbound,
    classify_sent,
    closing_note,
    header_kind,
    new_text,
    return_date,
)
from mail_followup.core.headers import parse_header_block

SENT = datetime(2026, 12, 3, 10, 0, tzinfo=timezone.utc)  # a Thursday


def message(body: str, subject: str = "Re: Coffee", headers: dict[str, str] | None = None) -> bytes:
    msg = EmailMessage()
    msg["From"] = "Kim <kim@example.com>"
    msg["To"] = "me@example.org"
    msg["Subject"] = subject
    msg["Date"] = "Thu, 03 Dec 2026 10:00:00 +0000"
    msg["Message-ID"] = "<m@example.com>"
    for key, value in (headers or {}).items():
        msg[key] = value
    msg.set_content(body)
    return msg.as_bytes(policy=SMTP)


def inbound(raw: bytes):
    head = raw.split(b"\r\n\r\n", 1)[0] + b"\r\n\r\n"
    return classify_inbound(parse_header_block("INBOX", 1, head), raw)


@pytest.mark.parametrize(
    ("headers", "subject"),
    [
        ({"Auto-Submitted": "auto-replied"}, "Re: Coffee"),
        ({"X-Autoreply": "yes"}, "Re: Coffee"),
        ({"X-Autorespond": "yes"}, "Re: Coffee"),
        ({"Precedence": "auto_reply"}, "Re: Coffee"),
        ({"Precedence": "junk"}, "Re: Coffee"),
        ({"X-MS-Exchange-Inbox-Rules-Loop": "kim@example.com"}, "Re: Coffee"),
        ({}, "Automatic reply: Coffee"),
        ({}, "Out of Office: Coffee"),
        ({}, "Abwesenheitsnotiz: Kaffee"),
        ({}, "Automatische Antwort: Kaffee"),
        ({}, "Frånvaro: Fika"),
        ({}, "Autosvar: Fika"),
        ({}, "Fravær: Kaffe"),
        ({}, "Automatisk svar: Kaffe"),
    ],
)
def test_automatic_replies(headers: dict[str, str], subject: str) -> None:
    assert inbound(message("I am away.", subject, headers)).kind == "auto"


def test_a_person_writing_about_being_out_of_office_is_a_person() -> None:
    verdict = inbound(message("Sure, let's meet!", "Re: Out of office next week?"))
    assert verdict.kind == "human"


@pytest.mark.parametrize(
    ("body", "subject", "expected", "language"),
    [
        ("I'm out of the office until 5 January with limited access.", "Out of Office: Coffee", date(2027, 1, 5), "en"),
        ("I am on leave and back on Monday.", "Automatic reply: Coffee", date(2026, 12, 7), "en"),
        ("Ich bin bis zum 7. Januar nicht im Büro.", "Abwesenheitsnotiz: Kaffee", date(2027, 1, 7), "de"),
        ("Jag är på semester till och med 4 januari.", "Autosvar: Fika", date(2027, 1, 4), "sv"),
        ("Jeg er på ferie til og med 4. januar.", "Fravær: Kaffe", date(2027, 1, 4), "nb"),
        # dateparser alone reads a Swedish "14 december" as a year far away, and "11.1." as a time of day
        ("Jag är på semester och tillbaka den 14 december.", "Frånvaro: Fika", date(2026, 12, 14), "sv"),
        ("Ich bin ab dem 11.1. wieder im Büro.", "Abwesenheitsnotiz: Termin", date(2027, 1, 11), "de"),
        ("Thank you for your message. I will read it later.", "Automatic reply: Coffee", None, None),
    ],
)
def test_out_of_office_return_dates(body: str, subject: str, expected: date | None, language: str | None) -> None:
    verdict = inbound(message(body, subject))
    assert verdict.kind == "auto" and verdict.return_date == expected
    if language:
        assert verdict.language == language


def test_a_date_long_after_or_before_the_reply_is_not_a_return_date() -> None:
    assert return_date("I will be back on 3 March 2031.", SENT) is None
    assert return_date("I was away until 1 November.", SENT) is None


@pytest.mark.parametrize(
    ("body", "language"),
    [
        ("Thanks, but we are not interested. Please stop emailing me.", "en"),
        ("Danke, aber wir haben kein Interesse.", "de"),
        ("Tack, men vi är inte intresserade. Sluta mejla mig.", "sv"),
        ("Takk, men vi er ikke interessert.", "nb"),
    ],
)
def test_stop_requests_in_four_languages(body: str, language: str) -> None:
    verdict = inbound(message(body))
    assert verdict.kind == "stop" and verdict.language == language


def test_a_stop_phrase_in_the_quoted_part_is_not_a_stop_request() -> None:
    body = ("Yes, let's talk on Tuesday!\n\nOn Wed, 2 Dec 2026, Me wrote:\n"
            "> Would you rather I stop following up? Not interested is fine too.\n")
    assert inbound(message(body)).kind == "human"
    outlook = "Gerne!\n\n-----Ursprüngliche Nachricht-----\nVon: Me\nkein Interesse?"
    assert inbound(message(outlook)).kind == "human"


def bounce_report(original_id: str = "<coffee@example.org>") -> bytes:
    return (
        b"From: Mail Delivery System <MAILER-DAEMON@mx.example.com>\r\n"
        b"To: me@example.org\r\nSubject: Undelivered Mail Returned to Sender\r\n"
        b"Date: Thu, 03 Dec 2026 10:01:00 +0000\r\nMessage-ID: <bounce1@mx.example.com>\r\n"
        b"MIME-Version: 1.0\r\n"
        b'Content-Type: multipart/report; report-type=delivery-status; boundary="B"\r\n\r\n'
        b"--B\r\nContent-Type: text/plain\r\n\r\nYour message could not be delivered.\r\n"
        b"--B\r\nContent-Type: message/delivery-status\r\n\r\n"
        b"Reporting-MTA: dns; mx.example.com\r\n\r\n"
        b"Final-Recipient: rfc822; gone@example.com\r\nAction: failed\r\nStatus: 5.1.1\r\n\r\n"
        b"--B\r\nContent-Type: text/rfc822-headers\r\n\r\n"
        b"From: me@example.org\r\nTo: gone@example.com\r\nSubject: Coffee\r\n"
        b"Message-ID: " + original_id.encode() + b"\r\n\r\n"
        b"--B--\r\n"
    )


def test_a_delivery_report_names_the_original_and_the_failed_recipient() -> None:
    verdict = inbound(bounce_report())
    assert verdict.kind == "bounce"
    assert verdict.refers_to == ("<coffee@example.org>",) and verdict.failed == ("gone@example.com",)


def test_x_failed_recipients_is_a_bounce_by_headers_alone() -> None:
    raw = b"Message-ID: <b@x>\r\nFrom: someone@mx.example\r\nX-Failed-Recipients: gone@example.com\r\n\r\n"
    verdict = header_kind(parse_header_block("INBOX", 1, raw))
    assert verdict is not None and verdict.kind == "bounce" and verdict.failed == ("gone@example.com",)


@pytest.mark.parametrize(
    "text",
    ["Thanks, talk soon!", "Vielen Dank, bis bald!", "Tack så mycket, vi hörs!", "Tusen takk, snakkes!",
     "Thank you!\n\nOn Tue, Kim wrote:\n> Could you send the slides?"],
)
def test_closing_notes(text: str) -> None:
    assert closing_note(text) is not None


@pytest.mark.parametrize(
    "text",
    ["Thanks! Could you send me the slides?", "Thanks, any news on the role?", "Danke! Könnten Sie mir das schicken",
     "Tack! Kan du skicka bilderna", "Takk! Gi meg beskjed når du vet mer",
     "Thanks for the chat yesterday. " + "I have attached the proposal we discussed with all the details. " * 5, ""],
)
def test_not_closing_notes(text: str) -> None:
    assert closing_note(text) is None


def test_classify_sent_reads_the_body() -> None:
    assert classify_sent(message("Thanks, talk soon!\n\nKari")).kind == "closing"
    assert classify_sent(message("Would you have time for a coffee?")).kind == "open"


def test_new_text_stops_at_the_quote() -> None:
    assert new_text("Yes!\n\nDen 2 dec. 2026 skrev Kari <k@x>:\n> hej") == "Yes!"
    assert new_text("Ja!\n\nAm 2. Dez. 2026 schrieb Kari <k@x>:\n> hallo") == "Ja!"


@pytest.mark.parametrize("text", [
    "I am out of the office until 2 December, back on 3 December.",
    "Ich bin bis zum 2. Dezember nicht im Büro, zurück am 3. Dezember.",
    "Jag är ledig till och med 2 december, åter den 3 december.",
    "Jeg er borte til og med 2. desember, tilbake den 3. desember.",
])
def test_the_day_they_are_back_wins_over_their_last_day_away(text: str) -> None:
    """Issue 19: "until 2 December, back on 3 December" was read as back on the 2nd."""
    from mail_followup.core.classify import return_date

    found = return_date(text, datetime(2026, 11, 20, 10, tzinfo=timezone.utc))
    assert found is not None and found[0] == date(2026, 12, 3)
