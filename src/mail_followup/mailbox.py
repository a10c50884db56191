"""The IMAP side: connect, find folders, sync headers, fetch a body, find and append drafts.

The only module that talks to the server. It never sends mail, never
changes a flag and never deletes anything: folders are selected read-only
for reading, and the only write is APPEND into Drafts.
"""

from __future__ import annotations

import ipaddress
import imaplib
import logging
import re
import socket
import ssl
import threading
from collections.abc import Callable, Collection, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from imapclient import IMAPClient
from imapclient.exceptions import IMAPClientError, LoginError
from imapclient.imapclient import seq_to_parenstr_upper

from mail_followup.config import Account, Folders as FolderSettings
from mail_followup import writes
from mail_followup.errors import AccountError, AuthError, SuspiciousSnapshot
from mail_followup.guard import DEADLINE_FACTOR, CommandGuard
from mail_followup.headers import FETCH_ITEM, Interner, Mail, parse_header_block
from mail_followup.responses import flag_set, header_block, parse_fetch, uid_ranges, uid_set
from mail_followup.store import FolderCursor

log = logging.getLogger(__name__)

# imaplib refuses a response line over 1,000,000 bytes. A SEARCH over a folder of 150,000 messages or more
# is one line longer than that (its UIDs; 4.5 MB for 666,666), so a large mailbox could not be scanned at
# all. The limit stays, as a guard against a server that never ends a line, at 64 MiB.
imaplib._MAXLINE = max(imaplib._MAXLINE, 64 << 20)  # type: ignore[attr-defined]

FETCH_CHUNK = 500
HEADER_CHUNK = 5000  # UIDs per header FETCH; the command names them as ranges, so it stays short
KNOWN_NAMES = {
    "sent": ("Sent", "Sent Items", "Sent Messages", "Sent Mail", "[Gmail]/Sent Mail", "[Google Mail]/Sent Mail",
             "[Gmail]/Gesendet", "[Google Mail]/Gesendet", "[Gmail]/Skickat", "[Gmail]/Sendt e-post", "INBOX.Sent",
             "Gesendet", "Gesendete Elemente", "Gesendete Objekte", "Skickat", "Skickade objekt",
             "Sendt", "Sendte elementer", "Sendte meldinger"),
    "drafts": ("Drafts", "[Gmail]/Drafts", "[Google Mail]/Drafts", "[Gmail]/Entwürfe", "[Google Mail]/Entwürfe",
               "[Gmail]/Utkast", "[Google Mail]/Utkast", "INBOX.Drafts", "Entwürfe", "Utkast", "Kladder", "Kladd"),
    "trash": ("Trash", "Deleted Items", "Deleted Messages", "INBOX.Trash", "[Gmail]/Trash", "[Gmail]/Bin",
              "Papierkorb", "Gelöschte Elemente", "Gelöschte Objekte", "Papperskorgen", "Borttagna objekt",
              "Borttagna meddelanden", "Slettede elementer", "Slettet", "Papirkurv"),
    "junk": ("Junk", "Spam", "Junk E-mail", "Junk Email", "INBOX.Junk", "INBOX.Spam", "[Gmail]/Spam", "Bulk Mail",
             "Junk-E-Mail", "Skräppost", "Søppelpost", "Spam-post"),
    "outbox": ("Outbox", "Postausgang", "Utkorgen", "Utboks"),
    # Gmail's one folder holding every message, where a server does not flag it \All.
    "all": ("[Gmail]/All Mail", "[Google Mail]/All Mail", "[Gmail]/Alle Nachrichten",
            "[Google Mail]/Alle Nachrichten", "[Gmail]/Alla mail", "[Gmail]/All e-post", "[Google Mail]/Alla mail",
            "[Google Mail]/All e-post"),
}
SPECIAL_USE = {"sent": b"\\Sent", "drafts": b"\\Drafts", "trash": b"\\Trash", "junk": b"\\Junk", "all": b"\\All"}
_UNSELECTABLE = {b"\\Noselect", b"\\NonExistent"}
_APPENDUID = re.compile(rb"APPENDUID \d+ (\d+)")


@dataclass(frozen=True)
class FolderMap:
    sent: str
    drafts: str
    replies: tuple[str, ...]
    how: dict[str, str] = field(default_factory=dict, compare=False)
    drafts_missing: bool = False  # the server has no Drafts folder: ``drafts`` is the name a pass creates

    def scanned(self) -> tuple[str, ...]:
        """Folders whose headers a scan reads: Sent first, then where answers land."""
        return (self.sent,) + tuple(f for f in self.replies if f != self.sent)


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


@dataclass(frozen=True)
class FoundDraft:
    uid: int
    message_id: str
    attempt: int | None
    deleted: bool = False  # flagged \Deleted, not yet expunged (a withdrawal on a server without UIDPLUS)


