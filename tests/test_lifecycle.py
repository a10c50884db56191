"""A draft's life in the Drafts folder of a real server (issue 5, DESIGN.md invariants 1 and 3).

The standard scenario (tests/scenario.py) drafts the coffee follow-up on
the Wednesday; what the user and the contact do next decides what happens
to that draft.
"""

from __future__ import annotations

from email import message_from_bytes, policy

import pytest

from imapservers import ImapAccount
from mails import raw_mail
from scenario import ME, WEDNESDAY, at, by_subject, scan_json

THURSDAY = "2026-12-10T09:30:00+01:00"
FRIDAY = "2026-12-11T09:30:00+01:00"


def coffee_draft(account: ImapAccount) -> tuple[int, tuple[bytes, ...], bytes]:
    (found,) = [m for m in account.messages("Drafts") if b"<coffee@example.org>" in m[2]]
    return found


def live(account: ImapAccount) -> list[bytes]:
    """The drafts a mail client shows: those not flagged \\Deleted."""
    return [raw for _, flags, raw in account.messages("Drafts") if b"\\Deleted" not in flags]


def delete(account: ImapAccount, uid: int) -> None:
    """What a mail client does when the user deletes a draft (or replaces it with an edited one)."""
    with account.client() as client:
        client.select_folder("Drafts")
        client.delete_messages([uid])
        client.expunge()


def kim_answers(account: ImapAccount) -> None:
    account.append("INBOX", raw_mail("Kim Berg <kim@example.com>", ME, "Re: Coffee next week?",
                                     at("2026-12-09T12:00:00+01:00"), "<kim-answer@example.com>",
                                     "Yes, gladly! Thursday at ten?\n", in_reply_to="<coffee@example.org>"))


def test_an_answer_withdraws_the_unedited_draft(configured, capsys) -> None:
    account, config = configured
    assert by_subject(scan_json(config, WEDNESDAY, capsys)[1])["Coffee next week?"]["state"] == "drafted"
    kim_answers(account)
    code, report = scan_json(config, THURSDAY, capsys)
    coffee = by_subject(report)["Coffee next week?"]
    assert code == 0 and coffee["state"] == "replied"
    assert any("withdrew the unedited draft for follow-up 1" in r for r in coffee["reasons"])
    assert not [raw for raw in live(account) if b"<coffee@example.org>" in raw]
    if account.kind == "dovecot":  # UIDPLUS: the one message is expunged, nothing else
        assert not [m for m in account.messages("Drafts") if b"<coffee@example.org>" in m[2]]
    # The next pass has nothing left to do about it, and "Quick question" was never touched.
    before = account.messages("Drafts")
    code, report = scan_json(config, FRIDAY, capsys)
    assert code == 0 and report["errors"] == [] and account.messages("Drafts") == before


def test_an_edited_draft_is_never_touched(configured, capsys) -> None:
    account, config = configured
    scan_json(config, WEDNESDAY, capsys)
    uid, _, raw = coffee_draft(account)
    # The client saves the edit as a new message and removes the old one; it keeps our headers.
    edited = raw.replace(b"I hope", b"Hope").replace(b"Message-ID: <followup-", b"Message-ID: <edited-")
    account.append("Drafts", edited, flags=(b"\\Draft", b"\\Seen"))
    delete(account, uid)
    scan_json(config, WEDNESDAY, capsys)  # a pass in between sees the edited copy, and leaves it
    kim_answers(account)
    code, report = scan_json(config, THURSDAY, capsys)
    coffee = by_subject(report)["Coffee next week?"]
    assert coffee["state"] == "replied"
    assert any("was edited: it stays for you to decide" in r for r in coffee["reasons"])
    assert edited in live(account)


def test_a_changed_body_under_our_message_id_is_an_edit_too(configured, capsys) -> None:
    account, config = configured
    scan_json(config, WEDNESDAY, capsys)
    uid, _, raw = coffee_draft(account)
    changed = raw.replace(b"I hope", b"Hope")
    assert changed != raw
    account.append("Drafts", changed, flags=(b"\\Draft", b"\\Seen"))
    delete(account, uid)
    kim_answers(account)
    scan_json(config, THURSDAY, capsys)
    assert changed in live(account)


