"""One pass per account at a time, across processes (issue 19, part 1).

Two passes of one account at once (the service's and a `mail-followup scan`
typed meanwhile) would both see a thread due and both write its draft. A
pass therefore holds an exclusive ``flock`` on ``pass-<account>.lock`` in
the state directory (0600, like every file there) from its first command
to its last record. The kernel
drops the lock when the holder ends, however it ends (SIGKILL, a power cut
of the process), so a crashed pass can never leave it stuck. The holder
writes who it is into the file, so that a pass that finds it taken can say
which process holds it and since when.
"""

from __future__ import annotations

import fcntl
import os
import sys
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from mail_followup.errors import AccountError
from mail_followup.paths import ensure_private_dir

POLL = 0.2  # seconds between tries while another pass holds the account


class PassRunning(AccountError):
    """Another pass of this account holds it; this one did not run."""

    kind = "busy"


class AccountLock:
    """The exclusive right to run a pass of one account, held while the context is open."""

    def __init__(self, state_dir: Path, account: str) -> None:
        self.account = account
        self.path = ensure_private_dir(state_dir) / f"pass-{account}.lock"
        self._fd: int | None = None

    def acquire(self, wait: float, cancel: threading.Event | None = None,
                waiting: Callable[[str], None] | None = None) -> None:
        """Take the lock, waiting up to ``wait`` seconds (and while ``cancel`` is not set); ``waiting`` hears,
        once, who holds it. Raise PassRunning when it stays taken."""
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        deadline = time.monotonic() + wait
        told = False
        try:
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    holder = self.holder()
                    if time.monotonic() >= deadline or (cancel is not None and cancel.is_set()):
                        raise PassRunning(self.account, f"another pass of this account is running ({holder})",
                                          "it ends by itself; this one was not run") from None
                    if waiting is not None and not told:
                        waiting(f"account {self.account!r}: another pass of this account is running ({holder}); "
                                f"waiting for it to end")
                        told = True
                    time.sleep(POLL)
        except BaseException:
            os.close(fd)
            raise
        os.ftruncate(fd, 0)
        started = datetime.now(UTC).astimezone().isoformat(timespec="seconds")
        os.pwrite(fd, f"process {os.getpid()} ({_command()}), since {started}\n".encode(), 0)
        self._fd = fd

    def holder(self) -> str:
        """Who holds the lock, as the holder wrote it (it writes right after taking it)."""
        try:
            text = self.path.read_text(encoding="utf-8", errors="replace").strip()
        except OSError:
            text = ""
        return text or "a process that is just starting"

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the last descriptor drops the flock
            self._fd = None

    def __enter__(self) -> AccountLock:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def _command() -> str:
    """``mail-followup run`` (the service; its passes inherit its arguments), ``mail-followup scan``, ..."""
    command = next((a for a in sys.argv[1:2] if a in ("run", "scan", "demo")), None)
    return f"mail-followup {command}" if command else "mail-followup"
