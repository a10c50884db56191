"""The X-GM-EXT-1 path, against a server that answers the way Gmail does (issue 8).

No real Gmail can be reached from a test, so this is the one place with a
scripted server: it speaks just enough IMAP for one account and answers
with Gmail's shapes (its LIST flags and names, X-GM-THRID and X-GM-MSGID in
FETCH), as recorded from Gmail's documented conversations. Everything else
in the suite runs against real servers.
"""

from __future__ import annotations

import re
import socket
import threading
from collections.abc import Iterator
from datetime import date

import pytest

from mail_followup.config import Folders, parse_config
from mail_followup.imap.mailbox import Mailbox

CAPABILITIES = "IMAP4rev1 UNSELECT IDLE NAMESPACE QUOTA ID XLIST CHILDREN X-GM-EXT-1 UIDPLUS COMPRESS=DEFLATE " \
               "ENABLE MOVE CONDSTORE ESEARCH UTF8=ACCEPT LIST-EXTENDED LIST-STATUS LITERAL- SPECIAL-USE APPENDLIMIT=35651584"
LIST = [
    r'* LIST (\HasNoChildren) "/" "INBOX"',
    r'* LIST (\HasChildren \Noselect) "/" "[Gmail]"',
    r'* LIST (\All \HasNoChildren) "/" "[Gmail]/All Mail"',
    r'* LIST (\Drafts \HasNoChildren) "/" "[Gmail]/Drafts"',
    r'* LIST (\HasNoChildren \Important) "/" "[Gmail]/Important"',
    r'* LIST (\HasNoChildren \Sent) "/" "[Gmail]/Sent Mail"',
    r'* LIST (\HasNoChildren \Junk) "/" "[Gmail]/Spam"',
    r'* LIST (\Flagged \HasNoChildren) "/" "[Gmail]/Starred"',
    r'* LIST (\HasNoChildren \Trash) "/" "[Gmail]/Trash"',
    r'* LIST (\HasNoChildren) "/" "Work"',
]
MESSAGES = {  # UID: (X-GM-THRID, X-GM-MSGID, header block)
    1: (1784003000000000001, 1784003000000000101,
        "Message-ID: <coffee@example.org>\r\nFrom: Me <me@gmail.com>\r\nTo: kim@example.com\r\n"
        "Subject: Coffee next week?\r\nDate: Tue, 01 Dec 2026 15:00:00 +0100\r\n\r\n"),
    2: (1784003000000000001, 1784003000000000102,  # Kim's answer lost its threading headers: the thread id joins it
        "Message-ID: <kim-answer@example.com>\r\nFrom: Kim <kim@example.com>\r\nTo: me@gmail.com\r\n"
        "Subject: Tuesday?\r\nDate: Wed, 02 Dec 2026 10:00:00 +0100\r\n\r\n"),
    3: (1784003000000000003, 1784003000000000103,  # no Message-ID at all
        "From: Ola <ola@example.no>\r\nTo: me@gmail.com\r\nSubject: Hello\r\nDate: Wed, 02 Dec 2026 11:00:00 +0100\r\n\r\n"),
}


