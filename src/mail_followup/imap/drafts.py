"""The Drafts folder and the writes: find this product's drafts, APPEND new ones, withdraw one nobody edited.

Every write to a message is here, each recorded by ``state.writes.step``:
APPEND into Drafts, the weekly review's APPEND into INBOX, and the
withdrawal of a draft this product wrote and nobody edited. (The one other
write, creating a Drafts folder a server lacks, is in ``folders``.)
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from mail_followup.imap.sync import HeaderSync
from mail_followup.state import writes

_APPENDUID = re.compile(rb"APPENDUID \d+ (\d+)")


@dataclass(frozen=True)
class FoundDraft:
    uid: int
    message_id: str
    attempt: int | None
    deleted: bool = False  # flagged \Deleted, not yet expunged (a withdrawal on a server without UIDPLUS)


class Drafts(HeaderSync):
    """This product's drafts on the server, and the only APPENDs and the one withdrawal it ever makes."""

    def drafts_by_thread(self, folder: str) -> dict[tuple[str, int], list[FoundDraft]]:
        """Every draft in ``folder`` that carries this product's marker, by (thread key, attempt), oldest
        first: searched on the server. An edited copy a client saved keeps the marker, so one attempt may
        have several."""
        self.examine(folder)
        uids = self.client.search(["HEADER", "X-Mail-Followup-For", ""])
        found: dict[tuple[str, int], list[FoundDraft]] = {}
        for mail in self._fetch_headers(folder, sorted(uids)):
            if mail.followup_for and mail.followup_attempt is not None:
                found.setdefault((mail.followup_for, mail.followup_attempt), []).append(
                    FoundDraft(mail.uid, mail.message_id, mail.followup_attempt, "\\Deleted" in mail.flags))
        return found

    def folder_status(self, folder: str) -> str:
        """UIDVALIDITY, UIDNEXT and MESSAGES of ``folder``, one STATUS: any deletion, edit or new draft
        changes it."""
        if self._selected == folder:  # STATUS on the selected folder is discouraged (RFC 3501 6.3.10):
            found = self.client.select_folder(folder, readonly=True)  # a fresh EXAMINE says the same
            found[b"MESSAGES"] = found.get(b"EXISTS", "?")
        else:
            found = self.client.folder_status(folder, [b"UIDVALIDITY", b"UIDNEXT", b"MESSAGES"])
        return ":".join(str(found.get(k, "?")) for k in (b"UIDVALIDITY", b"UIDNEXT", b"MESSAGES"))

    def withdraw_draft(self, folder: str, uid: int) -> bool:
        """Remove one message this product wrote and nobody edited (the caller proved both).

        Only that UID is ever expunged: with UIDPLUS by UID EXPUNGE; without
        it the message is only flagged \\Deleted, because a plain EXPUNGE
        would also remove whatever else the user had flagged. Return whether
        it is gone (False: flagged, for the user's client to expunge).
        """
        self.client.select_folder(folder, readonly=False)
        self._selected = None
        try:
            self.client.add_flags([uid], [b"\\Deleted"], silent=True)
            writes.step(f"flag own draft {uid} deleted in {folder}")
            if "UIDPLUS" not in self.capabilities:
                return False
            self.client.uid_expunge([uid])
            writes.step(f"expunge own draft {uid} in {folder}")
            return True
        finally:
            # Back to read-only at once: no later CLOSE may ever expunge what the user flagged.
            self.client.select_folder(folder, readonly=True)
            self._selected = folder

    def has_header(self, folder: str, name: str, value: str) -> bool:
        """Whether a message in ``folder`` carries header ``name`` with ``value`` (searched on the server)."""
        self.examine(folder)
        return bool(self.client.search(["HEADER", name, value]))

    def append_unread(self, folder: str, data: bytes, when: datetime) -> None:
        """APPEND a message without \\Seen: something for the user to read (the weekly review)."""
        self._leave(folder)
        self.client.append(folder, data, flags=(), msg_time=when)
        writes.step(f"APPEND to {folder}")

    def append_draft(self, folder: str, data: bytes, when: datetime) -> int | None:
        """APPEND with \\Draft and \\Seen; return the new UID when the server says it (UIDPLUS)."""
        self._leave(folder)
        response = self.client.append(folder, data, flags=(b"\\Draft", b"\\Seen"), msg_time=when)
        writes.step(f"APPEND draft to {folder}")
        match = _APPENDUID.search(response if isinstance(response, bytes) else str(response).encode())
        return int(match.group(1)) if match else None
