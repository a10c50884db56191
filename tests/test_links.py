"""The link index kept as mail arrives is the one a rebuild from scratch gives, whatever happened in between.

A pass reads only the groups of the link index that new mail joined
(``state/links.py``). Kept incrementally, the groups must be exactly those
a rebuild of the whole index gives, for any sequence of arrivals (a first
sync in chunks or new mail), moves between folders, expunges, UIDVALIDITY
changes and bounces learned from their bodies; and the threads and
decisions read through them must be those of building everything. If a
group ever missed a message, an answer could be missed and a follow-up
written to someone who answered.
"""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path

from hypothesis import HealthCheck, given, settings, strategies as st
from test_policy import CAL
from test_window import FOLDERS, LOOKBACK, ME, NOW, SINCE, mailbox

from mail_followup.config import Settings
from mail_followup.core.classify import Verdict
from mail_followup.core.headers import Addr, Mail
from mail_followup.core.policy import decide
from mail_followup.core.threads import TrackingRules, build_threads
from mail_followup.service.window import Changes, active_threads, conversation_threads
from mail_followup.state import links
from mail_followup.state.index import FolderCursor
from mail_followup.state.store import Store

OWN = [ME.address]
OPERATIONS = ("arrive", "first sync", "move", "expunge", "uidvalidity", "verdict", "flags")


class Server:
    """What the server holds, folder by folder, and the state kept in step with it one operation at a time."""

    def __init__(self, store: Store, seed: int) -> None:
        self.store = store
        self.rng = random.Random(seed)
        self.pending, _, self.verdicts_to_learn = mailbox(seed)
        self.live: dict[str, list[Mail]] = {f: [] for f in FOLDERS}
        self.uidvalidity = dict.fromkeys(FOLDERS, 1)
        self.next_uid = dict.fromkeys(FOLDERS, 1)
        self.verdicts: dict[str, Verdict] = {}

    def cursor(self, folder: str) -> FolderCursor:
        return FolderCursor(self.uidvalidity[folder], self.next_uid[folder], len(self.live[folder]), None)

    def _numbered(self, folder: str, mails: list[Mail]) -> list[Mail]:
        numbered = []
        for mail in mails:
            numbered.append(replace(mail, folder=folder, uid=self.next_uid[folder], gone=False))
            self.next_uid[folder] += 1
        self.live[folder] += numbered
        return numbered

    def do(self, operation: str, folder: str) -> None:
        rng, store = self.rng, self.store
        if operation in ("arrive", "first sync"):
            waiting = self.pending[folder]
            count = rng.randint(1, 6)
            new, self.pending[folder] = self._numbered(folder, waiting[:count]), waiting[count:]
            if operation == "first sync" and store.cursor("a", folder) is None:  # in chunks, ahead of the cursor
                for start in range(0, len(new), 2):
                    store.add_mails("a", folder, new[start:start + 2], False)
                new = []
            store.apply_sync("a", folder, self.cursor(folder), new, (), False)
        elif operation in ("move", "expunge") and self.live[folder]:
            mail = rng.choice(self.live[folder])
            self.live[folder].remove(mail)
            store.apply_sync("a", folder, self.cursor(folder), [], {mail.uid}, False)
            if operation == "move":
                target = rng.choice([f for f in FOLDERS if f != folder])
                moved = self._numbered(target, [mail])
                store.apply_sync("a", target, self.cursor(target), moved, (), False)
        elif operation == "uidvalidity":
            self.uidvalidity[folder] += 1
            kept, self.live[folder] = self.live[folder], []
            store.apply_sync("a", folder, self.cursor(folder), [], (), True)
            store.apply_sync("a", folder, self.cursor(folder), self._numbered(folder, kept), (), False)
        elif operation == "verdict" and self.verdicts_to_learn:
            message_id = rng.choice(sorted(self.verdicts_to_learn))
            learned = {message_id: self.verdicts_to_learn.pop(message_id)}
            self.verdicts |= learned
            store.save_verdicts("a", learned)
        elif operation == "flags" and self.live[folder]:
            mail = rng.choice(self.live[folder])
            store.apply_sync("a", folder, self.cursor(folder), [], (), False, {mail.uid: frozenset({"\\Seen"})})


def partition(store: Store) -> set[frozenset[int]]:
    groups: dict[int, set[int]] = {}
    for node, grp in store.db.execute("SELECT node, grp FROM links"):
        groups.setdefault(grp, set()).add(node)
    return {frozenset(nodes) for nodes in groups.values()}


def kept(tmp: Path, seed: int, operations: list[tuple[str, str]], last: tuple[str, ...]) -> Server:
    """The state after ``operations``, and then the rest of the mailbox arriving in the folders' order ``last``."""
    store = Store(tmp)
    store.inbound_scope["a"] = (frozenset(OWN), NOW - timedelta(days=400))  # as a pass says it (inbound.prepare)
    store.ensure_links("a", OWN)
    server = Server(store, seed)
    for operation, folder in operations:
        server.do(operation, folder)
    for folder in last:
        while server.pending[folder]:
            server.do("arrive", folder)
    return server


def decisions(threads: list, now: datetime) -> dict[str, tuple[str, str]]:
    found = {}
    for thread in threads:
        decision = decide(thread, Settings(), CAL, now, drafted=(), own=OWN)
        found[thread.key] = (decision.state, " ".join(decision.reasons))
    return found


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 2**32),
       operations=st.lists(st.tuples(st.sampled_from(OPERATIONS), st.sampled_from(FOLDERS)), max_size=40),
       last=st.permutations(FOLDERS))
