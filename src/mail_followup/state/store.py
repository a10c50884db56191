"""Local state in SQLite: the header index, the sync cursors, the drafts ledger, the last decisions.

The index is a cache of the server (losing it costs a resync, never a
duplicate draft, because the Drafts folder itself is searched before any
write). The schema has a version table from day one; each migration runs in
the same transaction as the row that records it.

``Store`` opens the file and keeps it usable; what it holds is read and
written by the parts it is made of, one module each: the header index and
sync cursors (index.py), the link index as read (conversations.py; links.py
keeps it), the reports and decisions (reports.py), the drafts ledger
(ledger.py), what holds follow-ups back (holds.py) and the keywords set in
a mail client (marks.py); its weekly VACUUM and daily ANALYZE (upkeep.py).
"""

from __future__ import annotations

import logging
import os
import sqlite3
import time
from pathlib import Path

from mail_followup.paths import ensure_private_dir
from mail_followup.state import writes
from mail_followup.state.connection import now
from mail_followup.state.conversations import Conversations
from mail_followup.state.holds import Holds
from mail_followup.state.index import HeaderIndex
from mail_followup.state.ledger import DraftLedger
from mail_followup.state.marks import KeywordMarks
from mail_followup.state.migrations import MIGRATIONS
from mail_followup.state.repair import check_owner, is_damage, newest_aside, put_aside, salvage, unusable
from mail_followup.state.reports import Reports
from mail_followup.state.upkeep import Upkeep

log = logging.getLogger(__name__)

DB_NAME = "state.sqlite3"
LOCK_TIMEOUT = 30  # seconds a process waits for another one's write (a pass commits in chunks far shorter)


class Store(HeaderIndex, Conversations, Reports, DraftLedger, Holds, KeywordMarks, Upkeep):
    """One SQLite file in the private state directory: opened, migrated, begun again when damaged."""

    def __init__(self, state_dir: Path) -> None:
        """Open the state in ``state_dir``, creating it (0700, the database 0600).

        Raise StateUnusable when the directory is another user's or cannot be
        written. A database found damaged is moved aside (``put_aside``) and a
        new one begun, with what the user said in the old one copied over;
        ``damaged`` then says where the old one is kept.
        """
        self.path = state_dir / DB_NAME
        self.damaged: Path | None = None
        self.inbound_scope = {}  # none known yet: each pass says its own (inbound.prepare)
        try:
            check_owner(state_dir)
            ensure_private_dir(state_dir)
            interrupted = None if self.path.exists() else newest_aside(self.path)
            if interrupted is None:
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
                os.close(fd)
                os.chmod(self.path, 0o600)
        except OSError as exc:
            raise unusable(state_dir, exc) from None
        if interrupted is not None:  # put aside, and the process ended before the new one was in place
            log.warning("the state was being begun again from the damaged %s when its process ended; it is "
                        "finished now", interrupted)
            self._rebuild(interrupted)
            return
        try:
            self._open(self.path)
        except sqlite3.DatabaseError as exc:
            if not is_damage(exc):
                if isinstance(exc, sqlite3.OperationalError) and "readonly" in str(exc).replace("-", ""):
                    raise unusable(state_dir, exc) from None
                raise
            self.db.close()
            self.begin_again()

    def _open(self, path: Path) -> None:
        self.db = sqlite3.connect(path, isolation_level=None, timeout=LOCK_TIMEOUT)
        self._use_wal()
        self.db.execute("PRAGMA synchronous=NORMAL")
        self._migrate()

    def begin_again(self) -> Path:
        """The database is damaged: move it aside, begin a new one, copy over what the user said in it as far
        as it reads. Return where the damaged one is kept."""
        try:
            self.db.close()
        except sqlite3.Error:
            pass
        aside = put_aside(self.path)
        writes.step("put the damaged state aside")
        self._rebuild(aside)
        return aside

    def _rebuild(self, aside: Path) -> None:
        """Build the new state beside the damaged one ``aside`` and put it in place only once it holds what
        the user said there: a process that ends halfway leaves no state at all, which the next one
        finishes (``__init__``), never an empty one that has forgotten a `stop`."""
        self.damaged = aside
        fresh = self.path.with_name(f"{self.path.name}.rebuilding-{os.getpid()}")
        for suffix in ("", "-wal", "-shm"):
            Path(f"{fresh}{suffix}").unlink(missing_ok=True)
        os.close(os.open(fresh, os.O_RDWR | os.O_CREAT, 0o600))
        self._open(fresh)
        with self.transaction() as db:
            copied = salvage(aside, db)
        self.db.close()  # the last connection: SQLite folds the WAL into the file and removes it
        try:
            os.link(fresh, self.path)  # only where no other process has put its new state in place meanwhile
        except FileExistsError:
            pass
        except OSError:  # a file system without hard links
            if not self.path.exists():
                os.rename(fresh, self.path)
        fresh.unlink(missing_ok=True)
        self._open(self.path)
        log.error("the state database was damaged; it is kept as %s, and a new one is begun (copied over from it: "
                  "%s); the mailbox is read again, and the drafts already written are found in Drafts, never "
                  "written twice", aside, ", ".join(copied) or "nothing readable")

    def _use_wal(self) -> None:
        """WAL, so that ``status`` reads while a pass writes.

        The switch, made once in a state's life, needs the file to itself, and SQLite answers "locked"
        at once rather than waiting when another process has it open (the service and a ``status``
        opening a new state together), so it is tried again for as long as a write would wait.
        """
        deadline = time.monotonic() + LOCK_TIMEOUT
        while True:
            try:
                if self.db.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
                    self.db.execute("PRAGMA journal_mode=WAL")
                return
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _migrate(self) -> None:
        self.db.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations "
            "(version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)"
        )
        if self._migrated() == len(MIGRATIONS):
            return
        # Two processes may open a new state at once (the service and a `status`): what is done is read
        # again under the write lock, or both would apply the same migration and one would fail.
        with self.transaction() as db:
            for version, (name, sql) in enumerate(MIGRATIONS, start=1):
                if version <= self._migrated():
                    continue
                for statement in filter(str.strip, sql.split(";")):
                    db.execute(statement)
                db.execute("INSERT INTO schema_migrations VALUES (?, ?, ?)", (version, name, now()))

    def _migrated(self) -> int:
        return int(self.db.execute("SELECT coalesce(max(version), 0) FROM schema_migrations").fetchone()[0])