def is_loopback(host: str) -> bool:
    if host.lower() in ("localhost", "localhost.localdomain"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


class Mailbox:
    """One logged-in IMAP connection for one account."""

    def __init__(self, client: IMAPClient, account: str, guard: CommandGuard | None = None) -> None:
        self.client = client
        self.account = account
        self.guard = guard  # cuts the connection on a stop request or a command past its deadline
        self._selected: str | None = None
        self._elsewhere = "INBOX"  # a folder other than INBOX to select instead (set by discover: Sent)
        self._share = Interner()  # equal values of all the messages this connection reads, stored once
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
                cancel: threading.Event | None = None) -> "Mailbox":
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
        from mail_followup.credentials import token
        from mail_followup.signin import sign_in

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

    def __enter__(self) -> "Mailbox":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- folders ------------------------------------------------------------------

    def discover(self, wanted: FolderSettings) -> FolderMap:
        """Find Sent and Drafts (SPECIAL-USE first, then known names) and every folder where answers may land.

        Answers are looked for everywhere but Drafts, Trash, Junk, an outbox
        and the folders the config excludes; where the server has an "all
        mail" folder (\\All, as Gmail does) that one folder is read instead
        of every label, so no message is read twice.
        """
        listing = self.client.list_folders()
        names = [name for flags, _, name in listing if not set(flags) & _UNSELECTABLE]
        flags_by_name = {name: set(flags) for flags, _, name in listing}
        lowered = {n.lower(): n for n in names}
        how: dict[str, str] = {}

        def by_role(role: str) -> list[str]:
            flagged = [n for n in names if role in SPECIAL_USE and SPECIAL_USE[role] in flags_by_name[n]]
            if flagged:
                how[role] = "special-use"
                return flagged
            named = [lowered[c.lower()] for c in KNOWN_NAMES.get(role, ()) if c.lower() in lowered]
            if named:
                how[role] = "known name"
            return named

        def find(role: str, configured: str) -> str:
            if configured != "auto":
                if configured not in names:
                    raise AccountError(self.account, f"the {role} folder {configured!r} does not exist on the server",
                                       f"folders found: {', '.join(names)}")
                how[role] = "config"
                return configured
            found = by_role(role)
            if not found:
                raise AccountError(self.account, f"no {role} folder found (folders: {', '.join(names)})",
                                   f"name it in the account's folders: {{{role}: NAME}}")
            return found[0]

        sent = find("sent", wanted.sent)
        self._elsewhere = sent
        drafts_missing = wanted.drafts == "auto" and not by_role("drafts")
        if drafts_missing:  # a fresh Cyrus or Courier account has none: a pass creates it (create_drafts)
            delimiter = next((d for _, d, name in listing if name == sent), None)
            drafts = self._new_drafts_name(sent, delimiter.decode() if isinstance(delimiter, bytes) else delimiter)
            how["drafts"] = "none on the server: created by the first pass that writes"
        else:
            drafts = find("drafts", wanted.drafts)
        if wanted.replies != "auto":
            missing = [f for f in wanted.replies if f not in names]
            if missing:
                raise AccountError(self.account, f"reply folder(s) not found: {', '.join(missing)}",
                                   f"folders found: {', '.join(names)}")
            replies = [f for f in wanted.replies if f not in wanted.exclude]
        else:
            everything = by_role("all")
            if everything:
                how["replies"] = f"the all-mail folder {everything[0]}"
                replies = everything[:1]
            else:
                skip = {drafts, sent, *by_role("trash"), *by_role("junk"), *by_role("outbox"), *wanted.exclude}
                replies = sorted((n for n in names if n not in skip), key=lambda n: (n.upper() != "INBOX", n))
                how["replies"] = "every folder but drafts, trash, junk and those excluded"
        return FolderMap(sent, drafts, tuple(replies), how, drafts_missing)

    def _new_drafts_name(self, sent: str, delimiter: str | None) -> str:
        """Where a Drafts folder goes: under the personal namespace (Courier's "INBOX."), else beside Sent."""
        if "NAMESPACE" in self.capabilities:
            personal = self.client.namespace().personal
            if personal:
                prefix = personal[0][0]
                return f"{prefix.decode() if isinstance(prefix, bytes) else prefix}Drafts"
        if delimiter and delimiter in sent:
            return sent.rsplit(delimiter, 1)[0] + delimiter + "Drafts"
        return "Drafts"

    def create_drafts(self, folder: str) -> None:
        """Create the Drafts folder a server lacks, marked \\Drafts where it can mark a folder so
        (CREATE-SPECIAL-USE, RFC 6154), so that mail clients find it as theirs too."""
        if "CREATE-SPECIAL-USE" in self.capabilities:
            typ, data = self.client._imap._simple_command(  # imapclient's create_folder takes no USE
                "CREATE", self.client._normalise_folder(folder), "(USE (\\Drafts))")
            self.client._checkok("create", typ, data)
        else:
            self.client.create_folder(folder)
        log.info("%s: created the folder %s for the drafts (the server had none)", self.account, folder)

    # --- headers ----------------------------------------------------------------------

    def sync(self, folder: str, cursor: FolderCursor | None, known_uids: Callable[[], set[int]], since: date,
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
                "if you emptied it on purpose, delete state.sqlite3 in the state directory (it is a cache) and scan again",
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
            vanished = known - set(self.client.search(["ALL"])) if expunged != 0 else set()
        if not uidnext:
            uidnext = max([cursor.uidnext] + [m.uid + 1 for m in new])
        return FolderSync(FolderCursor(uidvalidity, uidnext, exists, modseq), new, vanished & known, False, flags)

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

    def fetch_bodies(self, folder: str, uids: list[int], limit: int | None = 65536) -> dict[int, bytes]:
        """The first ``limit`` bytes of each message (enough for its text and a report's returned headers),
        or whole messages with ``limit=None``.

        Without setting \\Seen. A message that is gone is simply missing from the result.
        """
        if not uids:
            return {}
        self.examine(folder)
        bodies: dict[int, bytes] = {}
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

    # --- drafts -------------------------------------------------------------------------

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
