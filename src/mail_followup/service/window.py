"""The conversations a pass decides, read from the state without holding the whole mailbox.

A pass decides the conversations with a message inside lookback_days (60
days by default); the index holds history_days (365) of mail, and on a
large mailbox most of it belongs to older conversations. Holding every
message to find the active ones was 600 bytes a message, 600 MB at a
million. Instead the index is read twice: once for a few facts per message,
grouped coarsely (``threads.Grouping``), then whole for the messages of the
groups that are active. ``build_threads`` over those gives exactly what it
gives over everything (tests/test_window.py checks it on random mailboxes).

After new mail the same grouping finds what changed: every write of the
index stamps its rows, and only the active groups holding a row stamped
after the standing reports were decided (or a message that left the
window since, or a thread whose moment came) are read and decided; the
other reports stand. ``explain`` marks the one conversation it is asked
about the same way.
"""

from __future__ import annotations

import logging
from array import array
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from mail_followup.core.classify import Verdict
from mail_followup.core.headers import Mail
from mail_followup.core.threads import (
    BOUNCE_WINDOW,
    Grouping,
    Thread,
    TrackingRules,
    base_subject,
    build_threads,
    link_by_subject,
)
from mail_followup.state.store import Store

log = logging.getLogger(__name__)

MARGIN = timedelta(days=1)  # a message this close to the window's edge counts as inside it: more is never wrong


@dataclass(frozen=True)
class Changes:
    """What the standing reports were decided from, so that a pass after new mail decides only what changed.

    A conversation none of whose messages was written, moved or dropped out
    of the index window since those reports, and that no mark names, is
    built by ``build_threads`` exactly as it was then: its report stands.
    """

    generation: int  # the index generation they were decided from: a row stamped later changed
    since: datetime  # the start of the index window then: a message dated before ``since`` now left it
    marks: Collection[str]  # Message-IDs whose conversations are decided again anyway (a moment came, a draft)
    standing: Collection[str]  # the keys of the standing reports


def active_mails(store: Store, account: str, own: Collection[str], since: datetime, active_since: datetime,
                 verdicts: Mapping[str, Verdict], rules: TrackingRules, changes: Changes | None = None,
                 holding: str | Collection[str] | None = None) -> tuple[list[Mail], set[str]]:
    """The indexed messages (dated ``since`` or later) of every conversation with a message dated
    ``active_since`` or later, each copy of them, and perhaps a few more.

    With ``changes``, only the conversations among those that changed or are marked, and the keys of the
    standing reports that lie in such a conversation (the new reports take their place). With
    ``holding``, the conversation wanted is instead the one holding that Message-ID (a message's, or
    one its messages refer to), whatever its dates; given several, the conversations holding any of them.
    """
    own_set = {a.lower() for a in own}
    grouping = Grouping()
    rows, keys = array("q"), array("q")
    answers = array("q")  # rows of messages from others without threading headers
    answer_subjects: set[int] = set()
    sent_rows, sent_subjects = array("q"), array("q")  # the user's messages, and their subjects' hashes
    maybe_bounces: list[int] = []
    # What the standing reports were built from includes the messages that have left the window since.
    facts_since = min(since, changes.since) if changes else since
    for row, message_id, related, hint, sender, subject, recent, failed, inside, changed in store.link_facts(
            account, facts_since, active_since - MARGIN, since, changes.generation if changes else None):
        key = grouping.add(message_id, related, hint, bool(recent) and holding is None)
        if changed or not inside:
            grouping.mark(message_id)
        if inside:  # one that left the window is not read, but still links what it linked
            rows.append(row)
            keys.append(key)
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
    held = [holding] if isinstance(holding, str) else list(holding or ())
    for mark in [*(changes.marks if changes else ()), *held]:
        grouping.mark(mark)
    marked = grouping.marked_roots()
    if holding is not None:
        roots = marked
    elif changes is not None:
        roots = grouping.active_roots() & marked
    else:
        roots = grouping.active_roots()
    # A standing report in a conversation that changed goes, whether or not a new one takes its place.
    replaced = {key for key in changes.standing if grouping.in_groups(hash(key), marked)} if changes else set()
    wanted = [row for row, key in zip(rows, keys) if grouping.in_groups(key, roots)]
    del rows, keys, grouping, roots, marked
    log.debug("%s: %d messages in the active conversations", account, len(wanted))
    return store.mails_at(wanted), replaced


def active_threads(store: Store, account: str, own: Collection[str], since: datetime, active_since: datetime,
                   verdicts: Mapping[str, Verdict], rules: TrackingRules, changes: Changes | None = None
                   ) -> tuple[list[Thread], list[Mail], set[str]]:
    """``build_threads(store.mails(account, since), own, verdicts, rules, active_since)``, the messages
    it was built from (those of the active conversations, and perhaps a few more), and the standing
    reports they replace; with ``changes``, only the threads of the conversations that changed."""
    mails, replaced = active_mails(store, account, own, since, active_since, verdicts, rules, changes)
    return build_threads(mails, own, verdicts, rules, active_since=active_since), mails, replaced


def conversation_threads(store: Store, account: str, own: Collection[str], since: datetime,
                         message_id: str | Collection[str], verdicts: Mapping[str, Verdict],
                         rules: TrackingRules) -> list[Thread]:
    """The threads ``build_threads(store.mails(account, since), own, verdicts, rules)`` makes of the
    conversation holding ``message_id`` (or of those holding any of several, read in one go): what
    ``explain``, ``stop`` and ``snooze`` look for, without holding a large mailbox (on a million messages
    that took minutes and gigabytes)."""
    mails, _ = active_mails(store, account, own, since, since, verdicts, rules, holding=message_id)
    return build_threads(mails, own, verdicts, rules)