@pytest.mark.parametrize(("on_dismiss", "state"), [("stop", "stopped"), ("skip", "waiting")])
def test_a_draft_deleted_unsent_means_not_this_one(imap_account: ImapAccount, tmp_path, monkeypatch, capsys,
                                                   on_dismiss: str, state: str) -> None:
    from scenario import seed, write_config

    monkeypatch.setenv("MF_TEST_PASSWORD", imap_account.password)
    seed(imap_account)
    config = write_config(tmp_path, imap_account, on_dismiss=on_dismiss)
    scan_json(config, WEDNESDAY, capsys)
    delete(imap_account, coffee_draft(imap_account)[0])
    # The first pass that sees it gone says so: no report of a draft that is not there.
    for moment in (WEDNESDAY, THURSDAY, FRIDAY):
        code, report = scan_json(config, moment, capsys)
        coffee = by_subject(report)["Coffee next week?"]
        assert code == 0 and coffee["state"] == state, coffee["reasons"]
        assert coffee["draft_message_id"] is None
        if on_dismiss == "skip":  # the next attempt is the last, a week after the dismissal was seen
            assert coffee["next_attempt"] == 2 and coffee["not_before"] > "2026-12-16"
        # ... and it is never written again.
        assert all(b"<coffee@example.org>" not in raw for raw in live(imap_account))
    assert any("deleted without sending" in r for r in coffee["reasons"])


def test_a_sent_copy_filed_after_the_draft_vanished_counts_as_the_attempt(configured, capsys) -> None:
    """A client may remove the draft a moment before it files the sent copy: a pass in between sees the draft
    deleted unsent, the next one sees the attempt made."""
    account, config = configured
    scan_json(config, WEDNESDAY, capsys)
    uid, _, raw = coffee_draft(account)
    delete(account, uid)
    assert by_subject(scan_json(config, WEDNESDAY, capsys)[1])["Coffee next week?"]["state"] == "stopped"
    account.append("Sent", message_from_bytes(raw, policy=policy.SMTP).as_bytes(), flags=(b"\\Seen",))
    code, report = scan_json(config, THURSDAY, capsys)
    coffee = by_subject(report)["Coffee next week?"]
    assert (coffee["state"], coffee["followups_sent"], coffee["next_attempt"]) == ("waiting", 1, 2)
    assert all(b"<coffee@example.org>" not in raw for raw in live(account))


def test_a_sent_followup_counts_as_the_attempt(configured, capsys) -> None:
    account, config = configured
    scan_json(config, WEDNESDAY, capsys)
    uid, _, raw = coffee_draft(account)
    # The user sends it: the client removes the draft and files the sent copy.
    delete(account, uid)
    sent = message_from_bytes(raw, policy=policy.SMTP)
    account.append("Sent", sent.as_bytes(), flags=(b"\\Seen",))
    code, report = scan_json(config, THURSDAY, capsys)
    coffee = by_subject(report)["Coffee next week?"]
    assert (coffee["state"], coffee["followups_sent"], coffee["next_attempt"]) == ("waiting", 1, 2)
    code, report = scan_json(config, FRIDAY, capsys)
    assert by_subject(report)["Coffee next week?"]["state"] == "waiting"


def test_resume_after_a_deleted_draft_lets_it_be_written_again(configured, capsys) -> None:
    """Deleting the draft stopped the thread; `mail-followup resume` says go on after all."""
    from mail_followup.cli.main import main

    account, config = configured
    scan_json(config, WEDNESDAY, capsys)
    delete(account, coffee_draft(account)[0])
    assert by_subject(scan_json(config, WEDNESDAY, capsys)[1])["Coffee next week?"]["state"] == "stopped"
    assert main(["resume", "coffee@example.org", "--config", str(config), "--now", WEDNESDAY]) == 0
    assert "goes on" in capsys.readouterr().out
    coffee = by_subject(scan_json(config, THURSDAY, capsys)[1])["Coffee next week?"]
    assert coffee["state"] == "drafted" and len([raw for raw in live(account) if b"<coffee@example.org>" in raw]) == 1


def test_extra_copies_of_a_draft_are_withdrawn_and_an_edited_one_stays(configured, capsys) -> None:
    """Two passes on two states (a second laptop) each wrote the draft: the next pass keeps one. When the user
    edited a copy, every unedited one goes and the edited one stays (issue 19)."""
    account, config = configured
    scan_json(config, WEDNESDAY, capsys)
    _, _, raw = coffee_draft(account)
    account.append("Drafts", raw, flags=(b"\\Draft", b"\\Seen"))  # what the other pass wrote
    coffee = by_subject(scan_json(config, THURSDAY, capsys)[1])["Coffee next week?"]
    assert [r for r in live(account) if b"<coffee@example.org>" in r] == [raw]
    assert coffee["state"] == "drafted" and any("withdrew 1 unedited extra" in r for r in coffee["reasons"])
    edited = raw.replace(b"I hope", b"Hope")
    account.append("Drafts", edited, flags=(b"\\Draft", b"\\Seen"))
    scan_json(config, FRIDAY, capsys)
    assert [r for r in live(account) if b"<coffee@example.org>" in r] == [edited]
