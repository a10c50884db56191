"""Keywords set in Thunderbird, Apple Mail or a phone stop or snooze a thread (issue 22), on real servers.

The standard scenario (tests/scenario.py) drafts "Coffee next week?" on
Wednesday 9 December and "Quick question" on Tuesday 15 December. Here the
user tags messages as a mail client does: STORE +FLAGS on Dovecot; pymap
drops a keyword STORE +FLAGS adds (PERMANENTFLAGS has no \\*), but keeps one
a message is appended with and loses it to STORE FLAGS, so there the tests
set keywords at APPEND and take them off, which a pass without CONDSTORE
sees only by its search.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from imapservers import ImapAccount
from mail_followup.cli.main import main
from mail_followup.core.keywords import NO_FOLLOW_UP, SNOOZE, canonical, has_keyword
from mail_followup.core.policy import held_by
from mail_followup.core.threads import build_threads
from mail_followup.service.keywords import KeywordReading
from mail_followup.state.marks import Mark
from mail_followup.state.store import Store
from mails import mail, raw_mail
from scenario import ME, WEDNESDAY, at, by_subject, scan_json, seed, write_config
from test_providers import configured as laid_out, gmail_like  # noqa: F401 (a fixture)

THURSDAY = "2026-12-10T09:30:00+01:00"
THURSDAY_LATER = "2026-12-10T10:30:00+01:00"
TUESDAY = "2026-12-15T09:30:00+01:00"
WEDNESDAY_AFTER = "2026-12-16T09:30:00+01:00"
WEDNESDAY_AFTER_LATER = "2026-12-16T10:30:00+01:00"


def uid_of(account: ImapAccount, folder: str, needle: bytes) -> int:
    (uid,) = [uid for uid, flags, raw in account.messages(folder) if needle in raw and b"\\Deleted" not in flags]
    return uid


def put_on(account: ImapAccount, folder: str, needle: bytes, keyword: bytes) -> None:
    """What a mail client does when the user tags the message (Dovecot; pymap drops it)."""
    uid = uid_of(account, folder, needle)
    with account.client() as client:
        client.select_folder(folder)
        client.add_flags([uid], [keyword])


def take_off(account: ImapAccount, folder: str, needle: bytes, keyword: bytes) -> None:
    """The user removes the tag: STORE FLAGS with the other flags (pymap ignores -FLAGS for a keyword)."""
    uid = uid_of(account, folder, needle)
    with account.client() as client:
        client.select_folder(folder)
        flags = [f for f in client.get_flags([uid])[uid] if f.lower() != keyword.lower() and f != b"\\Recent"]
        client.set_flags([uid], flags)


def drafts_for(account: ImapAccount, thread: bytes, folder: str = "Drafts") -> list[bytes]:
    return [raw for _, flags, raw in account.messages(folder) if thread in raw and b"\\Deleted" not in flags]


def test_no_follow_up_on_their_answer_stops_the_thread_until_it_is_taken_off(imap_account: ImapAccount, tmp_path,
                                                                          monkeypatch, capsys) -> None:
    """The contact's answer carries $nofollowup (Thunderbird's spelling); the user wrote again after it, so
    the thread waits on them. Taken off, the thread goes on: a stop by keyword lasts while the keyword does."""
    account = imap_account
    monkeypatch.setenv("MF_TEST_PASSWORD", account.password)
    me = f"Me Myself <{ME}>"
    account.append("Sent", raw_mail(me, "ola@example.no", "Your offer", at("2026-12-01T10:00:00+01:00"),
                                    "<offer@example.org>"), flags=(b"\\Seen",))
    account.append("INBOX", raw_mail("ola@example.no", me, "Re: Your offer", at("2026-12-01T12:00:00+01:00"),
                                     "<offer-reply@example.no>", "Let me think about it.\n",
                                     in_reply_to="<offer@example.org>"), flags=(b"\\Seen", b"$nofollowup"))
    account.append("Sent", raw_mail(me, "ola@example.no", "Re: Your offer", at("2026-12-01T15:00:00+01:00"),
                                    "<offer-again@example.org>", "Take your time.\n",
                                    in_reply_to="<offer-reply@example.no>"), flags=(b"\\Seen",))
    config = write_config(tmp_path, account)
    code, report = scan_json(config, THURSDAY, capsys)
    offer = by_subject(report)["Your offer"]
    assert code == 0 and offer["state"] == "stopped", offer["reasons"]
    assert any("<offer-reply@example.no> has the keyword $NoFollowUp" in r for r in offer["reasons"])
    assert drafts_for(account, b"<offer@example.org>") == []
    assert main(["explain", "offer-again@example.org", "--config", str(config), "--now", THURSDAY]) == 0
    assert "has the keyword $NoFollowUp" in capsys.readouterr().out  # offline, from the state
    assert main(["resume", "offer-again@example.org", "--config", str(config), "--now", THURSDAY]) == 0
    assert "has the keyword $NoFollowUp (set in your mail client" in capsys.readouterr().out  # it still holds
    take_off(account, "INBOX", b"<offer-reply@example.no>", b"$nofollowup")
    code, report = scan_json(config, THURSDAY_LATER, capsys)
    assert by_subject(report)["Your offer"]["state"] == "drafted", by_subject(report)["Your offer"]["reasons"]
    assert len(drafts_for(account, b"<offer@example.org>")) == 1


def test_no_follow_up_on_your_messages_withdraws_the_unedited_draft_and_keeps_an_edited_one(
        dovecot_account: ImapAccount, tmp_path, monkeypatch, capsys) -> None:
    account = dovecot_account
    monkeypatch.setenv("MF_TEST_PASSWORD", account.password)
    seed(account)
    config = write_config(tmp_path, account)
    scan_json(config, WEDNESDAY, capsys)
    scan_json(config, TUESDAY, capsys)
    (question,) = [(uid, raw) for uid, _, raw in account.messages("Drafts") if b"<question@example.org>" in raw]
    edited = question[1].replace(b"Message-ID: <followup-", b"Message-ID: <edited-").replace(
        b"\r\n\r\n", b"\r\n\r\nOh, ", 1)
    account.append("Drafts", edited, flags=(b"\\Draft", b"\\Seen"))  # a client saves an edit as a new message...
    with account.client() as client:  # ... and removes the old one
        client.select_folder("Drafts")
        client.delete_messages([question[0]])
        client.expunge()
    put_on(account, "Sent", b"<coffee@example.org>", b"$nofollowup")
    put_on(account, "Sent", b"<question@example.org>", b"$NoFollowUp")
    code, report = scan_json(config, WEDNESDAY_AFTER, capsys)
    threads = by_subject(report)
    coffee, asked = threads["Coffee next week?"], threads["Quick question"]
    # On your own message it is DOMAIN.md R4: the message expects no answer (the thread is "ignored").
    assert (coffee["state"], asked["state"]) == ("ignored", "ignored"), (coffee["reasons"], asked["reasons"])
    assert "expects no answer: marked $NoFollowUp in your mail client" in coffee["reasons"]
    assert any("withdrew the unedited draft for follow-up 1" in r for r in coffee["reasons"])
    assert any("was edited: it stays for you to decide" in r for r in asked["reasons"])
    assert drafts_for(account, b"<coffee@example.org>") == [] and drafts_for(account, b"<question@example.org>") == [
        edited]


def test_no_follow_up_on_the_draft_withdraws_it_and_the_thread_stays_stopped(dovecot_account: ImapAccount,
                                                                             tmp_path, monkeypatch, capsys) -> None:
    """The keyword goes with the draft it was on: the stop it made stays, as `mail-followup stop`'s does."""
    account = dovecot_account
    monkeypatch.setenv("MF_TEST_PASSWORD", account.password)
    seed(account)
    config = write_config(tmp_path, account)
    scan_json(config, WEDNESDAY, capsys)
    put_on(account, "Drafts", b"<coffee@example.org>", b"$NoFollowUp")
    for moment in (THURSDAY, WEDNESDAY_AFTER):
        code, report = scan_json(config, moment, capsys)
        coffee = by_subject(report)["Coffee next week?"]
        assert code == 0 and coffee["state"] == "stopped", coffee["reasons"]
        assert any("you set $NoFollowUp on its follow-up draft" in r for r in coffee["reasons"])
        assert drafts_for(account, b"<coffee@example.org>") == []
    assert any("withdrew the unedited draft" in r for r in by_subject(scan_json(config, THURSDAY, capsys)[1])[
        "Coffee next week?"]["reasons"]) is False  # withdrawn once, nothing left to withdraw


