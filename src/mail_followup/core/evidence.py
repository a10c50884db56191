"""Which message bodies a pass must read, and no more (DESIGN.md invariant 4).

Pure. The scan reads headers only; a body is fetched once per message (its
verdict is cached), and only when a decision depends on it:

- for a thread about to be written: whether the user's own message was a
  closing note and which scenario its words name, whether their answer
  before it named a date to come back by, when an out-of-office says its
  writer is back, and whether the contact once asked to stop (their latest
  answers);
- for the whole account: which message a bounce returns, whether an
  answer that arrived since the last pass asks to stop (so the stop list and
  ``status`` know), and whether an answer Exchange marked
  X-Auto-Response-Suppress is an out-of-office after all.

A first pass over a large mailbox therefore reads a handful of bodies, not
one per thread.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime

from mail_followup.core.classify import Verdict
from mail_followup.core.headers import Mail
from mail_followup.core.threads import Thread, kind_of

STOP_HISTORY_PER_CONTACT = 10  # the latest answers of each contact are checked for a stop request


@dataclass(frozen=True)
class Needed:
    mail: Mail
    own: bool  # the user's own message: read as "does it expect an answer?"
    why: str


def account_needs(threads: Iterable[Thread], mails: Iterable[Mail], verdicts: Mapping[str, Verdict],
                  answers_since: datetime | None, bounces_since: datetime) -> list[Needed]:
    """Bodies the whole account needs: answers dated ``answers_since`` or later (none when it is None),
    bounces dated ``bounces_since`` or later, and for every thread waiting since then the messages that
    may move its date (their promise to come back by a day, an out-of-office's return), so that the
    date ``status`` shows for a waiting thread is the date kept (issue 18)."""
    wanted: dict[str, Needed] = {}
    for thread in threads:
        if thread.waiting_on and thread.ignored is None and thread.last_user.date >= bounces_since:
            if thread.their_last is not None and thread.followups_sent == 0:
                _want(wanted, verdicts, thread.their_last, False, "did they name a date to come back by?")
            for auto in thread.auto_replies:
                _want(wanted, verdicts, auto, False, "when is the out-of-office writer back?")
        answer = thread.answer
        if answer is None or kind_of(answer, verdicts) != "human":
            continue
        if answer.auto_hint and answer.date >= bounces_since:  # Exchange hints; only the text can tell
            _want(wanted, verdicts, answer, False, "is this answer an out-of-office?")
        elif answers_since is not None and answer.date >= answers_since:
            _want(wanted, verdicts, answer, False, "does the answer ask to stop?")
    for mail in mails:
        if mail.date >= bounces_since and kind_of(mail, verdicts) == "bounce":
            _want(wanted, verdicts, mail, False, "which message does the bounce return?")
    return list(wanted.values())


def thread_needs(thread: Thread, answers_by_sender: Mapping[str, list[Mail]], verdicts: Mapping[str, Verdict],
                 own: Collection[str], stage: int | None = None) -> list[Needed]:
    """Bodies needed before a draft for ``thread`` may be written.

    ``answers_by_sender`` holds, per address, the messages from it that reply
    to something, newest first. Stage 1 is the thread's own messages (one
    body or a few); stage 2 the contact's earlier answers (up to
    STOP_HISTORY_PER_CONTACT). Every verdict can only take a follow-up
    away, never make one due, so a pass reads stage 2 only for the threads
    still due after stage 1: on a first pass over a large mailbox most
    threads stop at their own message. ``stage=None`` gives both.
    """
    wanted: dict[str, Needed] = {}
    if stage in (None, 1):
        _want(wanted, verdicts, thread.original, True, "does your message expect an answer, and which scenario is it?")
        if thread.their_last is not None:
            _want(wanted, verdicts, thread.their_last, False, "did they name a date to come back by?")
        for auto in thread.auto_replies:
            _want(wanted, verdicts, auto, False, "when is the out-of-office writer back?")
    if stage in (None, 2):
        for address in {a.address for a in thread.original.everyone_written_to} - set(own):
            for mail in answers_by_sender.get(address, [])[:STOP_HISTORY_PER_CONTACT]:
                if kind_of(mail, verdicts) == "human":
                    _want(wanted, verdicts, mail, False, "did this contact once ask to stop?")
    return list(wanted.values())


def answers_by_sender(mails: Iterable[Mail], senders: Collection[str] | None = None) -> dict[str, list[Mail]]:
    """Messages that reply to something, by sender (only ``senders``, when given), newest first."""
    found: dict[str, list[Mail]] = {}
    for mail in mails:
        if mail.sender is not None and (mail.in_reply_to or mail.references) and (
                senders is None or mail.sender.address in senders):
            found.setdefault(mail.sender.address, []).append(mail)
    for items in found.values():
        items.sort(key=lambda m: m.date, reverse=True)
    return found


def _want(wanted: dict[str, Needed], verdicts: Mapping[str, Verdict], mail: Mail, mine: bool, why: str) -> None:
    if mail.message_id not in verdicts and mail.message_id not in wanted and not mail.gone:
        wanted[mail.message_id] = Needed(mail, mine, why)
