"""The drafts written before: what became of them, and the withdrawals that follow (issue 5; issue 19).

A draft is the user's once it is edited: only unedited drafts are ever
withdrawn, when their thread got an answer, a stop request or a bounce, was
stopped or snoozed by the user (a command, or a keyword in a mail client),
or expects no answer after all, or when two passes wrote the same attempt
twice.
"""

from __future__ import annotations

import logging
from datetime import datetime

from mail_followup.config import Account
from mail_followup.core.compose import is_unedited
from mail_followup.core.policy import Decision, held_by
from mail_followup.core.threads import Thread
from mail_followup.imap.drafts import FoundDraft
from mail_followup.imap.folders import FolderMap
from mail_followup.imap.mailbox import Mailbox
from mail_followup.service.deciding import OUTSTANDING
from mail_followup.state.ledger import DraftRecord
from mail_followup.state.store import Store

log = logging.getLogger(__name__)

ENDED = ("replied", "stopped", "bounced", "ignored")  # a thread in these states needs no draft


def follow_drafts(account: Account, mailbox: Mailbox, store: Store, folders: FolderMap,
                   decided: dict[str, tuple[Thread, Decision]], ledger: dict[str, dict[int, DraftRecord]],
                   now: datetime) -> dict[str, list[str]]:
    """What became of the drafts written earlier, and what follows (issue 5's lifecycle).

    - The thread got an answer, a stop request or a bounce, the user stopped
      it (``stop``, the keyword ``$NoFollowUp``) or it expects no answer
      after all: the draft, if nobody edited it (``is_unedited``), is
      withdrawn (DOMAIN.md R12). So it is while the thread is snoozed
      (``snooze``, ``$FollowUpSnooze``): a follow-up the user put off is
      premature, and a fresh one is written when the snooze is over.
    - The draft is gone and the follow-up was not sent: the user deleted it,
      and it is ``dismissed`` from this pass on (``on_dismiss`` says what that
      means), so no pass reports a draft that is not there or writes it
      again. Should the sent copy arrive later after all (a client files it
      a moment after removing the draft), it counts as the attempt made, and
      the next one waits its turn: the dismissal concerned an attempt that
      the thread has then left behind.
    - A draft a state from before this rule left ``missing`` is dismissed
      when it is still gone, and ``written`` again when it is back.

    Return the notes to add to each thread whose drafts changed.
    """
    found = mailbox.drafts_by_thread(folders.drafts)
    snoozed, today = store.snoozed(account.name), now.astimezone(account.settings.tz).date()
    notes: dict[str, list[str]] = {}
    for key, records in ledger.items():
        if key not in decided:
            continue
        thread, decision = decided[key]
        for attempt, record in sorted(records.items()):
            if record.state not in OUTSTANDING or attempt <= thread.followups_sent:
                continue  # sent (it is in the thread now), or settled earlier
            copies = found.get((key, attempt), [])
            if decision.state in ENDED or max(held_by(thread, snoozed), default=today) > today:
                notes[key] = notes.get(key, []) + _withdraw(account, mailbox, store, folders, record, copies, now)
            elif not copies:
                store.mark_draft(account.name, key, attempt, "dismissed", now)
                notes.setdefault(key, []).append(
                    f"the draft for follow-up {attempt} is no longer in {folders.drafts} and was not sent: "
                    f"deleted without sending (if you sent it after all, the sent copy counts once it is filed)")
                log.info("%s: %s: the draft for follow-up %d was deleted unsent", account.name, key, attempt)
            elif record.state == "missing":
                store.mark_draft(account.name, key, attempt, "written", now)
                notes.setdefault(key, []).append(f"the draft for follow-up {attempt} is back in {folders.drafts}")
    return notes


def deduplicate(account: Account, mailbox: Mailbox, store: Store, folders: FolderMap) -> dict[str, list[str]]:
    """Withdraw the extra copies of a draft that two passes wrote at once (issue 19): passes on two states
    (a second laptop, a backup restored) each found no draft and wrote one.

    Of the unedited copies of one attempt the one with the lowest UID stays,
    so that every pass that looks keeps the same one, and the ledger points
    at it; when the user edited a copy, every unedited one goes, and the
    edited ones are never touched. Return the notes for each thread.
    """
    doubled = {k: [c for c in copies if not c.deleted]
               for k, copies in mailbox.drafts_by_thread(folders.drafts).items()}
    doubled = {k: copies for k, copies in doubled.items() if len(copies) > 1}
    if not doubled:
        return {}
    raws = mailbox.fetch_bodies(folders.drafts, sorted(c.uid for copies in doubled.values() for c in copies),
                                limit=None)
    notes: dict[str, list[str]] = {}
    for (key, attempt), copies in sorted(doubled.items()):
        ours = sorted((c for c in copies if c.uid in raws and is_unedited(raws[c.uid])), key=lambda c: c.uid)
        edited = [c for c in copies if c.uid in raws and not is_unedited(raws[c.uid])]
        extras = ours if edited else ours[1:]
        for copy in extras:
            mailbox.withdraw_draft(folders.drafts, copy.uid)
        if ours and not edited:
            store.record_draft(account.name, DraftRecord(key, attempt, ours[0].message_id, folders.drafts,
                                                         ours[0].uid))
        if extras:
            line = (f"found {len(copies)} copies of the draft for follow-up {attempt} in {folders.drafts} (passes "
                    f"that ran at once): withdrew {len(extras)} unedited extra(s)"
                    + (", kept the one you edited" if edited else ""))
            notes.setdefault(key, []).append(line)
            log.warning("%s: %s: %s", account.name, key, line)
    return notes


def _withdraw(account: Account, mailbox: Mailbox, store: Store, folders: FolderMap, record: DraftRecord,
              copies: list[FoundDraft], now: datetime) -> list[str]:
    """Withdraw the unedited draft of a thread that no longer needs it; never touch an edited one."""
    attempt = record.attempt
    if not copies:
        store.mark_draft(account.name, record.thread, attempt, "withdrawn", now)
        return [f"the draft for follow-up {attempt} is no longer needed, and it is gone already"]
    raws = mailbox.fetch_bodies(folders.drafts, [c.uid for c in copies], limit=None)
    notes, edited = [], 0
    for copy in copies:
        raw = raws.get(copy.uid)
        if raw is None:
            continue  # gone meanwhile
        if copy.message_id != record.message_id or not is_unedited(raw):
            edited += 1
            notes.append(f"the draft for follow-up {attempt} (UID {copy.uid}) was edited: it stays for you to decide")
            continue
        gone = mailbox.withdraw_draft(folders.drafts, copy.uid)
        log.info("%s: withdrew the draft for follow-up %d of %s from %s", account.name, attempt, record.thread,
                 folders.drafts)
        notes.append(f"withdrew the unedited draft for follow-up {attempt} from {folders.drafts}"
                     + ("" if gone else " (flagged deleted: the server cannot expunge one message alone)"))
    if not edited:
        store.mark_draft(account.name, record.thread, attempt, "withdrawn", now)
    return notes
