"""The inbound index of the state: who wrote when, by address, organisation and subject (issue 18).

An answer outside its thread (a new thread from the contact, a colleague's
answer, an invitation, mail in another account) is found here without
reading mail again: every message from someone else that a person wrote,
or that may carry a calendar invitation or answer, is one row, kept while
it is recent enough to matter (the longest lookback_days of the config and
a margin). Rows are written in the same transaction as the header index
(``HeaderIndex._insert``); each write takes a new ``seq``, so a pass asks what
arrived in any account since its standing decisions with one range.

A message the user deleted keeps its row: an answer deleted is still an
answer. The rows of an account are rebuilt from its header index when its
own addresses change, or when a pass needs an older start than the rows
have; a write made without knowing the account's addresses (a test, a tool)
marks them for rebuilding.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Collection, Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol

from mail_followup.core.headers import Mail
from mail_followup.state.connection import epoch, epoch_up, iso, transaction
from mail_followup.state.mailrows import iter_mails

if TYPE_CHECKING:  # intouch loads the phrase lists: only a pass that writes or asks needs them
    from mail_followup.core.intouch import ContactSide, Inbound

MARGIN = timedelta(days=7)  # kept beyond the longest lookback: a little more is never wrong
OPEN_STATES = ("waiting", "due", "drafted", "snoozed", "call", "capped")  # reports new mail may change
# The row of a message: no name and no subject (the one message a report names is looked up whole), and the
# date in seconds since the epoch, to keep it small: it is written for every message from someone else.
_COLUMNS = "account, folder, uid, message_id, address, organisation, subject_key, date, human, replies, calendar"
_WRITE_CHUNK = 2000

Scope = tuple[frozenset[str], datetime]  # the user's own addresses, and the start the rows are kept from


class Scoped(Protocol):
    """What ``prepare`` needs of the store: its connection, and where it keeps each account's scope for
    the writes of the header index to follow."""

    db: sqlite3.Connection
    inbound_scope: dict[str, Scope]


def write(db: sqlite3.Connection, account: str, mails: Iterable[Mail], own: Collection[str], floor: datetime) -> None:
    """Index the messages of ``mails`` from someone else, dated ``floor`` or later, that can count."""
    from mail_followup.core.intouch import can_count, organisation, subject_key

    rows = []
    for mail in mails:  # every message a sync writes passes here: no object is made between
        if mail.sender is None or mail.date < floor or mail.sender.address in own:
            continue
        facts = can_count(mail)
        if facts is not None:
            rows.append((account, mail.folder, mail.uid, mail.message_id, mail.sender.address,
                         organisation(mail.sender.address.rpartition("@")[2]), subject_key(mail.subject),
                         epoch(mail.date), int(facts[0]), int(bool(mail.in_reply_to or mail.references)),
                         int(facts[1])))
    if rows:
        db.executemany(f"INSERT OR REPLACE INTO inbound ({_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?,?)", rows)


def prepare(store: Scoped, account: str, own: Collection[str], floor: datetime) -> None:
    """Make the account's rows complete from ``floor`` for these addresses, and let the store keep them so.

    Cheap when nothing changed: the rows older than needed are dropped at
    most once a day. A first pass after an upgrade, a changed set of own
    addresses, or an older start (``explain --now`` in the past) rebuilds
    them from the header index.
    """
    own_text = " ".join(sorted(own))
    kept = store.db.execute("SELECT own, since FROM inbound_kept WHERE account=?", (account,)).fetchone()
    if kept is None or kept[0] != own_text or datetime.fromisoformat(kept[1]) > floor:
        _rebuild(store.db, account, set(own), floor)
    elif floor - datetime.fromisoformat(kept[1]) > timedelta(days=1):
        with transaction(store.db) as db:
            db.execute("DELETE FROM inbound WHERE account=? AND date < ?", (account, epoch(floor)))
            db.execute("UPDATE inbound_kept SET since=? WHERE account=?", (iso(floor), account))
    store.inbound_scope[account] = (frozenset(own), floor)


def _rebuild(connection: sqlite3.Connection, account: str, own: set[str], floor: datetime) -> None:
    with transaction(connection) as db:
        db.execute("DELETE FROM inbound WHERE account=?", (account,))
        batch: list[Mail] = []
        # Gone copies first, live ones after: where both exist, the live copy's folder is the one shown.
        for mail in iter_mails(db, "account=? AND date >= ?", (account, epoch_up(floor)), gone_first=True):
            batch.append(mail)
            if len(batch) == _WRITE_CHUNK:
                write(db, account, batch, own, floor)
                batch = []
        write(db, account, batch, own, floor)
        db.execute("INSERT OR REPLACE INTO inbound_kept VALUES (?,?,?)", (account, " ".join(sorted(own)), iso(floor)))


def forget(db: sqlite3.Connection, account: str) -> None:
    """The account's rows may miss what was just written: the next ``prepare`` rebuilds them."""
    db.execute("DELETE FROM inbound_kept WHERE account=?", (account,))


def latest(db: sqlite3.Connection) -> int:
    """The ``seq`` of the latest write of the index (0 before any): what a pass decided from."""
    row = db.execute("SELECT seq FROM sqlite_sequence WHERE name='inbound'").fetchone()
    return int(row[0]) if row else 0


