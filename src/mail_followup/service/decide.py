"""A pass's second step: decide every thread that may have changed, reading only the bodies that matter.

The threads active within lookback_days (after new mail, only those it
touched) are built from the index; the bodies a decision depends on are
read and classified once (DESIGN.md invariant 4); then the pure core
decides each thread (``deciding.decide_thread``). A thread with nothing to
write and no draft to follow is reported at once and let go; the rest are
handed to the write step in ``Decisions``, with the ``Picture`` they were
decided from, since writing reads more bodies and decides again.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from mail_followup.config import Account
from mail_followup.core.classify import Verdict, classify_inbound, classify_sent
from mail_followup.core.evidence import Needed, account_needs, thread_needs
from mail_followup.core.headers import Mail
from mail_followup.core.policy import Decision, amended, in_lookback, lookback_start
from mail_followup.core.threads import Thread, TrackingRules, build_threads, rebuild
from mail_followup.imap.folders import FolderMap
from mail_followup.imap.mailbox import Mailbox
from mail_followup.service.deciding import OUTSTANDING, Calendars, decide_thread, tracking_rules
from mail_followup.service.elsewhere import Elsewhere
from mail_followup.service.results import AccountResult, report
from mail_followup.service.standing import changes_since
from mail_followup.service.sync import Synced
from mail_followup.service.window import Changes, active_threads
from mail_followup.state import inbound
from mail_followup.state.ledger import DraftRecord
from mail_followup.state.store import Store

log = logging.getLogger(__name__)

RECENT_ANSWERS = timedelta(days=2)  # margin before the last pass: mail arrives with dates a little in the past


@dataclass
class Picture:
    """What a pass knows while it decides and writes, and the one way it decides a thread from it.

    The verdicts, the drafts ledger and the stop list grow while the pass
    reads bodies and writes drafts: every decision is taken from them as
    they stand at that moment.
    """

    account: Account
    mailbox: Mailbox
    store: Store
    now: datetime
    folders: FolderMap
    elsewhere: Elsewhere
    since: datetime  # the oldest mail the index holds (history_days)
    rules: TrackingRules
    verdicts: dict[str, Verdict]
    ledger: dict[str, dict[int, DraftRecord]]
    stoplist: dict[str, str]
    snoozed: dict[str, date]
    calendars: Calendars
    decided: dict[str, tuple[Thread, Decision]] = field(default_factory=dict)  # those the write step takes on

    def decision_for(self, thread: Thread) -> Decision:
        return decide_thread(thread, self.account, self.calendars, self.now, self.ledger, self.stoplist,
                             self.snoozed, self.elsewhere, self.verdicts)

    def unless_quoted(self, keys: Iterable[str]) -> None:
        """Ask the server whether a message quotes the user's in these threads; decide those found again."""
        for key in keys:
            thread = self.decided[key][0]
            if self.elsewhere.search_quotes(self.mailbox, self.folders.replies, thread, self.verdicts):
                self.decided[key] = (thread, self.decision_for(thread))

    def read_for(self, batch: list[Decision], replies: Mapping[str, list[Mail]]) -> list[Decision]:
        """The batch's decisions once the bodies they depend on are read: stage 1 for all, stage 2 for
        those still due (see ``thread_needs``)."""
        account = self.account
        for stage in (1, 2):
            needed = [n for d in batch if d.state == "due"
                      for n in thread_needs(self.decided[d.thread_key][0], replies, self.verdicts, account.addresses,
                                            stage)]
            if not needed:
                continue
            self.verdicts |= read_bodies(account, self.mailbox, self.store, needed)
            self.stoplist = self.store.stoplist(account.name)
            again = []
            for decision in batch:
                if decision.state != "due":
                    again.append(decision)
                    continue
                thread = self.decided[decision.thread_key][0]
                rebuilt = {t.key: t for t in build_threads(thread.messages, account.addresses, self.verdicts,
                                                           self.rules)}
                if thread.key in rebuilt:
                    thread = rebuilt[thread.key]
                    decision = self.decision_for(thread)
                else:  # never write from a picture the bodies just contradicted
                    decision = amended(decision, "waiting", "what the bodies said changed the thread: next pass")
                self.decided[thread.key] = (thread, decision)
                again.append(decision)
            batch = again
        return batch


