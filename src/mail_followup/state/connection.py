"""The one SQLite connection the parts of the state share, its transactions, and how moments are written in it.

``Store`` is put together from parts, each in a module of its own (the
header index, the reports, the drafts ledger, the holds), and the inbound
index writes through the same connection: they all start from here, so the
store can use them without any of them needing the store. Every commit is a
numbered write (``writes.step``), the one a crash test may end the process
after.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from datetime import UTC, datetime

from mail_followup.state import writes


class Connected:
    """What each part of ``Store`` stands on: the open connection, and a transaction on it."""

    db: sqlite3.Connection

    def transaction(self) -> AbstractContextManager[sqlite3.Connection]:
        return transaction(self.db)


@contextmanager
def transaction(db: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    db.execute("BEGIN IMMEDIATE")
    try:
        yield db
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")
    writes.step("sqlite commit")


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat()
