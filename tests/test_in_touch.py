"""Answers that are not tidy replies, end to end on a real server (issue 18, DOMAIN.md R2).

The standard scenario (tests/scenario.py) drafts "Coffee next week?" to Kim
Berg <kim@example.com> on Wednesday 9 December; it went out on Tuesday 1
December at 15:00. Here Kim, a colleague of Kim's, an agency, a calendar or
another account of the user answers it in some other shape than a reply in
the thread, and no draft may be written; automatic mail of every kind still
is no answer.
"""

from __future__ import annotations

from datetime import datetime
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime
from pathlib import Path

import pytest

from imapservers import DovecotServer, ImapAccount
from mail_followup.cli.main import main
from mail_followup.service import scan as scanning
from mail_followup.service.sync import SyncGate
from mails import raw_mail
from scenario import ME, WEDNESDAY, at, by_subject, scan_json, seed, write_config
from test_providers import configured as laid_out, gmail_like  # noqa: F401 (a fixture)

MONDAY_BEFORE = "2026-12-07T09:30:00+01:00"  # the coffee follow-up waits until Wednesday
THURSDAY = "2026-12-03T11:00:00+01:00"


def coffee(report: dict) -> dict:
    return by_subject(report)["Coffee next week?"]


def kim_drafts(account: ImapAccount) -> list[bytes]:
    return [raw for _, flags, raw in account.messages("Drafts")
            if b"<coffee@example.org>" in raw and b"\\Deleted" not in flags]


def invitation(sender: str, subject: str, method: str, organiser: str, attendee: str, partstat: str,
               mid: str, when: datetime = at(THURSDAY), auto: bool = True) -> bytes:
    """An iMIP message (RFC 6047) as calendar programs send it: text and a calendar part, in a multipart."""
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = sender, ME, subject
    msg["Date"], msg["Message-ID"] = format_datetime(when), mid
    if auto:
        msg["Auto-Submitted"] = "auto-generated"
    msg.set_content("You have been invited.\n")
    ics = ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Test//Calendar//EN\r\n"
           f"METHOD:{method}\r\nBEGIN:VEVENT\r\nUID:{mid.strip('<>')}\r\nDTSTAMP:20261203T100000Z\r\n"
           "DTSTART:20261210T090000Z\r\nDTEND:20261210T093000Z\r\nSUMMARY:Coffee\r\n"
           f"ORGANIZER:mailto:{organiser}\r\nATTENDEE;PARTSTAT={partstat}:mailto:{attendee}\r\n"
           "END:VEVENT\r\nEND:VCALENDAR\r\n")
    msg.add_alternative(ics, subtype="calendar", params={"method": method})
    return msg.as_bytes(policy=SMTP)


@pytest.fixture
def kim_waits(configured) -> tuple[ImapAccount, Path]:
    """The standard scenario, read once on the Monday before the follow-up is due (so that what follows
    arrives as new mail, and the pass after it decides only what changed)."""
    account, config = configured
    assert main(["scan", "--config", str(config), "--now", MONDAY_BEFORE, "--json"]) == 0
    return account, config


def in_touch_after(kim_waits, capsys, folder: str, raw: bytes) -> dict:
    """Deliver ``raw`` to ``folder``; return the coffee thread's report of the Wednesday pass."""
    account, config = kim_waits
    capsys.readouterr()
    account.append(folder, raw, flags=(b"\\Seen",))
    code, report = scan_json(config, WEDNESDAY, capsys)
    assert code == 0, report["errors"]
    assert kim_drafts(account) == []
    return coffee(report)


def test_the_contact_writing_back_in_a_new_thread_ends_the_wait(kim_waits, capsys) -> None:
    found = in_touch_after(kim_waits, capsys, "INBOX", raw_mail(
        "Kim Berg <kim@example.com>", ME, "Let's meet at the fair instead", at(THURSDAY), "<kim-new@example.com>",
        "Hi! Are you at the fair on Friday? Let's meet there.\n"))
    assert found["state"] == "replied"
    assert found["in_touch"] == {"rule": "contact", "account": "test", "folder": "INBOX",
                                 "message_id": "<kim-new@example.com>", "from": "Kim Berg <kim@example.com>",
                                 "date": "2026-12-03T11:00:00+01:00", "subject": "Let's meet at the fair instead"}
    assert any("Kim Berg <kim@example.com> wrote on 2026-12-03 (Thu) at 11:00 in INBOX: \u201cLet's meet at the fair "
               "instead\u201d" in r for r in found["reasons"])