def test_snooze_keyword_puts_the_thread_off_once_for_the_configured_days(dovecot_account: ImapAccount, tmp_path,
                                                                         monkeypatch, capsys) -> None:
    account = dovecot_account
    monkeypatch.setenv("MF_TEST_PASSWORD", account.password)
    seed(account)
    config = write_config(tmp_path, account, keyword_snooze_days="5")
    put_on(account, "Sent", b"<coffee@example.org>", b"$followupsnooze")
    for moment in (WEDNESDAY, THURSDAY):  # seen on Wednesday: until Monday the 14th, whatever the later passes
        coffee = by_subject(scan_json(config, moment, capsys)[1])["Coffee next week?"]
        # Not on a Monday (R7), nor on a Tuesday like the original (R8): Wednesday morning.
        assert (coffee["state"], coffee["not_before"]) == ("snoozed", "2026-12-16T08:30:00+01:00"), coffee["reasons"]
        assert "you snoozed it until 2026-12-14" in coffee["reasons"]
    assert drafts_for(account, b"<coffee@example.org>") == []
    coffee = by_subject(scan_json(config, WEDNESDAY_AFTER, capsys)[1])["Coffee next week?"]
    assert coffee["state"] == "drafted", coffee["reasons"]  # the keyword is still there: it snoozed once
    # Taken off (a pass sees it gone) and set again: a new snooze from now, and the draft it makes premature
    # is withdrawn.
    take_off(account, "Sent", b"<coffee@example.org>", b"$followupsnooze")
    assert by_subject(scan_json(config, WEDNESDAY_AFTER, capsys)[1])["Coffee next week?"]["state"] == "drafted"
    put_on(account, "Sent", b"<coffee@example.org>", b"$FollowUpSnooze")
    coffee = by_subject(scan_json(config, WEDNESDAY_AFTER_LATER, capsys)[1])["Coffee next week?"]
    assert coffee["state"] == "snoozed" and "you snoozed it until 2026-12-21" in coffee["reasons"], coffee["reasons"]
    assert any("withdrew the unedited draft for follow-up 1" in r for r in coffee["reasons"])
    assert drafts_for(account, b"<coffee@example.org>") == []


