"""The state's upkeep: VACUUM once a week, ANALYZE once a day, after the passes (state/upkeep.py)."""

from __future__ import annotations

import sqlite3
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from mail_followup.core.headers import Addr, Mail
from mail_followup.imap.guard import watch_store
from mail_followup.state.index import FolderCursor
from mail_followup.state.store import Store

START = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def filled(store: Store, count: int) -> None:
    mails = [Mail("INBOX", i, f"<m{i}@x>", sender=Addr("", f"p{i}@firm.example"), subject=f"Hello {i}" * 5,
                  date=START - timedelta(hours=i)) for i in range(1, count + 1)]
    store.apply_sync("a", "INBOX", FolderCursor(1, count + 1, count), mails, (), False)


def test_vacuum_comes_a_week_after_the_state_began_and_analyze_daily(tmp_path: Path) -> None:
    with Store(tmp_path) as store:
        assert [d.split()[0] for d in store.tend(START)] == ["ANALYZE"]  # the state's week starts now
    with Store(tmp_path) as store:
        filled(store, 3000)
        store.apply_sync("a", "INBOX", FolderCursor(2, 1, 0), [], (), True)  # all moved to `gone`...
        store.db.execute("DELETE FROM gone")  # ... and let go: free pages
        before = store.path.stat().st_size + Path(f"{store.path}-wal").stat().st_size
        assert store.tend(START + timedelta(hours=1)) == []  # analysed an hour ago; its week is not over
        done = store.tend(START + timedelta(days=7, hours=1))
        assert [d.split()[0] for d in done] == ["VACUUM", "ANALYZE"]
        store.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        assert store.path.stat().st_size < before / 2
        assert store.db.execute("SELECT count(*) FROM sqlite_stat1").fetchone()[0] > 0
        assert store.tend(START + timedelta(days=7, hours=2)) == []
        assert [d.split()[0] for d in store.tend(START + timedelta(days=8, hours=2))] == ["ANALYZE"]


def test_a_stop_request_ends_the_upkeep_and_nothing_is_lost(tmp_path: Path) -> None:
    with Store(tmp_path) as store:
        store.tend(START)
        filled(store, 2000)
        cancel = threading.Event()
        cancel.set()
        watch_store(store.db, cancel)
        with pytest.raises(sqlite3.OperationalError, match="interrupted"):
            store.tend(START + timedelta(days=8))
        watch_store(store.db, threading.Event())
        assert store.db.execute("SELECT count(*) FROM messages").fetchone()[0] == 2000
        assert [d.split()[0] for d in store.tend(START + timedelta(days=8))] == ["VACUUM", "ANALYZE"]