def candidates(db: sqlite3.Connection, accounts: Sequence[str], after: datetime, side: ContactSide,
               quoting: Collection[str] = ()) -> list[Inbound]:
    """Every row dated after ``after`` that may end the wait of ``side``: from its addresses or
    organisations, under its subject, quoting it, or carrying a calendar. ``intouch.first_touch`` weighs them.

    One query, each part on an index of its own (a row met twice is kept once)."""
    when = epoch(after)
    parts: list[str] = []
    params: list[object] = []
    if side.addresses:
        parts.append(f"address IN ({','.join('?' * len(side.addresses))}) AND date > ?")
        params += [*sorted(side.addresses), when]
    if side.organisations:
        parts.append(f"organisation IN ({','.join('?' * len(side.organisations))}) AND date > ?")
        params += [*sorted(side.organisations), when]
    if side.subject_key:
        parts.append("subject_key = ? AND subject_key != 0 AND date > ?")  # the partial index needs the != 0
        params += [side.subject_key, when]
    if quoting:  # found by a search of the thread's own account, the first of ``accounts``
        parts.append(f"account = ? AND message_id IN ({','.join('?' * len(quoting))}) AND date > ?")
        params += [accounts[0], *sorted(quoting), when]
    parts.append("calendar = 1 AND date > ?")
    params.append(when)
    sql = " UNION ALL ".join(f"SELECT {_COLUMNS} FROM inbound WHERE {p}" for p in parts)
    wanted = set(accounts)
    found: dict[tuple[str, str], Inbound] = {}
    for row in db.execute(sql, params):
        if row[0] in wanted:
            found.setdefault((row[0], row[3]), _inbound(row))
    return list(found.values())


def arrivals(db: sqlite3.Connection, accounts: Sequence[str], seen: int) -> list[Inbound]:
    """The rows written after ``seq`` ``seen``, in ``accounts``."""
    wanted = set(accounts)
    rows = db.execute(f"SELECT {_COLUMNS} FROM inbound WHERE seq > ?", (seen,))
    return [found for found in map(_inbound, rows) if found.account in wanted]


def written_in(db: sqlite3.Connection, account: str, folder: str, after: datetime) -> list[int]:
    """UIDs of the messages a person wrote to ``account`` into ``folder`` after ``after``: what a search for a
    quote of the user's message needs to read, and no more. (No index of its own: it is asked only right
    before a draft is written, and every index costs each message from someone else a write.)"""
    rows = db.execute("SELECT uid FROM inbound WHERE account=? AND folder=? AND date > ? AND human = 1",
                      (account, folder, epoch(after)))
    return [r[0] for r in rows]


def unread_calendar(db: sqlite3.Connection, account: str, since: datetime) -> list[tuple[str, int, str]]:
    """(folder, UID, Message-ID) of the account's rows dated ``since`` or later that may carry a calendar
    and whose body no pass has read yet."""
    rows = db.execute("SELECT folder, uid, message_id FROM inbound WHERE calendar = 1 AND date >= ? AND account=? "
                      "AND message_id NOT IN (SELECT message_id FROM verdicts WHERE account=?)",
                      (epoch(since), account, account))
    return [(r[0], r[1], r[2]) for r in rows]


def restamp(db: sqlite3.Connection, account: str, message_ids: Collection[str]) -> None:
    """Give the rows a new ``seq``: what their bodies said is news to the other accounts' standing reports
    (an invitation read in one account may end a wait in another)."""
    for message_id in message_ids:  # the row replaces itself, and so takes the next seq
        db.execute(f"REPLACE INTO inbound ({_COLUMNS}) SELECT {_COLUMNS} FROM inbound WHERE account=? AND "
                   "message_id=?", (account, message_id))


def open_reports(db: sqlite3.Connection, account: str) -> list[tuple[str, list[str], str]]:
    """(key, addresses written to, subject) of the account's standing reports that new mail may change."""
    import json

    rows = db.execute("SELECT thread, json_extract(report, '$.to'), json_extract(report, '$.subject') FROM threads "
                      f"WHERE account=? AND state IN ({','.join('?' * len(OPEN_STATES))})", (account, *OPEN_STATES))
    return [(r[0], json.loads(r[1]) if r[1] else [], str(r[2] or "")) for r in rows]


def quoting(db: sqlite3.Connection, account: str) -> dict[str, set[str]]:
    """Thread key -> the Message-IDs of the messages a server search found quoting its user's message."""
    found: dict[str, set[str]] = {}
    for thread, message_id in db.execute("SELECT thread, message_id FROM quoted WHERE account=?", (account,)):
        found.setdefault(thread, set()).add(message_id)
    return found


def record_quotes(db: sqlite3.Connection, account: str, thread: str, message_ids: Iterable[str]) -> None:
    now = iso(datetime.now(UTC))
    db.executemany("INSERT OR IGNORE INTO quoted VALUES (?,?,?,?)", ((account, thread, m, now) for m in message_ids))


def resumed(db: sqlite3.Connection, account: str) -> dict[str, datetime]:
    """Thread key -> the moment the user said the mail outside it up to then was no answer (``resume``)."""
    return {r[0]: datetime.fromisoformat(r[1])
            for r in db.execute("SELECT thread, at FROM resumed WHERE account=?", (account,))}


def _inbound(row: tuple[Any, ...]) -> Inbound:
    from mail_followup.core.intouch import Inbound

    account, folder, uid, message_id, address, organisation, key, date, human, replies, calendar = row
    return Inbound(account, folder, uid, message_id, address, "", organisation, "", key,
                   datetime.fromtimestamp(date, UTC), bool(human), bool(replies), bool(calendar))
