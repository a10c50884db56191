"""The link index: which messages may belong to one conversation, kept as mail arrives (issue 23).

A pass decides only the conversations new mail joined, yet a conversation
may have begun a year before. Grouping the whole index again at every pass
cost 20 s at a million messages; so the groups are kept here, in the state,
and each write of the header index updates them in its own transaction.

Every Message-ID a message has or names, and every server conversation id
(Gmail's X-GM-THRID), is a *node*: a 64-bit hash salted with the account.
``links`` maps each node to its group; ``messages.node`` finds a message's
group and a group's messages. The groups join at least what
``threads.build_threads`` joins, never less, whatever the verdicts and
settings (``same_domain_answers``), so that every conversation lies whole
inside one group:

- a message and the Message-IDs in its In-Reply-To and References, and the
  messages with the same server conversation id;
- an answer without threading headers from someone else, and each earlier
  message of the user's under the same subject written to its sender or to
  their (non-free-mail) domain (``subject_key`` finds both sides; it is set
  on the user's messages and on others' messages without threading headers,
  which is why the index depends on the user's addresses);
- a bounce (a message naming failed recipients, in its headers or in what
  its body said) and the Message-IDs its report names, and every message of
  the user's in the week before it written to a failed address
  (``bounces`` keeps the bounces for messages indexed after them).

The links depend only on the messages indexed (live or gone; nothing is
ever deleted from the index) and the bounces' verdicts, never on the order
they came in: a rebuild from scratch gives the same groups
(tests/test_links.py). Groups only ever join; a group label is one of its
nodes. Each write also notes its messages' nodes in ``dirty`` under the
write's generation, so that a pass finds what changed since the standing
reports with one range (kept only once there are standing reports).
"""

from __future__ import annotations

import hashlib
import json
import logging
import sqlite3
from collections.abc import Collection, Iterable, Iterator, Mapping
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from mail_followup.core.headers import Mail
from mail_followup.state.connection import epoch, epoch_up, iso, transaction
from mail_followup.state.mailrows import MAIL_COLUMNS, MailReader, iter_mails

if TYPE_CHECKING:
    from mail_followup.core.classify import Verdict

log = logging.getLogger(__name__)

BOUNCE_WINDOW = timedelta(days=7)  # as threads.BOUNCE_WINDOW (the core's rule; repeated to keep status light)
_CHUNK = 500  # parameters per IN (...)


def stable_hash(text: str) -> int:
    """A hash that is the same in every process (Python's ``hash`` of a str is not), of 47 bits: SQLite stores
    it in 6 bytes rather than 8, in the row and in each index that holds it, and two of two million nodes
    share one with a chance of 1 in 70 (they would merely join their groups: more read, never less)."""
    digest = hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=6).digest()
    return int.from_bytes(digest, "big") >> 1


def node_of(account: str, message_id: str) -> int:
    return stable_hash(f"{account}\0{message_id}")


def _hint_node(account: str, hint: str) -> int:
    return stable_hash(f"{account}\0hint\0{hint}")


def subject_key(account: str, subject: str) -> int:
    """The key of a subject, as the user's messages carry it; an answer without threading headers carries its
    negative, so that each side looks up only the other."""
    from mail_followup.core.threads import base_subject

    return stable_hash(f"{account}\0subject\0{base_subject(subject)}") or 1


def _chunks(values: Iterable[int]) -> Iterator[list[int]]:
    wanted = list(values)
    for start in range(0, len(wanted), _CHUNK):
        yield wanted[start:start + _CHUNK]


def _is_own(mail: Mail, own: Collection[str]) -> bool:
    return mail.sender is not None and mail.sender.address in own


def _headerless_answer(mail: Mail, own: Collection[str]) -> bool:
    return not mail.in_reply_to and not mail.references and mail.sender is not None and not _is_own(mail, own)


def row_keys(account: str, mail: Mail, own: Collection[str] | None) -> tuple[int, int | None]:
    """(node, subject key) of a message's row in the header index (the key only where a subject link may
    start or end, and None while the user's addresses are unknown)."""
    key = None
    if own is not None and _is_own(mail, own):
        key = subject_key(account, mail.subject)
    elif own is not None and _headerless_answer(mail, own):
        key = -subject_key(account, mail.subject)
    return node_of(account, mail.message_id), key


