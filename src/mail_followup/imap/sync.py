"""Bringing a folder's header index up to date with as few commands as the server allows.

A pass reads headers, not messages, and after the first pass only what
changed: new UIDs, and flag changes and expunges by CONDSTORE and QRESYNC
where the server offers them, else by counting. A first sync of a large
folder is read HEADER_CHUNK UIDs at a time.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from imapclient.imapclient import seq_to_parenstr_upper

from mail_followup.core.headers import FETCH_ITEM, Mail, parse_header_block
from mail_followup.errors import SuspiciousSnapshot
from mail_followup.imap.connection import Connection
from mail_followup.imap.responses import flag_set, header_block, parse_fetch, uid_ranges, uid_set
from mail_followup.state.index import FolderCursor

log = logging.getLogger(__name__)

HEADER_CHUNK = 5000  # UIDs per header FETCH; the command names them as ranges, so it stays short


@dataclass(frozen=True)
class FolderSync:
    cursor: FolderCursor
    new: list[Mail]
    vanished: set[int]
    reset: bool
    flags: dict[int, frozenset[str]] = field(default_factory=dict)  # new flags of known messages
    written: int = 0  # new messages already handed to ``sync``'s ``write``, not in ``new``

    @property
    def changed(self) -> bool:
        """Whether anything the decisions read changed (a new cursor alone changes nothing)."""
        return bool(self.new or self.written or self.vanished or self.reset or self.flags)


class HeaderSync(Connection):
    """Reading headers: the incremental sync of a folder, and the headers of chosen UIDs."""

    def sync(self, folder: str, cursor: FolderCursor | None, known_uids: Callable[[], AbstractSet[int]], since: date,
             write: Callable[[list[Mail], bool], None] | None = None) -> FolderSync:
        """Bring one folder's header index up to date, with as few commands as the server allows.

        Nothing changed: one EXAMINE. Otherwise new messages by UID from the
        last UIDNEXT; flag changes by CONDSTORE (CHANGEDSINCE) and expunges by
        QRESYNC (VANISHED) where offered, else by comparing the message count
        and, when it does not add up, the full list of UIDs. A changed
        UIDVALIDITY resyncs this folder alone; a folder that had mail and now
        has none stops the pass (it may be a broken server or a wrong folder,
        never proof that mail went away). ``known_uids`` gives the UIDs
        already indexed; it is asked only when something changed.

        With ``write``, a first sync hands the headers on a chunk at a time
        (with True on the first chunk when the folder's old index is to be
        dropped first) instead of returning them: a folder of 600,000
        messages held as one list was 400 MB.
        """
        status = self.client.select_folder(folder, readonly=True)
        self._selected = folder
        uidvalidity = int(status[b"UIDVALIDITY"])
        exists = int(status.get(b"EXISTS", 0))
        uidnext = int(status.get(b"UIDNEXT", 0))
        modseq = int(status[b"HIGHESTMODSEQ"]) if b"HIGHESTMODSEQ" in status else None
        reset = False
        if cursor is not None and cursor.uidvalidity != uidvalidity:
            log.warning("%s: %s: UIDVALIDITY changed (%d -> %d); reading the folder again",
                        self.account, folder, cursor.uidvalidity, uidvalidity)
            cursor, reset = None, True
        if cursor is not None and cursor.messages > 0 and exists == 0:
            raise SuspiciousSnapshot(
                self.account,
                f"the folder {folder!r} had {cursor.messages} message(s) and now looks empty; nothing was decided",
                "if you emptied it on purpose, delete state.sqlite3 in the state directory (it is a cache) "
                "and scan again",
            )
        if cursor is None:
            uids = sorted(self.client.search(["SINCE", since])) if exists else []
            next_uid = uidnext or ((max(uids) + 1) if uids else 1)
            new_cursor = FolderCursor(uidvalidity, next_uid, exists, modseq)
            if write is None:
                return FolderSync(new_cursor, list(self._fetch_headers(folder, uids)), set(), reset)
            written = 0
            for chunk in self._header_chunks(folder, uids):
                write(chunk, reset and not written)
                written += len(chunk)
                self._share.forget_strings()
            return FolderSync(new_cursor, [], set(), reset and not written, written=written)
        if uidnext and uidnext == cursor.uidnext and exists == cursor.messages and modseq == cursor.highestmodseq:
            return FolderSync(cursor, [], set(), False)
        known = known_uids()

        new: list[Mail] = []
        if not uidnext or uidnext > cursor.uidnext:
            new = [m for m in self._fetch_headers_from(folder, cursor.uidnext) if m.uid not in known]
        flags: dict[int, frozenset[str]] = {}
        vanished: set[int] | None = None
        if modseq is not None and cursor.highestmodseq is not None and modseq != cursor.highestmodseq and known:
            flags, vanished = self._changes_since(cursor.highestmodseq, cursor.uidnext - 1)
            flags = {uid: f for uid, f in flags.items() if uid in known}
        if vanished is None:
            expunged = cursor.messages + len(new) - exists
            vanished = set(known) - set(self.client.search(["ALL"])) if expunged != 0 else set()
        if not uidnext:
            uidnext = max([cursor.uidnext] + [m.uid + 1 for m in new])
        vanished = {uid for uid in vanished if uid in known}
        return FolderSync(FolderCursor(uidvalidity, uidnext, exists, modseq), new, vanished, False, flags)

    def _fetch_headers_from(self, folder: str, first_uid: int) -> list[Mail]:
        """Headers of every message with a UID of ``first_uid`` or more, in one command."""
        response, _ = self._uid_fetch(f"{first_uid}:*", self._header_items())
        # "N:*" also matches the highest UID when it is below N (RFC 3501): filter.
        return [self._mail(folder, uid, data) for uid, data in sorted(response.items()) if uid >= first_uid]

    def _changes_since(self, modseq: int, last_uid: int) -> tuple[dict[int, frozenset[str]], set[int] | None]:
        """Flags changed since ``modseq`` (CONDSTORE) and, with QRESYNC, the UIDs expunged since."""
        qresync = "QRESYNC" in self.enabled
        modifiers = [f"CHANGEDSINCE {modseq}"] + (["VANISHED"] if qresync else [])
        response, vanished = self._uid_fetch(f"1:{max(last_uid, 1)}", ["FLAGS"], modifiers)
        flags = {uid: flag_set(data.get(b"FLAGS", ())) for uid, data in response.items()}
        return flags, (vanished if qresync else None)

    def _uid_fetch(self, spec: str, items: list[str], modifiers: list[str] | None = None
                   ) -> tuple[dict[int, dict[bytes, Any]], set[int]]:
        """UID FETCH over a UID range, with the VANISHED responses it brings.

        IMAPClient.fetch takes only explicit UID lists (a range string is
        sent, then its answer is filtered away), and a list of every UID of
        a large folder would be a command of hundreds of kilobytes; so this
        sends the range itself, the same way IMAPClient.fetch does inside.
        """
        imap = self.client._imap
        imap.untagged_responses.pop("VANISHED", None)
        tag = imap._command("UID", "FETCH", spec, seq_to_parenstr_upper(items),
                            seq_to_parenstr_upper(modifiers) if modifiers else None)
        typ, data = imap._command_complete("FETCH", tag)
        self.client._checkok("fetch", typ, data)
        vanished_data = imap.untagged_responses.pop("VANISHED", [])
        typ, data = imap._untagged_response(typ, data, "FETCH")
        response = parse_fetch(data)
        vanished: set[int] = set()
        for item in vanished_data:
            text = item.decode() if isinstance(item, bytes) else str(item)
            vanished |= uid_set(text.replace("(EARLIER)", "").strip())
        return response, vanished

    def _header_items(self) -> list[str]:
        gmail = "X-GM-EXT-1" in self.capabilities
        return ["FLAGS", "INTERNALDATE", FETCH_ITEM] + (["X-GM-THRID", "X-GM-MSGID"] if gmail else [])

    def _mail(self, folder: str, uid: int, data: dict[bytes, Any]) -> Mail:
        thrid, msgid = data.get(b"X-GM-THRID"), data.get(b"X-GM-MSGID")
        mail = parse_header_block(folder, uid, header_block(data), tuple(data.get(b"FLAGS", ())),
                                  data.get(b"INTERNALDATE"), f"gm:{thrid}" if thrid else None, self._share,
                                  server_id=f"gm-{msgid}" if msgid else None)
        for problem in mail.problems:
            log.warning("%s: %s UID %d: %s", self.account, folder, uid, problem)
        return mail

    def _fetch_headers(self, folder: str, uids: list[int]) -> Iterator[Mail]:
        for chunk in self._header_chunks(folder, uids):
            yield from chunk

    def _header_chunks(self, folder: str, uids: list[int]) -> Iterator[list[Mail]]:
        """The messages' headers, a command's worth at a time."""
        for start in range(0, len(uids), HEADER_CHUNK):
            chunk = uids[start:start + HEADER_CHUNK]
            self.check()
            response, _ = self._uid_fetch(uid_ranges(chunk), self._header_items())
            wanted = set(chunk)
            found = [self._mail(folder, uid, data) for uid, data in sorted(response.items()) if uid in wanted]
            del response
            yield found
            if self.progress is not None and len(uids) > HEADER_CHUNK:  # a first sync worth watching
                self.progress(folder, start + len(chunk), len(uids))
