"""The conversations a pass decides, read from the state without holding the whole mailbox.

A pass decides the conversations with a message inside lookback_days (60
days by default); the index holds history_days (365) of mail, and on a
large mailbox most of it belongs to older conversations. The link index
(``state/links.py``), kept as mail arrives, groups the messages that may
belong to one conversation; its groups join at least what
``build_threads`` joins. So a pass reads whole only the messages of the
groups it needs, and ``build_threads`` over those gives exactly what it
gives over everything (tests/test_window.py checks it on random mailboxes,
tests/test_links.py for any order of arrivals, moves and expunges).

After new mail, only the active groups holding a message written since the
standing reports were decided (or one that left the window since, or a
thread whose moment came) are read and decided; the other reports stand.
``explain`` reads the one group it is asked about the same way.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from mail_followup.core.classify import Verdict
from mail_followup.core.headers import Mail
from mail_followup.core.threads import Thread, TrackingRules, build_threads
from mail_followup.state.connection import epoch_up
from mail_followup.state.conversations import in_read_order
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
                 changes: Changes | None = None, holding: str | Collection[str] | None = None
                 ) -> tuple[list[Mail], set[str]]:
    """The indexed messages (dated ``since`` or later) of every conversation with a message dated
    ``active_since`` or later, each copy of them, and perhaps a few more.

    With ``changes``, only the conversations among those that changed or are marked, and the keys of the
    standing reports that lie in such a conversation (the new reports take their place). With
    ``holding``, the conversation wanted is instead the one holding that Message-ID (a message's, or
    one its messages refer to), whatever its dates; given several, the conversations holding any of them.
    """
    store.ensure_links(account, own)
    recent = active_since - MARGIN
    if changes is None and holding is None:
        rows = store.active_rows(account, since, recent)
        log.debug("%s: %d messages in the active conversations", account, len(rows))
        return store.mails_at(rows), set()
    if holding is not None:
        groups = store.groups_of(account, [holding] if isinstance(holding, str) else holding)
    else:
        assert changes is not None
        groups = store.groups_of(account, changes.marks) | store.changed_groups(account, changes.generation,
                                                                                 changes.since, since)
    members = store.members(account, groups)
    replaced: set[str] = set()
    if changes is not None and holding is None:
        # A standing report in a conversation that changed goes, whether or not a new one takes its place.
        replaced = {message_id for _, _, message_id, _ in members if message_id in changes.standing}
        recent_from = epoch_up(recent)
        active = {grp for grp, _, _, date in members if date >= recent_from}
        members = [m for m in members if m[0] in active]
    since_from = epoch_up(since)
    inside = [m for m in members if m[3] >= since_from]
    log.debug("%s: %d messages in %d conversations", account, len(inside), len(groups))
    return store.mails_at(in_read_order(inside)), replaced


def active_threads(store: Store, account: str, own: Collection[str], since: datetime, active_since: datetime,
                   verdicts: Mapping[str, Verdict], rules: TrackingRules, changes: Changes | None = None
                   ) -> tuple[list[Thread], list[Mail], set[str]]:
    """``build_threads(store.mails(account, since), own, verdicts, rules, active_since)``, the messages
    it was built from (those of the active conversations, and perhaps a few more), and the standing
    reports they replace; with ``changes``, only the threads of the conversations that changed."""
    mails, replaced = active_mails(store, account, own, since, active_since, changes)
    return build_threads(mails, own, verdicts, rules, active_since=active_since), mails, replaced


def conversation_threads(store: Store, account: str, own: Collection[str], since: datetime,
                         message_id: str | Collection[str], verdicts: Mapping[str, Verdict],
                         rules: TrackingRules) -> list[Thread]:
    """The threads ``build_threads(store.mails(account, since), own, verdicts, rules)`` makes of the
    conversation holding ``message_id`` (or of those holding any of several, read in one go): what
    ``explain``, ``stop`` and ``snooze`` look for, reading only that conversation."""
    mails, _ = active_mails(store, account, own, since, since, holding=message_id)
    return build_threads(mails, own, verdicts, rules)