def _answered_by(sent: Mail, answer: Mail) -> bool:
    """``threads.link_by_subject``'s test, coarse: any later answer from a person written to, or their domain."""
    from mail_followup.core.threads import FREE_MAIL

    if answer.sender is None or sent.date >= answer.date:
        return False
    written_to = {a.address for a in sent.everyone_written_to}
    domains = {a.rpartition("@")[2] for a in written_to} - FREE_MAIL
    return answer.sender.address in written_to or answer.sender.address.rpartition("@")[2] in domains


def _returned_by(sent: Mail, bounce_date: datetime, failed: Collection[str]) -> bool:
    return sent.date <= bounce_date and bounce_date - sent.date <= BOUNCE_WINDOW and \
        bool(set(failed) & {a.address for a in sent.everyone_written_to})


def _where_keys(db: sqlite3.Connection, account: str, keys: Collection[int]) -> list[Mail]:
    """The indexed messages, live and gone, under these subject keys. (The keys are the account's own, so no
    ``account=?``: with it, and no statistics yet, SQLite read the whole index for each chunk: 25 ms, not 0.3.)"""
    found: list[Mail] = []
    for chunk in _chunks(keys):
        found += iter_mails(db, f"subject_key IN ({','.join('?' * len(chunk))})", tuple(chunk))
    return found


class _Edges:
    """The links one write adds, gathered before they are applied in one go."""

    def __init__(self) -> None:
        self.pairs: list[tuple[int, int]] = []
        self.nodes: set[int] = set()

    def add(self, a: int, b: int | None = None) -> None:
        self.nodes.add(a)
        if b is not None and b != a:
            self.nodes.add(b)
            self.pairs.append((a, b))


def index(db: sqlite3.Connection, account: str, mails: list[Mail], own: Collection[str],
          keys: list[tuple[int, int | None]] | None = None) -> None:
    """Link ``mails`` (just written to the header index, with ``keys``, their ``row_keys``) into the account's
    groups."""
    own = {a.lower() for a in own}
    if keys is None:
        keys = [row_keys(account, m, own) for m in mails]
    edges = _Edges()
    by_key: dict[int, list[Mail]] = {}
    own_mails: list[Mail] = []
    named: dict[str, int] = {}  # Message-IDs named again and again (a thread's root), hashed once
    for mail, (node, key) in zip(mails, keys, strict=True):
        edges.add(node)
        for ref in (*mail.in_reply_to, *mail.references):
            ref_node = named.get(ref)
            if ref_node is None:
                ref_node = named[ref] = node_of(account, ref)
            edges.add(node, ref_node)
        if mail.thread_hint:
            edges.add(node, _hint_node(account, mail.thread_hint))
        if key is not None:
            by_key.setdefault(key, []).append(mail)
            if key > 0:
                own_mails.append(mail)
    if by_key:
        _subject_edges(db, account, by_key, own, edges)
    failed = _failed_by_verdict(db, account, {m.message_id for m in mails})
    for mail in mails:
        if mail.failed_recipients or mail.message_id in failed:
            addresses = {*mail.failed_recipients, *failed.get(mail.message_id, ())}
            _bounce_edges(db, account, mail, addresses, own, edges, own_mails)
    if own_mails:
        _late_sent_edges(db, account, own_mails, edges)
    apply(db, edges)


def _subject_edges(db: sqlite3.Connection, account: str, by_key: Mapping[int, list[Mail]], own: Collection[str],
                   edges: _Edges) -> None:
    """Answers without threading headers and the user's earlier messages under the same subject, whichever
    of them came first into the index: each message written looks up the other side only (``subject_key``;
    the rows just written are in the index already, so two of one write meet too)."""
    stored: dict[int, list[Mail]] = {}
    for mail in _where_keys(db, account, {-key for key in by_key}):
        key = subject_key(account, mail.subject)
        stored.setdefault(key if _is_own(mail, own) else -key, []).append(mail)
    for key, new in by_key.items():
        pairs = ((sent, answer) for sent in new for answer in stored.get(-key, ())) if key > 0 else \
            ((sent, answer) for answer in new for sent in stored.get(-key, ()))
        for sent, answer in pairs:
            if _answered_by(sent, answer):
                edges.add(node_of(account, answer.message_id), node_of(account, sent.message_id))


