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

from mail_followup.core.classify import Verdict
from mail_followup.core.headers import Addr, Mail
from mail_followup.state.index import FolderCursor
from mail_followup.state.store import Store
from mail_followup.core.threads import TrackingRules, build_threads, rebuild
from mail_followup.service.window import Changes, active_threads, conversation_threads

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
        threads, mails, _ = active_threads(store, "a", [ME.address], SINCE, LOOKBACK, verdicts, rules)
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
        threads, read, _ = active_threads(store, "a", [ME.address], SINCE, LOOKBACK, {}, TrackingRules())
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


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 2**32), same_domain=st.booleans())
def test_the_conversation_of_one_message_is_the_one_found_in_everything(tmp_path_factory, seed: int,
                                                                        same_domain: bool) -> None:
    """`explain`, `stop` and `snooze` read only the conversation holding the Message-ID they are given."""
    store, verdicts = stored(tmp_path_factory.mktemp("state"), seed)
    rules = TrackingRules(same_domain_answers=same_domain)
    with store:
        mails = store.mails("a", SINCE)
        everything = build_threads(mails, [ME.address], verdicts, rules)
        # A thread's key, any message of a thread, a message of no thread (a newsletter), or nothing known.
        in_threads = [t.key for t in everything] + [m.message_id for t in everything for m in t.messages]
        wanted = random.Random(seed).choice(in_threads + [m.message_id for m in mails] + ["<nowhere@x>"])
        threads = conversation_threads(store, "a", [ME.address], SINCE, wanted, verdicts, rules)
    holding = [t for t in everything if t.key == wanted or any(m.message_id == wanted for m in t.messages)]
    assert bool(holding) == (wanted in in_threads)
    assert [t for t in threads if t.key == wanted or any(m.message_id == wanted for m in t.messages)] == holding


def changed_later(store: Store, verdicts: dict[str, Verdict], rng: random.Random, now: datetime) -> None:
    """What happens to a mailbox between two passes: answers (threaded, headerless, a colleague's), new sent
    mail, bounces, old mail filed late, messages deleted, flags changed."""
    mails = store.mails("a", SINCE - timedelta(days=30))
    live = [m for m in mails if not m.gone]
    mine = [m for m in mails if m.sender == ME] or mails
    uids = {f: max([m.uid for m in live if m.folder == f], default=0) for f in FOLDERS}
    new: dict[str, list[Mail]] = {f: [] for f in FOLDERS}
    for i in range(rng.randint(0, 4)):
        to = rng.choice(mine) if mine else None
        person = to.to[0] if to is not None and to.to else Addr("P", "p@acme.example")
        when = now - timedelta(days=rng.choice([0, 0.2, 2, 30, 100, 400]))
        roll = rng.random()
        more: dict[str, object] = {}
        if roll < 0.4 and to is not None:  # an answer, threaded or not, from them or a colleague
            folder, sender, subject = "INBOX", person, "Re: " + to.subject
            if rng.random() < 0.7:
                more = dict(in_reply_to=(to.message_id,), references=(to.message_id,))
            if rng.random() < 0.2:
                sender = Addr("C", f"colleague@{person.address.split('@')[1]}")
        elif roll < 0.7:  # the user writes, perhaps again in an old thread
            folder, sender, subject = "Sent", ME, ("Re: " + to.subject) if to is not None else "New"
            person = rng.choice([person, Addr("N", f"new{i}@gamma.example")])
            if to is not None and rng.random() < 0.5:
                more = dict(in_reply_to=(to.message_id,), references=(to.message_id,))
        elif roll < 0.85:  # a bounce, naming its message or only the address
            folder, sender, subject = "INBOX", Addr("", "mailer-daemon@mx.example"), "Undelivered Mail"
            more = dict(content_type="multipart/report; delivery-status", failed_recipients=(person.address,))
        else:  # unrelated mail under a known subject
            folder, sender, subject = "Archive", person, to.subject if to is not None else "Hello"
        uids[folder] += 1
        mail = Mail(folder=folder, uid=uids[folder], message_id=f"<later{i}-{rng.random()}@x>", sender=sender,
                    to=(person if sender == ME else ME,), subject=subject, date=when, **more)  # type: ignore[arg-type]
        new[folder].append(mail)
        if folder == "INBOX" and sender.address.startswith("mailer-daemon") and to is not None and rng.random() < 0.5:
            verdicts[mail.message_id] = Verdict("bounce", "a bounce", refers_to=(to.message_id,))
    for folder in FOLDERS:
        in_folder = [m for m in live if m.folder == folder]
        vanished = {m.uid for m in in_folder if rng.random() < 0.05}
        flags = {m.uid: frozenset({"$NoFollowUp"}) for m in in_folder if m.uid not in vanished and rng.random() < 0.05}
        cursor = FolderCursor(1, uids[folder] + 1, len(in_folder) + len(new[folder]), None)
        store.apply_sync("a", folder, cursor, new[folder], vanished, False, flags)
    store.save_verdicts("a", verdicts)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 2**32), same_domain=st.booleans(), days=st.sampled_from([0, 0.5, 3, 20, 70]))