class ScriptedGmail:
    """A socket server answering each command the way Gmail does, and recording the commands it got."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(1)
        self.port = self.sock.getsockname()[1]
        self.commands: list[str] = []
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        conn, _ = self.sock.accept()
        with conn, conn.makefile("rb") as lines:
            conn.sendall(f"* OK [CAPABILITY {CAPABILITIES}] Gimap ready for requests from 127.0.0.1\r\n".encode())
            for raw in lines:
                line = raw.decode().rstrip("\r\n")
                tag, _, command = line.partition(" ")
                self.commands.append(command)
                conn.sendall(self._answer(tag, command).encode())
                if command.upper() == "LOGOUT":
                    return

    def _answer(self, tag: str, command: str) -> str:
        verb = command.split(" ", 1)[0].upper()
        if verb == "CAPABILITY":
            return f"* CAPABILITY {CAPABILITIES}\r\n{tag} OK Thats all she wrote!\r\n"
        if verb == "LOGIN":
            return f"{tag} OK me@gmail.com authenticated (Success)\r\n"
        if verb == "ENABLE":
            return f"* ENABLED CONDSTORE\r\n{tag} OK Success\r\n"
        if verb == "LIST":
            return "".join(f"{item}\r\n" for item in LIST) + f"{tag} OK Success\r\n"
        if verb in ("EXAMINE", "SELECT"):
            return ("* FLAGS (\\Answered \\Flagged \\Draft \\Deleted \\Seen $NotPhishing $Phishing)\r\n"
                    "* OK [PERMANENTFLAGS ()] Flags permitted.\r\n* OK [UIDVALIDITY 11] UIDs valid.\r\n"
                    f"* {len(MESSAGES)} EXISTS\r\n* 0 RECENT\r\n* OK [UIDNEXT {len(MESSAGES) + 1}] Predicted next UID.\r\n"
                    "* OK [HIGHESTMODSEQ 4242] \r\n"
                    f"{tag} OK [READ-ONLY] [Gmail]/All Mail selected. (Success)\r\n")
        if verb == "UID" and " SEARCH " in f" {command.upper()} ":
            return f"* SEARCH {' '.join(str(u) for u in MESSAGES)}\r\n{tag} OK SEARCH completed (Success)\r\n"
        if verb == "UID" and "FETCH" in command.upper():
            out = []
            for seq, (uid, (thrid, msgid, header)) in enumerate(sorted(MESSAGES.items()), start=1):
                body = header.encode()
                out.append(f"* {seq} FETCH (X-GM-THRID {thrid} X-GM-MSGID {msgid} UID {uid} MODSEQ (4000) "
                           f"FLAGS (\\Seen) INTERNALDATE \"02-Dec-2026 10:00:00 +0000\" "
                           f"BODY[HEADER.FIELDS ({_fields(command)})] {{{len(body)}}}\r\n{header})\r\n")
            return "".join(out) + f"{tag} OK Success\r\n"
        if verb == "LOGOUT":
            return f"* BYE LOGOUT Requested\r\n{tag} OK 73 good day (Success)\r\n"
        return f"{tag} BAD Unknown command\r\n"


def _fields(command: str) -> str:
    match = re.search(r"HEADER\.FIELDS \(([^)]*)\)", command, re.I)
    return match.group(1) if match else ""


@pytest.fixture
def gmail(tmp_path) -> Iterator[tuple[ScriptedGmail, Mailbox]]:
    server = ScriptedGmail()
    config = parse_config(
        f"state_dir: {tmp_path}\naccounts:\n  - name: g\n    addresses: [me@gmail.com]\n"
        f"    imap: {{host: 127.0.0.1, port: {server.port}, security: none, username: me@gmail.com, "
        f"password_env: NOPE}}\n", tmp_path / "c.yaml")
    with Mailbox.connect(config.accounts[0], lambda _a: "app-password") as mailbox:
        yield server, mailbox


def test_the_gmail_path_reads_all_mail_with_thread_and_message_ids(gmail) -> None:
    server, mailbox = gmail
    folders = mailbox.discover(Folders())
    assert (folders.sent, folders.drafts, folders.replies) == ("[Gmail]/Sent Mail", "[Gmail]/Drafts",
                                                               ("[Gmail]/All Mail",))
    synced = mailbox.sync("[Gmail]/All Mail", None, set, date(2026, 1, 1))
    fetch = next(c for c in server.commands if "FETCH" in c.upper())
    assert "X-GM-THRID" in fetch and "X-GM-MSGID" in fetch
    by_uid = {m.uid: m for m in synced.new}
    assert by_uid[1].thread_hint == by_uid[2].thread_hint == "gm:1784003000000000001"
    assert by_uid[3].message_id == "<gm-1784003000000000103@server-id.mail-followup.invalid>"

    from mail_followup.core.threads import build_threads

    (coffee,) = build_threads(synced.new, ["me@gmail.com"])
    assert coffee.answer is not None and coffee.answer.message_id == "<kim-answer@example.com>"