def test_stop_withdraws_the_draft_of_a_thread_whose_message_id_has_capitals(imap_account: ImapAccount, tmp_path,
                                                                            monkeypatch, capsys) -> None:
    """`stop` kept the thread's key lowercased, so a Message-ID as Gmail or Outlook writes them was never
    stopped and its draft stayed (issue 22)."""
    account = imap_account
    monkeypatch.setenv("MF_TEST_PASSWORD", account.password)
    account.append("Sent", raw_mail(f"Me <{ME}>", "Kim <kim@example.com>", "Coffee next week?",
                                    at("2026-12-01T15:00:00+01:00"), "<CAF8xQ+Kim@mail.gmail.com>",
                                    "Would you have time for a coffee?\n"), flags=(b"\\Seen",))
    config = write_config(tmp_path, account)
    assert by_subject(scan_json(config, WEDNESDAY, capsys)[1])["Coffee next week?"]["state"] == "drafted"
    assert main(["stop", "CAF8xQ+Kim@mail.gmail.com", "--config", str(config)]) == 0
    capsys.readouterr()
    coffee = by_subject(scan_json(config, THURSDAY, capsys)[1])["Coffee next week?"]
    assert coffee["state"] == "stopped", coffee["reasons"]
    assert any("withdrew the unedited draft for follow-up 1" in r for r in coffee["reasons"])
    assert drafts_for(account, b"<CAF8xQ+Kim@mail.gmail.com>") == []


def test_a_gmail_layout_reads_the_keyword_in_all_mail(gmail_like, tmp_path, monkeypatch, capsys) -> None:
    account, config = laid_out(gmail_like, tmp_path, monkeypatch)
    coffee = raw_mail(f"Me <{ME}>", "Kim <kim@example.com>", "Coffee next week?", at("2026-12-01T15:00:00+01:00"),
                      "<coffee@example.org>", "Would you have time for a coffee?\n")
    for folder in ("[Gmail]/Sent Mail", "[Gmail]/All Mail"):
        account.append(folder, coffee, flags=(b"\\Seen",))
    assert by_subject(scan_json(config, WEDNESDAY, capsys)[1])["Coffee next week?"]["state"] == "drafted"
    put_on(account, "[Gmail]/All Mail", b"<coffee@example.org>", b"$NoFollowUp")
    found = by_subject(scan_json(config, THURSDAY, capsys)[1])["Coffee next week?"]
    assert found["state"] == "stopped" and any("withdrew the unedited draft" in r for r in found["reasons"])
    assert drafts_for(account, b"<coffee@example.org>", "[Gmail]/Drafts") == []
    take_off(account, "[Gmail]/All Mail", b"<coffee@example.org>", b"$NoFollowUp")
    found = by_subject(scan_json(config, THURSDAY_LATER, capsys)[1])["Coffee next week?"]
    assert found["state"] == "drafted", found["reasons"]
    assert len(drafts_for(account, b"<coffee@example.org>", "[Gmail]/Drafts")) == 1


