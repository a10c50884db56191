"""Finding the folders a pass reads and writes: Sent, Drafts and every folder where answers may land.

Servers flag them (SPECIAL-USE) or only name them, in many languages and
layouts ("[Gmail]/Gesendet", Courier's "INBOX.Sent"); a fresh account may
have no Drafts at all, so this also says where one goes and creates it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from mail_followup.config import Folders as FolderSettings
from mail_followup.errors import AccountError
from mail_followup.imap.connection import Connection

log = logging.getLogger(__name__)

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


class FolderDiscovery(Connection):
    """Finding Sent, Drafts and the folders answers land in; creating Drafts where a server has none."""

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
