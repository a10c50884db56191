"""A body is read only when a decision depends on it, and only once."""

from datetime import datetime, timedelta, timezone

from mail_followup.classify import Verdict
from mail_followup.evidence import bodies_needed
from mail_followup.threads import build_threads
from mails import ME, mail

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=timezone.utc)
KIM = "kim@example.com"
SINCE = T0 - timedelta(days=60)


def needed(mails, verdicts=None):
    verdicts = verdicts or {}
    threads = build_threads(mails, [ME], verdicts)
    return {n.mail.message_id: n for n in bodies_needed(threads, mails, verdicts, [ME], SINCE)}


def test_a_waiting_thread_reads_its_original_and_its_auto_replies() -> None:
    got = needed([mail("<a@x>", ME, (KIM,), T0),
                  mail("<o@y>", KIM, (ME,), T0, "Automatic reply: hi", ("<a@x>",), "INBOX", auto_reply=True)])
    assert set(got) == {"<a@x>", "<o@y>"} and got["<a@x>"].own and not got["<o@y>"].own


def test_an_answered_thread_reads_the_answer_only() -> None:
    got = needed([mail("<a@x>", ME, (KIM,), T0), mail("<r@y>", KIM, (ME,), T0 + timedelta(1), "Re: hi", ("<a@x>",), "INBOX")])
    assert set(got) == {"<r@y>"}


def test_what_is_known_or_old_or_ignored_is_not_read_again() -> None:
    mails = [mail("<a@x>", ME, (KIM,), T0), mail("<r@y>", KIM, (ME,), T0 + timedelta(1), "Re: hi", ("<a@x>",), "INBOX"),
             mail("<old@x>", ME, (KIM,), SINCE - timedelta(days=5), "old"),
             mail("<list@x>", ME, ("team@lists.example",), T0, "minutes", bulk=True)]
    assert set(needed(mails, {"<r@y>": Verdict("human", "x")})) == set()


def test_a_contacts_earlier_answers_are_checked_for_a_stop_request() -> None:
    mails = [mail("<a@x>", ME, (KIM,), T0, "new"),
             mail("<old@x>", ME, (KIM,), T0 - timedelta(days=200), "old"),
             mail("<no@y>", KIM, (ME,), T0 - timedelta(days=199), "Re: old", ("<old@x>",), "INBOX")]
    got = needed(mails, {"<a@x>": Verdict("open", "x")})
    assert set(got) == {"<no@y>"} and "stop" in got["<no@y>"].why


def test_a_bounce_without_a_verdict_is_read() -> None:
    got = needed([mail("<a@x>", ME, (KIM,), T0),
                   mail("<b@mx>", "mailer-daemon@mx.example.com", (ME,), T0, "Undelivered", folder="INBOX")],
                  {"<a@x>": Verdict("open", "x")})
    assert set(got) == {"<b@mx>"}
