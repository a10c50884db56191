"""What the passes decided: the thread reports ``status`` and ``explain`` show, each pass's record, and the
verdicts on the bodies it read.

A pass that went well leaves a fingerprint of what it decided from and the
generation of the index it read; the next pass decides again only what
changed since (or everything, once the fingerprint is dropped). The reports
are stored as JSON with their state and moments beside them, so the
questions asked often (what is due, how many of each) never decode them.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Collection, Iterable, Iterator, Mapping
from datetime import datetime
from typing import TYPE_CHECKING

from mail_followup.state import links
from mail_followup.state.connection import Connected, epoch_up, now

if TYPE_CHECKING:  # classify loads YAML and the email package: not for `status`, which needs neither
    from mail_followup.core.classify import Verdict


class Reports(Connected):
    """The last decisions of each account, and what the bodies a pass read said."""

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
                updated = now()
                db.executemany(
                    "INSERT OR REPLACE INTO threads "
                    "(account, thread, report, updated_at, state, not_before, last_sent) VALUES (?,?,?,?,?,?,?)",
                    ((account, str(r["message_id"]), json.dumps(r, ensure_ascii=False), updated, r["state"],
                      r["not_before"], r["last_sent"]) for r in reports),
                )
            if ok and generation is not None:  # what the link index noted of writes it decided from
                db.execute("DELETE FROM dirty WHERE account=? AND generation <= ?", (account, generation))
            if ok:
                db.execute("INSERT OR REPLACE INTO passes VALUES (?,?,?,?,?,?,?,?)",
                           (account, now(), 1, error, decided_at.isoformat() if decided_at else None, fingerprint,
                            generation, inbound_seen))
            else:  # what the failed pass synced may not be in the reports: decide everything next time
                db.execute("INSERT INTO passes VALUES (?,?,0,?,NULL,NULL,NULL,NULL) "
                           "ON CONFLICT (account) DO UPDATE SET "
                           "finished_at=excluded.finished_at, ok=0, error=excluded.error, fingerprint=NULL",
                           (account, now(), error))

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

    def report_keys(self, account: str) -> StandingKeys:
        """The keys of the account's standing reports, asked of SQLite one at a time: a pass after new mail
        asks about the few conversations it touched, and 138,000 keys read into a set took a quarter second."""
        return StandingKeys(self.db, account)

    def reports_sent_before(self, account: str, moment: datetime) -> set[str]:
        """The keys of the standing reports whose user's last message was sent before ``moment`` (or is not
        known): they left the lookback. SQLite compares, so no report's moment is parsed in Python."""
        rows = self.db.execute(
            "SELECT thread FROM threads WHERE account=? AND (last_sent IS NULL OR last_sent = '' "
            "OR CAST(strftime('%s', last_sent) AS INTEGER) < ?)", (account, epoch_up(moment)))
        return {r[0] for r in rows}

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

    # --- what bodies said -----------------------------------------------------------

    def verdicts(self, account: str) -> dict[str, Verdict]:
        from mail_followup.core.classify import Verdict

        rows = self.db.execute("SELECT message_id, verdict FROM verdicts WHERE account=?", (account,))
        return {r[0]: Verdict.from_json(r[1]) for r in rows}

    def save_verdicts(self, account: str, verdicts: Mapping[str, Verdict]) -> None:
        """Record what bodies said; a bounce's report may join conversations in the link index."""
        scope = getattr(self, "inbound_scope", {}).get(account)
        with self.transaction() as db:
            db.executemany("INSERT OR REPLACE INTO verdicts VALUES (?,?,?,?)",
                           ((account, mid, v.to_json(), now()) for mid, v in verdicts.items()))
            if any(v.refers_to or v.failed for v in verdicts.values()):
                if scope is None:
                    links.forget(db, account)
                else:
                    links.link_verdicts(db, account, verdicts, scope[0])

    def verdicts_of(self, account: str, message_ids: Collection[str]) -> dict[str, Verdict]:
        """What the bodies of these messages of ``account`` said, where a pass read them."""
        from mail_followup.core.classify import Verdict

        wanted = sorted(message_ids)
        found: dict[str, Verdict] = {}
        for start in range(0, len(wanted), 500):
            chunk = wanted[start:start + 500]
            rows = self.db.execute(f"SELECT message_id, verdict FROM verdicts WHERE account=? AND message_id IN "
                                   f"({','.join('?' * len(chunk))})", (account, *chunk))
            found.update((r[0], Verdict.from_json(r[1])) for r in rows)
        return found


class StandingKeys(Collection[str]):
    """The keys of an account's standing reports, as a collection that reads the table when asked."""

    def __init__(self, db: sqlite3.Connection, account: str) -> None:
        self._db, self._account = db, account

    def __contains__(self, key: object) -> bool:
        return self._db.execute("SELECT 1 FROM threads WHERE account=? AND thread=?",
                                (self._account, key)).fetchone() is not None

    def __iter__(self) -> Iterator[str]:
        return (r[0] for r in self._db.execute("SELECT thread FROM threads WHERE account=?", (self._account,)))

    def __len__(self) -> int:
        return int(self._db.execute("SELECT COUNT(*) FROM threads WHERE account=?", (self._account,)).fetchone()[0])
