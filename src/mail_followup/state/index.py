"""The header index and the sync cursors: what the state knows of each folder's messages.

It is a cache of the server, kept in step with it one folder at a time:
each sync writes its messages and its cursor in one transaction, and every
write of the index takes a new generation, so a pass can ask what changed
since the one its decisions were made from. Messages the server no longer
has move to ``gone`` rather than vanish: a deleted answer is still an answer.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Collection, Iterable, Iterator, Mapping
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from datetime import datetime

from mail_followup.core.headers import Mail
from mail_followup.state import inbound, links
from mail_followup.state.connection import Connected, epoch, epoch_up, now
from mail_followup.state.mailrows import LINK_COLUMNS, MAIL_COLUMNS, STORED_COLUMNS, MailReader, RowEncoder


@dataclass(frozen=True)
class FolderCursor:
    uidvalidity: int
    uidnext: int
    messages: int
    highestmodseq: int | None = None  # CONDSTORE servers only


class HeaderIndex(Connected):
    """The messages of every folder synced, and the cursor each folder's next sync starts from."""

    # Per account, the addresses and the start the inbound index is kept for (inbound.prepare).
    inbound_scope: dict[str, inbound.Scope]

    def cursor(self, account: str, folder: str) -> FolderCursor | None:
        row = self.db.execute(
            "SELECT uidvalidity, uidnext, messages, highestmodseq FROM folders WHERE account=? AND name=?",
            (account, folder),
        ).fetchone()
        return FolderCursor(*row) if row else None

    def known_uids(self, account: str, folder: str) -> KnownUids:
        return KnownUids(self.db, account, folder)

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
            for chunk in _chunks(sorted(flags or {})):
                links.note_dirty_where(db, account, generation, "messages",
                                       f"account=? AND folder=? AND uid IN ({','.join('?' * len(chunk))})",
                                       (account, folder, *chunk))
            self._insert(db, account, new, generation)
            db.execute(
                "INSERT OR REPLACE INTO folders VALUES (?,?,?,?,?,?,?)",
                (account, folder, cursor.uidvalidity, cursor.uidnext, cursor.messages, now(), cursor.highestmodseq),
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
        links.note_dirty_where(db, account, generation, "messages", where, params)
        db.execute(f"INSERT OR REPLACE INTO gone SELECT {STORED_COLUMNS}, ?, {LINK_COLUMNS} FROM messages "
                   f"WHERE {where}", (generation, *params))
        db.execute(f"DELETE FROM messages WHERE {where}", params)

    def _insert(self, db: sqlite3.Connection, account: str, mails: Iterable[Mail], generation: int) -> None:
        """Index ``mails``, and in the same transaction the link index (links.py) and the inbound index
        (inbound.py) where a pass said what they are kept for; otherwise both are marked for rebuilding."""
        mails = list(mails)
        encoder = RowEncoder()
        scope = self.inbound_scope.get(account)
        own = {a.lower() for a in scope[0]} if scope is not None else None
        keys = [links.row_keys(account, m, own) for m in mails]
        db.executemany("INSERT OR REPLACE INTO messages VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                       (encoder.row(account, m, generation, k) for m, k in zip(mails, keys, strict=True)))
        if scope is None:
            links.forget(db, account)
            inbound.forget(db, account)
        else:
            links.index(db, account, mails, scope[0], keys)
            inbound.write(db, account, mails, *scope)
        links.note_dirty(db, account, generation, {node for node, _ in keys})

    def mails(self, account: str, since: datetime) -> list[Mail]:
        """The indexed messages dated ``since`` or later, then those that vanished from the server.

        The live copy of a message comes first, so it wins where both exist; then by date, and between
        messages of the same moment in the order they were indexed (a folder read first, first).
        """
        return self._mails_where("account=? AND date >= ?", (account, epoch_up(since)))

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
        reader = MailReader()
        found: list[Mail] = []
        for table, gone in (("messages", False), ("gone", True)):
            rows = self.db.execute(f"SELECT {MAIL_COLUMNS} FROM {table} WHERE {condition} ORDER BY date, rowid",
                                   params)
            found.extend(reader.mail(r, gone) for r in rows)
        return found

    def mails_at(self, rows: Iterable[int]) -> list[Mail]:
        """The messages at ``rows`` (``rowid * 2``, plus one for a copy gone from the server), in that order."""
        reader = MailReader()
        found: list[Mail] = []
        wanted = list(rows)
        for start in range(0, len(wanted), 500):
            chunk = wanted[start:start + 500]
            by_row: dict[int, Mail] = {}
            for gone, table in enumerate(("messages", "gone")):
                ids = [row >> 1 for row in chunk if row & 1 == gone]
                if ids:
                    query = f"SELECT rowid, {MAIL_COLUMNS} FROM {table} WHERE rowid IN ({','.join('?' * len(ids))})"
                    for r in self.db.execute(query, ids):
                        by_row[r[0] * 2 + gone] = reader.mail(r[1:], bool(gone))
            found.extend(by_row[row] for row in chunk if row in by_row)
        return found

    def mails_between(self, account: str, start: datetime, end: datetime) -> list[Mail]:
        """The indexed messages dated from ``start`` to ``end``, live copies first."""
        return self._mails_where("account=? AND date >= ? AND date <= ?", (account, epoch_up(start), epoch(end)))

    def replies_from(self, account: str, since: datetime, senders: Collection[str]) -> list[Mail]:
        """The messages dated ``since`` or later from ``senders`` that reply to something, live copies first."""
        if not senders:
            return []
        return self._mails_where(
            "account=? AND date >= ? AND (in_reply_to != '' OR refs != '')"
            " AND json_extract(sender, '$[1]') IN (SELECT value FROM json_each(?))",
            (account, epoch_up(since), json.dumps(sorted(senders))))


def _chunks(values: list[int], size: int = 500) -> Iterable[list[int]]:
    return (values[start:start + size] for start in range(0, len(values), size))


class KnownUids(AbstractSet[int]):
    """The UIDs of a folder already indexed, asked of SQLite as the sync needs them.

    After new mail on a server with QRESYNC the sync asks about a few UIDs (the new ones, those whose
    flags changed, those it says vanished); reading all 550,000 of a large Sent folder into a set took a
    fifth of a second. A sync that asks about many (every flag changed at once) reads them all, once.
    """

    _ASKED_ONE_BY_ONE = 256

    def __init__(self, db: sqlite3.Connection, account: str, folder: str) -> None:
        self._db, self._where = db, (account, folder)
        self._asked = 0
        self._all: set[int] | None = None

    @classmethod
    def _from_iterable(cls, values: Iterable[int]) -> set[int]:  # type: ignore[override]  # ``-``, ``&``: a set
        return set(values)

    def __contains__(self, uid: object) -> bool:
        if not isinstance(uid, int):  # SQLite would take '3' for 3
            return False
        if self._all is None and self._asked < self._ASKED_ONE_BY_ONE:
            self._asked += 1
            return self._db.execute("SELECT 1 FROM messages WHERE account=? AND folder=? AND uid=?",
                                    (*self._where, uid)).fetchone() is not None
        return uid in self._everything()

    def __iter__(self) -> Iterator[int]:
        return iter(self._everything())

    def __len__(self) -> int:
        return len(self._everything())

    def __bool__(self) -> bool:
        if self._all is not None:
            return bool(self._all)
        return self._db.execute("SELECT 1 FROM messages WHERE account=? AND folder=? LIMIT 1",
                                self._where).fetchone() is not None

    def _everything(self) -> set[int]:
        if self._all is None:
            rows = self._db.execute("SELECT uid FROM messages WHERE account=? AND folder=?", self._where)
            self._all = {r[0] for r in rows}
        return self._all
