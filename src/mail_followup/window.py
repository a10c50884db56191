"""The conversations a pass decides, read from the state without holding the whole mailbox.

A pass decides the conversations with a message inside lookback_days (60
days by default); the index holds history_days (365) of mail, and on a
large mailbox most of it belongs to older conversations. Holding every
message to find the active ones was 600 bytes a message, 600 MB at a
million. Instead the index is read twice: once for a few facts per message,
grouped coarsely (``threads.Grouping``), then whole for the messages of the
groups that are active. ``build_threads`` over those gives exactly what it
gives over everything (tests/test_window.py checks it on random mailboxes).
"""

from __future__ import annotations

import logging
from array import array
from collections.abc import Collection, Mapping
from datetime import datetime, timedelta

from mail_followup.classify import Verdict
from mail_followup.headers import Mail
from mail_followup.store import Store
from mail_followup.threads import BOUNCE_WINDOW, Grouping, Thread, TrackingRules, link_by_subject, base_subject, \
    build_threads

log = logging.getLogger(__name__)

MARGIN = timedelta(days=1)  # a message this close to the window's edge counts as inside it: more is never wrong


def active_mails(store: Store, account: str, own: Collection[str], since: datetime, active_since: datetime,
                 verdicts: Mapping[str, Verdict], rules: TrackingRules) -> list[Mail]:
    """The indexed messages (dated ``since`` or later) of every conversation with a message dated
    ``active_since`` or later, each copy of them, and perhaps a few more."""
    own_set = {a.lower() for a in own}
    grouping = Grouping()
    rows, keys = array("q"), array("q")
    answers = array("q")  # rows of messages from others without threading headers
    answer_subjects: set[int] = set()
    sent_rows, sent_subjects = array("q"), array("q")  # the user's messages, and their subjects' hashes
    maybe_bounces: list[int] = []
    for row, message_id, related, hint, sender, subject, recent, failed in store.link_facts(
            account, since, active_since - MARGIN):
        rows.append(row)
        keys.append(grouping.add(message_id, related, hint, bool(recent)))
        if sender in own_set:
            sent_rows.append(row)
            sent_subjects.append(hash(base_subject(subject)))
        elif sender is not None and not related.strip():
            answers.append(row)
            answer_subjects.add(hash(base_subject(subject)))
        verdict = verdicts.get(message_id)
        if failed or verdict is not None and (verdict.refers_to or verdict.failed):
            maybe_bounces.append(row)
    if answers:  # answers that lost their threading headers, and the user's messages under their subjects
        candidates = [row for row, subject in zip(sent_rows, sent_subjects) if subject in answer_subjects]
        link_by_subject(store.mails_at([*answers, *candidates]), own_set, grouping, rules, verdicts)
    del sent_rows, sent_subjects, answers, answer_subjects
    for bounce in store.mails_at(maybe_bounces):
        around = store.mails_between(account, bounce.date - BOUNCE_WINDOW, bounce.date)
        grouping.link_bounce(bounce, around, own_set, verdicts)
    roots = grouping.active_roots()
    wanted = [row for row, key in zip(rows, keys) if grouping.in_groups(key, roots)]
    del rows, keys, grouping, roots
    log.debug("%s: %d messages in the active conversations", account, len(wanted))
    return store.mails_at(wanted)


def active_threads(store: Store, account: str, own: Collection[str], since: datetime, active_since: datetime,
                   verdicts: Mapping[str, Verdict], rules: TrackingRules) -> tuple[list[Thread], list[Mail]]:
    """``build_threads(store.mails(account, since), own, verdicts, rules, active_since)``, and the messages
    it was built from: those of the active conversations (and perhaps a few more)."""
    mails = active_mails(store, account, own, since, active_since, verdicts, rules)
    return build_threads(mails, own, verdicts, rules, active_since=active_since), mails