def _bounce_edges(db: sqlite3.Connection, account: str, bounce: Mail, failed: Collection[str],
                  own: Collection[str], edges: _Edges, batch: Iterable[Mail] = ()) -> None:
    """A bounce and every message of the user's in the week before it written to an address it says failed;
    kept in ``bounces`` for the user's messages indexed after it."""
    node = node_of(account, bounce.message_id)
    edges.add(node)
    week = iter_mails(db, "account=? AND date >= ? AND date <= ?",
                      (account, epoch_up(bounce.date - BOUNCE_WINDOW), epoch(bounce.date)))
    for mail in [*week, *batch]:
        if _is_own(mail, own) and _returned_by(mail, bounce.date, failed):
            edges.add(node, node_of(account, mail.message_id))
    known = db.execute("SELECT failed FROM bounces WHERE account=? AND node=?", (account, node)).fetchone()
    addresses = set(failed) | set(known[0].split() if known else ())
    db.execute("INSERT OR REPLACE INTO bounces VALUES (?,?,?,?)",
               (account, node, iso(bounce.date), " ".join(sorted(addresses))))


def _failed_by_verdict(db: sqlite3.Connection, account: str, message_ids: Collection[str]) -> dict[str, list[str]]:
    """The failed addresses that what the bodies said names, of these messages (a copy indexed after its body
    was read in another folder)."""
    found: dict[str, list[str]] = {}
    wanted = sorted(message_ids)
    for start in range(0, len(wanted), _CHUNK):
        chunk = wanted[start:start + _CHUNK]
        found.update((r[0], json.loads(r[1])) for r in db.execute(
            "SELECT message_id, json_extract(verdict, '$.failed') FROM verdicts WHERE account=? AND message_id IN "
            f"({','.join('?' * len(chunk))}) AND verdict LIKE '%\"failed\": [\"%'", (account, *chunk)))
    return found


def _late_sent_edges(db: sqlite3.Connection, account: str, sent: list[Mail], edges: _Edges) -> None:
    """The user's messages indexed after a bounce of the week after them (a folder read later)."""
    start, end = min(m.date for m in sent), max(m.date for m in sent) + BOUNCE_WINDOW
    known = db.execute("SELECT node, date, failed FROM bounces WHERE account=? AND date >= ? AND date <= ?",
                       (account, iso(start), iso(end))).fetchall()
    for node, date, failed in known:
        when = datetime.fromisoformat(date)
        for mail in sent:
            if _returned_by(mail, when, failed.split()):
                edges.add(node, node_of(account, mail.message_id))


def link_verdicts(db: sqlite3.Connection, account: str, verdicts: Mapping[str, Verdict], own: Collection[str]
                  ) -> None:
    """What bodies said of bounces: the messages their reports name, and the failed addresses."""
    edges = _Edges()
    for message_id, verdict in verdicts.items():
        if not verdict.refers_to and not verdict.failed:
            continue
        node = node_of(account, message_id)
        for ref in verdict.refers_to:
            edges.add(node, node_of(account, ref))
        if verdict.failed:
            for bounce in iter_mails(db, "node=?", (node,)):  # salted with the account: no ``account=?`` (above)
                _bounce_edges(db, account, bounce, verdict.failed, own, edges)
                break
    apply(db, edges)


def apply(db: sqlite3.Connection, edges: _Edges) -> None:
    """Join the groups the edges connect, and give each new node the group it joins (or its own)."""
    existing: dict[int, int] = {}
    for chunk in _chunks(edges.nodes):
        existing.update(db.execute(f"SELECT node, grp FROM links WHERE node IN ({','.join('?' * len(chunk))})",
                                   chunk).fetchall())
    parent: dict[int, int] = {}

    def find(label: int) -> int:
        up = parent.setdefault(label, label)
        while up != label:
            parent[label] = up = parent[up]
            label, up = up, parent[up]
        return label

    def label(node: int) -> int:
        return existing.get(node, node)

    for a, b in edges.pairs:
        ra, rb = find(label(a)), find(label(b))
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
    groups: dict[int, tuple[set[int], list[int]]] = {}
    for grp in set(existing.values()):
        groups.setdefault(find(grp), (set(), []))[0].add(grp)
    for node in edges.nodes - existing.keys():
        groups.setdefault(find(node), (set(), []))[1].append(node)
    new_rows: list[tuple[int, int]] = []
    for old, new in groups.values():
        survivor = _survivor(db, old) if old else min(new)
        for grp in old - {survivor}:
            db.execute("UPDATE links SET grp=? WHERE grp=?", (survivor, grp))
        new_rows += [(node, survivor) for node in new]
    db.executemany("INSERT INTO links VALUES (?,?)", new_rows)


