"""Reply detection on a real server: every kind of answer, auto-reply, bounce, stop request and ignored mail.

One mailbox holds a thread per case; one pass on a Wednesday decides them
all, and each case names the state it must end in.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pytest

from imapservers import ImapAccount
from mails import raw_mail
from scenario import ME, WEDNESDAY, at, by_subject, scan_json, write_config
from test_classify import bounce_report

SENT = at("2026-12-01T15:00:00+01:00")  # a Tuesday afternoon: eight days before the pass
LATER = at("2026-12-02T10:00:00+01:00")
ME_FROM = f"Me <{ME}>"


@dataclass
class Case:
    subject: str
    state: str
    to: str = "kim@kim.example"  # each case its own organisation: another case's mail is no answer to it
    inbound: list[tuple[str, bytes]] = field(default_factory=list)  # (folder, raw)
    sent_extra: dict[str, str] = field(default_factory=dict)
    sent_flags: tuple[bytes, ...] = (b"\\Seen",)
    body: str = "Would you have time for a call next week?\n"
    raw: bytes | None = None  # the sent message as it is, when raw_mail cannot build it


def answer(case_id: str, sender: str, subject: str, body: str = "Sounds good, let's talk.\n", threaded: bool = True,
           extra: dict[str, str] | None = None, folder: str = "INBOX") -> tuple[str, bytes]:
    return folder, raw_mail(sender, ME, subject, LATER, f"<{case_id}-in@example.net>", body,
                            in_reply_to=f"<{case_id}@example.org>" if threaded else None, extra=extra)


def cases() -> dict[str, Case]:
    c: dict[str, Case] = {}
    c["ref"] = Case("Answered in the thread", "replied", "ola@example.no",
                    [answer("ref", "ola@example.no", "Re: Answered in the thread")])
    c["colleague"] = Case("A colleague answered", "replied", "kim@acme.example",
                          [answer("colleague", "boss@other.example", "Re: A colleague answered")])
    c["domain"] = Case("Same company, no headers", "replied", "kim@acme.example",
                       [answer("domain", "lena@acme.example", "SV: Same company, no headers", threaded=False,
                               folder="Archive")])
    # Someone else at the same free-mail domain is no one in particular (issue 18) ...
    c["freemail"] = Case("Same free-mail domain", "drafted", "kim@gmail.com",
                         [answer("freemail", "stranger@gmail.com", "Lunch on Friday?", threaded=False)])
    # ... but anyone writing under the same subject after it counts (a forwarded copy answered).
    c["subject"] = Case("Same subject, a stranger", "replied", "sam@sam.example",
                        [answer("subject", "agent@agency.example", "Re: Fwd: Same subject, a stranger",
                                threaded=False)])
    for lang, subject, body in (
        ("en", "Automatic reply: Coffee", "I am out of the office with limited access to mail."),
        ("de", "Abwesenheitsnotiz: Kaffee", "Ich bin nicht im Büro."),
        ("sv", "Frånvaro: Fika", "Jag är inte på kontoret."),
        ("nb", "Fravær: Kaffe", "Jeg er ikke på kontoret."),
    ):
        c[f"ooo-{lang}"] = Case(f"Out of office {lang}", "drafted", f"ooo-{lang}@ooo-{lang}.example",
                                [answer(f"ooo-{lang}", f"ooo-{lang}@ooo-{lang}.example", subject, body)])
    c["ooo-return"] = Case("Back after the pass", "waiting", "away@away.example",
                           [answer("ooo-return", "away@away.example", "Out of Office: Back after the pass",
                                   "I am on holiday and back on 14 December.")])
    c["exchange"] = Case("Exchange rule", "drafted", "ex@ex.example",
                         [answer("exchange", "ex@ex.example", "RE: Exchange rule",
                                 extra={"X-MS-Exchange-Inbox-Rules-Loop": "ex@ex.example"})])
    c["bounce"] = Case("Bounced by report", "bounced", "gone@gone.example",
                       [("INBOX", bounce_report("<bounce@example.org>"))])
    c["failed"] = Case("Bounced by header", "bounced", "gone2@gone2.example",
                       [answer("failed", "MAILER-DAEMON@mx.example.com", "Undeliverable: Bounced by header",
                               "Delivery has failed.", threaded=False,
                               extra={"X-Failed-Recipients": "gone2@gone2.example"})])
    for lang, body in (
        ("en", "Thanks for thinking of us, but we are not interested."),
        ("de", "Danke, aber wir haben kein Interesse."),
        ("sv", "Tack, men jag är inte intresserad."),
        ("nb", "Takk, men vi er ikke interessert."),
    ):
        c[f"stop-{lang}"] = Case(f"Stop request {lang}", "stopped", f"stop-{lang}@stop-{lang}.example",
                                 [answer(f"stop-{lang}", f"stop-{lang}@stop-{lang}.example", f"Re: Stop request {lang}", body)])
    c["stop-other"] = Case("Another thread to a contact who said stop", "stopped", "stop-en@stop-en.example")
    c["noreply"] = Case("Order 1234", "ignored", "no-reply@shop.example")
    c["bulk"] = Case("Team update", "ignored", ", ".join(f"p{i}@p{i}.example" for i in range(11)))
    c["list"] = Case("List post", "ignored", "team@lists.example", sent_extra={"List-Id": "<team.lists.example>"})
    c["precedence"] = Case("Bulk precedence", "ignored", "many@many.example", sent_extra={"Precedence": "bulk"})
    c["self"] = Case("Note to self", "ignored", ME)
    c["calendar"] = Case("Accepted: Planning meeting", "ignored", "org@org.example")
    c["calendar-de"] = Case("Angenommen: Planungstreffen", "ignored", "org@example.de")
    c["calendar-sv"] = Case("Accepterat: Planeringsmöte", "ignored", "org@example.se")
    c["calendar-nb"] = Case("Godtatt: Planleggingsmøte", "ignored", "org@example.no")
    c["calendar-ics"] = Case("Team lunch", "ignored", "org@example.net", raw=(
        f"From: {ME_FROM}\r\nTo: org@example.net\r\nSubject: Team lunch\r\nDate: Tue, 01 Dec 2026 09:00:00 +0100\r\n"
        "Message-ID: <calendar-ics@example.org>\r\nMIME-Version: 1.0\r\n"
        "Content-Type: text/calendar; method=REPLY; charset=utf-8\r\n\r\n"
        "BEGIN:VCALENDAR\r\nMETHOD:REPLY\r\nEND:VCALENDAR\r\n").encode())
    for lang, body in (("en", "Thanks, talk soon!"), ("de", "Vielen Dank, bis bald!"),
                       ("sv", "Tack så mycket, vi hörs!"), ("nb", "Tusen takk, snakkes!")):
        c[f"closing-{lang}"] = Case(f"Closing note {lang}", "ignored", f"close-{lang}@close-{lang}.example", body=body)
    c["keyword-no"] = Case("Marked no follow-up", "ignored", "nf@nf.example", sent_flags=(b"\\Seen", b"$NoFollowUp"))
    c["keyword-yes"] = Case("Marked follow-up", "drafted", "fu@fu.example", sent_flags=(b"\\Seen", b"$FollowUp"),
                            body="Thanks, talk soon!")
    c["contact-never"] = Case("Config says never", "ignored", "never@never.example")
    c["contact-always"] = Case("Config says always", "drafted", "someone@always.example", body="Thanks, talk soon!")
    return c


@pytest.fixture
def decided(imap_account: ImapAccount, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> dict[str, dict]:
    monkeypatch.setenv("MF_TEST_PASSWORD", imap_account.password)
    config = write_config(tmp_path, imap_account, contacts='{"never@never.example": {follow_up: never}, '
                                                          '"@always.example": {follow_up: always}}')
    with imap_account.client() as client:
        for case_id, case in cases().items():
            raw = case.raw or raw_mail(ME_FROM, case.to, case.subject, SENT, f"<{case_id}@example.org>", case.body,
                                       extra=case.sent_extra)
            client.append("Sent", raw, flags=case.sent_flags, msg_time=SENT)
        # A first pass the evening the mail was sent; then the answers arrive.
        assert scan_json(config, "2026-12-01T20:00:00+01:00", capsys)[0] == 0
        for case in cases().values():
            for folder, inbound in case.inbound:
                client.append(folder, inbound, flags=(b"\\Seen",), msg_time=LATER)
    code, report = scan_json(config, WEDNESDAY, capsys)
    assert code == 0, report["errors"]
    return by_subject(report)


def test_every_case_ends_in_its_state(decided: dict[str, dict]) -> None:
    got = {case.subject: decided[case.subject]["state"] for case in cases().values()}
    want = {case.subject: case.state for case in cases().values()}
    assert got == want


def test_an_out_of_office_return_date_moves_the_followup(decided: dict[str, dict]) -> None:
    thread = decided["Back after the pass"]
    # Back on Monday the 14th: from Tuesday, but the original went out on a Tuesday (R8): Wednesday.
    assert thread["not_before"] == "2026-12-16T08:30:00+01:00"
    assert any("back on 2026-12-14" in r for r in thread["reasons"])


def test_reasons_say_why(decided: dict[str, dict]) -> None:
    def reasons(subject: str) -> str:
        return "\n".join(decided[subject]["reasons"])

    assert "stop-en@stop-en.example is on the stop list" in reasons("Another thread to a contact who said stop")
    assert "not interested" in reasons("Another thread to a contact who said stop")
    assert "sent to 11 people" in reasons("Team update")
    assert "a calendar answer" in reasons("Accepted: Planning meeting")
    assert "a short closing note ('tack') with no question or request" in reasons("Closing note sv")
    assert "marked $FollowUp" in reasons("Marked follow-up")
    assert "bounced on 2026-12-03 (Thu)" in reasons("Bounced by report")
    assert "an automatic reply on 2026-12-02 (Wed) is not an answer" in reasons("Out of office de")