def test_a_folder_condstore_shows_unchanged_is_not_searched_again(configured, capsys, monkeypatch) -> None:
    account, config = configured
    scan_json(config, WEDNESDAY, capsys)
    searched: list[str] = []
    real = KeywordReading._search
    monkeypatch.setattr(KeywordReading, "_search", lambda self, folder: searched.append(folder) or real(self, folder))
    code, report = scan_json(config, WEDNESDAY, capsys)
    assert code == 0 and report["errors"] == []
    # Dovecot's HIGHESTMODSEQ says no flag changed; pymap has no CONDSTORE, so only a search can tell.
    assert sorted(searched) == ([] if account.kind == "dovecot" else ["Archive", "INBOX", "Sent"])


def test_a_mark_acts_once_when_first_seen_and_again_when_set_again(tmp_path: Path) -> None:
    """The state's side, without a server: a snooze is given when a pass first sees the keyword on a message,
    a message moved to another folder keeps its marks, and a keyword taken off and set again is new."""
    when = datetime(2026, 12, 9, 8, 0, tzinfo=UTC)
    snooze = Mark("INBOX", 7, SNOOZE, "<a@x>", None, frozenset({SNOOZE}))
    stop = Mark("INBOX", 8, NO_FOLLOW_UP, "<b@x>", None, frozenset({"$nofollowup"}))
    with Store(tmp_path) as store:
        assert store.record_marks("t", [snooze, stop], {"INBOX": "1:9:2:None"}, when, date(2026, 12, 16)) == {
            "<a@x>", "<b@x>"}
        assert store.snoozed("t") == {"<a@x>": date(2026, 12, 16)} and "<b@x>" in store.stoplist("t")
        moved = Mark("Archive", 3, SNOOZE, "<a@x>", None)
        assert store.record_marks("t", [moved, stop], {}, when, date(2026, 12, 20)) == set()
        assert store.snoozed("t") == {"<a@x>": date(2026, 12, 16)}  # not snoozed again
        assert store.record_marks("t", [], {}, when, date(2026, 12, 20)) == {"<a@x>", "<b@x>"}
        assert "<b@x>" not in store.stoplist("t")  # the keyword went: so did its stop
        store.record_marks("t", [moved], {}, when, date(2026, 12, 20))
        assert store.snoozed("t") == {"<a@x>": date(2026, 12, 20)}
        # A draft of ours names its thread: the keyword on it stops the thread for good (the draft goes).
        draft = Mark("Drafts", 1, NO_FOLLOW_UP, "<followup-1@x>", "<a@x>")
        store.record_marks("t", [draft], {}, when, date(2026, 12, 20))
        store.record_marks("t", [], {}, when, date(2026, 12, 20))
        assert "you set $NoFollowUp on its follow-up draft" in store.stoplist("t")["<a@x>"]
        # `stop` keeps the case of a thread's key; a snooze by command replaces one by keyword.
        store.add_to_stoplist("t", "<CAF8xQ@mail.gmail.com>", "you said stop", None)
        assert "<CAF8xQ@mail.gmail.com>" in store.stoplist("t")
        store.snooze("t", "<first@x>", date(2026, 12, 10), ["<first@x>", "<a@x>"])
        assert store.snoozed("t") == {"<first@x>": date(2026, 12, 10)}


def test_keywords_match_in_any_case_and_holds_find_a_thread_by_any_message() -> None:
    assert canonical("$nofollowup") == NO_FOLLOW_UP and canonical("$FOLLOWUPSNOOZE") == SNOOZE
    assert canonical("$FollowUp") is None and has_keyword({"\\Seen", "$followup"}, "$FollowUp")
    (thread,) = build_threads([mail("<Key@x>", ME, ("kim@example.com",), at(WEDNESDAY)),
                               mail("<answer@y>", "kim@example.com", (ME,), at(THURSDAY), in_reply_to=("<Key@x>",),
                                    folder="INBOX"),
                               mail("<again@x>", ME, ("kim@example.com",), at(TUESDAY), in_reply_to=("<answer@y>",))], [ME])
    assert held_by(thread, {"<answer@y>": "keyword"}) == ["keyword"]
    assert held_by(thread, {"<key@x>": "stopped by an older version"}) == ["stopped by an older version"]
    assert held_by(thread, {"<other@x>": "no"}) == []


@pytest.mark.parametrize("flags", [("$NoFollowUp",), ("$nofollowup",)])
def test_r4_reads_no_follow_up_on_your_message_in_any_case(flags: tuple[str, ...]) -> None:
    (thread,) = build_threads([mail("<a@x>", ME, ("kim@example.com",), at(WEDNESDAY), flags=frozenset(flags))], [ME])
    assert thread.ignored == "marked $NoFollowUp in your mail client"
