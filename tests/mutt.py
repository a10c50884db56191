"""Read an IMAP folder with neomutt, the way a user of a real mail client would.

Why: our product writes drafts into the user's Drafts folder. Parsing them
back with Python's `email` package only shows that they agree with Python;
`neomutt_read` shows that an independent, real mail client opens them and
displays the decoded headers (RFC 2047) and body (quoted-printable, base64,
charset conversion, and its usual text/plain choice for a
multipart/alternative) that we meant to write.

How: neomutt is a full-screen program, so it runs under a pseudo-terminal
(Python's `pty`; the screen output is drained and only kept for error
messages). A throwaway muttrc (`-n`: no system muttrc; `-F`: ours) and a
throwaway $HOME keep the user's and the system's settings out, and no header
or message cache is used. The folder is opened read-only (`-R`) over plain
IMAP with user name and password (`imap_authenticators=login`;
`ssl_starttls=no`, so a server with a self-signed certificate does not make
neomutt ask about it). A `push` in the muttrc then creates a marker file
(the index, which runs the pushed keys, only comes up once the folder is
open), tags every message, pipes the tagged messages in folder order (by
UID) to `cat > FILE` with `pipe_decode` and `weed` set, and quits. That is
the decoded text the pager shows: headers RFC 2047-decoded, limited by
`ignore *` / `unignore` and ordered by `hdr_order`; the body through the
same MIME handlers as the pager (transfer decoding, charset conversion,
text/plain chosen from multipart/alternative). A unique `pipe_sep` line
separates the messages. If an error flushes the pushed keys (an empty
folder: "There are no messages"), a `timeout-hook` quits after 1 s idle.

Limits: it is the decoder's output, not a screen dump: no pager colours or
line wrapping, and neomutt adds "MIME-Version", "Content-Transfer-Encoding:
8bit" and "Content-Type: text/plain; charset=utf-8" lines to the headers of
the decoded copy. neomutt gets TIMEOUT seconds; then its process group is
killed and RuntimeError carries the screen text (also when the folder cannot
be opened, e.g. wrong password, which takes a few seconds of server delay).
An empty folder gives []. Folder names are used as IMAP mailbox names as-is
(Dovecot's delimiter "." for subfolders). Tested with neomutt 20220429
(Debian 12).
"""

from __future__ import annotations

import fcntl
import os
import pty
import re
import select
import shutil
import signal
import struct
import subprocess
import tempfile
import termios
import time
import uuid
from pathlib import Path
from urllib.parse import quote

NEOMUTT: str | None = shutil.which("neomutt")

TIMEOUT = 20.0  # seconds neomutt may take before it is killed
HEADERS = ("date", "from", "to", "cc", "subject")  # what the pager shows, in this order
OUTPUT, OPENED = "messages.txt", "opened"  # files neomutt writes in its temp $HOME
_ROWS, _COLS = 40, 200

# Terminal control sequences, to make the screen text readable in errors.
_ANSI = re.compile(r"\x1b(\[[0-?]*[ -/]*[@-~]|\][^\x07]*\x07|[()][0-9A-Za-z]|[=>78DEHMc])")


def _quote(value: str) -> str:
    """A muttrc double-quoted string: backslash, quote, $ and ` escaped."""
    if any(c in value for c in "\r\n\0"):
        raise ValueError(f"line break or NUL in a muttrc value: {value!r}")
    return '"' + re.sub(r'([\\"$`])', r"\\\1", value) + '"'


