"""The sync step's reading of the keywords that stop or snooze a thread (issue 22; ``core/keywords``).

Each folder the pass reads is searched right after its sync, while it is
still open; Drafts after them, when a draft of this program is there to be
marked. The marks found are mapped to Message-IDs through the header index
(a draft names its thread itself) and recorded (``state/marks``), which
acts on those seen for the first time and says which changed: a changed
mark is a change like new mail, so a pass that would otherwise hand on the
standing reports decides again. A keyword changes flags, not messages, and
without CONDSTORE no sync sees it: this search does, on every server. With
CONDSTORE, a folder whose HIGHESTMODSEQ has not moved since its last
search has no flag changed, and keeps its marks without one.
"""

from __future__ import annotations

import imaplib
import logging
from datetime import datetime, timedelta

from imapclient.exceptions import IMAPClientError

from mail_followup.config import Account
from mail_followup.imap.folders import FolderMap
from mail_followup.imap.mailbox import Mailbox
from mail_followup.service.deciding import OUTSTANDING
from mail_followup.state.index import FolderCursor
from mail_followup.state.marks import Mark
from mail_followup.state.store import Store

log = logging.getLogger(__name__)


class KeywordReading:
    """One pass's search for the keywords, folder by folder, then recorded at once."""

    def __init__(self, account: Account, mailbox: Mailbox, store: Store) -> None:
        self.account, self.mailbox, self.store = account, mailbox, store
        self.searched_at = store.keyword_cursors(account.name)
        self.cursors: dict[str, str] = {}
        self.marks: list[Mark] = []

    def folder(self, folder: str, cursor: FolderCursor) -> None:
        """The marks of ``folder``, which the sync just brought to ``cursor`` (and left open)."""
        at = f"{cursor.uidvalidity}:{cursor.uidnext}:{cursor.messages}:{cursor.highestmodseq}"
        if cursor.highestmodseq is not None and self.searched_at.get(folder) == at:
            self.marks += self.store.marks_in(self.account.name, folder)  # no flag changed since (CONDSTORE)
            self.cursors[folder] = at
            return
        found = self._search(folder)
        if found is None:
            return
        name = self.account.name
        mails = {m.uid: m for m in self.store.mails_by_uid(name, folder, found)} if found else {}
        # A message the index does not hold (older than history_days) is in no thread a pass decides.
        self.marks += [Mark(folder, uid, keyword, mails[uid].message_id, mails[uid].followup_for, flags)
                       for uid, (keywords, flags) in found.items() if uid in mails for keyword in keywords]
        self.cursors[folder] = at

    def _search(self, folder: str) -> dict[int, tuple[frozenset[str], frozenset[str]]] | None:
        """The folder's keyworded messages; None, and its marks kept as they were, where the server refuses
        the search (RFC 3501 has it; a server that refuses it cannot have the keywords set either)."""
        try:
            return self.mailbox.keyworded(folder)
        except IMAPClientError as exc:
            if isinstance(exc, imaplib.IMAP4.abort):
                raise
            log.warning("%s: %s: cannot search for keywords (%s); those seen before stand", self.account.name,
                        folder, exc)
            self.marks += self.store.marks_in(self.account.name, folder)
            return None

    def drafts(self, folders: FolderMap) -> None:
        """The marks of this program's drafts in Drafts: searched while a draft of it is to be followed there
        (withdrawn copies, flagged \\Deleted, aside)."""
        name = self.account.name
        outstanding = any(r.state in OUTSTANDING for records in self.store.all_drafts(name).values()
                          for r in records.values())
        if folders.drafts_missing or not outstanding:
            self.marks += self.store.marks_in(name, folders.drafts)
            return
        found = self.mailbox.keyworded_drafts(folders.drafts)
        self.marks += [Mark(folders.drafts, uid, keyword, mail.message_id, mail.followup_for)
                       for uid, (keywords, mail) in found.items()
                       if mail.followup_for and "\\Deleted" not in mail.flags for keyword in keywords]

    def record(self, folders: FolderMap, now: datetime, dry_run: bool) -> bool:
        """Search Drafts, record the marks; return whether any changed since the last pass."""
        self.drafts(folders)
        settings = self.account.settings
        until = now.astimezone(settings.tz).date() + timedelta(days=settings.keyword_snooze_days)
        changed = self.store.record_marks(self.account.name, self.marks, self.cursors, now, until)
        if changed:
            log.info("%s: keywords changed on %d message(s): %s", self.account.name, len(changed),
                     ", ".join(sorted(changed)[:5]))
            if dry_run:  # a dry run records no decisions: the next pass must not take this for old news
                self.store.forget_decisions(self.account.name)
        return bool(changed)
