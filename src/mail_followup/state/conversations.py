"""Reading the link index: the groups a pass, ``explain`` or ``stop`` needs, and the rows that hold them.

The groups themselves are kept by ``links.py`` as mail is indexed; this is
the reading side, one query per question, each on an index: the groups of
some messages, the messages of some groups, what changed since a
generation, and (for a pass that decides everything) the rows of every
group with a recent message. Rows are numbered as ``mails_at`` reads them:
``rowid * 2``, plus one for a copy gone from the server.
"""

from __future__ import annotations

from array import array
from collections.abc import Collection, Iterable, Iterator
from datetime import datetime

from mail_followup.state import links
from mail_followup.state.connection import Connected, epoch_up

Member = tuple[int, int, str, int]  # (group, row, Message-ID, date in seconds since 1970)
_TABLES = (("messages", 0), ("gone", 1))


def _chunks(values: Iterable[int], size: int = 500) -> Iterator[list[int]]:
    wanted = list(values)
    for start in range(0, len(wanted), size):
        yield wanted[start:start + size]


def in_read_order(members: Iterable[Member]) -> list[int]:
    """The rows of ``members`` in the order ``mails`` reads them: live copies first, then by date and the
    order indexed (``build_threads`` keeps the first of equal copies)."""
    return [row for _, row, _, _ in sorted(members, key=lambda m: (m[1] & 1, m[3], m[1] >> 1))]


class Conversations(Connected):
    """The link index, read."""

    def ensure_links(self, account: str, own: Collection[str]) -> None:
        links.ensure(self.db, account, own)

    def groups_of(self, account: str, message_ids: Iterable[str]) -> set[int]:
        """The groups holding these Message-IDs (a message's own, or one a message names)."""
        return self._groups_of_nodes({links.node_of(account, m) for m in message_ids})

    def _groups_of_nodes(self, nodes: Iterable[int]) -> set[int]:
        found: set[int] = set()
        for chunk in _chunks(nodes):
            found.update(r[0] for r in self.db.execute(
                f"SELECT grp FROM links WHERE node IN ({','.join('?' * len(chunk))})", chunk))
        return found

    def changed_groups(self, account: str, generation: int, left_from: datetime, left_until: datetime) -> set[int]:
        """The groups holding a message a write after ``generation`` changed, or one dated from ``left_from``
        to before ``left_until`` (it left the window since)."""
        nodes = {r[0] for r in self.db.execute("SELECT node FROM dirty WHERE account=? AND generation > ?",
                                               (account, generation))}
        for table, _ in _TABLES:
            nodes.update(r[0] for r in self.db.execute(
                f"SELECT node FROM {table} WHERE account=? AND date >= ? AND date < ?",
                (account, epoch_up(left_from), epoch_up(left_until))))
        return self._groups_of_nodes(nodes)

    def members(self, account: str, groups: Collection[int]) -> list[Member]:
        """Every indexed message of these groups, live and gone, whatever its date."""
        found: list[Member] = []
        for chunk in _chunks(groups):
            for table, gone in _TABLES:
                # CROSS JOIN: from the groups to their rows. Left to choose, and with no statistics yet, SQLite
                # went through every row of the account instead (60 ms at 100,000 messages, not 2).
                found += self.db.execute(
                    f"SELECT links.grp, {table}.rowid * 2 + {gone}, message_id, date FROM links "
                    f"CROSS JOIN {table} ON {table}.node = links.node "
                    f"WHERE links.grp IN ({','.join('?' * len(chunk))}) AND account=?", (*chunk, account))
        return found

    def active_rows(self, account: str, since: datetime, recent: datetime) -> list[int]:
        """The rows dated ``since`` or later of every group with a message dated ``recent`` or later, in the
        order ``mails`` reads them (what a pass that decides everything reads)."""
        rows, grps = array("q"), array("q")  # a million rows as two arrays, not a million tuples
        active: set[int] = set()
        for table, gone in _TABLES:
            for row, grp, is_recent in self.db.execute(
                    f"SELECT {table}.rowid * 2 + {gone}, links.grp, date >= ? FROM {table} CROSS "
                    f"JOIN links ON links.node = {table}.node WHERE account=? AND date >= ? ORDER BY date, "
                    f"{table}.rowid", (epoch_up(recent), account, epoch_up(since))):
                rows.append(row)
                grps.append(grp)
                if is_recent:
                    active.add(grp)
        return [row for row, grp in zip(rows, grps) if grp in active]
