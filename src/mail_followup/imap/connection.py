"""The connection to the IMAP server: connect, keep a password off an unsafe line, sign in, learn what it offers.

Every other part of ``Mailbox`` works through the state kept here: the
client, the capabilities offered and enabled, which folder is open
read-only, and the guard that cuts a command on a stop or past its deadline.
"""

from __future__ import annotations

import imaplib
import ipaddress
import socket
import ssl
import threading
from collections.abc import Callable
from typing import Self

from imapclient import IMAPClient
from imapclient.exceptions import IMAPClientError, LoginError

from mail_followup.config import Account
from mail_followup.core.headers import Interner
from mail_followup.errors import AccountError, AuthError
from mail_followup.imap.guard import DEADLINE_FACTOR, CommandGuard

# imaplib refuses a response line over 1,000,000 bytes. A SEARCH over a folder of 150,000 messages or more
# is one line longer than that (its UIDs; 4.5 MB for 666,666), so a large mailbox could not be scanned at
# all. The limit stays, as a guard against a server that never ends a line, at 64 MiB.
imaplib._MAXLINE = max(imaplib._MAXLINE, 64 << 20)  # type: ignore[attr-defined]


def is_loopback(host: str) -> bool:
    if host.lower() in ("localhost", "localhost.localdomain"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


class Connection:
    """One logged-in IMAP connection for one account: what every part of ``Mailbox`` shares."""

    def __init__(self, client: IMAPClient, account: str, guard: CommandGuard | None = None) -> None:
        self.client = client
        self.account = account
        self.guard = guard  # cuts the connection on a stop request or a command past its deadline
        self._selected: str | None = None
        self._elsewhere = "INBOX"  # a folder other than INBOX to select instead (set by discover: Sent)
        self._share = Interner()  # equal values of all the messages this connection reads, stored once
        self._read_early: dict[tuple[str, int], bytes] = {}  # (folder, UID): the start of a body (bodies.py)
        self.progress: Callable[[str, int, int], None] | None = None  # (folder, headers read, of how many)
        self.capabilities = {c.decode().upper() if isinstance(c, bytes) else str(c).upper()
                             for c in client.capabilities()}
        # QRESYNC (which implies CONDSTORE) or CONDSTORE: EXAMINE then reports HIGHESTMODSEQ.
        wanted = [c for c in ("QRESYNC", "CONDSTORE") if c in self.capabilities][:1]
        self.enabled = {c.decode().upper() if isinstance(c, bytes) else str(c).upper()
                        for c in (client.enable(*wanted) if wanted else [])}
        if "QRESYNC" in self.enabled:
            self.enabled.add("CONDSTORE")

    @classmethod
    def connect(cls, account: Account, secret: Callable[[Account], str],
                cancel: threading.Event | None = None) -> Self:
        """Connect and log in; raise AccountError (AuthError for refused credentials) naming the host.

        ``secret`` is asked for the password only once the connection is
        known to be safe for it. From then on every command is guarded
        (``guard.CommandGuard``): ``cancel`` set cuts it, and so does a
        command that runs past its deadline.
        """
        imap = account.imap
        host, port = imap.host, imap.effective_port
        if imap.security == "none" and not is_loopback(host) and not imap.allow_plaintext:
            raise AccountError(
                account.name,
                f"refusing to send a password or token unencrypted to {host}:{port}",
                "use security: tls or starttls; if you really mean it, set allow_plaintext: true",
            )
        context = ssl.create_default_context(cafile=imap.tls_ca_file)
        if imap.tls_fingerprint:  # the pinned certificate is the check, made below before any secret is sent
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        try:
            client = IMAPClient(host, port=port, ssl=imap.security == "tls", ssl_context=context,
                                timeout=imap.timeout_seconds)
            if imap.security == "starttls":
                client.starttls(context)  # a server without STARTTLS is refused here: never a plaintext fallback
        except ssl.SSLCertVerificationError as exc:
            raise AccountError(account.name, f"cannot connect to {host}:{port}: {_describe(exc)}",
                               _trust_advice(host, port, imap.security), kind="network") from None
        except (OSError, IMAPClientError, ssl.SSLError) as exc:
            raise AccountError(account.name, f"cannot connect to {host}:{port}: {_describe(exc)}",
                               "check host, port and security, and that the network is up", kind="network") from None
        if imap.tls_fingerprint and imap.security != "none":
            got = _fingerprint(client)
            if got != imap.tls_fingerprint:
                _quietly_close(client)
                raise AccountError(account.name, f"the certificate of {host}:{port} is not the pinned one "
                                   f"(it has SHA-256 {got})",
                                   "if the server really changed its certificate, put the new fingerprint in "
                                   "imap.tls_fingerprint")
        client.normalise_times = False
        guard = CommandGuard(client._imap, account.name, DEADLINE_FACTOR * imap.timeout_seconds, cancel)
        from mail_followup.imap.credentials import token
        from mail_followup.imap.signin import sign_in

        try:
            sign_in(client, account, secret, token)  # a password, or an OAuth2 token from oauth2_token_command
        except LoginError as exc:
            _quietly_close(client)
            guard.close()
            if isinstance(exc.__context__, (imaplib.IMAP4.abort, OSError)):
                # imapclient turns any error during LOGIN into LoginError, the connection dropping too
                raise AccountError(account.name, f"login to {host}:{port} failed: the connection broke "
                                   f"({_describe(exc.__context__)})", kind="network") from None
            if _temporary_refusal(exc):  # a server restarting, its auth service down: not the password
                raise AccountError(account.name, f"the server {host} cannot check logins just now "
                                   f"({_describe(exc)})", "nothing to do: the next pass tries again",
                                   kind="network") from None
            raise AuthError(account.name, f"the server {host} refused the login for {imap.username}",
                            f"check the username and password (mail-followup auth set {account.name})") from None
        except (OSError, IMAPClientError) as exc:
            _quietly_close(client)
            guard.close()
            raise AccountError(account.name, f"login to {host}:{port} failed: {_describe(exc)}",
                               kind="network") from None
        except BaseException:  # no password to give (a missing keyring entry, a failing command), a stop
            _quietly_close(client)
            guard.close()
            raise
        return cls(client, account.name, guard)

    def _leave(self, folder: str) -> None:
        """Never APPEND to the folder selected read-only: Courier refuses that ("NO Current box is selected
        READ-ONLY"). UNSELECT where offered; else EXAMINE another folder. Never CLOSE: RFC 3501 says it
        expunges nothing after EXAMINE, but a server that gets that wrong would take what the user flagged."""
        if self._selected == folder:
            if "UNSELECT" in self.capabilities:
                self.client.unselect_folder()
                self._selected = None
            else:
                self.examine("INBOX" if folder.upper() != "INBOX" else self._elsewhere)

    def examine(self, folder: str) -> None:
        """Open ``folder`` read-only, unless it is open already: on a large folder, EXAMINE is not free."""
        if self._selected != folder:
            self.client.select_folder(folder, readonly=True)
            self._selected = folder

    def close(self) -> None:
        _quietly_close(self.client)
        if self.guard is not None:
            self.guard.close()

    def check(self) -> None:
        """Raise PassStopped when the pass was asked to stop (a place where stopping leaves nothing half-done)."""
        if self.guard is not None:
            self.guard.check()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _fingerprint(client: IMAPClient) -> str:
    """The SHA-256 of the server's certificate on this connection."""
    import hashlib

    der = client._imap.sock.getpeercert(binary_form=True) or b""
    return hashlib.sha256(der).hexdigest()


def _trust_advice(host: str, port: int, security: str) -> str:
    """How to trust a server whose certificate the system does not: its CA, or its certificate pinned."""
    fingerprint = ""
    if security == "tls":
        try:
            import hashlib

            pem = ssl.get_server_certificate((host, port), timeout=10)
            fingerprint = hashlib.sha256(ssl.PEM_cert_to_DER_cert(pem)).hexdigest()
        except (OSError, ValueError):
            pass
    pin = (f"imap.tls_fingerprint: {fingerprint}" if fingerprint else
           f"imap.tls_fingerprint (its SHA-256: openssl s_client -starttls imap -connect {host}:{port} "
           "| openssl x509 -noout -fingerprint -sha256)")
    return (f"if this is your server with its own certificate, trust its CA with imap.tls_ca_file: /path/to/ca.pem, "
            f"or pin the certificate once you have checked it is the right one: {pin}")


_TEMPORARY = ("[UNAVAILABLE]", "[INUSE]", "[SERVERBUG]", "TEMPORARY AUTHENTICATION FAILURE")


def _temporary_refusal(exc: Exception) -> bool:
    """A login refused for a reason that passes (RFC 5530 codes), so the account must not be paused.

    Dovecot answers "NO [UNAVAILABLE] Temporary authentication failure" while
    its auth process restarts; the fault campaign met it when it restarted
    Dovecot in the middle of a login.
    """
    text = str(exc).upper()
    return any(code in text for code in _TEMPORARY)


def _describe(exc: BaseException) -> str:
    if isinstance(exc, socket.timeout):
        return "timed out"
    text = str(exc) or type(exc).__name__
    return text.splitlines()[0][:200]


def _quietly_close(client: IMAPClient) -> None:
    try:
        client.logout()
    except Exception:  # closing a broken connection must not hide the real error
        try:
            client.shutdown()
        except Exception:
            pass