def test_someone_at_their_organisation_ends_the_wait(kim_waits, capsys) -> None:
    found = in_touch_after(kim_waits, capsys, "Archive", raw_mail(
        "Anna Holm <anna.holm@example.com>", ME, "Kim asked me to get in touch", at(THURSDAY),
        "<anna@example.com>", "Hello, Kim is travelling; shall we meet on Thursday?\n"))
    assert (found["state"], found["in_touch"]["rule"], found["in_touch"]["folder"]) == \
        ("replied", "organisation", "Archive")


def test_a_forwarded_copy_answered_from_another_domain_ends_the_wait(kim_waits, capsys) -> None:
    """Kim forwarded it to an agency, who answer "Re: Fwd:" without the original in References."""
    found = in_touch_after(kim_waits, capsys, "INBOX", raw_mail(
        "Events Agency <booking@agency.example>", ME, "Re: Fwd: Coffee next week?", at(THURSDAY),
        "<agency@agency.example>", "Kim forwarded your note; we'll arrange a table.\n",
        extra={"In-Reply-To": "<kim-fwd@example.com>"}))
    assert (found["state"], found["in_touch"]["rule"]) == ("replied", "subject")


def test_a_message_quoting_yours_from_anyone_ends_the_wait(kim_waits, capsys) -> None:
    """A new subject, no threading headers, a sender no one wrote to: only the quote ties it to the thread,
    and the server finds it right before the draft would be written."""
    found = in_touch_after(kim_waits, capsys, "INBOX", raw_mail(
        "Office Manager <office@elsewhere.example>", ME, "Your request", at(THURSDAY), "<office@elsewhere.example>",
        "Kim is away this month, I'm handling this.\n\n> Hi Kim,\n>\n> Would you have time for a coffee next week?\n"))
    assert (found["state"], found["in_touch"]["rule"]) == ("replied", "quote")


def test_a_quote_in_other_letters_than_ascii_is_found_too(configured, capsys) -> None:
    account, config = configured
    account.append("Sent", raw_mail(f"Kari <{ME}>", "Jürgen Groß <juergen@gross-gmbh.de>", "Ihr Angebot",
                                    at("2026-12-01T15:00:00+01:00"), "<angebot@example.org>",
                                    "Sehr geehrter Herr Groß,\n\nkönnten Sie mir bitte sagen, ob die Größe für Straßen "
                                    "zulässig ist?\n\nMit freundlichen Grüßen\nKari\n"), flags=(b"\\Seen",))
    account.append("INBOX", raw_mail("Büro Müller <buero@mueller-partner.de>", ME, "Anfrage", at(THURSDAY),
                                     "<buero@mueller-partner.de>", "Guten Tag,\n\nich übernehme das.\n\n> könnten Sie "
                                     "mir bitte sagen, ob die Größe für Straßen zulässig ist?\n"), flags=(b"\\Seen",))
    code, report = scan_json(config, WEDNESDAY, capsys)
    assert code == 0 and by_subject(report)["Ihr Angebot"]["in_touch"]["rule"] == "quote", \
        by_subject(report)["Ihr Angebot"]["reasons"]


@pytest.mark.parametrize(("sender", "method", "organiser", "attendee", "partstat", "subject"), [
    # Kim's calendar invites the user: automatic mail, but Kim's action.
    ("Kim Berg <kim@example.com>", "REQUEST", "kim@example.com", ME, "NEEDS-ACTION", "Invitation: Coffee"),
    # A booking service on behalf of Kim's company, from a no-reply address.
    ("Bookings <no-reply@bookings.example>", "REQUEST", "reception@example.com", ME, "NEEDS-ACTION",
     "Invitation: Coffee at Example Inc."),
    # Kim accepts an invitation the user sent, through a calendar service.
    ("Calendar <calendar-notification@calendar.example>", "REPLY", ME, "kim@example.com", "ACCEPTED",
     "Accepted: Coffee"),
])
def test_a_calendar_invitation_or_answer_of_theirs_ends_the_wait(kim_waits, capsys, sender: str, method: str,
                                                                 organiser: str, attendee: str, partstat: str,
                                                                 subject: str) -> None:
    found = in_touch_after(kim_waits, capsys, "INBOX", invitation(sender, subject, method, organiser, attendee,
                                                                  partstat, "<invite@calendar.example>"))
    assert (found["state"], found["in_touch"]["rule"]) == ("replied", "calendar"), found["reasons"]


