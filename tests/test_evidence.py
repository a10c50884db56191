"""A body is read only when a decision depends on it, and only once."""

from datetime import datetime, timedelta, timezone

from mail_followup.core.classify import Verdict
from mail_followup.core.evidence import account_needs, answers_by_sender, thread_needs
from mail_followup.core.threads import build_threads
from mails import ME, mail

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=timezone.utc)
KIM = "kim@example.com"
SINCE = T0 - timedelta(days=14)


def for_thread(mails, verdicts=None):
    verdicts = verdicts or {}
    (thread,) = [t for t in build_threads(mails, [ME], verdicts) if t.key == "<a@x>"]
    return {n.mail.message_id: n for n in thread_needs(thread, answers_by_sender(mails), verdicts, [ME])}


def for_account(mails, verdicts=None):
    verdicts = verdicts or {}
    threads = build_threads(mails, [ME], verdicts)
    return {n.mail.message_id for n in account_needs(threads, mails, verdicts, SINCE, SINCE)}


def test_a_thread_about_to_be_written_reads_its_original_and_its_auto_replies() -> None:
    got = for_thread([mail("<a@x>", ME, (KIM,), T0),
                      mail("<o@y>", KIM, (ME,), T0, "Automatic reply: hi", ("<a@x>",), "INBOX", auto_reply=True)])
    assert set(got) == {"<a@x>", "<o@y>"} and got["<a@x>"].own and not got["<o@y>"].own


def test_what_is_known_is_not_read_again_and_a_forced_thread_is_read_for_its_scenario() -> None:
    assert for_thread([mail("<a@x>", ME, (KIM,), T0)], {"<a@x>": Verdict("open", "x")}) == {}
    forced = for_thread([mail("<a@x>", ME, (KIM,), T0, flags=frozenset({"$FollowUp"}))])
    assert set(forced) == {"<a@x>"} and "scenario" in forced["<a@x>"].why


def test_their_answer_before_the_round_is_read_for_a_date() -> None:
    mails = [mail("<a@x>", ME, (KIM,), T0), mail("<r@y>", KIM, (ME,), T0 + timedelta(1), "Re: hi", ("<a@x>",), "INBOX"),
             mail("<b@x>", ME, (KIM,), T0 + timedelta(2), "Re: hi", ("<r@y>",))]
    got = for_thread(mails, {"<b@x>": Verdict("open", "x")})
    assert "date to come back by" in got["<r@y>"].why


def test_a_contacts_earlier_answers_are_checked_for_a_stop_request() -> None:
    mails = [mail("<a@x>", ME, (KIM,), T0, "new"),
             mail("<old@x>", ME, (KIM,), T0 - timedelta(days=200), "old"),
             mail("<no@y>", KIM, (ME,), T0 - timedelta(days=199), "Re: old", ("<old@x>",), "INBOX")]
    got = for_thread(mails, {"<a@x>": Verdict("open", "x")})
    assert set(got) == {"<no@y>"} and "stop" in got["<no@y>"].why


def test_the_account_reads_recent_answers_and_bounces_only() -> None:
    mails = [mail("<a@x>", ME, (KIM,), T0), mail("<r@y>", KIM, (ME,), T0 + timedelta(1), "Re: hi", ("<a@x>",), "INBOX"),
             mail("<old@x>", ME, (KIM,), T0 - timedelta(days=40), "old"),
             mail("<oldr@y>", KIM, (ME,), T0 - timedelta(days=39), "Re: old", ("<old@x>",), "INBOX"),
             mail("<b@mx>", "mailer-daemon@mx.example.com", (ME,), T0, "Undelivered", folder="INBOX"),
             mail("<w@x>", ME, ("ola@example.no",), T0, "waiting")]
    assert for_account(mails) == {"<r@y>", "<b@mx>"}
    assert for_account(mails, {"<r@y>": Verdict("human", "x"), "<b@mx>": Verdict("bounce", "x")}) == set()


def test_a_first_pass_reads_no_answers_but_still_reads_bounces() -> None:
    mails = [mail("<a@x>", ME, (KIM,), T0), mail("<r@y>", KIM, (ME,), T0 + timedelta(1), "Re: hi", ("<a@x>",), "INBOX"),
             mail("<b@mx>", "mailer-daemon@mx.example.com", (ME,), T0, "Undelivered", folder="INBOX")]
    threads = build_threads(mails, [ME], {})
    assert {n.mail.message_id for n in account_needs(threads, mails, {}, None, SINCE)} == {"<b@mx>"}


def test_the_answers_index_holds_only_the_senders_asked_for_newest_first() -> None:
    mails = [mail("<k1@y>", KIM, (ME,), T0, "Re: a", ("<a@x>",), "INBOX"),
             mail("<k2@y>", KIM, (ME,), T0 + timedelta(days=2), "Re: b", ("<b@x>",), "INBOX"),
             mail("<l1@y>", "lena@example.de", (ME,), T0, "Re: c", ("<c@x>",), "INBOX"),
             mail("<k3@y>", KIM, (ME,), T0 + timedelta(days=1), "no reply to anything", (), "INBOX")]
    assert {a: [m.message_id for m in ms] for a, ms in answers_by_sender(mails, {KIM}).items()} == {
        KIM: ["<k2@y>", "<k1@y>"]}
    assert set(answers_by_sender(mails)) == {KIM, "lena@example.de"}
    assert answers_by_sender(mails, set()) == {}
