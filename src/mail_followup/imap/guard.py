"""A pass that stops when it is told to, and a server that cannot hold it forever (issue 19, part 2).

Three things end a pass early, each as a ``MailFollowupError`` of its own
kind, raised at the next place the pass can stop cleanly:

- ``PassStopped``: the pass was asked to stop (SIGTERM to the service,
  Ctrl-C or SIGTERM to ``scan``). The pass checks between its steps
  (``check``), SQLite statements are interrupted (``watch_store``), and an
  IMAP command waiting for the server is cut at once: its connection is
  shut down under it (``CommandGuard``). Nothing is half-written: every
  write of the state is one transaction, and an APPEND cut in flight is
  found in Drafts by the next pass before it writes anything.
- ``CommandCutOff``: one IMAP command took longer than its deadline in all
  (``DEADLINE_FACTOR`` times the account's ``timeout_seconds``). The socket
  timeout alone never ends a server that keeps sending (endless untagged
  lines, a trickle); this does, for that account alone.
"""

from __future__ import annotations

import imaplib
import socket
import sqlite3
import threading
import time
import types
from collections.abc import Callable
from typing import Any

from mail_followup.errors import AccountError

DEADLINE_FACTOR = 5  # a command may take at most this many socket timeouts in all
STOP_CHECK_OPCODES = 20_000  # SQLite looks at the stop request this often (a few ms of work)


class PassStopped(AccountError):
    """The pass was asked to stop; what it wrote stands, the rest waits for the next pass."""

    kind = "stopped"


class CommandCutOff(AccountError):
    """A command ran past its deadline: the server kept the connection busy without ending its answer."""

    kind = "server"


def check(cancel: threading.Event | None, account: str) -> None:
    """Raise PassStopped when the pass was asked to stop: a place where stopping leaves nothing half-done."""
    if cancel is not None and cancel.is_set():
        raise PassStopped(account, "stopped on request before it ended",
                          "nothing was half-written; the next pass goes on from here")


def watch_store(db: sqlite3.Connection, cancel: threading.Event | None) -> None:
    """Make every SQLite statement of ``db`` end (OperationalError "interrupted") once ``cancel`` is set: a
    pass over a large mailbox spends seconds in single statements."""
    if cancel is not None:
        db.set_progress_handler(cancel.is_set, STOP_CHECK_OPCODES)


class CommandGuard:
    """Watches one IMAP connection: cuts it when the pass is asked to stop, or when a command runs past its
    deadline; the command then raises PassStopped or CommandCutOff instead of a bare socket error.

    A thread looks ten times a second while the connection is open (a pass lasts seconds, so this costs
    nothing worth measuring, and between passes no connection is open)."""

    LOOK = 0.1  # seconds between looks: a stop is seen within this

    def __init__(self, imap: imaplib.IMAP4, account: str, deadline: float, cancel: threading.Event | None) -> None:
        self.account = account
        self.deadline = deadline
        self._imap = imap
        self._cancel = cancel
        self._until: float | None = None  # when the command in flight must have ended
        self._command = ""
        self._cut: AccountError | None = None
        self._closed = threading.Event()
        self._wrap(imap)
        threading.Thread(target=self._watch, name=f"guard {account}", daemon=True).start()

    def _wrap(self, imap: imaplib.IMAP4) -> None:
        """Every command imaplib sends passes through ``_command`` and ends in ``_command_complete``. The
        wrappers are bound methods, as the originals: imaplib tells an authenticator (AUTHENTICATE) from a
        literal by comparing its type with that of ``self._command``."""
        send: Callable[..., Any] = imap._command
        complete: Callable[..., Any] = imap._command_complete

        def command(_imap: imaplib.IMAP4, name: str, *args: Any) -> Any:
            self._command, self._until = name, time.monotonic() + self.deadline
            return self._guarded(send, name, *args)

        def command_complete(_imap: imaplib.IMAP4, name: str, tag: Any) -> Any:
            try:
                return self._guarded(complete, name, tag)
            finally:
                self._until = None

        imap._command = types.MethodType(command, imap)  # type: ignore[attr-defined]
        imap._command_complete = types.MethodType(command_complete, imap)  # type: ignore[attr-defined]

    def _guarded(self, call: Callable[..., Any], *args: Any) -> Any:
        if self._cut is not None:
            raise self._cut
        try:
            return call(*args)
        except BaseException:
            if self._cut is not None:
                raise self._cut from None
            raise

    def _watch(self) -> None:
        while not self._closed.wait(self.LOOK):
            if self._cancel is not None and self._cancel.is_set():
                self._shut(PassStopped(self.account, "stopped on request while the server was answering",
                                       "nothing was half-written; the next pass goes on from here"))
                return
            until = self._until
            if until is not None and time.monotonic() >= until:
                self._shut(CommandCutOff(
                    self.account, f"the server did not finish its answer to {self._command} within "
                    f"{self.deadline:.0f} s, so the connection was cut",
                    "a server that keeps sending without end; if it is only slow, raise imap.timeout_seconds "
                    f"(a command may take {DEADLINE_FACTOR} times it)"))
                return

    def _shut(self, why: AccountError) -> None:
        self._cut = why
        try:
            self._imap.sock.shutdown(socket.SHUT_RDWR)  # the blocked read returns at once
        except (OSError, AttributeError):
            pass

    def check(self) -> None:
        """Raise PassStopped when the pass was asked to stop."""
        check(self._cancel, self.account)

    def close(self) -> None:
        self._closed.set()