def test_automatic_mail_is_still_no_answer(kim_waits, capsys) -> None:
    """From Kim's address, Kim's organisation or under the thread's subject, none of these is Kim writing."""
    account, config = kim_waits
    report = b"Reporting-MTA: dns; mx.example.com\r\n\r\nFinal-Recipient: rfc822; kim@example.com\r\n" \
             b"Action: delivered\r\nStatus: 2.0.0\r\n"
    automatic = [
        # An applicant-tracking system's acknowledgement, from a no-reply address.
        raw_mail("Example Careers <no-reply@example.com>", ME, "We received your message", at(THURSDAY),
                 "<ats@example.com>", "Thank you for your interest. We will review it."),
        # Outlook's automatic reply, without Auto-Submitted.
        raw_mail("Kim Berg <kim@example.com>", ME, "Automatic reply: Coffee next week?", at(THURSDAY),
                 "<ooo@example.com>", "I am out of the office."),
        # A read receipt (MDN), from Kim.
        _report("Kim Berg <kim@example.com>", "Read: Coffee next week?", "disposition-notification",
                b"Final-Recipient: rfc822; kim@example.com\r\n"
                b"Disposition: manual-action/MDN-sent-manually; displayed\r\n",
                "<mdn@example.com>"),
        # A delivery notification: delivered.
        _report("Mail Delivery System <postmaster@example.com>", "Delivered: Coffee next week?", "delivery-status",
                report, "<dsn@example.com>"),
        # A newsletter from Kim's company.
        raw_mail("Example News <news@example.com>", ME, "December news", at(THURSDAY), "<news@example.com>",
                 "Our news.", extra={"List-Unsubscribe": "<mailto:leave@example.com>"}),
        # Kim wrote before the user's message: that is not an answer to it.
        raw_mail("Kim Berg <kim@example.com>", ME, "Hello", at("2026-12-01T10:00:00+01:00"), "<before@example.com>"),
    ]
    for raw in automatic:
        account.append("INBOX", raw, flags=(b"\\Seen",))
    code, report_ = scan_json(config, WEDNESDAY, capsys)
    assert code == 0 and coffee(report_)["state"] == "drafted", coffee(report_)["reasons"]
    assert len(kim_drafts(account)) == 1


def _report(sender: str, subject: str, kind: str, body: bytes, mid: str) -> bytes:
    boundary = "b1"
    return (f"From: {sender}\r\nTo: {ME}\r\nSubject: {subject}\r\nDate: {format_datetime(at(THURSDAY))}\r\n"
            f"Message-ID: {mid}\r\nMIME-Version: 1.0\r\nContent-Type: multipart/report; report-type={kind}; "
            f"boundary={boundary}\r\n\r\n--{boundary}\r\nContent-Type: text/plain\r\n\r\nA report.\r\n--{boundary}\r\n"
            f"Content-Type: message/{kind}\r\n\r\n").encode() + body + f"\r\n--{boundary}--\r\n".encode()


def test_with_other_topics_off_a_reply_elsewhere_does_not_count_but_a_new_message_does(configured, capsys,
                                                                                      tmp_path) -> None:
    account, config = configured
    config.write_text(config.read_text().replace("defaults:", "defaults:\n  in_touch: {other_topics: false}"))
    account.append("Sent", raw_mail(f"Me <{ME}>", "kim@example.com", "Slides", at("2026-11-20T10:00:00+01:00"),
                                    "<slides@example.org>"), flags=(b"\\Seen",))
    account.append("INBOX", raw_mail("kim@example.com", ME, "Re: Slides", at(THURSDAY), "<slides-answer@example.com>",
                                     in_reply_to="<slides@example.org>"), flags=(b"\\Seen",))
    code, report = scan_json(config, WEDNESDAY, capsys)
    assert coffee(report)["state"] == "drafted"
    account.append("INBOX", raw_mail("kim@example.com", ME, "Next week", at("2026-12-09T11:00:00+01:00"),
                                     "<kim-next@example.com>"), flags=(b"\\Seen",))
    code, report = scan_json(config, "2026-12-09T14:30:00+01:00", capsys)
    assert (coffee(report)["state"], coffee(report)["in_touch"]["message_id"]) == ("replied", "<kim-next@example.com>")
    assert kim_drafts(account) == []  # the draft of the morning is withdrawn, as nobody edited it