def _muttrc(
    host: str, port: int, user: str, password: str, folder: str, home: Path, sep: str
) -> tuple[str, str]:
    """(muttrc text, URL of the folder to open). neomutt writes the messages
    to home/OUTPUT and creates home/OPENED once the folder is open."""
    out, opened = home / OUTPUT, home / OPENED
    if not re.fullmatch(r"\n[A-Za-z0-9-]+\n", sep):
        raise ValueError(f"separator must be one plain line: {sep!r}")
    account = f"imap://{quote(user, safe='')}@{host}:{port}/"
    url = account + quote(folder, safe="/.")
    pipe_command = f"cat > {out}"
    mark_command = f": > {opened}"
    for command in (pipe_command, mark_command):
        if not re.fullmatch(r"[A-Za-z0-9/._ :>-]+", command):
            raise ValueError(f"unexpected characters in a temp path: {command}")
    settings = {
        "folder": account,
        "spoolfile": url,
        "record": "",
        "postponed": "",
        "tmpdir": str(home),
        "imap_user": user,
        "imap_pass": password,
        "imap_authenticators": "login",
        "charset": "utf-8",
        "sort": "mailbox-order",  # by UID, the order the messages were appended
        "header_cache": "",
        "message_cachedir": "",
        "mailcap_path": "",
    }
    lines = [f"set {name}={_quote(value)}" for name, value in settings.items()]
    lines += [
        "set ssl_starttls=no ssl_force_tls=no",
        "set imap_passive=yes imap_idle=no imap_check_subscribed=no",
        "set mail_check=60 sleep_time=0",
        # Whenever the index waits 1 s for a key, quit. That ends neomutt
        # when an error (e.g. "There are no messages" in an empty folder)
        # has flushed the rest of the pushed keys.
        "set timeout=1",
        "timeout-hook 'exec quit'",
        "set pipe_decode=yes pipe_split=no weed=yes",
        # In a muttrc double-quoted string, \n is a line break.
        f'set pipe_sep="{sep.replace(chr(10), chr(92) + "n")}"',
        "set wait_key=no confirmappend=no confirmcreate=no quit=yes move=no",
        "set mark_old=no beep=no help=no sidebar_visible=no",
        "ignore *",
        "unignore " + " ".join(f"{h}:" for h in HEADERS),
        "hdr_order " + " ".join(f"{h}:" for h in HEADERS),
        # Mark that the folder is open (the index runs only then), tag all,
        # pipe the tagged ones (decoded) into `out`, quit.
        "push " + _quote(
            f"<shell-escape>{mark_command}<enter>"
            "<tag-pattern>~A<enter>"
            f"<tag-prefix><pipe-message>{pipe_command}<enter>"
            "<quit>"
        ),
    ]
    return "\n".join(lines) + "\n", url


