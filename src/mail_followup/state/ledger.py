"""The drafts ledger: each follow-up draft written and what became of it, and the weekly digests written.

The Drafts folder itself is the truth about what was written (a pass
searches it before any write); the ledger keeps what became of each
draft, and one the user deleted is ``dismissed`` there, never written
again. So, like the user's stops, it is copied over from a damaged state
(``repair.SALVAGED``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from mail_followup.state.connection import Connected, now


@dataclass(frozen=True)
class DraftRecord:
    thread: str
    attempt: int
    message_id: str
    folder: str
    uid: int | None
    state: str = "written"  # written | missing | dismissed | withdrawn
    changed_at: str | None = None


class DraftLedger(Connected):
    """The drafts and digests written into each account, and how its Drafts folder last looked."""

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
                (account, record.thread, record.attempt, record.message_id, record.folder, record.uid, now(),
                 record.state, record.changed_at),
            )

    def mark_draft(self, account: str, thread: str, attempt: int, state: str, when: datetime) -> None:
        """What became of a draft the ledger holds (see ``DraftRecord.state``)."""
        with self.transaction() as db:
            db.execute("UPDATE drafts SET state=?, changed_at=? WHERE account=? AND thread=? AND attempt=?",
                       (state, when.isoformat(timespec="seconds"), account, thread, attempt))

    def drafts_folder_status(self, account: str) -> str | None:
        """How the Drafts folder looked at the end of the last pass (UIDVALIDITY, UIDNEXT, MESSAGES)."""
        row = self.db.execute("SELECT status FROM drafts_folder WHERE account=?", (account,)).fetchone()
        return row[0] if row else None

    def save_drafts_folder_status(self, account: str, status: str) -> None:
        with self.transaction() as db:
            db.execute("INSERT OR REPLACE INTO drafts_folder VALUES (?,?)", (account, status))

    def digest_written(self, account: str, week: str) -> bool:
        found = self.db.execute("SELECT 1 FROM digests WHERE account=? AND week=?", (account, week)).fetchone()
        return found is not None

    def record_digest(self, account: str, week: str, message_id: str) -> None:
        with self.transaction() as db:
            db.execute("INSERT OR REPLACE INTO digests VALUES (?,?,?,?)", (account, week, message_id, now()))