def _survivor(db: sqlite3.Connection, groups: set[int]) -> int:
    """The label a join keeps: the largest group's, so the fewest rows are relabelled."""
    if len(groups) == 1:
        return next(iter(groups))
    sizes = {g: db.execute("SELECT count(*) FROM links WHERE grp=?", (g,)).fetchone()[0] for g in groups}
    return max(groups, key=lambda g: (sizes[g], -g))


def ensure(db: sqlite3.Connection, account: str, own: Collection[str]) -> None:
    """Rebuild the account's links unless they were kept for these addresses (a first use after an upgrade,
    a changed list of own addresses, or a write made without knowing them)."""
    own_text = " ".join(sorted(a.lower() for a in own))
    kept = db.execute("SELECT own FROM links_kept WHERE account=?", (account,)).fetchone()
    if kept is None or kept[0] != own_text:
        rebuild(db, account, {a.lower() for a in own})


def rebuild(connection: sqlite3.Connection, account: str, own: set[str]) -> None:
    """The account's groups from scratch: every message indexed, as if it arrived now, in date order."""
    from mail_followup.core.classify import Verdict

    log.info("%s: building the link index", account)
    with transaction(connection) as db:
        for table in ("messages", "gone"):
            db.execute(f"DELETE FROM links WHERE grp IN (SELECT links.grp FROM {table} JOIN links USING (node) "
                       "WHERE account=?)", (account,))
            db.execute(f"UPDATE {table} SET subject_key = NULL WHERE account=? AND subject_key IS NOT NULL",
                       (account,))
        db.execute("DELETE FROM bounces WHERE account=?", (account,))
        for table, gone in (("gone", True), ("messages", False)):
            for batch in _by_date(db, table, gone, account):
                keys = [row_keys(account, m, own) for _, m in batch]
                db.executemany(f"UPDATE {table} SET node=?, subject_key=? WHERE rowid=?",
                               ((*k, row) for k, (row, _) in zip(keys, batch, strict=True)))
                index(db, account, [m for _, m in batch], own, keys)
        verdicts = {r[0]: Verdict.from_json(r[1]) for r in db.execute(
            "SELECT message_id, verdict FROM verdicts WHERE account=? AND (verdict LIKE '%\"refers_to\": [\"%' "
            "OR verdict LIKE '%\"failed\": [\"%')", (account,))}
        link_verdicts(db, account, verdicts, own)
        db.execute("INSERT OR REPLACE INTO links_kept VALUES (?,?)", (account, " ".join(sorted(own))))


def _by_date(db: sqlite3.Connection, table: str, gone: bool, account: str) -> Iterator[list[tuple[int, Mail]]]:
    """The account's messages in ``table`` by date, 2,000 at a time, each with its rowid: read a page ahead of
    the writes, never with a statement open across them."""
    reader = MailReader()
    after: tuple[int, int] = (-(2**63), -1)  # before any date
    while True:
        rows = db.execute(f"SELECT rowid, {MAIL_COLUMNS} FROM {table} WHERE account=? AND (date, rowid) > (?, ?) "
                          "ORDER BY date, rowid LIMIT 2000", (account, *after)).fetchall()  # a range of the index
        if not rows:
            return
        batch = [(r[0], reader.mail(r[1:], gone)) for r in rows]
        after = (rows[-1][8], rows[-1][0])
        yield batch


def forget(db: sqlite3.Connection, account: str) -> None:
    """A write without the account's addresses: its subject keys may be missing; rebuild before use."""
    db.execute("DELETE FROM links_kept WHERE account=?", (account,))


def note_dirty(db: sqlite3.Connection, account: str, generation: int, nodes: Iterable[int]) -> None:
    """Note that the write of ``generation`` changed the messages at ``nodes`` (only while reports stand on
    an older generation: before the first, every conversation is decided anyway)."""
    if db.execute("SELECT 1 FROM passes WHERE account=? AND generation IS NOT NULL", (account,)).fetchone():
        db.executemany("INSERT OR IGNORE INTO dirty VALUES (?,?,?)", ((account, generation, n) for n in nodes))


def note_dirty_where(db: sqlite3.Connection, account: str, generation: int, table: str, where: str,
                     params: tuple[object, ...]) -> None:
    """``note_dirty`` for the rows of ``table`` that meet ``where``."""
    nodes = [r[0] for r in db.execute(f"SELECT node FROM {table} WHERE {where}", params) if r[0] is not None]
    note_dirty(db, account, generation, nodes)
