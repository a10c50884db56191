"""Watching an account for news with IMAP IDLE (RFC 2177), so an answer is acted on within a minute.

A draft written for someone who answers five minutes later must be gone
before the user reads Drafts, not at the next 15-minute tick. The service
keeps one connection per account idling on the folder where answers
arrive (INBOX, or the all-mail folder on Gmail); where the server offers
NOTIFY (RFC 5465), the same connection watches every folder a pass reads
but Drafts (the program's own appends there must not wake it). News wakes
the account's pass, which is incremental; the connection holds nothing
else and reads no mail.

The connection is kept alive the cheap way: one wakeup a minute to look
at the clocks, IDLE renewed before the 29 minutes a server may wait, TCP
keepalive so a network change is noticed within two minutes, and a jump
of the wall clock past the monotonic one (a suspend) reconnects at once.
A drop reconnects with backoff; a refused login ends the watch (retrying
a wrong password risks a lockout: the pass pauses the account, a reload
starts again). Where IDLE is missing (pymap), the interval alone does it.
"""

from __future__ import annotations

import imaplib
import logging
import socket
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from imapclient import imap_utf7
from imapclient.exceptions import IMAPClientError

from mail_followup.config import Account
from mail_followup.errors import AccountError, AuthError
from mail_followup.imap import credentials
from mail_followup.imap.mailbox import Mailbox

log = logging.getLogger(__name__)

LOOK = 60.0  # seconds between looks at the clocks while idling
RENEW = 24 * 60.0  # IDLE is renewed after this; RFC 2177 lets a server end it after 29 minutes
SUSPEND_JUMP = 30.0  # the wall clock ran this much further than the monotonic one: the laptop slept
MAX_BACKOFF = 300.0
NO_IDLE = "no IDLE: polling"
NEWS = {b"EXISTS", b"EXPUNGE", b"FETCH", b"VANISHED", b"STATUS"}  # STATUS: another folder's news, by NOTIFY
NOTIFY_EVENTS = "(MessageNew MessageExpunge)"
SELECTED_EVENTS = "(MessageNew (UID) MessageExpunge FlagChange)"


class Reconnect(Exception):
    """The connection is to be made again (dropped, or the laptop slept)."""