def test_deciding_only_what_changed_gives_what_deciding_everything_gives(tmp_path_factory, seed: int,
                                                                        same_domain: bool, days: float) -> None:
    """After new mail a pass builds only the conversations it touched, those marked (a moment came, a draft to
    follow) and those that lost a message off the window's edge; every other report stands. Standing and
    new together must be what building everything again gives: a stale report of an answered thread is the
    worst failure there is."""
    store, verdicts = stored(tmp_path_factory.mktemp("state"), seed)
    rng = random.Random(seed)
    rules = TrackingRules(same_domain_answers=same_domain)
    own = [ME.address]
    later = NOW + timedelta(days=days)
    since, lookback = later - timedelta(days=365), later - timedelta(days=60)
    with store:
        generation = store.generation("a")
        standing = [t for t in build_threads(store.mails("a", SINCE), own, verdicts, rules, active_since=LOOKBACK)
                    if t.last_user.date >= LOOKBACK]
        # The pass that decided them records the generation: from then on each write notes what it changed.
        store.save_reports("a", [], True, None, NOW, "settings", generation)
        changed_later(store, verdicts, rng, later)
        marks = rng.sample([t.key for t in standing], min(len(standing), rng.randint(0, 2)))
        changes = Changes(generation, SINCE, marks, [t.key for t in standing])
        partial, _, replaced = active_threads(store, "a", own, since, lookback, verdicts, rules, changes)
        everything = build_threads(store.mails("a", since), own, verdicts, rules, active_since=lookback)
    merged = {t.key: t for t in standing if t.key not in replaced and t.last_user.date >= lookback}
    new = {t.key: t for t in partial if t.last_user.date >= lookback}
    assert not merged.keys() & new.keys()
    assert {**merged, **new} == {t.key: t for t in everything if t.last_user.date >= lookback}
    assert set(marks) <= replaced


def test_a_conversation_whose_first_message_left_the_window_is_decided_again(tmp_path: Path) -> None:
    """The index holds history_days of mail; as days pass, a long conversation's first messages leave it, and
    the thread built from the rest has another key. Nothing was written, yet its report must not stand."""
    kim = Addr("Kim", "kim@acme.example")
    mails = [Mail("Sent", 1, "<root@x>", sender=ME, to=(kim,), subject="Plan", date=NOW - timedelta(days=364)),
             Mail("INBOX", 1, "<answer@x>", sender=kim, to=(ME,), subject="Re: Plan", date=NOW - timedelta(days=363),
                  in_reply_to=("<root@x>",), references=("<root@x>",)),
             Mail("Sent", 2, "<again@x>", sender=ME, to=(kim,), subject="Re: Plan", date=NOW - timedelta(days=10),
                  in_reply_to=("<answer@x>",), references=("<root@x>", "<answer@x>"))]
    own, later = [ME.address], NOW + timedelta(days=5)
    with Store(tmp_path) as store:
        store.apply_sync("a", "Sent", FolderCursor(1, 3, 2, None), [mails[0], mails[2]], (), False)
        store.apply_sync("a", "INBOX", FolderCursor(1, 2, 1, None), mails[1:2], (), False)
        (before,) = build_threads(store.mails("a", SINCE), own, {}, TrackingRules(), active_since=LOOKBACK)
        changes = Changes(store.generation("a"), SINCE, (), [before.key])
        after, _, replaced = active_threads(store, "a", own, later - timedelta(days=365), later - timedelta(days=60),
                                            {}, TrackingRules(), changes)
    assert before.key == "<root@x>" and replaced == {"<root@x>"}
    assert [t.key for t in after] == ["<again@x>"]
