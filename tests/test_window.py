"""The conversations read from the state in two steps are exactly those ``build_threads`` finds in everything.

A pass no longer holds the whole mailbox: it groups a few facts per message
coarsely, then reads whole only the messages of the active groups
(``window.active_threads``). If that ever left out a message of an active
conversation, an answer could be missed and a follow-up written to someone
who answered; so random mailboxes full of the cases that join conversations
(references, lost threading headers under the same subject, a colleague's
answer, bounces with and without the message they return, server thread
ids, copies in two folders, copies gone from the server) are decided both
ways and must agree.
"""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path

from hypothesis import HealthCheck, given, settings, strategies as st

from mail_followup.classify import Verdict
from mail_followup.headers import Addr, Mail
from mail_followup.store import FolderCursor, Store
from mail_followup.threads import TrackingRules, build_threads, rebuild
from mail_followup.window import active_threads

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=timezone.utc)
SINCE, LOOKBACK = NOW - timedelta(days=365), NOW - timedelta(days=60)
ME = Addr("Me", "me@example.org")
FOLDERS = ("Sent", "INBOX", "Archive")


def mailbox(seed: int) -> tuple[dict[str, list[Mail]], dict[str, set[int]], dict[str, Verdict]]:
    """(messages by folder, UIDs that vanish from the server later, verdicts) of one random mailbox."""
    rng = random.Random(seed)
    people = [Addr(f"P{i}", f"p{i}@{rng.choice(['acme.example', 'beta.example', 'gmail.com'])}") for i in range(8)]
    subjects = ["Hello", "Offer", "Coffee?", "Your application", "Re: Hello", "Invoice 7"]
    folders: dict[str, list[Mail]] = {f: [] for f in FOLDERS}
    verdicts: dict[str, Verdict] = {}
    sent_ids: list[tuple[str, datetime, Addr]] = []
    count = 0

    def put(folder: str, sender: Addr, to: Addr, subject: str, when: datetime, **more: object) -> Mail:
        nonlocal count
        count += 1
        mail = Mail(folder=folder, uid=len(folders[folder]) + 1, message_id=str(more.pop("message_id", f"<m{count}@x>")),
                    sender=sender, to=(to,), subject=subject, date=when, **more)  # type: ignore[arg-type]
        folders[folder].append(mail)
        if rng.random() < 0.08:  # a copy in another folder, perhaps with other flags
            other = rng.choice([f for f in FOLDERS if f != folder])
            folders[other].append(replace(mail, folder=other, uid=len(folders[other]) + 1,
                                          flags=frozenset(rng.sample(["\\Seen", "$FollowUp"], rng.randint(0, 2)))))
        return mail

    for _ in range(rng.randint(1, 25)):
        start = NOW - timedelta(days=rng.uniform(0, 420))
        person = rng.choice(people)
        subject = rng.choice(subjects)
        hint = f"gm:{rng.randint(1, 4)}" if rng.random() < 0.15 else None
        first = put("Sent", ME, person, subject, start, thread_hint=hint)
        sent_ids.append((first.message_id, start, person))
        last, when = first, start
        for _ in range(rng.randint(0, 4)):
            when += timedelta(days=rng.expovariate(1 / 25))
            if when > NOW:
                break
            roll = rng.random()
            refs = (last.message_id,) if rng.random() < 0.8 else ()
            if roll < 0.45:  # their answer, perhaps without threading headers, perhaps from a colleague
                sender = person if rng.random() < 0.8 else Addr("C", f"colleague@{person.address.split('@')[1]}")
                last = put(rng.choice(["INBOX", "Archive"]), sender, ME, "Re: " + subject, when,
                           in_reply_to=refs, references=refs, thread_hint=hint if rng.random() < 0.5 else None)
            elif roll < 0.75:  # the user again
                last = put("Sent", ME, person, "Re: " + subject, when, in_reply_to=refs, references=refs)
                sent_ids.append((last.message_id, when, person))
            elif roll < 0.85:  # a bounce: naming the message in its report, or only the failed address
                bounce = put("INBOX", Addr("", "mailer-daemon@mx.example"), ME, "Undelivered Mail", when,
                             content_type="multipart/report; delivery-status",
                             failed_recipients=(person.address,) if rng.random() < 0.7 else ())
                if rng.random() < 0.5:
                    verdicts[bounce.message_id] = Verdict("bounce", "a bounce", refers_to=(last.message_id,))
                elif rng.random() < 0.5:
                    verdicts[bounce.message_id] = Verdict("bounce", "a bounce", failed=(person.address,))
            else:  # an out-of-office with references
                put("INBOX", person, ME, "Auto: " + subject, when, in_reply_to=refs, auto_reply=True)
    for _ in range(rng.randint(0, 6)):  # unrelated mail, some under the same subjects, some naming old messages
        refs = (rng.choice(sent_ids)[0],) if sent_ids and rng.random() < 0.3 else ()
        put("INBOX", rng.choice(people), ME, rng.choice(subjects), NOW - timedelta(days=rng.uniform(0, 420)),
            references=refs)
    gone = {f: {m.uid for m in mails if rng.random() < 0.1} for f, mails in folders.items()}
    return folders, gone, verdicts


