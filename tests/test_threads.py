from datetime import datetime, timedelta, timezone

from mail_followup.threads import base_subject, build_threads
from mails import ME, mail

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=timezone.utc)
KIM = "kim@example.com"


def day(n: int) -> datetime:
    return T0 + timedelta(days=n)


def one(mails: list) -> object:
    threads = build_threads(mails, [ME])
    assert len(threads) == 1, threads
    return threads[0]


def test_unanswered_mail_is_waiting() -> None:
    thread = one([mail("<a@x>", ME, (KIM,), day(0))])
    assert thread.key == "<a@x>" and thread.answer is None and thread.followups_sent == 0
    assert thread.ignored is None


def test_a_reply_by_references_ends_the_wait() -> None:
    thread = one([mail("<a@x>", ME, (KIM,), day(0)),
                  mail("<b@y>", KIM, (ME,), day(1), "Re: Coffee next week?", ("<a@x>",), "INBOX")])
    assert thread.answer is not None and thread.answer.message_id == "<b@y>"


def test_a_reply_without_threading_headers_from_a_recipient_ends_the_wait() -> None:
    thread = one([mail("<a@x>", ME, (KIM,), day(0)),
                  mail("<b@y>", KIM, (ME,), day(1), "SV: AW: coffee next week?", folder="INBOX")])
    assert thread.answer is not None


def test_same_subject_from_a_stranger_or_from_before_is_not_an_answer() -> None:
    threads = build_threads([
        mail("<a@x>", ME, (KIM,), day(5)),
        mail("<b@y>", "stranger@example.net", (ME,), day(6), "Re: Coffee next week?", folder="INBOX"),
        mail("<c@y>", KIM, (ME,), day(1), "Coffee next week?", folder="INBOX"),
    ], [ME])
    assert len(threads) == 1 and threads[0].answer is None


def test_own_later_messages_count_as_followups() -> None:
    thread = one([mail("<a@x>", ME, (KIM,), day(0)),
                  mail("<b@x>", ME, (KIM,), day(7), "Re: Coffee next week?", ("<a@x>",)),
                  mail("<c@x>", ME, (KIM,), day(14), "Re: Coffee next week?", ("<b@x>",))])
    assert thread.followups_sent == 2 and thread.last_user.message_id == "<c@x>"
    assert thread.original.message_id == "<a@x>"


def test_an_auto_reply_does_not_end_the_wait() -> None:
    thread = one([mail("<a@x>", ME, (KIM,), day(0)),
                  mail("<b@y>", KIM, (ME,), day(0), "Automatic reply: Coffee", ("<a@x>",), "INBOX", auto_reply=True)])
    assert thread.answer is None and thread.followups_sent == 0


def test_a_new_question_after_their_answer_starts_a_new_round() -> None:
    thread = one([mail("<a@x>", ME, (KIM,), day(0)),
                  mail("<b@y>", KIM, (ME,), day(1), "Re: Coffee", ("<a@x>",), "INBOX"),
                  mail("<c@x>", ME, (KIM,), day(2), "Re: Coffee", ("<b@y>",))])
    assert thread.key == "<a@x>" and thread.answer is None
    assert thread.original.message_id == "<c@x>" and thread.followups_sent == 0


def test_the_same_message_in_two_folders_counts_once() -> None:
    thread = one([mail("<a@x>", ME, (KIM,), day(0)), mail("<a@x>", ME, (KIM,), day(0), folder="INBOX", uid=5)])
    assert len(thread.messages) == 1 and thread.first.folder == "Sent"


def test_mail_that_expects_no_answer_is_ignored() -> None:
    threads = build_threads([
        mail("<a@x>", ME, (ME,), day(0), "note to self"),
        mail("<b@x>", ME, ("noreply@shop.example",), day(0), "order"),
        mail("<c@x>", ME, ("team@lists.example",), day(0), "minutes", bulk=True),
        mail("<d@x>", ME, (KIM,), day(0), "private", flags=frozenset({"$NoFollowUp"})),
    ], [ME])
    reasons = {t.key: t.ignored for t in threads}
    assert all(reasons.values()), reasons


def test_mail_only_from_others_is_not_a_thread() -> None:
    assert build_threads([mail("<a@y>", KIM, (ME,), day(0), folder="INBOX")], [ME]) == []


def test_base_subject_strips_stacked_prefixes_in_every_language() -> None:
    for subject in ("Re: AW: SV: VS: Antw: Hello", "RE[2]: Hello", "Fwd: WG:  hello", "hello"):
        assert base_subject(subject) == "hello"


def test_a_copy_still_on_the_server_wins_over_a_vanished_one() -> None:
    thread = one([mail("<a@x>", ME, (KIM,), day(0), folder="Old", gone=True), mail("<a@x>", ME, (KIM,), day(0), uid=9)])
    assert not thread.first.gone and thread.first.uid == 9


def test_an_answer_that_vanished_still_ends_the_wait() -> None:
    thread = one([mail("<a@x>", ME, (KIM,), day(0)),
                  mail("<b@y>", KIM, (ME,), day(1), "Re: Coffee", ("<a@x>",), "INBOX", gone=True)])
    assert thread.answer is not None