@dataclass
class Decisions:
    """What the decide step hands the write step."""

    picture: Picture
    settled: list[dict[str, Any]]  # the reports of threads with nothing to write and no draft to follow
    following: set[str]  # threads with a draft outstanding, whose fate the write step looks at
    changes: Changes | None  # what the standing reports were decided from; None: every thread was decided
    expired: set[str]  # standing reports whose threads left the lookback since
    replaced: set[str]  # standing reports that this pass's own take the place of
    stops: int  # stop requests known when deciding: one more while writing means decide all next time


@dataclass
class _Active:
    threads: list[Thread]
    changes: Changes | None
    expired: set[str]
    replaced: set[str]


def decide(account: Account, mailbox: Mailbox, store: Store, now: datetime, dry_run: bool, synced: Synced,
           result: AccountResult) -> Decisions:
    """Decide every thread that may have changed; report the settled ones, hand on the rest."""
    settings = account.settings
    result.generation = store.generation(account.name)  # every row decided from is stamped with it or before
    rules = tracking_rules(settings)
    verdicts = store.verdicts(account.name)
    ledger = store.all_drafts(account.name)
    following = {key for key, records in ledger.items() if any(r.state in OUTSTANDING for r in records.values())}
    active = _active_threads(account, mailbox, store, now, dry_run, rules, verdicts, following | synced.touched)
    if active.changes is not None:
        log.info("%s: %d of %d threads to decide again", account.name, len(active.threads),
                 len(active.changes.standing))
    stoplist = store.stoplist(account.name)
    picture = Picture(account, mailbox, store, now, synced.folders, synced.elsewhere,
                      now - timedelta(days=settings.history_days), rules, verdicts, ledger, stoplist,
                      calendars=Calendars(settings, account.addresses), snoozed=store.snoozed(account.name))
    settled = _decide_each(picture, active.threads, following)
    if not dry_run and following and synced.elsewhere.new_here(synced.seen):  # a draft waits, and new mail came
        decided = picture.decided
        picture.unless_quoted(k for k in following & decided.keys() if decided[k][1].state == "drafted")
    return Decisions(picture, settled, following, active.changes, active.expired, active.replaced, len(stoplist))


def _active_threads(account: Account, mailbox: Mailbox, store: Store, now: datetime, dry_run: bool,
                    rules: TrackingRules, verdicts: dict[str, Verdict], marked: set[str]) -> _Active:
    """The threads to decide, built from the index, with the bodies read that may change what they are."""
    settings = account.settings
    since = now - timedelta(days=settings.history_days)
    lookback = lookback_start(settings, now)
    # Only the conversations active within lookback_days, and only their messages, are read back; after new
    # mail, only those of them it touched (a dry run, which records nothing, decides them all).
    changes, expired = (None, set()) if dry_run else changes_since(account, store, now, marked)
    threads, mails, replaced = active_threads(store, account.name, account.addresses, since, lookback, verdicts,
                                              rules, changes)
    # Answers are read for a stop request once they arrive after a pass; on the first pass only the
    # threads about to be written read theirs (below), so a first pass stays cheap on a large mailbox.
    decided_at, _ = store.last_decision(account.name)
    answers_since = max(decided_at - RECENT_ANSWERS, lookback) if decided_at else None
    needed = account_needs(threads, mails, verdicts, answers_since, lookback) + _calendars_unread(
        account, store, verdicts, lookback)
    stops_at_start = len(store.stoplist(account.name))
    if needed:
        learned = read_bodies(account, mailbox, store, needed)
        verdicts |= learned
        if changes is not None and len(store.stoplist(account.name)) > stops_at_start:
            # Someone asked to stop: their threads in other conversations change too, so this once all are
            # decided again.
            changes, expired = None, set()
            threads, mails, replaced = active_threads(store, account.name, account.addresses, since, lookback,
                                                      verdicts, rules)
        elif any(v.refers_to or v.failed for v in learned.values()):  # a bounce may join conversations: read again
            threads, mails, replaced = active_threads(store, account.name, account.addresses, since, lookback,
                                                      verdicts, rules, changes)
        else:  # only the conversations holding what was read can have changed
            threads = rebuild(threads, learned.keys(), account.addresses, verdicts, rules, active_since=lookback)
    # From here the threads hold the messages they need, and no others (the rest go with this frame).
    return _Active(threads, changes, expired, replaced)