def test_explain_and_status_name_the_message_and_resume_lets_it_go_on(kim_waits, capsys) -> None:
    account, config = kim_waits
    in_touch_after(kim_waits, capsys, "INBOX", raw_mail(
        "Kim Berg <kim@example.com>", ME, "Unrelated: the conference", at(THURSDAY), "<kim-conf@example.com>"))
    assert main(["explain", "coffee@example.org", "--config", str(config), "--now", WEDNESDAY]) == 0
    explained = capsys.readouterr().out
    assert "state at 2026-12-09T09:30+01:00: replied; no follow-up\n" in explained  # not "next: follow-up 1"
    assert "wrote on 2026-12-03 (Thu) at 11:00 in INBOX: \u201cUnrelated: the conference\u201d" in explained
    assert main(["status", "--config", str(config)]) == 0
    status = capsys.readouterr().out
    assert "In touch outside the thread" in status and "Kim Berg <kim@example.com> wrote 2026-12-03 11:00 in INBOX: " \
        "\u201cUnrelated: the conference\u201d  [<coffee@example.org>]" in status
    assert main(["resume", "<coffee@example.org>", "--config", str(config), "--now", WEDNESDAY]) == 0
    said = capsys.readouterr().out
    assert "goes on" in said and "set aside: Kim Berg <kim@example.com> on 2026-12-03" in said
    code, report = scan_json(config, "2026-12-09T10:00:00+01:00", capsys)
    assert coffee(report)["state"] == "drafted" and len(kim_drafts(account)) == 1
    # Kim writes again after the resume: that counts, and the draft nobody edited is withdrawn.
    account.append("INBOX", raw_mail("kim@example.com", ME, "Coffee? Yes!", at("2026-12-09T10:30:00+01:00"),
                                     "<kim-yes@example.com>"), flags=(b"\\Seen",))
    code, report = scan_json(config, "2026-12-09T11:00:00+01:00", capsys)
    assert coffee(report)["state"] == "replied" and kim_drafts(account) == []
    assert main(["resume", "<nowhere@example.org>", "--config", str(config)]) == 1


def test_a_new_message_after_a_pass_is_seen_by_a_pass_that_decides_only_what_changed(kim_waits, capsys,
                                                                                   caplog) -> None:
    """The new message is a conversation of its own: only the inbound index ties it to the coffee thread."""
    import logging

    from mail_followup.config import load_config
    from mail_followup.service.scan import scan

    account, config = kim_waits
    account.append("INBOX", raw_mail("kim@example.com", ME, "Hello again", at("2026-12-07T11:00:00+01:00"),
                                     "<kim-hello@example.com>"), flags=(b"\\Seen",))
    with caplog.at_level(logging.INFO, logger="mail_followup.service.decide"):
        result = scan(load_config(config), at("2026-12-07T12:00:00+01:00"))
    assert result.ok and "1 of 4 threads to decide again" in caplog.text, caplog.text
    report = result.as_json()
    assert coffee(report)["state"] == "replied"
    assert by_subject(report)["Quick question"]["state"] == "waiting"  # untouched, and still reported


def _two_accounts(server: DovecotServer, tmp_path: Path, monkeypatch) -> tuple[ImapAccount, ImapAccount, Path]:
    work, private = server.new_account(), server.new_account()
    seed(work)
    monkeypatch.setenv("MF_TEST_PASSWORD", server.password)
    config = write_config(tmp_path, work)
    text = config.read_text() + (
        f"  - name: private\n    imap: {{host: {private.host}, port: {private.port}, security: none, "
        f"username: {private.username}, password_env: MF_TEST_PASSWORD}}\n    addresses: [kari@private.example]\n")
    config.write_text(text.replace("name: test", "name: work"))
    return work, private, config


def test_an_answer_that_came_to_another_account_ends_the_wait_and_withdraws_the_draft(dovecot_server, tmp_path,
                                                                                       monkeypatch, capsys) -> None:
    """As the service runs them: each account's pass on its own, in turn."""
    work, private, config = _two_accounts(dovecot_server, tmp_path, monkeypatch)
    assert scan_json(config, MONDAY_BEFORE, capsys, "--account", "private")[0] == 0
    code, report = scan_json(config, WEDNESDAY, capsys, "--account", "work")
    assert code == 0 and coffee(report)["state"] == "drafted"
    # Kim answers to the private address, in a thread of its own.
    private.append("INBOX", raw_mail("Kim Berg <kim@example.com>", "kari@private.example", "Coffee: yes",
                                     at("2026-12-09T10:00:00+01:00"), "<kim-private@example.com>"), flags=(b"\\Seen",))
    assert scan_json(config, "2026-12-09T10:15:00+01:00", capsys, "--account", "private")[0] == 0
    code, report = scan_json(config, "2026-12-09T10:30:00+01:00", capsys, "--account", "work")
    assert code == 0 and coffee(report)["state"] == "replied", coffee(report)["reasons"]
    assert coffee(report)["in_touch"]["account"] == "private"
    assert kim_drafts(work) == []
    assert any("withdrew the unedited draft" in r for r in coffee(report)["reasons"])


