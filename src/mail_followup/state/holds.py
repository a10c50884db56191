"""What holds follow-ups back: the user's stops, snoozes and resumes, and the accounts the service paused.

These are said by the user (or, for a pause, by a server that refused the
login), and no mailbox can tell them again, so a damaged state copies them
over into its new one (``repair.SALVAGED``).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime

from mail_followup.state import marks
from mail_followup.state.connection import Connected, now


class Holds(Connected):
    """Who the user asked never to be followed up, threads snoozed or resumed, accounts paused."""

    def stoplist(self, account: str) -> dict[str, str]:
        """Address, thread key or (a keyword set in a mail client, ``marks.stops``) Message-ID -> why."""
        found = marks.stops(self.db, account)
        found.update((r[0], r[1]) for r in self.db.execute("SELECT address, reason FROM stoplist WHERE account=?",
                                                            (account,)))
        return found

    def add_to_stoplist(self, account: str, address: str, reason: str, message_id: str | None) -> None:
        """Never follow up with ``address`` again (or in the thread whose key it is, "<...>");
        the first reason recorded is kept. A thread's key keeps its case: Message-IDs are compared as written."""
        with self.transaction() as db:
            db.execute("INSERT OR IGNORE INTO stoplist VALUES (?,?,?,?,?)",
                       (account, address if address.startswith("<") else address.lower(), reason, message_id, now()))

    def snoozed(self, account: str) -> dict[str, date]:
        rows = self.db.execute("SELECT thread, until FROM snoozes WHERE account=?", (account,))
        return {r[0]: date.fromisoformat(r[1]) for r in rows}

    def snooze(self, account: str, thread: str, until: date, messages: Iterable[str] = ()) -> None:
        """No follow-up in ``thread`` before ``until``; a later call replaces the date, and so it does the
        snoozes a keyword set on any of the thread's ``messages`` (their Message-IDs)."""
        with self.transaction() as db:
            db.executemany("DELETE FROM snoozes WHERE account=? AND thread=?", ((account, m) for m in messages))
            db.execute("INSERT OR REPLACE INTO snoozes VALUES (?,?,?,?)", (account, thread, until.isoformat(), now()))

    def resume_thread(self, account: str, thread: str, at: datetime) -> None:
        """The user says the thread goes on (``mail-followup resume``): mail outside it up to ``at`` is no
        answer, their own stop of it is lifted, and a draft they deleted may be written again."""
        with self.transaction() as db:
            db.execute("INSERT OR REPLACE INTO resumed VALUES (?,?,?)", (account, thread, at.isoformat()))
            db.execute("DELETE FROM stoplist WHERE account=? AND address IN (?, ?)", (account, thread, thread.lower()))
            db.execute("DELETE FROM drafts WHERE account=? AND thread=? AND state='dismissed'", (account, thread))
            db.execute("UPDATE passes SET fingerprint=NULL WHERE account=?", (account,))

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
