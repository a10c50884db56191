"""Reading what the headers do not hold: a message's text, fetched without \\Seen, and a text search on the server.

Asked for only where the headers are not enough: an answer whose text a
decision needs, a thread to quote, a draft to compare with what was written.
"""

from __future__ import annotations

import imaplib
import logging
from collections.abc import Collection, Sequence
from typing import Any

from imapclient.exceptions import IMAPClientError

from mail_followup.imap.connection import Connection
from mail_followup.imap.responses import uid_ranges

log = logging.getLogger(__name__)

FETCH_CHUNK = 500
PREVIEW = 65536  # bytes of a message read for its text: enough for the text and a report's returned headers
READ_EARLY_AT_MOST = 20  # new messages of a folder whose text is read while the sync has it open


class BodyReading(Connection):
    """Message bodies and server-side text search, read-only and without setting \\Seen."""

    def read_early(self, folder: str, uids: list[int]) -> None:
        """Read the start of these new messages now, while the sync has ``folder`` open, for
        ``fetch_bodies`` to hand out later in the pass.

        The text of a new answer is usually what the decision then needs, and by then the sync has
        opened the other folders: opening this one again cost a pass after new mail 0.2 s at 120,000
        messages in INBOX (Dovecot's Maildir reads a changed folder on every EXAMINE). At most
        ``READ_EARLY_AT_MOST`` messages; more (a first pass, a backlog) are read when needed, if they are.
        """
        if not uids or len(uids) > READ_EARLY_AT_MOST:
            return
        for uid, body in self.fetch_bodies(folder, uids).items():
            self._read_early[(folder, uid)] = body

    def fetch_bodies(self, folder: str, uids: list[int], limit: int | None = PREVIEW) -> dict[int, bytes]:
        """The first ``limit`` bytes of each message (enough for its text and a report's returned headers),
        or whole messages with ``limit=None``.

        Without setting \\Seen. A message that is gone is simply missing from the result.
        """
        bodies: dict[int, bytes] = {}
        if limit == PREVIEW and self._read_early:
            bodies = {uid: self._read_early[(folder, uid)] for uid in uids if (folder, uid) in self._read_early}
            uids = [uid for uid in uids if uid not in bodies]
        if not uids:
            return bodies
        self.examine(folder)
        item = "BODY.PEEK[]" if limit is None else f"BODY.PEEK[]<0.{limit}>"
        for start in range(0, len(uids), FETCH_CHUNK):
            response = self.client.fetch(uids[start:start + FETCH_CHUNK], [item])
            for uid, data in response.items():
                for key, value in data.items():
                    if isinstance(key, bytes) and key.startswith(b"BODY[") and isinstance(value, bytes):
                        bodies[uid] = value
        return bodies

    def search_text(self, folder: str, phrases: Sequence[str], uids: Collection[int]) -> list[int]:
        """UIDs among ``uids`` of the messages of ``folder`` whose text holds any of ``phrases``: the server
        searches, nothing is fetched, and only those messages are read (a server without a full-text index
        reads each one it searches). An error of the search is logged and finds nothing (it only ever adds
        a reason not to write a draft)."""
        if not phrases or not uids:
            return []
        self.examine(folder)
        criteria: list[Any] = ["UID", uid_ranges(uids)]
        for phrase in phrases[:-1]:
            criteria += ["OR", "BODY", phrase]
        criteria += ["BODY", phrases[-1]]
        charset = None if all(p.isascii() for p in phrases) else "UTF-8"
        try:
            return sorted(self.client.search(criteria, charset=charset))
        except IMAPClientError as exc:
            if isinstance(exc, imaplib.IMAP4.abort):
                raise
            log.warning("%s: %s: the server could not search the text of its messages: %s", self.account, folder, exc)
            return []
