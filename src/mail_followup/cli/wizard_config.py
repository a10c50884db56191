"""What `mail-followup init` learned, and the config file it makes of it.

Pure, so it can be tested without a terminal or a network: ``Answers``
holds what the user said, ``render_config`` turns it into a commented YAML
file that ``config.parse_config`` accepts, and ``write_private`` puts it on
disk readable by the user only. A secret is never part of it: the file
names where the password comes from, never the password.
"""

from __future__ import annotations

import os
import re
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal, get_args

from mail_followup.paths import APP

if TYPE_CHECKING:  # imapclient loads only when a run needs it
    from mail_followup.imap.folders import FolderMap

SecretSource = Literal["keyring", "password_command", "password_env", "oauth2_token_command"]
Security = Literal["tls", "starttls", "none"]

SECURITIES: tuple[str, ...] = get_args(Security)
DEFAULT_PORT = {"tls": 993, "starttls": 143, "none": 143}


@dataclass
class Answers:
    """Everything the wizard asks. ``secret_ref`` is the command or the variable's name, never a password."""

    address: str
    name: str | None = None  # signs the drafts (sender_name); None: the name in the From header
    account: str = ""  # the account's name in the config and the keyring; "" derives it from the domain
    provider: str | None = None  # a preset of providers.PROVIDERS, or None
    host: str = ""
    port: int | None = None
    security: str = "tls"
    username: str = ""
    secret_source: SecretSource = "keyring"
    secret_ref: str | None = None
    language: str = "en"
    timezone: str = "UTC"
    country: str | None = None

    @property
    def domain(self) -> str:
        return self.address.rpartition("@")[2].lower()

    @property
    def account_name(self) -> str:
        return self.account or default_account_name(self.address)


def default_account_name(address: str) -> str:
    """The first label of the domain ("example" for me@example.org): short, and a valid account name."""
    label = address.rpartition("@")[2].split(".")[0].lower()
    return re.sub(r"[^A-Za-z0-9_.+-]", "", label) or "mail"


def _quote(text: str) -> str:
    """A YAML double-quoted scalar: safe for any text (a name with a colon, "NO", a command with quotes)."""
    out = []
    for ch in text:
        if ch in '"\\':
            out.append("\\" + ch)
        elif not ch.isprintable():
            code = ord(ch)
            out.append(f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def printable(text: str) -> str:
    """Text from the server, made safe to sit in a one-line comment."""
    return "".join(ch if ch.isprintable() else "?" for ch in text)


_SECRET_LINES: dict[str, tuple[str, str]] = {
    "keyring": ("The password is in the system keyring; change it with: mail-followup auth set {account}",
                "keyring: true"),
    "password_command": ("Run each time the password is needed; its first line of output is the password.",
                         "password_command: {ref}"),
    "password_env": ("The password comes from this environment variable (give it to the service too).",
                     "password_env: {ref}"),
    "oauth2_token_command": ("Prints a current OAuth2 access token (oama, pizauth, ...); no password is kept.",
                             "oauth2_token_command: {ref}"),
}


def render_config(answers: Answers, found: FolderMap | None = None) -> str:
    """The config file for ``answers``: only the keys an account needs, each with a short comment.

    Everything else keeps its default and is documented in
    config.example.yaml, so this file stays short enough to read. The
    folders stay ``auto`` (found on the server at every start, which stays
    right when a provider renames them); what was found at setup is noted.
    """
    a = answers
    port = a.port if a.port is not None else DEFAULT_PORT.get(a.security, 993)
    lines = [
        "# mail-followup configuration, written by `mail-followup init`.",
        "#",
        "# Only what this account needs is here. Every other setting (the draft",
        "# hours, the scenarios and their waits, the calendar rules, contacts,",
        "# the weekly review, more accounts) is explained in config.example.yaml,",
        "# which comes with mail-followup: copy from there what you want to change.",
        "# Unknown keys are errors, reported with their line. Check this file with:",
        "#   mail-followup doctor",
        "",
        "# Settings every account inherits (an account may set them again).",
        "defaults:",
        "  # Your timezone (IANA name): the draft hours and days are counted in it.",
        f"  timezone: {_quote(a.timezone)}",
    ]
    if a.country:
        lines += ["  # The public holidays of this country (ISO 3166 code) are avoided, and the",
                  "  # day before and after each.",
                  f"  country: {_quote(a.country)}"]
    else:
        lines += ["  # The public holidays of this country (ISO 3166 code) would be avoided:",
                  '  # country: "NO"']
    lines += ["  # The language of a draft when your own message does not show one.",
              f"  language: {_quote(a.language)}"]
    if a.name:
        lines += ["  # How the drafts are signed (without it: the name in your From header).",
                  f"  sender_name: {_quote(a.name)}"]
    lines += ["", "accounts:",
              f"  - name: {_quote(a.account_name)}  # used by --account and as the keyring entry"]
    if a.provider and a.provider != "generic":
        lines += [f"    # The {a.provider} preset: it knows the server and how to sign in; the keys below win.",
                  f"    provider: {a.provider}"]
    comment, line = _SECRET_LINES[a.secret_source]
    lines += [
        "    imap:",
        f"      host: {_quote(a.host)}",
        f"      port: {int(port)}",
        "      # tls | starttls | none (none only to 127.0.0.1, unless allow_plaintext: true)",
        f"      security: {a.security}",
        f"      username: {_quote(a.username or a.address)}",
        f"      # {comment.format(account=a.account_name)}",
        f"      {line.format(ref=_quote(a.secret_ref or ''))}",
        "    # Every address you send from in this account: mail from these is yours,",
        "    # and they are never put into a draft's To or Cc.",
        f"    addresses: [{_quote(a.address.lower())}]",
        "    # auto: found on the server (SPECIAL-USE, then the usual names).",
    ]
    if found is not None:
        replies = [printable(f) for f in found.replies]
        shown = ", ".join(replies[:8]) + (f" and {len(replies) - 8} more" if len(replies) > 8 else "")
        lines += [f"    # Found at setup: sent {printable(found.sent)}, drafts {printable(found.drafts)};",
                  f"    # answers are looked for in {shown}."]
    lines += ["    folders: {sent: auto, drafts: auto, replies: auto, exclude: []}", ""]
    return "\n".join(lines)


def write_private(path: Path, text: str, overwrite: bool) -> Path | None:
    """Write ``text`` to ``path`` as 0600, in a 0700 folder; return the backup of a replaced file.

    A new folder is made 0700, and so is our own (``mail-followup``) when it
    exists; any other existing folder is left as it is. Without
    ``overwrite`` the file is created exclusively, so a file that appeared
    meanwhile is never replaced.
    """
    folder = path.parent
    if not folder.exists():
        folder.mkdir(parents=True, mode=0o700)
        os.chmod(folder, 0o700)
    elif folder.name == APP:
        os.chmod(folder, 0o700)
    data = text.encode("utf-8")
    backup = None
    if overwrite and path.exists():
        backup = path.with_name(path.name + ".bak")
        old = path.read_bytes()
        fd = os.open(backup, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as fh:
            os.fchmod(fh.fileno(), 0o600)
            fh.write(old)
        tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, path)
        finally:
            if tmp.exists():
                tmp.unlink()
        return backup
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        os.fchmod(fh.fileno(), 0o600)
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    return backup
