"""Which message bodies a pass must read, and no more (DESIGN.md invariant 4).

Pure. The scan reads headers only; a body is fetched once per message, and
only when a decision depends on it: whether an answer asks to stop, when an
out-of-office says its writer is back, whether a bounce returns one of the
user's messages, whether the user's own message was a closing note, and
whether a contact we are about to follow up once asked to stop.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime

from mail_followup.classify import Verdict
from mail_followup.headers import Mail
from mail_followup.threads import Thread, kind_of

STOP_HISTORY_PER_CONTACT = 10  # the latest answers of each contact are checked for a stop request


@dataclass(frozen=True)
class Needed:
    mail: Mail
    own: bool  # the user's own message: read as "does it expect an answer?"
    why: str


def bodies_needed(
    threads: Iterable[Thread],
    mails: Iterable[Mail],
    verdicts: Mapping[str, Verdict],
    own: Collection[str],
    since: datetime,
) -> list[Needed]:
    """The messages whose bodies this pass must read, each once, for threads active ``since``."""
    own_set = {a.lower() for a in own}
    wanted: dict[str, Needed] = {}

    def want(mail: Mail, mine: bool, why: str) -> None:
        if mail.message_id not in verdicts and mail.message_id not in wanted and not mail.gone:
            wanted[mail.message_id] = Needed(mail, mine, why)

    contacts: set[str] = set()
    for thread in threads:
        if thread.last_user.date < since and (thread.answer is None or thread.answer.date < since):
            continue
        if thread.answer is not None:
            if kind_of(thread.answer, verdicts) == "human":
                want(thread.answer, False, "does the answer ask to stop?")
            continue
        if thread.ignored:
            continue
        if thread.forced is None:
            want(thread.original, True, "does your message expect an answer?")
        for auto in thread.auto_replies:
            want(auto, False, "when is the out-of-office writer back?")
        contacts |= {a.address for a in thread.original.everyone_written_to if a.address not in own_set}

    all_mail = list(mails)
    for mail in all_mail:
        if mail.date >= since and kind_of(mail, verdicts) == "bounce" and mail.message_id not in verdicts:
            want(mail, False, "which message does the bounce return?")
    by_contact: dict[str, list[Mail]] = {}
    for mail in all_mail:
        if mail.sender is not None and mail.sender.address in contacts and (mail.in_reply_to or mail.references):
            by_contact.setdefault(mail.sender.address, []).append(mail)
    for answers in by_contact.values():
        answers.sort(key=lambda m: m.date, reverse=True)
        for mail in answers[:STOP_HISTORY_PER_CONTACT]:
            if kind_of(mail, verdicts) == "human":
                want(mail, False, "did this contact once ask to stop?")
    return list(wanted.values())