def test_one_scan_of_several_accounts_reads_them_all_before_deciding(dovecot_server, tmp_path, monkeypatch,
                                                                     capsys) -> None:
    work, private, config = _two_accounts(dovecot_server, tmp_path, monkeypatch)
    private.append("INBOX", raw_mail("Kim Berg <kim@example.com>", "kari@private.example", "Coffee: yes",
                                     at(THURSDAY), "<kim-private@example.com>"), flags=(b"\\Seen",))
    code, report = scan_json(config, WEDNESDAY, capsys)  # the very first pass of both
    assert code == 0 and coffee(report)["state"] == "replied" and kim_drafts(work) == []


def test_more_accounts_than_passes_at_once_still_read_them_all_before_deciding(dovecot_server, tmp_path,
                                                                              monkeypatch, capsys) -> None:
    """The first pass of more accounts than run at once: none waits out the gate for one queued behind it (with
    20 accounts, eight waited ten minutes each, then decided without the others)."""
    monkeypatch.setattr(scanning, "PARALLEL_ACCOUNTS", 1)
    monkeypatch.setattr(SyncGate, "WAIT", 5.0)  # the bug would cost this, then draft to Kim
    work, private, config = _two_accounts(dovecot_server, tmp_path, monkeypatch)
    private.append("INBOX", raw_mail("Kim Berg <kim@example.com>", "kari@private.example", "Coffee: yes",
                                     at(THURSDAY), "<kim-private@example.com>"), flags=(b"\\Seen",))
    code, report = scan_json(config, WEDNESDAY, capsys)
    assert code == 0 and coffee(report)["state"] == "replied" and kim_drafts(work) == []


def test_a_gmail_layout_finds_the_answer_and_the_quote_in_all_mail(gmail_like, tmp_path, monkeypatch,  # noqa: F811
                                                                   capsys) -> None:
    account, config = laid_out(gmail_like, tmp_path, monkeypatch)
    for subject, mid, body in (("Coffee next week?", "<coffee@example.org>", "Would you have time for a coffee?"),
                               ("Your offer", "<offer@example.org>", "What do you think of the offer we sent you?")):
        raw = raw_mail(f"Me <{ME}>", "Kim <kim@example.com>" if "Coffee" in subject else "ola@firma.example",
                       subject, at("2026-12-01T15:00:00+01:00"), mid, f"Hello,\n\n{body}\n\nMe\n")
        for folder in ("[Gmail]/Sent Mail", "[Gmail]/All Mail"):
            account.append(folder, raw, flags=(b"\\Seen",))
    # Kim's new thread is in INBOX and All Mail; the quote, from a stranger, under a label and in All Mail.
    kim = raw_mail("Kim <kim@example.com>", ME, "Tuesday works", at(THURSDAY), "<kim-new@example.com>")
    quote = raw_mail("Assistant <assistant@office.example>", ME, "On behalf of Ola", at(THURSDAY),
                     "<assistant@office.example>", "Ola asked me to reply.\n\n> What do you think of the offer we "
                     "sent you?\n")
    for folder, raw in (("INBOX", kim), ("[Gmail]/All Mail", kim), ("Work", quote), ("[Gmail]/All Mail", quote)):
        account.append(folder, raw, flags=(b"\\Seen",))
    code, report = scan_json(config, WEDNESDAY, capsys)
    assert code == 0, report["errors"]
    threads = by_subject(report)
    assert (threads["Coffee next week?"]["state"], threads["Coffee next week?"]["in_touch"]["folder"]) == \
        ("replied", "[Gmail]/All Mail")
    assert (threads["Your offer"]["state"], threads["Your offer"]["in_touch"]["rule"]) == ("replied", "quote")
    assert account.messages("[Gmail]/Drafts") == []


def test_a_quote_that_arrives_while_the_draft_waits_withdraws_it(configured, capsys) -> None:
    account, config = configured
    assert coffee(scan_json(config, WEDNESDAY, capsys)[1])["state"] == "drafted"
    account.append("INBOX", raw_mail(
        "Office Manager <office@elsewhere.example>", ME, "Your request", at("2026-12-09T10:00:00+01:00"),
        "<office@elsewhere.example>", "I'm handling this for Kim.\n\n> Would you have time for a coffee next week?\n"),
        flags=(b"\\Seen",))
    code, report = scan_json(config, "2026-12-09T10:30:00+01:00", capsys)
    found = coffee(report)
    assert (found["state"], found["in_touch"]["rule"]) == ("replied", "quote")
    assert kim_drafts(account) == [] and any("withdrew the unedited draft" in r for r in found["reasons"])
