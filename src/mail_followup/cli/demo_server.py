"""A throwaway IMAP server on 127.0.0.1, run by the pure-Python `pymap` package.

Used by the built-in demo (`mail-followup demo`) and by the test suite.

Why pymap: it is a pip dependency, needs no root and no system package, and
keeps everything in memory (`dict` backend), so a fresh server per test costs
about a second. It is also a deliberately *limited* server: no SPECIAL-USE,
no CONDSTORE, no QRESYNC, so code talking to it has to take its fallback paths
(folders found by name, full flag re-fetches instead of CHANGEDSINCE).

Quirks worth knowing when talking to it:

* UIDs start at 101 in every new mailbox (Dovecot starts at 1).
* The hierarchy delimiter is "/".
* PERMANENTFLAGS lacks ``\\*``: keywords (e.g. ``$Followup``) given to APPEND
  are kept, but STORE +FLAGS silently drops them (only system flags stick).
* SEARCH HEADER works (case-insensitive substring match, as RFC 3501 says).
* It answers APPEND with ``[APPENDUID validity uid]`` (UIDPLUS).
* FETCH BODY[HEADER.FIELDS (A B)] answers under its own field order, e.g.
  asking for (MESSAGE-ID IN-REPLY-TO) gives the key
  b"BODY[HEADER.FIELDS (IN-REPLY-TO MESSAGE-ID)]": don't look it up verbatim.
* No NAMESPACE, and STATUS rejects HIGHESTMODSEQ (BAD).
* Every login costs ~0.2 s (PBKDF2 with 500,000 rounds): reuse connections.

This module must not import pytest: the demo command uses it at run time.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType

from imapclient import IMAPClient

__all__ = [
    "PymapServer",
    "free_port",
    "stop_process",
    "tail",
    "wait_for_imap_greeting",
]

# `python -m pymap` does not work (pymap has no __main__ module), and the
# `pymap` console script is not always next to sys.executable (pyenv shims,
# --user installs). Calling its entry point through our own interpreter
# always runs the pymap that this interpreter imports. It also makes logins cheap:
# pymap hashes the password with 500,000 rounds of PBKDF2 at every login, about 95 ms of CPU (almost
# half the CPU of the whole test suite); a throwaway in-memory server on loopback, with one made-up
# user, needs one round.
_CHEAP_LOGINS = ("import pymap.config as c; from pysasl.hashing import BuiltinHash; "
                 "c.IMAPConfig._get_hash_context = classmethod(lambda cls, cfg: BuiltinHash(rounds=1)); ")
_PYMAP_ENTRY = "import sys; " + _CHEAP_LOGINS + "from pymap.main import main; sys.exit(main())"
# The same server without IDLE, as many servers are: pymap has no switch for it (its disable_idle is unused).
_PYMAP_ENTRY_NO_IDLE = (
    "import sys; " + _CHEAP_LOGINS + "import pymap.config as c; init = c.BackendCapability.__init__; "
    "c.BackendCapability.__init__ = lambda self, **k: init(self, **{**k, 'idle': False}); "
    "from pymap.main import main; sys.exit(main())"
)

_PORT_ATTEMPTS = 3


def free_port(host: str = "127.0.0.1") -> int:
    """Return a TCP port that was free a moment ago.

    The port is only reserved until the socket closes, so another process may
    take it before our server binds it; callers retry on "Address already in
    use".
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def wait_for_imap_greeting(
    host: str, port: int, proc: subprocess.Popen[bytes], timeout: float
) -> bool:
    """Poll until the server sends an IMAP ``* OK`` greeting.

    Returns True once it does, False if `proc` exits first; raises
    TimeoutError when `timeout` seconds pass without either.
    A bound port alone is not enough: we want the server to really answer.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        try:
            with socket.create_connection((host, port), timeout=1.0) as sock:
                sock.settimeout(max(0.5, min(2.0, deadline - time.monotonic())))
                greeting = sock.recv(512)
            # Still alive: else something else answered on "our" port.
            if greeting.startswith(b"* OK") and proc.poll() is None:
                return True
        except OSError:
            pass
        time.sleep(0.05)
    raise TimeoutError(f"no IMAP greeting from {host}:{port} within {timeout:.0f} s")


def stop_process(proc: subprocess.Popen[bytes], timeout: float = 10.0) -> None:
    """Terminate `proc`, wait for it, and kill it if it does not exit in time."""
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout)


def tail(path: Path, lines: int = 30) -> str:
    """Last `lines` lines of a log file, for error messages."""
    try:
        text = path.read_text(errors="replace")
    except OSError as exc:
        return f"(cannot read {path}: {exc})"
    return "\n".join(text.splitlines()[-lines:])


class PymapServer:
    """A pymap IMAP server (in-memory `dict` backend) as a subprocess.

    Plaintext (no TLS) on 127.0.0.1 and a free port; one user with the given
    password; after start, the `folders` are created (plain names: pymap has
    no SPECIAL-USE). Use as a context manager::

        with PymapServer(password="pw") as server:
            IMAPClient(server.host, port=server.port, ssl=False)

    Everything is lost when the server stops.
    """

    def __init__(
        self,
        username: str = "demo",
        password: str = "demo",
        folders: Sequence[str] = ("Sent", "Drafts", "Archive"),
        *,
        host: str = "127.0.0.1",
        start_timeout: float = 15.0,
        idle: bool = True,
    ) -> None:
        self.host = host
        self.idle = idle
        self.port = 0
        self.username = username
        self.password = password
        self.folders = tuple(folders)
        self.start_timeout = start_timeout
        self._proc: subprocess.Popen[bytes] | None = None
        self._tmpdir: Path | None = None

    @property
    def log_path(self) -> Path:
        """The server's stdout and stderr (a file, so a chatty server never blocks)."""
        if self._tmpdir is None:
            raise RuntimeError("server not started")
        return self._tmpdir / "pymap.log"

    def start(self) -> PymapServer:
        """Start the server, wait for its greeting, and create the folders."""
        if self._proc is not None:
            raise RuntimeError("server already started")
        self._tmpdir = Path(tempfile.mkdtemp(prefix="mf-pymap-"))
        try:
            self._start_process()
            self._create_folders()
        except BaseException:
            self.stop()
            raise
        return self

    def _start_process(self) -> None:
        for attempt in range(1, _PORT_ATTEMPTS + 1):
            self.port = free_port(self.host)
            with open(self.log_path, "wb") as log:
                self._proc = subprocess.Popen(
                    self._command(),
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
            try:
                ready = wait_for_imap_greeting(
                    self.host, self.port, self._proc, self.start_timeout
                )
            except TimeoutError as exc:
                raise RuntimeError(
                    f"pymap did not answer on {self.host}:{self.port}: {exc}\n"
                    f"{tail(self.log_path)}"
                ) from None
            if ready:
                return
            log_tail = tail(self.log_path)
            self._proc = None
            port_taken = "address already in use" in log_tail.lower()
            if port_taken and attempt < _PORT_ATTEMPTS:
                continue  # someone took the port between free_port() and bind
            raise RuntimeError(f"pymap exited during start-up:\n{log_tail}")

    def _command(self) -> list[str]:
        assert self._tmpdir is not None
        return [
            sys.executable,
            "-c",
            _PYMAP_ENTRY if self.idle else _PYMAP_ENTRY_NO_IDLE,
            "--no-tls",
            "--host",
            self.host,
            "--port",
            str(self.port),
            # Only used if the optional `pid` package is installed; without
            # this, parallel servers would fight over one pid file in /tmp.
            "--pid-file",
            str(self._tmpdir / "pymap.pid"),
            "dict",
            "--demo-user",
            self.username,
            "--demo-password",
            self.password,
        ]

    def _create_folders(self) -> None:
        if not self.folders:
            return
        with IMAPClient(self.host, port=self.port, ssl=False, timeout=10) as client:
            client.login(self.username, self.password)
            for folder in self.folders:
                if not client.folder_exists(folder):
                    client.create_folder(folder)

    def stop(self) -> None:
        """Stop the server (terminate, then kill) and remove its temp files."""
        if self._proc is not None:
            stop_process(self._proc)
            self._proc = None
        if self._tmpdir is not None:
            shutil.rmtree(self._tmpdir, ignore_errors=True)
            self._tmpdir = None

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    @property
    def pid(self) -> int | None:
        return None if self._proc is None else self._proc.pid

    def __enter__(self) -> PymapServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"PymapServer({self.username}@{self.host}:{self.port})"


if __name__ == "__main__":  # manual check: python -m mail_followup.cli.demo_server
    with PymapServer() as _server:
        print(f"pymap on {_server.host}:{_server.port} user demo/demo; Ctrl-C stops")
        try:
            while _server.running:
                time.sleep(1)
        except KeyboardInterrupt:
            pass