def _run_in_pty(argv: list[str], env: dict[str, str], cwd: Path, timeout: float) -> tuple[int | None, str]:
    """Run argv on a fresh pseudo-terminal; (exit code or None on timeout, screen text)."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", _ROWS, _COLS, 0, 0))
    try:
        proc = subprocess.Popen(
            argv, stdin=slave, stdout=slave, stderr=slave, env=env, cwd=cwd,
            start_new_session=True, close_fds=True,
        )
    finally:
        os.close(slave)
    screen = bytearray()
    deadline = time.monotonic() + timeout
    try:
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
                return None, _screen_text(screen)
            ready, _, _ = select.select([master], [], [], min(left, 0.2))
            if ready:
                try:
                    chunk = os.read(master, 65536)
                except OSError:  # EIO: every holder of the terminal has gone
                    chunk = b""
                if not chunk:
                    break
                screen += chunk
            elif proc.poll() is not None:
                break
        try:
            code = proc.wait(timeout=max(deadline - time.monotonic(), 1.0))
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            return None, _screen_text(screen)
        return code, _screen_text(screen)
    finally:
        os.close(master)
        if proc.poll() is None:  # an exception above; never leave it behind
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def _screen_text(raw: bytes) -> str:
    text = _ANSI.sub("", raw.decode("utf-8", "replace")).replace("\r", "")
    return "\n".join(line.rstrip() for line in text.splitlines() if line.strip())[-3000:]


def neomutt_read(host: str, port: int, user: str, password: str, folder: str) -> list[str]:
    """What neomutt shows for each message in `folder`, in UID order.

    Each item is the decoded text neomutt pipes with `pipe_decode` and
    `weed`: the shown headers (Date, From, To, Cc, Subject; RFC 2047
    decoded), a blank line, then the decoded body (text/plain out of a
    multipart/alternative). Raises RuntimeError if neomutt is missing, hangs
    (killed after TIMEOUT seconds) or cannot open the folder.
    """
    if NEOMUTT is None:
        raise RuntimeError("neomutt not installed (apt-get install neomutt)")
    with tempfile.TemporaryDirectory(prefix="mf-neomutt-") as tmp:
        home = Path(tmp)
        sep = f"\n--mf-neomutt-end-{uuid.uuid4().hex}--\n"
        rc_text, url = _muttrc(host, port, user, password, folder, home, sep)
        muttrc = home / "muttrc"
        muttrc.write_text(rc_text, encoding="utf-8")
        muttrc.chmod(0o600)
        env = {
            "HOME": str(home),
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "TERM": "xterm",
            "LANG": "C.UTF-8",
            "LC_ALL": "C.UTF-8",
            "TMPDIR": str(home),
        }
        argv = [NEOMUTT, "-n", "-F", str(muttrc), "-R", "-f", url]
        code, screen = _run_in_pty(argv, env, home, TIMEOUT)
        if code is None:
            raise RuntimeError(f"neomutt did not finish within {TIMEOUT:.0f} s; screen:\n{screen}")
        if code != 0:
            raise RuntimeError(f"neomutt exited with {code}; screen:\n{screen}")
        if not (home / OPENED).exists():
            raise RuntimeError(f"neomutt could not open {url}; screen:\n{screen}")
        if not (home / OUTPUT).exists():
            return []  # an empty folder: nothing to tag, nothing piped
        text = (home / OUTPUT).read_bytes().decode("utf-8")
    return _split(text, sep)


def _split(text: str, sep: str) -> list[str]:
    """neomutt writes `sep` after each of several tagged messages, but not
    after a lone one (it takes its single-message path)."""
    parts = text.split(sep)
    if parts[-1] == "":
        parts.pop()
    return parts


def neomutt_keys(folder: Path, lines: list[str], home: Path, env: dict[str, str]) -> str:
    """Open the local ``folder`` (an mbox or a maildir) in neomutt with a throwaway muttrc of ``lines``
    (say, a macro and the ``push`` of its keys) after quiet settings of its own, on a pseudo-terminal, and
    return the screen text once it has quit (after 1 s with no key to read).

    ``env`` is added to a bare environment (HOME is ``home``). Raises RuntimeError when neomutt is missing,
    hangs (TIMEOUT) or exits with an error.
    """
    if NEOMUTT is None:
        raise RuntimeError("neomutt not installed (apt-get install neomutt)")
    settings = [
        f"set folder={_quote(str(folder.parent))} spoolfile={_quote(str(folder))} tmpdir={_quote(str(home))}",
        'set record="" postponed="" header_cache="" message_cachedir="" mailcap_path="" charset=utf-8',
        "set mark_old=no beep=no help=no sidebar_visible=no quit=yes move=no confirmappend=no",
        "set timeout=1 sleep_time=0",
        "timeout-hook 'exec quit'",
    ]
    muttrc = home / "muttrc"
    muttrc.write_text("\n".join(settings + lines) + "\n", encoding="utf-8")
    full_env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "TERM": "xterm", "LANG": "C.UTF-8",
                "LC_ALL": "C.UTF-8", "TMPDIR": str(home), **env, "HOME": str(home)}
    code, screen = _run_in_pty([NEOMUTT, "-n", "-F", str(muttrc), "-f", str(folder)], full_env, home, TIMEOUT)
    if code is None:
        raise RuntimeError(f"neomutt did not finish within {TIMEOUT:.0f} s; screen:\n{screen}")
    if code != 0:
        raise RuntimeError(f"neomutt exited with {code}; screen:\n{screen}")
    return screen