class Watcher:
    """One account's IDLE connection, in a thread of the service; ``news(account)`` is called on news."""

    def __init__(self, account: Account, news: Callable[[str], None],
                 secret: Callable[[Account], str] = credentials.password) -> None:
        self.account = account
        self.news = news
        self.secret = secret
        self.stopped = threading.Event()
        self.idling = threading.Event()  # set while an IDLE is in place: what a test waits for
        self.how = ""  # "IDLE on INBOX", "IDLE on INBOX, NOTIFY on 2 more folder(s)", "no IDLE: polling"
        self._mailbox: Mailbox | None = None
        self._thread = threading.Thread(target=self._run, name=f"watch {account.name}", daemon=True)

    @property
    def wanted(self) -> bool:
        """Whether this watch still stands for its account: it runs, or it ended because the server has no
        IDLE (asking again at every pass would cost a login each time)."""
        return self._thread.is_alive() or self.how == NO_IDLE

    def start(self) -> None:
        self._thread.start()

    def stop(self, wait: float = 2.0) -> None:
        """End the watch at once: the socket it waits on is shut, so the wait returns now."""
        self.stopped.set()
        mailbox = self._mailbox
        if mailbox is not None:
            try:
                mailbox.client.socket().shutdown(socket.SHUT_RDWR)
            except (OSError, AttributeError):
                pass
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(wait)

    def _run(self) -> None:
        name = self.account.name
        backoff, first = 1.0, True
        while not self.stopped.is_set():
            try:
                self._mailbox = mailbox = self._connect()
                backoff = 1.0
                if "IDLE" not in mailbox.capabilities:
                    self.how = NO_IDLE
                    log.info("account %s: the server offers no IDLE, so new mail is seen at each pass", name)
                    return
                if not first:  # mail may have come while the connection was down or the laptop slept
                    self.news(name)
                first = False
                self._watch(mailbox)
            except AuthError as exc:
                log.warning("account %s: no watch for new mail, the login was refused (%s)", name, exc.message)
                return
            except Reconnect as why:
                log.info("account %s: connecting again for new mail (%s)", name, why)
                continue
            except (AccountError, OSError, imaplib.IMAP4.error, IMAPClientError) as exc:
                if self.stopped.is_set():
                    return
                log.info("account %s: the watch for new mail broke (%s); again in %.0f s", name,
                         str(exc).splitlines()[0] if str(exc) else type(exc).__name__, backoff)
            finally:
                self.idling.clear()
                if self._mailbox is not None:
                    _drop(self._mailbox)
                self._mailbox = None
            if self.stopped.wait(backoff):
                return
            backoff = min(backoff * 2, MAX_BACKOFF)

    def _connect(self) -> Mailbox:
        mailbox = Mailbox.connect(self.account, self.secret)
        if mailbox.guard is not None:
            mailbox.guard.close()  # the guard cuts a command past its deadline, and IDLE is one that lasts
        _keep_alive(mailbox.client.socket())
        return mailbox

    def _watch(self, mailbox: Mailbox) -> None:
        """Idle until news, a stop, a drop or a suspend; renew the IDLE before the server may end it."""
        folders = mailbox.discover(self.account.folders)
        watched = answers_folder(folders.replies)
        mailbox.examine(watched)
        others = [f for f in folders.scanned() if f not in (watched, folders.drafts)]
        self.how = f"IDLE on {watched}"
        if "NOTIFY" in mailbox.capabilities and others and _notify(mailbox.client, others):
            self.how += f", NOTIFY on {len(others)} more folder(s)"
        log.info("account %s: watching for new mail (%s)", self.account.name, self.how)
        client = mailbox.client
        while not self.stopped.is_set():
            client.idle()
            self.idling.set()
            renew_at = time.monotonic() + RENEW
            while time.monotonic() < renew_at and not self.stopped.is_set():
                wall, mono = time.time(), time.monotonic()
                responses = client.idle_check(timeout=LOOK)
                if self.stopped.is_set():
                    return
                if (time.time() - wall) - (time.monotonic() - mono) > SUSPEND_JUMP:
                    raise Reconnect("the machine was asleep")
                if any(_is_news(r) for r in responses):
                    self.news(self.account.name)
                elif not responses and time.monotonic() - mono < LOOK - 1:
                    break  # woken with nothing to read: a closed connection or half a line; DONE tells which
            self.idling.clear()
            client.idle_done()  # raises on a dropped connection


def _drop(mailbox: Mailbox) -> None:
    """Close without LOGOUT: in IDLE a server answers nothing but DONE, and the socket may be dead anyway."""
    try:
        mailbox.client.shutdown()
    except (OSError, imaplib.IMAP4.error):
        pass


def answers_folder(replies: Sequence[str]) -> str:
    """Where answers arrive: INBOX; where the server has an all-mail folder (Gmail), the folder discovery
    reads only that one, so it is the one watched."""
    return next((f for f in replies if f.upper() == "INBOX"), replies[0] if replies else "INBOX")


def _is_news(response: Any) -> bool:
    return isinstance(response, tuple) and any(isinstance(p, bytes) and p.upper() in NEWS for p in response[:2])


def _notify(client: Any, folders: Sequence[str]) -> bool:
    """Ask the server to tell of new and expunged mail in ``folders`` too (NOTIFY SET); False if it refuses."""
    names = " ".join(_quoted(f) for f in folders)
    imaplib.Commands.setdefault("NOTIFY", ("AUTH", "SELECTED"))
    try:
        typ, _ = client._imap._simple_command(
            "NOTIFY", "SET", f"(selected {SELECTED_EVENTS})", f"(mailboxes ({names}) {NOTIFY_EVENTS})")
    except imaplib.IMAP4.error as exc:
        log.info("the server refused NOTIFY (%s): watching one folder", exc)
        return False
    return bool(typ == "OK")


def _quoted(folder: str) -> str:
    encoded = imap_utf7.encode(folder).decode("ascii")
    return '"' + encoded.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _keep_alive(sock: socket.socket) -> None:
    """TCP keepalive: a connection a network change has silently killed fails within two minutes."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
        for option, value in (("TCP_KEEPIDLE", 60), ("TCP_KEEPINTVL", 15), ("TCP_KEEPCNT", 4)):
            if hasattr(socket, option):
                sock.setsockopt(socket.IPPROTO_TCP, getattr(socket, option), value)
    except OSError as exc:
        log.debug("no TCP keepalive: %s", exc)
