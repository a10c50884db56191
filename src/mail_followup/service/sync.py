"""A pass's first step: read what changed on the server into the state, and say whether anything did.

The folders are found, each scanned folder is read from where the last
pass left it, and the inbound index of every account is kept: an answer may
come to any of them. When several accounts are scanned together, each
waits here for the others to have read theirs (``SyncGate``), so that an
answer in another account is in the index before any thread is decided.
The step ends with the question the rest of the pass turns on: is there
anything to decide again, or do the standing reports hold (``Synced.quiet``)?
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import datetime, timedelta

from mail_followup.config import Account
from mail_followup.imap.folders import FolderMap
from mail_followup.imap.mailbox import Mailbox
from mail_followup.service.deciding import OUTSTANDING
from mail_followup.service.elsewhere import Elsewhere, inbound_floor
from mail_followup.service.keywords import KeywordReading
from mail_followup.service.standing import standing_since, unchanged
from mail_followup.state import inbound
from mail_followup.state.store import Store

log = logging.getLogger(__name__)


@dataclass
class Synced:
    """What the sync step hands on to deciding."""

    folders: FolderMap
    everyone: tuple[Account, ...]  # the accounts of the config: an answer may be in any of them
    elsewhere: Elsewhere  # answers outside their thread, asked of the inbound index
    inbound_seen: int | None  # the latest write of the inbound index, which the reports are decided with
    seen: int  # the inbound index as the standing reports were decided with it
    touched: set[str]  # standing reports that mail indexed since may have put in touch
    quiet: bool  # nothing new and no thread at its next moment: the standing reports hold


def sync(account: Account, mailbox: Mailbox, store: Store, now: datetime, dry_run: bool,
         everyone: tuple[Account, ...], gate: SyncGate | None) -> Synced:
    """Read the account's folders into the index; find what the new mail may have changed."""
    folders = mailbox.discover(account.folders)
    log.info("%s: folders %s", account.name, folders.how)
    if folders.drafts_missing and not dry_run:  # a fresh Cyrus or Courier account: the folder is made once
        mailbox.create_drafts(folders.drafts)
    since = now - timedelta(days=account.settings.history_days)
    floor = inbound_floor(everyone, now)
    for acct in everyone:  # an answer may come to any account: each one's inbound index is kept from here
        inbound.prepare(store, acct.name, acct.addresses, floor)
    store.ensure_links(account.name, account.addresses)  # built once (after an upgrade), then kept by each write
    keywords = KeywordReading(account, mailbox, store)  # $NoFollowUp, $FollowUpSnooze (issue 22)
    changed = _read_folders(account, mailbox, store, folders, since, gate, keywords)
    changed = keywords.record(folders, now, dry_run) or changed
    if not changed and not dry_run:
        changed = _drafts_changed(account, mailbox, store, folders)
    elsewhere = Elsewhere(store, account, everyone, [n for n in gate.names if gate.has_read(n)] if gate else ())
    inbound_seen = inbound.latest(store.db)
    # Mail indexed since the standing reports, in this account or another, may have put their contacts in
    # touch: those threads are decided again (asked only while the reports may stand at all).
    seen = store.decided_inbound(account.name)
    touched = elsewhere.marks(seen) if not dry_run and standing_since(account, store, now) else set()
    quiet = not changed and not dry_run and not touched and unchanged(account, store, now)
    return Synced(folders, everyone, elsewhere, inbound_seen, seen, touched, quiet)


def _drafts_changed(account: Account, mailbox: Mailbox, store: Store, folders: FolderMap) -> bool:
    """A draft deleted, edited or sent changes the Drafts folder only, which is not scanned: look at it."""
    outstanding = [r for records in store.all_drafts(account.name).values() for r in records.values()
                   if r.state in OUTSTANDING]
    return any(r.state == "missing" for r in outstanding) or bool(outstanding) and (
        mailbox.folder_status(folders.drafts) != store.drafts_folder_status(account.name))


def _read_folders(account: Account, mailbox: Mailbox, store: Store, folders: FolderMap, since: datetime,
          gate: SyncGate | None, keywords: KeywordReading) -> bool:
    """Read what changed in the scanned folders into the index, and each one's ``keywords``; return whether
    anything changed in the index. With ``gate``, wait then for the other accounts of the scan to have read
    theirs."""
    changed = False
    for folder in folders.scanned():
        mailbox.check()
        cursor = store.cursor(account.name, folder)
        synced = mailbox.sync(folder, cursor, functools.partial(store.known_uids, account.name, folder), since.date(),
                              functools.partial(store.add_mails, account.name, folder))
        changed |= synced.changed or cursor is None
        if synced.changed or synced.cursor != cursor:
            store.apply_sync(account.name, folder, synced.cursor, synced.new, synced.vanished, synced.reset,
                             synced.flags)
        keywords.folder(folder, synced.cursor)  # while the folder is open
        if folder != folders.sent:  # an answer's text, which a decision will likely need, while it is open too
            mailbox.read_early(folder, [m.uid for m in synced.new if not m.bulk])
        log.info("%s: %s: %d new, %d gone", account.name, folder, len(synced.new) + synced.written,
                 len(synced.vanished))
        del synced
    if gate is not None:
        gate.read(account.name)
        # An account never read before may hold the answer: wait for it. One read before has its index,
        # and a stuck server costs only its own account its time.
        unread = gate.wait_for([name for name in gate.names if name != account.name and not store.has_read(name)],
                               mailbox.check)
        if unread:
            log.warning("%s: deciding without the answers that may be in %s: not read within %.0f s",
                        account.name, ", ".join(unread), gate.WAIT)
    return changed


class SyncGate:
    """The accounts of one scan read their folders before any of them decides, so that an answer that came
    to another account is in the index when a thread is decided (DOMAIN.md R2; issue 18)."""

    WAIT = 600.0  # seconds an account waits for the others' reading: a stuck server may not hold it longer

    def __init__(self, names: Collection[str]) -> None:
        self._read = {name: threading.Event() for name in names}
        self._failed: set[str] = set()

    def read(self, name: str, failed: bool = False) -> None:
        """``name`` has read its folders, or will not (``failed``): the others need not wait for it."""
        if failed and not self._read[name].is_set():
            self._failed.add(name)
        self._read[name].set()

    @property
    def names(self) -> list[str]:
        return list(self._read)

    def has_read(self, name: str) -> bool:
        return self._read.get(name) is not None and self._read[name].is_set() and name not in self._failed

    def wait_for(self, names: Collection[str], check: Callable[[], None]) -> list[str]:
        """Wait for these accounts to have read their folders (at most ``WAIT`` seconds in all); ``check``
        raises when the pass is asked to stop meanwhile. Return those not read in time."""
        deadline = time.monotonic() + self.WAIT
        for name in names:
            while name in self._read and not self._read[name].wait(min(0.1, max(0.0, deadline - time.monotonic()))):
                check()
                if time.monotonic() >= deadline:
                    return [n for n in names if n in self._read and not self._read[n].is_set()]
        return []