def test_the_index_kept_as_mail_comes_is_the_one_a_rebuild_gives(tmp_path_factory, seed: int,
                                                                 operations: list[tuple[str, str]],
                                                                 last: tuple[str, ...]) -> None:
    server = kept(tmp_path_factory.mktemp("state"), seed, operations, last)
    store, verdicts = server.store, server.verdicts
    with store:
        assert store.db.execute("SELECT count(*) FROM links_kept").fetchone()[0] == 1  # never rebuilt meanwhile
        incremental = partition(store)
        threads, _, _ = active_threads(store, "a", OWN, SINCE, LOOKBACK, verdicts, TrackingRules())
        links.rebuild(store.db, "a", set(OWN))
        assert partition(store) == incremental
        everything = build_threads(store.mails("a", SINCE), OWN, verdicts, TrackingRules(), active_since=LOOKBACK)
        assert threads == everything
        assert decisions(threads, NOW) == decisions(everything, NOW)
        for thread in everything[:3]:  # explain, stop and snooze read one conversation the same way
            assert thread in conversation_threads(store, "a", OWN, SINCE, thread.key, verdicts, TrackingRules())


def test_an_answer_without_threading_headers_joins_whichever_came_first(tmp_path: Path) -> None:
    """The answer indexed before the message it answers (its folder read first) is linked all the same."""
    kim = Addr("Kim", "kim@acme.example")
    sent = Mail("Sent", 1, "<offer@x>", sender=ME, to=(kim,), subject="Offer", date=NOW - timedelta(days=9))
    answer = Mail("INBOX", 1, "<yes@acme>", sender=Addr("", "boss@acme.example"), to=(ME,), subject="AW: Offer",
                  date=NOW - timedelta(days=8))
    with Store(tmp_path) as store:
        store.inbound_scope["a"] = (frozenset(OWN), NOW - timedelta(days=400))
        store.ensure_links("a", OWN)
        store.apply_sync("a", "INBOX", FolderCursor(1, 2, 1), [answer], (), False)
        store.apply_sync("a", "Sent", FolderCursor(1, 2, 1), [sent], (), False)
        assert store.groups_of("a", ["<offer@x>"]) == store.groups_of("a", ["<yes@acme>"])
        # and, free mail being anyone's, a stranger at the same provider is not
        stranger = Mail("INBOX", 2, "<no@gmail>", sender=Addr("", "who@gmail.com"), to=(ME,), subject="Offer",
                        date=NOW - timedelta(days=7))
        to_gmail = replace(sent, uid=2, message_id="<offer2@x>", to=(Addr("", "kim@gmail.com"),))
        store.apply_sync("a", "Sent", FolderCursor(1, 3, 2), [to_gmail], (), False)
        store.apply_sync("a", "INBOX", FolderCursor(1, 3, 2), [stranger], (), False)
        assert store.groups_of("a", ["<no@gmail>"]).isdisjoint(store.groups_of("a", ["<offer2@x>"]))


def test_a_pass_after_new_mail_reads_only_the_groups_it_joined(tmp_path: Path) -> None:
    """The point of it all: after one answer, one group is read, however large the rest of the index."""
    people = [Addr("", f"p{i}@firm{i}.example") for i in range(300)]
    sent = [Mail("Sent", i + 1, f"<s{i}@x>", sender=ME, to=(p,), subject=f"Question {i}",
                 date=NOW - timedelta(days=i % 50, hours=1)) for i, p in enumerate(people)]
    with Store(tmp_path) as store:
        store.inbound_scope["a"] = (frozenset(OWN), NOW - timedelta(days=400))
        store.apply_sync("a", "Sent", FolderCursor(1, 301, 300), sent, (), False)
        generation = store.generation("a")
        store.save_reports("a", [], True, None, NOW, "settings", generation)
        answer = Mail("INBOX", 1, "<a@firm7>", sender=people[7], to=(ME,), subject="Re: Question 7", date=NOW,
                      in_reply_to=("<s7@x>",))
        store.apply_sync("a", "INBOX", FolderCursor(1, 2, 1), [answer], (), False)
        changes = Changes(generation, SINCE, (), [m.message_id for m in sent])
        threads, read, replaced = active_threads(store, "a", OWN, SINCE, LOOKBACK, {}, TrackingRules(), changes)
        assert {m.message_id for m in read} == {"<s7@x>", "<a@firm7>"} and replaced == {"<s7@x>"}
        assert [t.answer.message_id for t in threads if t.answer] == ["<a@firm7>"]
        # the pass records what it decided from; the notes of the writes before it go
        store.save_reports("a", [], True, None, NOW, "settings", store.generation("a"), replaced, generation)
        assert store.db.execute("SELECT count(*) FROM dirty").fetchone()[0] == 0


def test_an_upgraded_state_builds_its_links_once_and_a_new_address_builds_them_again(tmp_path: Path) -> None:
    kim = Addr("Kim", "kim@acme.example")
    sent = Mail("Sent", 1, "<s@x>", sender=Addr("", "me@work.example"), to=(kim,), subject="Plan",
                date=NOW - timedelta(days=3))
    answer = Mail("INBOX", 1, "<r@acme>", sender=kim, to=(ME,), subject="Re: Plan", date=NOW - timedelta(days=2))
    with Store(tmp_path) as store:
        store.apply_sync("a", "Sent", FolderCursor(1, 2, 1), [sent], (), False)  # no addresses known: no links
        store.apply_sync("a", "INBOX", FolderCursor(1, 2, 1), [answer], (), False)
        store.ensure_links("a", OWN)
        assert store.groups_of("a", ["<s@x>"]) != store.groups_of("a", ["<r@acme>"])  # not the user's message
        store.ensure_links("a", [*OWN, "me@work.example"])
        assert store.groups_of("a", ["<s@x>"]) == store.groups_of("a", ["<r@acme>"])
        assert store.db.execute("SELECT own FROM links_kept").fetchone()[0] == "me@example.org me@work.example"