def stored(tmp: Path, seed: int) -> tuple[Store, dict[str, Verdict]]:
    folders, gone, verdicts = mailbox(seed)
    store = Store(tmp)
    for folder, mails in folders.items():
        cursor = FolderCursor(1, len(mails) + 1, len(mails), None)
        store.apply_sync("a", folder, cursor, mails, (), False)
        if gone[folder]:
            store.apply_sync("a", folder, cursor, [], gone[folder], False)
    store.save_verdicts("a", verdicts)
    return store, verdicts


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 2**32), same_domain=st.booleans())
def test_reading_only_the_active_conversations_decides_the_same(tmp_path_factory, seed: int, same_domain: bool) -> None:
    store, verdicts = stored(tmp_path_factory.mktemp("state"), seed)
    rules = TrackingRules(same_domain_answers=same_domain)
    with store:
        everything = build_threads(store.mails("a", SINCE), [ME.address], verdicts, rules, active_since=LOOKBACK)
        threads, mails = active_threads(store, "a", [ME.address], SINCE, LOOKBACK, verdicts, rules)
        assert threads == everything
        assert len(mails) <= len(store.mails("a", SINCE))


def test_an_old_conversation_is_not_read_at_all(tmp_path: Path) -> None:
    """The point of it all: a conversation with nothing inside the window costs no Mail object."""
    old = NOW - timedelta(days=200)
    mails = [Mail("Sent", 1, "<old@x>", sender=ME, to=(Addr("", "kim@acme.example"),), subject="Old", date=old),
             Mail("Sent", 2, "<new@x>", sender=ME, to=(Addr("", "kim@acme.example"),), subject="New",
                  date=NOW - timedelta(days=3)),
             Mail("INBOX", 1, "<a@x>", sender=Addr("", "kim@acme.example"), to=(ME,), subject="Re: Old",
                  date=old + timedelta(days=1), in_reply_to=("<old@x>",))]
    with Store(tmp_path) as store:
        store.apply_sync("a", "Sent", FolderCursor(1, 3, 2, None), mails[:2], (), False)
        store.apply_sync("a", "INBOX", FolderCursor(1, 2, 1, None), mails[2:], (), False)
        threads, read = active_threads(store, "a", [ME.address], SINCE, LOOKBACK, {}, TrackingRules())
    assert [t.key for t in threads] == ["<new@x>"] and [m.message_id for m in read] == ["<new@x>"]


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 2**32))
def test_learning_verdicts_rebuilds_only_their_conversations_and_gets_the_same(tmp_path_factory, seed: int) -> None:
    """After bodies are read, a pass builds again only the conversations holding them (``rebuild``)."""
    store, verdicts = stored(tmp_path_factory.mktemp("state"), seed)
    rng = random.Random(seed)
    with store:
        mails = store.mails("a", SINCE)
    before = build_threads(mails, [ME.address], verdicts, TrackingRules(), active_since=LOOKBACK)
    learned = {}
    for mail in rng.sample(mails, min(len(mails), rng.randint(1, 6))):
        if mail.sender == ME:
            learned[mail.message_id] = Verdict(rng.choice(["open", "closing"]), "read", excerpt="Thanks")
        else:
            learned[mail.message_id] = Verdict(rng.choice(["human", "auto", "bounce", "stop"]), "read",
                                               return_date=(NOW + timedelta(days=3)).date(),
                                               promise_day=(NOW + timedelta(days=9)).date())
    after = {**verdicts, **learned}
    assert rebuild(before, learned.keys(), [ME.address], after, TrackingRules(), LOOKBACK) == \
        build_threads(mails, [ME.address], after, TrackingRules(), active_since=LOOKBACK)
