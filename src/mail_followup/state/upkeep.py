"""Keeping the state file small and its queries planned: VACUUM once a week, ANALYZE once a day (issue 23).

The header and link indexes grow in the order mail arrives, and their keys
(hashes of Message-IDs) land at random places: after a first sync of a
large mailbox their pages are two thirds full, and every expunge leaves
free pages behind. A weekly VACUUM writes the file again packed; a daily
ANALYZE (bounded by ``analysis_limit``, so it reads a sample of each index,
not a million rows) keeps SQLite's plans right as the tables grow from
nothing. Both run after a pass, never during one, and a stop request ends
them early with nothing lost (SQLite rolls the statement back).
"""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime, timedelta

from mail_followup.state.connection import Connected

log = logging.getLogger(__name__)

VACUUM_EVERY = timedelta(days=7)
ANALYZE_EVERY = timedelta(days=1)
ANALYSIS_LIMIT = 1000  # rows of each index ANALYZE reads: fast at any size, and enough for the planner
_KEY = "state"  # the row of the whole file in ``upkeep`` (it is per file, not per account)


class Upkeep(Connected):
    """When the state was last vacuumed and analysed, and doing either when it is due."""

    def tend(self, now: datetime | None = None) -> list[str]:
        """Run what is due; return what was done, each with its time, for the log and the benchmark."""
        moment = now or datetime.now(UTC)
        row = self.db.execute("SELECT vacuumed_at, analyzed_at FROM upkeep WHERE account=?", (_KEY,)).fetchone()
        if row is None:  # a new state: its week starts now
            self.db.execute("INSERT INTO upkeep VALUES (?,?,?)", (_KEY, moment.isoformat(), None))
            row = (moment.isoformat(), None)
        done = []
        if moment - datetime.fromisoformat(row[0]) >= VACUUM_EVERY:
            done.append(self._timed("VACUUM", "VACUUM"))
            self.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # in WAL mode the packed copy went to the WAL
            self.db.execute("UPDATE upkeep SET vacuumed_at=? WHERE account=?", (moment.isoformat(), _KEY))
        if row[1] is None or moment - datetime.fromisoformat(row[1]) >= ANALYZE_EVERY:
            self.db.execute(f"PRAGMA analysis_limit={ANALYSIS_LIMIT}")
            done.append(self._timed("ANALYZE", "ANALYZE"))
            self.db.execute("UPDATE upkeep SET analyzed_at=? WHERE account=?", (moment.isoformat(), _KEY))
        return done

    def _timed(self, name: str, sql: str) -> str:
        start = time.perf_counter()
        self.db.execute(sql)
        took = f"{name} in {time.perf_counter() - start:.1f} s"
        log.info("state upkeep: %s", took)
        return took
