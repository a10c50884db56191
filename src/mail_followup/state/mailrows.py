"""The messages of the header index as rows of SQLite, and rows back as ``Mail``: written and read fast.

The index holds every message of every folder, so both directions are
made for scale: the encoder writes the JSON of a contact once per sync,
the reader shares equal values between the messages it makes. The
inbound index reads the header index through ``iter_mails`` as well.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from typing import Any

from mail_followup.core.headers import Addr, Interner, Mail
from mail_followup.state.connection import epoch, from_epoch

# Most messages' type, left out of a row's extra facts. (Rows from before the extra facts, whose '{}' meant no
# type known, now read as text/plain: neither is a type any rule looks for.)
PLAIN = "text/plain"


class RowEncoder:
    """Rows for ``messages``, the same text as ``json.dumps`` would write, at a fraction of its cost.

    A first sync stores every message of a folder, and three ``json.dumps``
    per message were a tenth of a first scan at 100,000 messages. The same
    contacts and the same (mostly empty) extra facts repeat from message to
    message, so their JSON is made once per sync and joined.
    """

    def __init__(self) -> None:
        self._people: dict[Addr, str] = {}
        self._extra: dict[tuple[object, ...], str] = {}

    def _person(self, a: Addr) -> str:
        found = self._people.get(a)
        if found is None:
            found = self._people[a] = json.dumps([a.name, a.address], ensure_ascii=False)
        return found

    def _extra_json(self, m: Mail) -> str:
        key = (m.bcc, m.content_type, m.failed_recipients, m.thread_hint, m.auto_hint)
        found = self._extra.get(key)
        if found is None:
            # Only what differs from the reader's defaults: the defaults were a fifth of the state (96 bytes a
            # message), as most messages have no Bcc, no failed recipients and no conversation id.
            facts: dict[str, object] = {} if m.content_type == PLAIN else {"content_type": m.content_type}
            if m.bcc:
                facts["bcc"] = [[a.name, a.address] for a in m.bcc]
            if m.failed_recipients:
                facts["failed"] = list(m.failed_recipients)
            if m.thread_hint is not None:
                facts["thread_hint"] = m.thread_hint
            if m.auto_hint:
                facts["auto_hint"] = m.auto_hint
            found = json.dumps(facts, ensure_ascii=False)
            if m.thread_hint is None and len(self._extra) < 10_000:  # a conversation id rarely repeats
                self._extra[key] = found
        return found

    def row(self, account: str, m: Mail, generation: int, keys: tuple[int, int | None]) -> tuple[object, ...]:
        """The row of ``m``; ``keys`` its node and subject key in the link index (links.row_keys)."""
        person = self._person
        # [To, Cc]: rows before issue 23 hold {"to": To, "cc": Cc}, 14 bytes more a message; the reader takes both.
        recipients = "[[" + ", ".join([person(a) for a in m.to]) + "], [" + ", ".join([person(a) for a in m.cc]) + "]]"
        return (
            account, m.folder, m.uid, m.message_id, " ".join(m.in_reply_to), " ".join(m.references),
            person(m.sender) if m.sender else None, recipients, m.subject, epoch(m.date),
            " ".join(sorted(f for f in m.flags if f != "\\Recent")),  # a session's flag, never the message's
            int(m.auto_reply), int(m.bulk), m.followup_for, m.followup_attempt,
            self._extra_json(m), generation, *keys,
        )


# Every column of ``messages`` (and ``gone``) before the generation that wrote the row, in table order; after
# it come the row's keys in the link index (``LINK_COLUMNS``).
STORED_COLUMNS = ("account, folder, uid, message_id, in_reply_to, refs, sender, recipients, subject, date, flags, "
                   "auto_reply, bulk, followup_for, followup_attempt, extra")
LINK_COLUMNS = "node, subject_key"
# One JSON document per row for the people and the extra facts: one json.loads instead of three.
MAIL_COLUMNS = ("folder, uid, message_id, in_reply_to, refs, '[' || COALESCE(sender, 'null') || ',' || recipients"
                 " || ',' || extra || ']', subject, date, flags, auto_reply, bulk, followup_for, followup_attempt")


class MailReader:
    """Rows to ``Mail``, sharing equal values between messages (memory at scale)."""

    def __init__(self) -> None:
        self.share = Interner()

    def _list(self, pairs: list[list[str]]) -> tuple[Addr, ...]:
        return tuple(self.share.addr(n, a) for n, a in pairs) if pairs else ()

    def mail(self, r: tuple[Any, ...], gone: bool) -> Mail:
        folder, uid, message_id, irt, refs, people, subject, date, flags, auto, bulk, ffor, fatt = r
        sender, recipients, more = json.loads(people)
        to, cc = (recipients["to"], recipients["cc"]) if isinstance(recipients, dict) else recipients
        share = self.share
        return Mail(
            folder=share.string(folder),
            uid=uid,
            message_id=share.string(message_id),
            in_reply_to=share.ids(irt.split()) if irt else (),
            references=share.ids(refs.split()) if refs else (),
            sender=share.addr(sender[0], sender[1]) if sender else None,
            to=self._list(to),
            cc=self._list(cc),
            subject=subject,
            date=from_epoch(date),
            flags=share.flags(flags, flags.split()),
            auto_reply=bool(auto),
            bulk=bool(bulk),
            followup_for=ffor or None,
            followup_attempt=fatt,
            bcc=self._list(more.get("bcc", ())),
            content_type=more.get("content_type", PLAIN),
            failed_recipients=tuple(more.get("failed", ())),
            thread_hint=more.get("thread_hint"),
            auto_hint=bool(more.get("auto_hint")),
            gone=gone,
        )


def iter_mails(db: sqlite3.Connection, condition: str, params: tuple[object, ...],
               gone_first: bool = False) -> Iterator[Mail]:
    """The indexed messages that meet ``condition``, one at a time (never a list of a whole mailbox)."""
    reader = MailReader()
    tables = (("gone", True), ("messages", False)) if gone_first else (("messages", False), ("gone", True))
    for table, gone in tables:
        for r in db.execute(f"SELECT {MAIL_COLUMNS} FROM {table} WHERE {condition}", params):
            yield reader.mail(r, gone)
