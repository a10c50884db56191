"""Local state in SQLite: the header index, the sync cursors, the drafts ledger, the last decisions.

The index is a cache of the server (losing it costs a resync, never a
duplicate draft, because the Drafts folder itself is searched before any
write). The schema has a version table from day one; each migration runs in
the same transaction as the row that records it.
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import time
from collections.abc import Collection, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mail_followup import writes
from mail_followup.headers import Addr, Interner, Mail
from mail_followup.migrations import MIGRATIONS
from mail_followup.paths import ensure_private_dir
from mail_followup.state_repair import check_owner, is_damage, newest_aside, put_aside, salvage, unusable

if TYPE_CHECKING:  # classify loads YAML and the email package: not for `status`, which needs neither
    from mail_followup.classify import Verdict

log = logging.getLogger(__name__)

DB_NAME = "state.sqlite3"
LOCK_TIMEOUT = 30  # seconds a process waits for another one's write (a pass commits in chunks far shorter)


@dataclass(frozen=True)
class FolderCursor:
    uidvalidity: int
    uidnext: int
    messages: int
    highestmodseq: int | None = None  # CONDSTORE servers only


@dataclass(frozen=True)
class DraftRecord:
    thread: str
    attempt: int
    message_id: str
    folder: str
    uid: int | None
    state: str = "written"  # written | missing | dismissed | withdrawn
    changed_at: str | None = None


class Store:
    """One SQLite file in the private state directory."""

    def __init__(self, state_dir: Path) -> None:
        """Open the state in ``state_dir``, creating it (0700, the database 0600).

        Raise StateUnusable when the directory is another user's or cannot be
        written. A database found damaged is moved aside (``put_aside``) and a
        new one begun, with what the user said in the old one copied over;
        ``damaged`` then says where the old one is kept.
        """
        self.path = state_dir / DB_NAME
        self.damaged: Path | None = None
        # Per account, the addresses and the start the inbound index is kept for (inbound.prepare).
        self.inbound_scope: dict[str, tuple[frozenset[str], datetime]] = {}
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

    def __enter__(self) -> "Store":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield self.db
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")
        writes.step("sqlite commit")

    def _migrate(self) -> None:
        self.db.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)"
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
                db.execute("INSERT INTO schema_migrations VALUES (?, ?, ?)", (version, name, _now()))

    def _migrated(self) -> int:
        return int(self.db.execute("SELECT coalesce(max(version), 0) FROM schema_migrations").fetchone()[0])

    # --- folders and the header index -------------------------------------------------

    def cursor(self, account: str, folder: str) -> FolderCursor | None:
        row = self.db.execute(
            "SELECT uidvalidity, uidnext, messages, highestmodseq FROM folders WHERE account=? AND name=?",
            (account, folder),
        ).fetchone()
        return FolderCursor(*row) if row else None

    def known_uids(self, account: str, folder: str) -> set[int]:
        rows = self.db.execute("SELECT uid FROM messages WHERE account=? AND folder=?", (account, folder))
        return {r[0] for r in rows}

    def apply_sync(
        self,
        account: str,
        folder: str,
        cursor: FolderCursor,
        new: Iterable[Mail],
        vanished: Iterable[int],
        reset: bool,
        flags: Mapping[int, frozenset[str]] | None = None,
    ) -> None:
        """Record one folder's sync in one transaction: the index and its cursor never disagree."""
        with self.transaction() as db:
            generation = self._next_generation(db, account)
            if reset:
                self._to_gone(db, generation, account, folder)
            for uid in vanished:
                self._to_gone(db, generation, account, folder, uid)
            db.executemany(
                "UPDATE messages SET flags=?, changed=? WHERE account=? AND folder=? AND uid=?",
                ((" ".join(sorted(f)), generation, account, folder, uid) for uid, f in (flags or {}).items()),
            )
            self._insert(db, account, new, generation)
            db.execute(
                "INSERT OR REPLACE INTO folders VALUES (?,?,?,?,?,?,?)",
                (account, folder, cursor.uidvalidity, cursor.uidnext, cursor.messages, _now(), cursor.highestmodseq),
            )

    def add_mails(self, account: str, folder: str, mails: Iterable[Mail], reset: bool) -> None:
        """Index part of a folder's first sync, ahead of its cursor (``reset``: drop the folder's old index first).

        A first sync of a large folder is written a chunk at a time, so it is
        never held whole in memory. Until ``apply_sync`` records the cursor
        the folder counts as never synced, and the next pass reads it again
        from the start (rows are replaced by UID, so nothing doubles).
        """
        with self.transaction() as db:
            generation = self._next_generation(db, account)
            if reset:
                self._to_gone(db, generation, account, folder)
            self._insert(db, account, mails, generation)

    @staticmethod
    def _next_generation(db: sqlite3.Connection, account: str) -> int:
        """The stamp of a write of the index, taken inside its transaction: a pass that read the latest
        generation has seen every row stamped with it or before, whoever wrote them."""
        db.execute("INSERT INTO generations VALUES (?, 1) ON CONFLICT (account) DO UPDATE SET latest = latest + 1",
                   (account,))
        return int(db.execute("SELECT latest FROM generations WHERE account=?", (account,)).fetchone()[0])

    def generation(self, account: str) -> int:
        """The latest generation of the account's index (0 before its first write)."""
        row = self.db.execute("SELECT latest FROM generations WHERE account=?", (account,)).fetchone()
        return int(row[0]) if row else 0

    @staticmethod
    def _to_gone(db: sqlite3.Connection, generation: int, account: str, folder: str, uid: int | None = None) -> None:
        """Move a folder's index (or one UID of it) to ``gone``, stamped with this write's generation."""
        where, params = ("account=? AND folder=?", (account, folder)) if uid is None else \
            ("account=? AND folder=? AND uid=?", (account, folder, uid))
        db.execute(f"INSERT OR REPLACE INTO gone SELECT {_STORED_COLUMNS}, ? FROM messages WHERE {where}",
                   (generation, *params))
        db.execute(f"DELETE FROM messages WHERE {where}", params)

    def _insert(self, db: sqlite3.Connection, account: str, mails: Iterable[Mail], generation: int) -> None:
        """Index ``mails``, and in the same transaction the inbound index (inbound.py) where a pass said what
        it is kept for; otherwise the inbound rows are marked for rebuilding."""
        from mail_followup import inbound

        mails = list(mails)
        encoder = _RowEncoder()
        db.executemany("INSERT OR REPLACE INTO messages VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                       (encoder.row(account, m, generation) for m in mails))
        scope = self.inbound_scope.get(account)
        if scope is None:
            inbound.forget(db, account)
        else:
            inbound.write(db, account, mails, *scope)

    def mails(self, account: str, since: datetime) -> list[Mail]:
        """The indexed messages dated ``since`` or later, then those that vanished from the server.

        The live copy of a message comes first, so it wins where both exist; then by date, and between
        messages of the same moment in the order they were indexed (a folder read first, first).
        """
        return self._mails_where("account=? AND date >= ?", (account, _iso(since)))

    def iter_mails(self, condition: str, params: tuple[object, ...], gone_first: bool = False) -> Iterator[Mail]:
        """The indexed messages that meet ``condition``, one at a time (never a list of a whole mailbox)."""
        reader = _MailReader()
        tables = (("gone", True), ("messages", False)) if gone_first else (("messages", False), ("gone", True))
        for table, gone in tables:
            for r in self.db.execute(f"SELECT {_MAIL_COLUMNS} FROM {table} WHERE {condition}", params):
                yield reader.mail(r, gone)

    def mail_named(self, account: str, folder: str, uid: int, message_id: str) -> Mail | None:
        """The indexed message with this Message-ID: at that UID of ``folder``, or gone from the server since."""
        found = self._mails_where("account=? AND folder=? AND uid=? AND message_id=?",
                                  (account, folder, uid, message_id))
        return found[0] if found else next(iter(self._mails_where("account=? AND message_id=?",
                                                                  (account, message_id))), None)

    def mails_by_uid(self, account: str, folder: str, uids: Collection[int]) -> list[Mail]:
        """The indexed live messages of ``folder`` with these UIDs."""
        found: list[Mail] = []
        wanted = sorted(uids)
        for start in range(0, len(wanted), 500):
            chunk = wanted[start:start + 500]
            found += self._mails_where(f"account=? AND folder=? AND uid IN ({','.join('?' * len(chunk))})",
                                       (account, folder, *chunk))
        return [m for m in found if not m.gone]

    def _mails_where(self, condition: str, params: tuple[object, ...]) -> list[Mail]:
        """The indexed messages that meet ``condition``, live ones first, then by date and the order indexed."""
        reader = _MailReader()
        found: list[Mail] = []
        for table, gone in (("messages", False), ("gone", True)):
            rows = self.db.execute(f"SELECT {_MAIL_COLUMNS} FROM {table} WHERE {condition} ORDER BY date, rowid",
                                   params)
            found.extend(reader.mail(r, gone) for r in rows)
        return found

    def link_facts(self, account: str, since: datetime, recent: datetime, inside: datetime | None = None,
                   changed_after: int | None = None) -> Iterator[tuple[Any, ...]]:
        """What grouping a large mailbox needs of each message dated ``since`` or later, and no more:
        (row, Message-ID, In-Reply-To and References, thread hint, sender address, subject, whether it is
        dated ``recent`` or later, how many failed recipients it names, whether it is dated ``inside`` or
        later, whether a write after generation ``changed_after`` made it). ``row`` finds it again
        (``mails_at``). The order is that of ``mails``: where copies are equal, the first counts."""
        for gone, table in enumerate(("messages", "gone")):
            yield from self.db.execute(
                f"SELECT rowid * 2 + {gone}, message_id, in_reply_to || ' ' || refs,"
                " json_extract(extra, '$.thread_hint'), json_extract(sender, '$[1]'), subject, date >= ?,"
                " json_array_length(extra, '$.failed'), date >= ?, changed > ?"
                f" FROM {table} WHERE account=? AND date >= ? ORDER BY date, rowid",
                (_iso(recent), _iso(inside or since), 2**62 if changed_after is None else changed_after, account,
                 _iso(since)))

    def mails_at(self, rows: Iterable[int]) -> list[Mail]:
        """The messages at ``rows`` of ``link_facts``, in that order."""
        reader = _MailReader()
        found: list[Mail] = []
        wanted = list(rows)
        for start in range(0, len(wanted), 500):
            chunk = wanted[start:start + 500]
            by_row: dict[int, Mail] = {}
            for gone, table in enumerate(("messages", "gone")):
                ids = [row >> 1 for row in chunk if row & 1 == gone]
                if ids:
                    query = f"SELECT rowid, {_MAIL_COLUMNS} FROM {table} WHERE rowid IN ({','.join('?' * len(ids))})"
                    for r in self.db.execute(query, ids):
                        by_row[r[0] * 2 + gone] = reader.mail(r[1:], bool(gone))
            found.extend(by_row[row] for row in chunk if row in by_row)
        return found

    def mails_between(self, account: str, start: datetime, end: datetime) -> list[Mail]:
        """The indexed messages dated from ``start`` to ``end``, live copies first."""
        return self._mails_where("account=? AND date >= ? AND date <= ?", (account, _iso(start), _iso(end)))

    def replies_from(self, account: str, since: datetime, senders: Collection[str]) -> list[Mail]:
        """The messages dated ``since`` or later from ``senders`` that reply to something, live copies first."""
        if not senders:
            return []
        return self._mails_where(
            "account=? AND date >= ? AND (in_reply_to != '' OR refs != '')"
            " AND json_extract(sender, '$[1]') IN (SELECT value FROM json_each(?))",
            (account, _iso(since), json.dumps(sorted(senders))))

    # --- what bodies said, and who asked to stop ------------------------------------

    def verdicts(self, account: str) -> dict[str, Verdict]:
        from mail_followup.classify import Verdict

        rows = self.db.execute("SELECT message_id, verdict FROM verdicts WHERE account=?", (account,))
        return {r[0]: Verdict.from_json(r[1]) for r in rows}

    def save_verdicts(self, account: str, verdicts: Mapping[str, Verdict]) -> None:
        with self.transaction() as db:
            db.executemany("INSERT OR REPLACE INTO verdicts VALUES (?,?,?,?)",
                           ((account, mid, v.to_json(), _now()) for mid, v in verdicts.items()))

    def stoplist(self, account: str) -> dict[str, str]:
        rows = self.db.execute("SELECT address, reason FROM stoplist WHERE account=?", (account,))
        return {r[0]: r[1] for r in rows}

    def add_to_stoplist(self, account: str, address: str, reason: str, message_id: str | None) -> None:
        """Never follow up with ``address`` again (or in the thread whose key it is, "<...>");
        the first reason recorded is kept."""
        with self.transaction() as db:
            db.execute("INSERT OR IGNORE INTO stoplist VALUES (?,?,?,?,?)",
                       (account, address.lower(), reason, message_id, _now()))

    def snoozed(self, account: str) -> dict[str, date]:
        rows = self.db.execute("SELECT thread, until FROM snoozes WHERE account=?", (account,))
        return {r[0]: date.fromisoformat(r[1]) for r in rows}

    def resume_thread(self, account: str, thread: str, at: datetime) -> None:
        """The user says the thread goes on (``mail-followup resume``): mail outside it up to ``at`` is no
        answer, their own stop of it is lifted, and a draft they deleted may be written again."""
        with self.transaction() as db:
            db.execute("INSERT OR REPLACE INTO resumed VALUES (?,?,?)", (account, thread, at.isoformat()))
            db.execute("DELETE FROM stoplist WHERE account=? AND address=?", (account, thread))
            db.execute("DELETE FROM drafts WHERE account=? AND thread=? AND state='dismissed'", (account, thread))
            db.execute("UPDATE passes SET fingerprint=NULL WHERE account=?", (account,))

    def snooze(self, account: str, thread: str, until: date) -> None:
        """No follow-up in ``thread`` before ``until``; a later call replaces the date."""
        with self.transaction() as db:
            db.execute("INSERT OR REPLACE INTO snoozes VALUES (?,?,?,?)", (account, thread, until.isoformat(), _now()))

    # --- the drafts ledger ----------------------------------------------------------

    def all_drafts(self, account: str) -> dict[str, dict[int, DraftRecord]]:
        """The whole ledger of an account: thread -> attempt -> record."""
        found: dict[str, dict[int, DraftRecord]] = {}
        rows = self.db.execute("SELECT thread, attempt, message_id, folder, uid, state, changed_at FROM drafts "
                               "WHERE account=?", (account,))
        for row in rows:
            found.setdefault(row[0], {})[row[1]] = DraftRecord(*row)
        return found

    def record_draft(self, account: str, record: DraftRecord) -> None:
        with self.transaction() as db:
            db.execute(
                "INSERT OR REPLACE INTO drafts VALUES (?,?,?,?,?,?,?,?,?)",
                (account, record.thread, record.attempt, record.message_id, record.folder, record.uid, _now(),
                 record.state, record.changed_at),
            )

    def paused(self) -> dict[str, tuple[str, str]]:
        """Accounts the service paused: account -> (why, since when)."""
        return {r[0]: (r[1], r[2]) for r in self.db.execute("SELECT account, reason, since FROM paused")}

    def pause(self, account: str, reason: str, since: datetime) -> None:
        with self.transaction() as db:
            db.execute("INSERT OR REPLACE INTO paused VALUES (?,?,?)",
                       (account, reason, since.isoformat(timespec="seconds")))

    def resume(self, account: str | None = None) -> None:
        """Lift the pause of one account, or of all (a new password, a reloaded config, a restart)."""
        with self.transaction() as db:
            if account is None:
                db.execute("DELETE FROM paused")
            else:
                db.execute("DELETE FROM paused WHERE account=?", (account,))

    def digest_written(self, account: str, week: str) -> bool:
        return self.db.execute("SELECT 1 FROM digests WHERE account=? AND week=?", (account, week)).fetchone() is not None

    def record_digest(self, account: str, week: str, message_id: str) -> None:
        with self.transaction() as db:
            db.execute("INSERT OR REPLACE INTO digests VALUES (?,?,?,?)", (account, week, message_id, _now()))

    def drafts_folder_status(self, account: str) -> str | None:
        """How the Drafts folder looked at the end of the last pass (UIDVALIDITY, UIDNEXT, MESSAGES)."""
        row = self.db.execute("SELECT status FROM drafts_folder WHERE account=?", (account,)).fetchone()
        return row[0] if row else None

    def save_drafts_folder_status(self, account: str, status: str) -> None:
        with self.transaction() as db:
            db.execute("INSERT OR REPLACE INTO drafts_folder VALUES (?,?)", (account, status))

    def mark_draft(self, account: str, thread: str, attempt: int, state: str, when: datetime) -> None:
        """What became of a draft the ledger holds (see ``DraftRecord.state``)."""
        with self.transaction() as db:
            db.execute("UPDATE drafts SET state=?, changed_at=? WHERE account=? AND thread=? AND attempt=?",
                       (state, when.isoformat(timespec="seconds"), account, thread, attempt))

    # --- decisions, for status and explain ---------------------------------------------

    def save_reports(self, account: str, reports: Iterable[dict[str, object]] | None, ok: bool, error: str | None,
                     decided_at: datetime | None = None, fingerprint: str | None = None,
                     generation: int | None = None, replaced: Collection[str] | None = None,
                     based_on: int | None = None, inbound_seen: int | None = None) -> None:
        """Record a pass: its thread reports (None keeps the last ones), whether it went well, and,
        for a pass that went well, the moment it decided for, a fingerprint of what it decided from, the
        generation of the index it read and the latest write of the inbound index it had seen.

        A pass that decided only what changed gives ``replaced``, the keys of the standing reports its
        reports take the place of (the others stand), and ``based_on``, the generation those were decided
        from. Should another pass have recorded its decisions meanwhile, the merge is kept but the
        fingerprint is not, so the next pass decides everything again.
        """
        with self.transaction() as db:
            if reports is not None:
                if replaced is None:
                    db.execute("DELETE FROM threads WHERE account=?", (account,))
                else:
                    db.executemany("DELETE FROM threads WHERE account=? AND thread=?", ((account, k) for k in replaced))
                    row = db.execute("SELECT generation FROM passes WHERE account=?", (account,)).fetchone()
                    if row is None or row[0] != based_on:
                        fingerprint = None
                updated = _now()
                db.executemany(
                    "INSERT OR REPLACE INTO threads (account, thread, report, updated_at, state, not_before, last_sent) "
                    "VALUES (?,?,?,?,?,?,?)",
                    ((account, str(r["message_id"]), json.dumps(r, ensure_ascii=False), updated, r["state"],
                      r["not_before"], r["last_sent"]) for r in reports),
                )
            if ok:
                db.execute("INSERT OR REPLACE INTO passes VALUES (?,?,?,?,?,?,?,?)",
                           (account, _now(), 1, error, decided_at.isoformat() if decided_at else None, fingerprint,
                            generation, inbound_seen))
            else:  # what the failed pass synced may not be in the reports: decide everything next time
                db.execute("INSERT INTO passes VALUES (?,?,0,?,NULL,NULL,NULL,NULL) ON CONFLICT (account) DO UPDATE SET "
                           "finished_at=excluded.finished_at, ok=0, error=excluded.error, fingerprint=NULL",
                           (account, _now(), error))

    def last_decision(self, account: str) -> tuple[datetime | None, str | None]:
        """(the moment the last good pass decided for, the fingerprint its decisions still hold for)."""
        row = self.db.execute("SELECT decided_at, fingerprint FROM passes WHERE account=?", (account,)).fetchone()
        if not row:
            return None, None
        return (datetime.fromisoformat(row[0]) if row[0] else None), row[1]

    def decided_generation(self, account: str) -> int | None:
        """The generation of the index the standing reports were decided from; None: decide everything."""
        row = self.db.execute("SELECT generation FROM passes WHERE account=? AND fingerprint IS NOT NULL",
                              (account,)).fetchone()
        return row[0] if row else None

    def decided_inbound(self, account: str) -> int:
        """The latest write of the inbound index the standing reports had seen (0: none, or unknown)."""
        row = self.db.execute("SELECT inbound_seen FROM passes WHERE account=?", (account,)).fetchone()
        return int(row[0]) if row and row[0] is not None else 0

    def has_read(self, account: str) -> bool:
        """Whether a pass has read all the account's folders into the index and decided from them, once."""
        return self.db.execute("SELECT 1 FROM passes WHERE account=? AND decided_at IS NOT NULL",
                               (account,)).fetchone() is not None

    def verdicts_of(self, account: str, message_ids: Collection[str]) -> dict[str, Verdict]:
        """What the bodies of these messages of ``account`` said, where a pass read them."""
        from mail_followup.classify import Verdict

        wanted = sorted(message_ids)
        found: dict[str, Verdict] = {}
        for start in range(0, len(wanted), 500):
            chunk = wanted[start:start + 500]
            rows = self.db.execute(f"SELECT message_id, verdict FROM verdicts WHERE account=? AND message_id IN "
                                   f"({','.join('?' * len(chunk))})", (account, *chunk))
            found.update((r[0], Verdict.from_json(r[1])) for r in rows)
        return found

    def forget_decisions(self, account: str) -> None:
        """Make the next pass decide every thread again (after a change the fingerprint cannot see)."""
        with self.transaction() as db:
            db.execute("UPDATE passes SET fingerprint=NULL WHERE account=?", (account,))

    def reports(self, account: str | None = None) -> list[dict[str, object]]:
        sql = "SELECT report FROM threads" + (" WHERE account=?" if account else "") + " ORDER BY account, thread"
        return [json.loads(r[0]) for r in self.db.execute(sql, (account,) if account else ())]

    def all_report_texts(self, accounts: Collection[str]) -> list[str]:
        """The stored reports of ``accounts``, by account and key, as ``status --json`` lists them."""
        rows = self.db.execute("SELECT account, report FROM threads ORDER BY account, thread")
        return [r[1] for r in rows if r[0] in accounts]

    def report_texts(self, account: str) -> list[str]:
        """The last reports of ``account`` as stored JSON, in report order (by the user's last message, then
        key): a pass with nothing new hands them on without decoding 100,000 of them."""
        rows = self.db.execute("SELECT last_sent, thread, report FROM threads WHERE account=?", (account,)).fetchall()
        rows.sort(key=lambda r: (str(r[0]), r[1]))  # report_order: faster here than SQLite sorting the reports
        return [r[2] for r in rows]

    def report_counts(self, account: str) -> dict[str, int]:
        rows = self.db.execute("SELECT state, count(*) FROM threads WHERE account=? GROUP BY state", (account,))
        return {str(r[0]): r[1] for r in rows}

    def open_moments(self, account: str) -> list[tuple[str, str, str | None]]:
        """(key, state, not_before) of every report that is due or waits for a moment, from an index: no
        report is read, and the answered and ignored threads, most of a large mailbox, are not even looked at."""
        rows = self.db.execute(
            "SELECT thread, state, not_before FROM threads "
            "WHERE account=? AND state IN ('due', 'waiting', 'snoozed', 'capped')", (account,))
        return [(r[0], r[1], r[2]) for r in rows]

    def report_keys(self, account: str) -> list[tuple[str, str]]:
        """(key, last_sent) of every standing report, none of them decoded."""
        rows = self.db.execute("SELECT thread, last_sent FROM threads WHERE account=?", (account,))
        return [(r[0], r[1]) for r in rows]

    def report_fields(self, fields: tuple[str, ...]) -> list[dict[str, object]]:
        """Only ``fields`` of every report, read by SQLite: for a table of 10,000 threads, twice as fast
        as decoding each whole report. A field that holds a list or an object comes back as JSON text."""
        if not all(f.isidentifier() for f in fields):
            raise ValueError(f"not a report field: {fields}")
        columns = ", ".join(f"json_extract(report, '$.{f}')" for f in fields)
        rows = self.db.execute(f"SELECT {columns} FROM threads ORDER BY account, thread")
        return [dict(zip(fields, row)) for row in rows]

    def passes(self) -> dict[str, tuple[str, bool, str | None]]:
        rows = self.db.execute("SELECT account, finished_at, ok, error FROM passes")
        return {r[0]: (r[1], bool(r[2]), r[3]) for r in rows}


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _iso(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).isoformat()


class _RowEncoder:
    """Rows for ``messages``, the same text as ``json.dumps`` would write, at a fraction of its cost.

    A first sync stores every message of a folder, and three ``json.dumps``
    per message were a tenth of a first scan at 100,000 messages. The same
    contacts and the same (mostly empty) extra facts repeat from message to
    message, so their JSON is made once per sync and joined.
    """

    def __init__(self) -> None:
        self._people: dict[Addr, str] = {}
        self._extra: dict[tuple[object, ...], str] = {}

    def _person(self, a: Addr) -> str:
        found = self._people.get(a)
        if found is None:
            found = self._people[a] = json.dumps([a.name, a.address], ensure_ascii=False)
        return found

    def _extra_json(self, m: Mail) -> str:
        key = (m.bcc, m.content_type, m.failed_recipients, m.thread_hint, m.auto_hint)
        found = self._extra.get(key)
        if found is None:
            found = json.dumps({
                "bcc": [[a.name, a.address] for a in m.bcc], "content_type": m.content_type,
                "failed": list(m.failed_recipients), "thread_hint": m.thread_hint, "auto_hint": m.auto_hint,
            }, ensure_ascii=False)
            if m.thread_hint is None and len(self._extra) < 10_000:  # a conversation id rarely repeats
                self._extra[key] = found
        return found

    def row(self, account: str, m: Mail, generation: int) -> tuple[object, ...]:
        person = self._person
        recipients = ('{"to": [' + ", ".join([person(a) for a in m.to]) + '], "cc": ['
                      + ", ".join([person(a) for a in m.cc]) + "]}")
        return (
            account, m.folder, m.uid, m.message_id, " ".join(m.in_reply_to), " ".join(m.references),
            person(m.sender) if m.sender else None, recipients, m.subject, _iso(m.date),
            " ".join(sorted(m.flags)), int(m.auto_reply), int(m.bulk), m.followup_for, m.followup_attempt,
            self._extra_json(m), generation,
        )


# Every column of ``messages`` (and ``gone``) but the generation that wrote the row, in table order.
_STORED_COLUMNS = ("account, folder, uid, message_id, in_reply_to, refs, sender, recipients, subject, date, flags, "
                   "auto_reply, bulk, followup_for, followup_attempt, extra")
# One JSON document per row for the people and the extra facts: one json.loads instead of three.
_MAIL_COLUMNS = ("folder, uid, message_id, in_reply_to, refs, '[' || COALESCE(sender, 'null') || ',' || recipients"
                 " || ',' || extra || ']', subject, date, flags, auto_reply, bulk, followup_for, followup_attempt")


class _MailReader:
    """Rows to ``Mail``, sharing equal values between messages (memory at scale)."""

    def __init__(self) -> None:
        self.share = Interner()

    def _list(self, pairs: list[list[str]]) -> tuple[Addr, ...]:
        return tuple(self.share.addr(n, a) for n, a in pairs) if pairs else ()

    def mail(self, r: tuple[Any, ...], gone: bool) -> Mail:
        folder, uid, message_id, irt, refs, people, subject, date, flags, auto, bulk, ffor, fatt = r
        sender, recipients, more = json.loads(people)
        share = self.share
        return Mail(
            folder=share.string(folder),
            uid=uid,
            message_id=share.string(message_id),
            in_reply_to=share.ids(irt.split()) if irt else (),
            references=share.ids(refs.split()) if refs else (),
            sender=share.addr(sender[0], sender[1]) if sender else None,
            to=self._list(recipients["to"]),
            cc=self._list(recipients["cc"]),
            subject=subject,
            date=datetime.fromisoformat(date),
            flags=share.flags(flags, flags.split()),
            auto_reply=bool(auto),
            bulk=bool(bulk),
            followup_for=ffor or None,
            followup_attempt=fatt,
            bcc=self._list(more.get("bcc", ())),
            content_type=more.get("content_type", ""),
            failed_recipients=tuple(more.get("failed", ())),
            thread_hint=more.get("thread_hint"),
            auto_hint=bool(more.get("auto_hint")),
            gone=gone,
        )