def _decide_each(picture: Picture, threads: list[Thread], following: set[str]) -> list[dict[str, Any]]:
    """Decide each thread; return the reports of the settled ones and keep the rest in ``picture.decided``.

    A settled thread (nothing to write, no draft of it to follow) is reported at once and let go with its
    messages: a first pass over a large mailbox never holds every thread, decision and report together.
    """
    account, settings = picture.account, picture.account.settings
    settled: list[dict[str, Any]] = []
    threads.reverse()
    while threads:
        if len(threads) % 1000 == 0:  # a first pass decides 100,000 threads: long enough to be asked to stop
            picture.mailbox.check()
        thread = threads.pop()
        if in_lookback(thread, settings, picture.now):
            decision = picture.decision_for(thread)
            if decision.state == "due" or thread.key in following:
                picture.decided[thread.key] = (thread, decision)
            else:
                settled.append(report(account, thread, decision, None))
    return settled


def _calendars_unread(account: Account, store: Store, verdicts: Mapping[str, Verdict], since: datetime
                      ) -> list[Needed]:
    """The account's recent messages that may carry a calendar invitation or answer, not read yet: an
    invitation from a calendar service names its organiser only inside (issue 18)."""
    by_folder: dict[str, list[int]] = {}
    for folder, uid, message_id in inbound.unread_calendar(store.db, account.name, since):
        if message_id not in verdicts:
            by_folder.setdefault(folder, []).append(uid)
    return [Needed(mail, False, "is there a calendar invitation or answer inside?")
            for folder, uids in by_folder.items() for mail in store.mails_by_uid(account.name, folder, uids)]


def read_bodies(account: Account, mailbox: Mailbox, store: Store, needed: list[Needed]) -> dict[str, Verdict]:
    """Fetch and classify the bodies a decision depends on; record the verdicts and any stop request."""
    by_folder: dict[str, list[Needed]] = {}
    for item in needed:
        by_folder.setdefault(item.mail.folder, []).append(item)
    found: dict[str, Verdict] = {}
    for folder, items in by_folder.items():
        bodies = mailbox.fetch_bodies(folder, sorted(i.mail.uid for i in items))
        for item in items:
            raw = bodies.get(item.mail.uid)
            if raw is None:
                continue  # expunged meanwhile: the next pass decides without it
            verdict = classify_sent(raw) if item.own else classify_inbound(item.mail, raw)
            found[item.mail.message_id] = verdict
            log.info("%s: %s UID %d: %s (%s)", account.name, folder, item.mail.uid, verdict.kind, verdict.reason)
            if verdict.kind == "stop" and item.mail.sender is not None:
                store.add_to_stoplist(account.name, item.mail.sender.address,
                                      f"asked to stop on {item.mail.date.date().isoformat()} ({verdict.reason})",
                                      item.mail.message_id)
    store.save_verdicts(account.name, found)
    if any(v.calendar_method for v in found.values()):  # news for the other accounts' standing reports too
        with store.transaction() as db:
            inbound.restamp(db, account.name, [m for m, v in found.items() if v.calendar_method])
    return found
