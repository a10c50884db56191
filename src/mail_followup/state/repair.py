"""A damaged or unusable state, told in one clear line, and a damaged one put aside and rebuilt (issue 19).

The state is a cache of the server: the header index, the decisions, the
inbound index can all be read again, and the drafts themselves, with their
``X-Mail-Followup-For`` marker, are the truth about what was written (a
pass searches Drafts before it writes). So a database that is garbage,
truncated or has a corrupted page is moved aside, kept for whoever wants
to look, and a new one is begun; what only the user could have said there
(their `stop`, `snooze` and `resume`, the drafts they deleted, a paused
account) is copied over from the damaged file as far as it can still be
read. A state directory that cannot be used at all (another user's, a
read-only file system) is one line of advice, never a traceback.
"""

from __future__ import annotations

import logging
import os
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

from mail_followup.errors import MailFollowupError

log = logging.getLogger(__name__)

_CORRUPT, _NOT_A_DATABASE = 11, 26  # SQLite's primary result codes SQLITE_CORRUPT and SQLITE_NOTADB
# What the user said, table by table: copied from a damaged state into the new one as far as it reads.
# The keywords' marks too: they say which keywords were acted on already (a snooze is not given twice).
SALVAGED = ("stoplist", "snoozes", "resumed", "drafts", "digests", "paused", "keywords")


class StateUnusable(MailFollowupError):
    """The state directory or its database cannot be used by this user; nothing was done."""


def is_damage(exc: BaseException) -> bool:
    """Whether ``exc`` says the database file itself is broken (not locked, not read-only, not full)."""
    return isinstance(exc, sqlite3.DatabaseError) and (getattr(exc, "sqlite_errorcode", 0) & 0xFF) in (
        _CORRUPT, _NOT_A_DATABASE)


def unusable(state_dir: Path, exc: OSError | sqlite3.Error) -> StateUnusable:
    """The one line for a state directory this user cannot use."""
    try:
        owner = state_dir.stat().st_uid
    except OSError:
        owner = os.geteuid()
    if owner != os.geteuid():
        return StateUnusable(f"the state directory {state_dir} belongs to another user (uid {owner})",
                             "chown it to yourself, or set state_dir in the config (mail-followup doctor checks it)")
    return StateUnusable(f"the state directory {state_dir} cannot be written ({exc})",
                         "check that its file system is not read-only and that it is yours, or set state_dir in "
                         "the config (mail-followup doctor checks it)")


def check_owner(state_dir: Path) -> None:
    """Refuse a state directory of another user, even when the file system would let this one in (root)."""
    try:
        owner = state_dir.stat().st_uid
    except FileNotFoundError:
        return
    except OSError as exc:
        raise unusable(state_dir, exc) from None
    if owner != os.geteuid():
        raise unusable(state_dir, PermissionError("another user's"))


def put_aside(database: Path) -> Path:
    """Move a damaged database (and its WAL files) aside under a name that says when; return the new path."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    aside = database.with_name(f"{database.name}.damaged-{stamp}")
    number = 1
    while aside.exists():  # damaged twice within a second: keep both
        number += 1
        aside = database.with_name(f"{database.name}.damaged-{stamp}-{number}")
    for suffix in ("", "-wal", "-shm"):
        source = Path(f"{database}{suffix}")
        if source.exists():
            os.replace(source, Path(f"{aside}{suffix}"))
    return aside


def newest_aside(database: Path) -> Path | None:
    """The damaged database most recently put aside beside ``database``, if any (names sort by time)."""
    kept = [path for path in database.parent.glob(f"{database.name}.damaged-*")
            if not path.name.endswith(("-wal", "-shm"))]
    return max(kept, key=lambda path: (path.name.split(".damaged-")[1][:16], len(path.name), path.name), default=None)


def salvage(aside: Path, db: sqlite3.Connection) -> list[str]:
    """Copy what the user said from the damaged database ``aside`` into ``db``, table by table, as far as it
    can be read; return the tables copied."""
    copied: list[str] = []
    try:
        old = sqlite3.connect(f"file:{aside}?mode=ro", uri=True)
    except sqlite3.Error:
        return copied
    try:
        for table in SALVAGED:
            try:
                rows = old.execute(f"SELECT * FROM {table}").fetchall()
                if rows:
                    marks = ",".join("?" * len(rows[0]))
                    db.executemany(f"INSERT OR IGNORE INTO {table} VALUES ({marks})", rows)
                copied.append(table)
            except sqlite3.Error:
                continue  # unreadable, or not there in that version: the next pass learns what it can again
    finally:
        old.close()
    return copied
