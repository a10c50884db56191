"""The one SQLite connection the parts of the state share, its transactions, and how moments are written in it.

``Store`` is put together from parts, each in a module of its own (the
header index, the reports, the drafts ledger, the holds), and the inbound
index writes through the same connection: they all start from here, so the
store can use them without any of them needing the store. Every commit is a
numbered write (``writes.step``), the one a crash test may end the process
after.
"""

from __future__ import annotations

import math
import sqlite3
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from datetime import UTC, datetime, timedelta

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


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def epoch(moment: datetime) -> int:
    """A message's date as the index keeps it: whole seconds since 1970, 4 bytes in SQLite where the ISO text
    was 25 (in the table and again in its date index, a tenth of the state at a million messages)."""
    return math.floor(moment.timestamp())


def epoch_up(moment: datetime) -> int:
    """``moment`` as a lower bound on ``epoch`` dates (``date >= ?``, ``date < ?``): the same messages as the
    moment itself would select, when it has a fraction of a second."""
    return math.ceil(moment.timestamp())


def from_epoch(seconds: int) -> datetime:
    """``epoch`` back to an aware moment in UTC, for any year a Date: header can hold (``fromtimestamp`` is
    not defined before 1970 on every platform)."""
    return _EPOCH + timedelta(seconds=seconds)
