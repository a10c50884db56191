"""The keywords the user set in a mail client to stop or snooze a thread, as the last pass found them (issue 22).

Each row is one searched keyword (``core/keywords``) on one message of a
folder a pass reads, or of Drafts. What counts is the pair (keyword,
Message-ID): a message moved to another folder keeps its marks and the
moment they were first seen; a keyword gone from every copy of a message
is gone, and set again later it is new.

- ``$NoFollowUp`` on the user's mail or the contact's holds the thread for
  as long as it is there: ``stops`` gives ``Holds.stoplist`` an entry
  under the message's Message-ID (``policy.held_by`` finds it from the
  thread). On a follow-up draft of this program (it names its thread in
  ``X-Mail-Followup-For``) it stops the thread for good when first seen,
  as ``mail-followup stop`` does: the draft is withdrawn, and its keyword
  goes with it.
- ``$FollowUpSnooze`` snoozes the thread once, when the pair is first seen:
  a row in ``snoozes`` under the Message-ID (the thread's key, for a
  draft), until the day the caller says. A keyword that stays snoozes no
  more; taken off and set again, it snoozes again from then.

A mark that changes restamps its message in the header index (and puts the
server's flags there, for servers without CONDSTORE whose flag changes a
sync cannot see), so the pass after it decides that conversation again.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime

from mail_followup.core.keywords import NO_FOLLOW_UP, SNOOZE, canonical
from mail_followup.state import links
from mail_followup.state.connection import Connected
from mail_followup.state.index import HeaderIndex


@dataclass(frozen=True)
class Mark:
    folder: str
    uid: int
    keyword: str  # as ``core/keywords`` spells it
    message_id: str
    thread: str | None  # the thread a draft of this program names (X-Mail-Followup-For); None for other mail
    flags: frozenset[str] | None = None  # all the message's flags as the server gave them (None: not asked)


def stops(db: sqlite3.Connection, account: str) -> dict[str, str]:
    """The messages of the user's and their contacts' mail marked ``$NoFollowUp`` now: Message-ID -> why."""
    rows = db.execute("SELECT message_id, min(seen_at) FROM keywords WHERE account=? AND keyword=? AND thread IS NULL "
                      "GROUP BY message_id", (account, NO_FOLLOW_UP))
    return {mid: f"{mid} has the keyword {NO_FOLLOW_UP} (set in your mail client, seen {str(seen)[:10]}); "
                 f"take it off every message of the thread to go on" for mid, seen in rows}


class KeywordMarks(Connected):
    """The marks of each folder searched, and the cursor each was searched at."""

    def keyword_cursors(self, account: str) -> dict[str, str]:
        """Folder -> its cursor when it was last searched for keywords."""
        rows = self.db.execute("SELECT folder, cursor FROM keyword_folders WHERE account=?", (account,))
        return {r[0]: r[1] for r in rows}

    def marks_in(self, account: str, folder: str) -> list[Mark]:
        """The marks ``folder`` had at its last search."""
        rows = self.db.execute("SELECT folder, uid, keyword, message_id, thread FROM keywords WHERE account=? AND "
                               "folder=?", (account, folder))
        return [Mark(*r) for r in rows]

    def record_marks(self, account: str, marks: Iterable[Mark], cursors: Mapping[str, str], when: datetime,
                     snooze_until: date) -> set[str]:
        """Put ``marks`` in place of the account's marks (``cursors``: the folders they are valid for, each at
        its cursor); act on the marks seen for the first time (module doc). Return the Message-IDs whose
        marks changed."""
        marks = list(marks)
        seen_at = when.isoformat(timespec="seconds")
        rows = self.db.execute("SELECT folder, uid, keyword, message_id, thread FROM keywords WHERE account=?",
                               (account,))
        if {tuple(r) for r in rows} == {(m.folder, m.uid, m.keyword, m.message_id, m.thread) for m in marks} \
                and self.keyword_cursors(account) == dict(cursors):
            return set()  # as the last pass left them: nothing to write (one pass of an account at a time)
        with self.transaction() as db:
            old = [(r[0], r[1], r[2], r[3], r[4]) for r in db.execute(
                "SELECT folder, uid, keyword, message_id, seen_at FROM keywords WHERE account=?", (account,))]
            first_seen: dict[tuple[str, str], str] = {}
            for _, _, keyword, mid, at in old:
                first_seen[(keyword, mid)] = min(at, first_seen.get((keyword, mid), at))
            fresh = {(m.keyword, m.message_id): m for m in marks if (m.keyword, m.message_id) not in first_seen}
            for mark in fresh.values():
                self._first_seen(db, account, mark, seen_at, snooze_until)
            db.execute("DELETE FROM keywords WHERE account=?", (account,))
            db.executemany("INSERT OR IGNORE INTO keywords VALUES (?,?,?,?,?,?,?)",
                           ((account, m.folder, m.uid, m.keyword, m.message_id, m.thread,
                             first_seen.get((m.keyword, m.message_id), seen_at)) for m in marks))
            db.execute("DELETE FROM keyword_folders WHERE account=?", (account,))
            db.executemany("INSERT INTO keyword_folders VALUES (?,?,?)", ((account, f, c) for f, c in cursors.items()))
            changed = {mid for _, mid in set(first_seen) ^ {(m.keyword, m.message_id) for m in marks}}
            self._restamp(db, account, old, marks)
        return changed

    @staticmethod
    def _first_seen(db: sqlite3.Connection, account: str, mark: Mark, seen_at: str, snooze_until: date) -> None:
        if mark.keyword == SNOOZE:  # never shortens a snooze: the later day holds
            db.execute("INSERT INTO snoozes VALUES (?,?,?,?) ON CONFLICT (account, thread) DO UPDATE SET "
                       "until=max(until, excluded.until), added_at=excluded.added_at",
                       (account, mark.thread or mark.message_id, snooze_until.isoformat(), seen_at))
        elif mark.keyword == NO_FOLLOW_UP and mark.thread is not None:
            db.execute("INSERT OR IGNORE INTO stoplist VALUES (?,?,?,?,?)",
                       (account, mark.thread, f"you set {NO_FOLLOW_UP} on its follow-up draft (seen {seen_at[:10]}); "
                        f"mail-followup resume lifts it", mark.message_id, seen_at))

    @staticmethod
    def _restamp(db: sqlite3.Connection, account: str, old: list[tuple[str, int, str, str, str]],
                 marks: list[Mark]) -> None:
        """Restamp in the header index each message whose marks changed, with the flags the server gave."""
        before: dict[tuple[str, int], set[str]] = {}
        for folder, uid, keyword, _, _ in old:
            before.setdefault((folder, uid), set()).add(keyword)
        after: dict[tuple[str, int], set[str]] = {}
        flags: dict[tuple[str, int], frozenset[str] | None] = {}
        for mark in marks:
            after.setdefault((mark.folder, mark.uid), set()).add(mark.keyword)
            flags[(mark.folder, mark.uid)] = mark.flags
        moved = [place for place in before.keys() | after.keys() if before.get(place) != after.get(place)]
        if not moved:
            return
        generation = HeaderIndex._next_generation(db, account)
        for folder, uid in moved:
            row = db.execute("SELECT flags FROM messages WHERE account=? AND folder=? AND uid=?",
                             (account, folder, uid)).fetchone()
            if row is None:  # Drafts, or gone from the index
                continue
            now_flags = flags.get((folder, uid))
            if now_flags is None:  # the keywords went: the message keeps its other flags
                now_flags = frozenset(f for f in str(row[0]).split() if canonical(f) is None)
            db.execute("UPDATE messages SET flags=?, changed=? WHERE account=? AND folder=? AND uid=?",
                       (" ".join(sorted(f for f in now_flags if f != "\\Recent")), generation, account, folder, uid))
            links.note_dirty_where(db, account, generation, "messages", "account=? AND folder=? AND uid=?",
                                   (account, folder, uid))
