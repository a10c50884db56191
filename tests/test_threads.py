from datetime import datetime, timedelta, timezone

from mail_followup.core.threads import base_subject, build_threads
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


def test_list_tags_and_more_prefixes_are_stripped() -> None:
    assert base_subject("Re: [team] Vs: WG: Hello") == "hello"


def test_a_server_thread_id_joins_messages_without_headers() -> None:
    thread = one([mail("<a@x>", ME, (KIM,), day(0), thread_hint="gm:1"),
                  mail("<b@y>", "other@z.example", (ME,), day(1), "totally different", folder="INBOX",
                       thread_hint="gm:1")])
    assert thread.answer is not None


def test_same_domain_answers_count_except_for_free_mail_and_when_switched_off() -> None:
    from mail_followup.core.threads import TrackingRules

    def answered(to: str, sender: str, rules: TrackingRules = TrackingRules()) -> bool:
        (t,) = build_threads([mail("<a@x>", ME, (to,), day(0), "Offer"),
                              mail("<b@y>", sender, (ME,), day(1), "Re: Offer", folder="INBOX")], [ME], rules=rules)
        return t.answer is not None

    assert answered("kim@acme.example", "boss@acme.example")
    assert not answered("kim@gmail.com", "other@gmail.com")
    assert not answered("kim@acme.example", "boss@acme.example", TrackingRules(same_domain_answers=False))


def test_a_bounce_joins_the_message_sent_to_the_failed_address() -> None:
    thread = one([mail("<a@x>", ME, ("gone@example.com",), day(0)),
                  mail("<b@mx>", "someone@mx.example", (ME,), day(0) + timedelta(minutes=1), "Undeliverable",
                       folder="INBOX", failed_recipients=("gone@example.com",))])
    assert thread.bounce is not None and thread.answer is None


def test_contact_rules_and_keywords() -> None:
    from mail_followup.core.threads import TrackingRules

    rules = TrackingRules(contacts={"@acme.example": "always", "kim@acme.example": "never"})
    (never,) = build_threads([mail("<a@x>", ME, ("kim@acme.example",), day(0))], [ME], rules=rules)
    (always,) = build_threads([mail("<a@x>", ME, ("ola@sales.acme.example",), day(0), bulk=True)], [ME], rules=rules)
    assert never.ignored and "never" in never.ignored
    assert always.ignored is None and always.forced and "always" in always.forced
    (forced,) = build_threads([mail("<a@x>", ME, ("team@lists.example",), day(0), bulk=True,
                                    flags=frozenset({"$FollowUp"}))], [ME])
    assert forced.ignored is None and forced.forced == "marked $FollowUp in your mail client"


def test_only_conversations_active_since_a_moment_are_built() -> None:
    """An old original whose answer came recently stays whole: it is the conversation that is active."""
    mails = [mail("<old@x>", ME, (KIM,), day(0)),
             mail("<older-answer@y>", KIM, (ME,), day(1), "Re: Coffee next week?", ("<old@x>",), "INBOX"),
             mail("<a@x>", ME, (KIM,), day(2), "Lunch"),
             mail("<b@y>", KIM, (ME,), day(40), "Re: Lunch", ("<a@x>",), "INBOX"),
             mail("<c@x>", ME, (KIM,), day(41), "Dinner")]
    everything = {t.key: t for t in build_threads(mails, [ME])}
    active = {t.key: t for t in build_threads(mails, [ME], active_since=day(40))}
    assert set(everything) == {"<old@x>", "<a@x>", "<c@x>"} and set(active) == {"<a@x>", "<c@x>"}
    assert active["<a@x>"] == everything["<a@x>"] and active["<a@x>"].answer.message_id == "<b@y>"
    assert build_threads(mails, [ME], active_since=day(41))[0].key == "<c@x>"
    assert build_threads(mails, [ME], active_since=day(41) + timedelta(seconds=1)) == []
