"""The timing and policy rules on a real server: what a pass reads to pick the scenario and honour their date."""

from __future__ import annotations

from pathlib import Path

import pytest

from imapservers import ImapAccount
from mails import raw_mail
from mail_followup.cli.main import main
from scenario import ME, at, by_subject, scan_json, write_config

ME_FROM = f"Me <{ME}>"
WEDNESDAY_PM = at("2026-12-02T15:00:00+01:00")


def send(account: ImapAccount, mid: str, to: str, subject: str, body: str, when=WEDNESDAY_PM,
         flags: tuple[bytes, ...] = (b"\\Seen",), in_reply_to: str | None = None) -> None:
    account.append("Sent", raw_mail(ME_FROM, to, subject, when, mid, body, in_reply_to=in_reply_to), flags=flags,
                   when=when)


@pytest.fixture
def config(imap_account: ImapAccount, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("MF_TEST_PASSWORD", imap_account.password)
    return write_config(tmp_path, imap_account, contacts='{"caller@example.com": {prefers: phone}}')


def test_the_scenario_comes_from_the_words_of_the_message(imap_account: ImapAccount, config: Path, capsys) -> None:
    send(imap_account, "<call@example.org>", "lena@example.com", "Hi Lena",
         "Thank you for the phone call today. I enjoyed hearing about the team.\n")
    send(imap_account, "<plain@example.org>", "ola@example.com", "Hi Ola", "Here is the file we talked about.\n")
    send(imap_account, "<sales@example.org>", "buyer@example.com", "Hi there", "A note.\n",
         flags=(b"\\Seen", b"$FollowUp-sales"))
    send(imap_account, "<caller@example.org>", "caller@example.com", "Application: designer", "My CV.\n")
    # Tuesday Dec 8: three business days after a Wednesday phone call, a week for the others only on Thursday.
    code, report = scan_json(config, "2026-12-08T09:00:00+01:00", capsys)
    assert code == 0, report["errors"]
    threads = by_subject(report)
    call = threads["Hi Lena"]
    assert (call["policy"], call["state"]) == ("phone-screen", "drafted")
    assert any("your message says 'thank you for the phone call'" in r for r in call["reasons"])
    # A thank-you with no question reads as a closing note, yet after a call it waits for their decision.
    assert any("but after a phone-screen the wait is for their decision" in r for r in call["reasons"])
    # Its body was read in the same pass, so the plain one is no longer a maybe: a week, Thursday.
    plain = threads["Hi Ola"]
    assert (plain["policy"], plain["state"], plain["not_before"]) == ("default", "waiting", "2026-12-10T08:30:00+01:00")
    assert not any("not read yet" in r for r in plain["reasons"])
    assert threads["Hi there"]["policy"] == "sales"
    assert any("$FollowUp-sales" in r for r in threads["Hi there"]["reasons"])
    # R19: no draft for a contact who prefers the phone, ever; listed with its moment.
    code, report = scan_json(config, "2026-12-10T09:00:00+01:00", capsys)
    caller = by_subject(report)["Application: designer"]
    assert (caller["policy"], caller["state"], caller["not_before"]) == \
        ("job-application", "call", "2026-12-10T08:30:00+01:00")
    drafts = [raw for _, _, raw in imap_account.messages("Drafts")]
    assert len(drafts) == 3 and not any(b"caller@example.com" in raw for raw in drafts)


def test_their_date_holds_the_first_followup_back(imap_account: ImapAccount, config: Path, capsys) -> None:
    """R6: "we will get back to you by December 18" waits for Dec 18 and two business days more,
    even though your answer ("Thank you, looking forward to it!") reads as a closing note."""
    for key, promise in (("promise", "We will get back to you by December 18."), ("vague", "We will be in touch.")):
        send(imap_account, f"<{key}@example.org>", f"{key}@example.com", f"Visit {key}",
             "Hi, would you be open to a visit in January?\n", when=at("2026-12-01T15:00:00+01:00"))
        imap_account.append("INBOX", raw_mail(f"{key}@example.com", ME, f"Re: Visit {key}",
                                              at("2026-12-03T10:00:00+01:00"), f"<{key}-in@example.com>",
                                              f"Thanks for asking! {promise}\n", in_reply_to=f"<{key}@example.org>"))
        send(imap_account, f"<{key}-2@example.org>", f"{key}@example.com", f"Re: Visit {key}",
             "Thank you, looking forward to it!\n", when=at("2026-12-03T15:00:00+01:00"),
             in_reply_to=f"<{key}-in@example.com>")
    # Dec 16: a week after your note (and not its weekday) it would be due, but for their date.
    code, report = scan_json(config, "2026-12-16T09:00:00+01:00", capsys)
    assert code == 0, report["errors"]
    threads = by_subject(report)
    promised = threads["Visit promise"]
    # Dec 18 is a Friday; two business days more: Tuesday Dec 22, a morning after your afternoon note.
    assert (promised["state"], promised["not_before"]) == ("waiting", "2026-12-22T08:30:00+01:00")
    assert "read as 2026-12-18" in "\n".join(promised["reasons"])
    assert threads["Visit vague"]["state"] == "ignored"  # a plain closing note
    assert imap_account.messages("Drafts") == []
    code, report = scan_json(config, "2026-12-22T09:00:00+01:00", capsys)
    promised = by_subject(report)["Visit promise"]
    assert promised["state"] == "drafted" and "the wait is for their news" in "\n".join(promised["reasons"])


def test_their_date_is_the_date_shown_from_the_first_pass_that_waits(imap_account: ImapAccount, config: Path,
                                                                     capsys) -> None:
    """Issue 18: what `status`, `calendar` and the weekly review show for a waiting thread is the date kept.
    Their answer before your latest message is read as soon as the thread waits, not only once it is due."""
    send(imap_account, "<visit@example.org>", "host@host.example", "Visit", "Hi, would a visit in January suit you?\n",
         when=at("2026-12-01T15:00:00+01:00"))
    imap_account.append("INBOX", raw_mail("host@host.example", ME, "Re: Visit", at("2026-12-03T10:00:00+01:00"),
                                          "<visit-in@host.example>", "Good idea! We will get back to you by "
                                          "December 18.\n", in_reply_to="<visit@example.org>"))
    send(imap_account, "<visit-2@example.org>", "host@host.example", "Re: Visit", "Great, thank you!\n",
         when=at("2026-12-03T15:00:00+01:00"), in_reply_to="<visit-in@host.example>")
    for moment in ("2026-12-04T09:00:00+01:00", "2026-12-14T09:00:00+01:00"):
        code, report = scan_json(config, moment, capsys)
        visit = by_subject(report)["Visit"]
        assert (visit["state"], visit["not_before"]) == ("waiting", "2026-12-22T08:30:00+01:00"), visit["reasons"]
    assert main(["calendar", "--config", str(config)]) == 0
    assert "DTSTART:20261222T073000Z" in capsys.readouterr().out
