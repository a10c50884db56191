"""The doctor's checks of one account: the login, the folders, the capabilities, the timezone.

These are the doctor's only talk with the server (the timezone needs
none). The password is asked for by Mailbox.connect alone, once the
connection is safe, and every text of the account's findings is scrubbed
of it.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable
from datetime import datetime
from zoneinfo import ZoneInfo

from mail_followup.cli.doctor_report import Finding, one_line, utc_offset
from mail_followup.config import Account, Imap
from mail_followup.errors import AccountError, AuthError

log = logging.getLogger(__name__)

CAPABILITIES = ("SPECIAL-USE", "CONDSTORE", "QRESYNC", "IDLE", "UIDPLUS")
# What the service does without each capability, and what that costs: a missing one is a note, never a problem.
FALLBACKS = {
    "SPECIAL-USE": "Sent and Drafts are found by their usual names instead of the server's flags; "
                   "if a folder is found wrong, name it in the config (folders.sent, folders.drafts)",
    "CONDSTORE": "a pass cannot ask for what changed since the last one: it finds new mail by UID and "
                 "compares message counts, and flag changes on mail already read are not seen",
    "QRESYNC": "deleted messages are found by comparing the message count and, when it does not add up, "
               "the list of every UID in the folder (one more SEARCH per changed folder)",
    "IDLE": "costs nothing: the service does not wait on IDLE, it scans every scan_interval_minutes",
    "UIDPLUS": "a draft that became wrong can only be flagged \\Deleted (your mail client expunges it), "
               "and a new draft's UID is not reported by the server",
}
_HOW = {"special-use": "its SPECIAL-USE flag", "known name": "its usual name", "config": "the config"}
_FOLDER_ROLE = re.compile(r"\b(sent|drafts) folder\b")
_MAX_NAMES = 8


Secret = Callable[[Account], str]


class _NoSecret(OSError):
    """Raised inside Mailbox.connect when the password source fails.

    An OSError, so that connect closes the connection it opened (as for a
    network failure during login); the real error is kept by ``_Asked``.
    """


class _Asked:
    """Wraps the secret source: remembers the password (to scrub it from every text) or its error."""

    def __init__(self, secret: Secret) -> None:
        self.secret = secret
        self.value: str | None = None
        self.error: Exception | None = None

    def __call__(self, account: Account) -> str:
        try:
            self.value = self.secret(account)
        except Exception as exc:
            self.error = exc
            raise _NoSecret("the password source failed") from None
        return self.value


def check_account(account: Account, secret: Secret, now: datetime) -> list[Finding]:
    """Log in, find the folders, read the capabilities; the timezone needs no server and is shown always."""
    from imapclient.exceptions import IMAPClientError

    from mail_followup.imap.mailbox import Mailbox

    area = f"account {account.name}"
    imap = account.imap
    asked = _Asked(secret)
    findings: list[Finding] = []
    try:
        mailbox = Mailbox.connect(account, asked)
    except Exception as exc:
        findings.append(login_problem(account, exc, asked.error))
    else:
        with mailbox:
            findings.append(Finding(f"{area}: login", True,
                                    f"logged in to {imap.host}:{imap.effective_port} (security: {imap.security}) as "
                                    f"{imap.username}, {'token' if imap.oauth2_token_command else 'password'} from "
                                    f"{secret_source(imap)}"))
            if imap.security == "none" and imap.allow_plaintext and not _loopback(imap.host):
                findings.append(Finding(f"{area}: login", True, "the password travels unencrypted "
                                        "(security: none, allow_plaintext: true)", note=True))
            try:
                folders = mailbox.discover(account.folders)
            except AccountError as exc:
                findings.append(folder_problem(account, exc))
            except (OSError, IMAPClientError) as exc:
                findings.append(Finding(f"{area}: folders", False, f"listing the folders failed: {one_line(exc)}",
                                        "run the doctor again; if it persists, check the server's log"))
            else:
                findings += folder_findings(account.name, folders.sent, folders.drafts, folders.replies,
                                            folders.how)
            findings += capability_findings(account.name, mailbox.capabilities)
    findings.append(timezone_finding(account, now))
    if asked.value:
        findings = [_scrubbed(f, asked.value) for f in findings]
    return findings


def secret_source(imap: Imap) -> str:
    """Where the password (or the OAuth2 token) comes from, in words (never the secret)."""
    if imap.oauth2_token_command:
        return "oauth2_token_command (OAuth2)"
    if imap.password_command:
        return "password_command"
    if imap.password_env:
        return f"the environment variable {imap.password_env}"
    if imap.keyring:
        return "the keyring"
    return "nowhere (no password source)"


def login_problem(account: Account, error: Exception, secret_error: Exception | None) -> Finding:
    """Why the login failed, with the fix in words: the password source, the password, or the connection."""
    area = f"account {account.name}: login"
    imap = account.imap
    if secret_error is not None:
        # The server answered; the password source did not.
        return Finding(area, False, f"no password from {secret_source(imap)}: {_account_text(account, secret_error)}",
                       getattr(secret_error, "advice", None) or f"check {secret_source(imap)}")
    what = _account_text(account, error)
    if isinstance(error, AuthError):
        return Finding(area, False, what, refused_fix(account))
    if isinstance(error, AccountError):
        if error.kind == "network":
            return Finding(area, False, what, connection_fix(imap, what) or error.advice)
        return Finding(area, False, what, error.advice or "check the account's imap section in the config")
    log.info("account %s: the login check failed", account.name, exc_info=True)
    return Finding(area, False, f"the login check failed: {what}", "run `mail-followup -v doctor` for the details")


def refused_fix(account: Account) -> str:
    """The server said no to the username and password: where to correct them, by password source."""
    imap, name = account.imap, account.name
    store = f"mail-followup auth set {name}"
    if imap.password_command:
        where = f"check what password_command prints (its first line is the password), or keep it in the " \
                f"keyring instead: {store} (and remove password_command)"
    elif imap.password_env:
        where = f"correct the environment variable {imap.password_env}, or keep the password in the keyring " \
                f"instead: {store} (and remove password_env)"
    else:
        where = f"store the right password: {store}"
    return f"check the username {imap.username!r}; {where}; a provider with two-factor login " \
           "(Gmail, Microsoft 365) wants an app password here"


def connection_fix(imap: Imap, what: str) -> str | None:
    """The fix for a failed connection, from the words of the error (the exception type is gone by now)."""
    host, port = imap.host, imap.effective_port
    text = what.lower()
    if "certificate" in text or ("ssl" in text and "verify" in text):
        if "hostname mismatch" in text or "doesn't match" in text:
            return f"the server's certificate is not made out to {host}: set imap.host to the name it is " \
                   "issued for"
        return ("the server's certificate is not trusted: if it is your server's own (self-signed, or from a "
                "private CA), trust it in the config: imap.tls_ca_file: /path/to/ca.pem, or pin the certificate "
                "once you have checked it (imap.tls_fingerprint: its SHA-256, which `mail-followup scan` shows); "
                "else check that imap.host is the server's real name")
    if "wrong version number" in text or "unexpected eof" in text or "record layer" in text:
        return f"the server does not speak TLS on port {port}: security: tls goes with port 993, " \
               "starttls with 143"
    if "starttls" in text:
        return "the server offers no STARTTLS on this port: use security: tls (port 993)"
    if "refused" in text:
        return f"nothing answers on {host}:{port}: check imap.host, imap.port and imap.security " \
               "(tls: 993, starttls: 143) and that the server runs"
    if "timed out" in text:
        return f"no answer within {imap.timeout_seconds:g} s: check imap.host and imap.port, and the network " \
               "(firewall, VPN)"
    if "name or service not known" in text or "name resolution" in text or "nodename" in text:
        return f"the name {host} does not resolve: check its spelling (imap.host) and the network"
    if "unreachable" in text or "no route" in text:
        return "the network is down or blocks the way: check the connection (VPN, firewall)"
    return None


def folder_problem(account: Account, error: AccountError) -> Finding:
    """Sent, Drafts or a reply folder is not there: name the right one in the config."""
    what = _account_text(account, error)
    role = _FOLDER_ROLE.search(what)
    if role:
        fix = f"set folders.{role.group(1)} in account {account.name}'s section of the config to the right " \
              f"folder, such as folders: {{{role.group(1)}: NAME}} (the folders found are listed above)"
    elif "reply folder" in what:
        fix = "correct folders.replies in the config, or set it to auto"
    else:
        fix = error.advice or "check the account's folders section in the config"
    return Finding(f"account {account.name}: folders", False, what, fix)


def folder_findings(account: str, sent: str, drafts: str, replies: Iterable[str], how: dict[str, str]
                    ) -> list[Finding]:
    """Which Sent and Drafts were found and how, and where answers are looked for."""
    area = f"account {account}: folders"
    drafts_how = how.get("drafts", "")
    drafts_is = (f"the server has no Drafts folder: the first scan creates {drafts!r}" if drafts_how.startswith("none")
                 else f"Drafts is {drafts!r} (found by {_HOW.get(drafts_how, 'the config')})")
    found = Finding(area, True, f"Sent is {sent!r} (found by {_HOW.get(how.get('sent', ''), 'the config')}), "
                                f"{drafts_is}")
    names = list(dict.fromkeys(f for f in replies if f != sent))
    if not names:
        return [found, Finding(area, False, "no folder is searched for answers: every thread would look unanswered",
                               "set folders.replies to auto, or list the folders where answers land")]
    shown = ", ".join(names[:_MAX_NAMES]) + (f" and {len(names) - _MAX_NAMES} more" if len(names) > _MAX_NAMES else "")
    why = f" ({how['replies']})" if how.get("replies") else " (named in the config)"
    return [found, Finding(area, True, f"answers are looked for in {len(names)} folder(s){why}: {shown}")]


def capability_findings(account: str, capabilities: Iterable[str]) -> list[Finding]:
    """The capabilities that matter: those offered, and a note for each one missing, with its cost."""
    area = f"account {account}: capabilities"
    offered = {c.upper() for c in capabilities}
    if "QRESYNC" in offered:
        offered.add("CONDSTORE")  # RFC 7162: QRESYNC implies CONDSTORE
    have = [c for c in CAPABILITIES if c in offered]
    findings = [Finding(area, True, f"offered: {', '.join(have) or 'none of ' + ', '.join(CAPABILITIES)}")]
    findings += [Finding(area, True, f"no {c}: {FALLBACKS[c]}", note=True) for c in CAPABILITIES if c not in offered]
    return findings


def timezone_finding(account: Account, now: datetime) -> Finding:
    """The account's timezone (the config checked it) and the time there now: is that the time you expect?"""
    zone = account.settings.timezone
    local = now.astimezone(ZoneInfo(zone))
    windows = ", ".join(account.settings.draft_hours)
    return Finding(f"account {account.name}: timezone", True,
                   f"{zone}: it is {local:%a %Y-%m-%d %H:%M} (UTC{utc_offset(local)}) there; drafts appear {windows}")


def _account_text(account: Account, error: Exception) -> str:
    """The error's message without the "account 'x': " prefix the area already says, on one line."""
    text = getattr(error, "message", None) or str(error) or type(error).__name__
    return one_line(str(text).removeprefix(f"account {account.name!r}: "))


def _scrubbed(finding: Finding, secret: str) -> Finding:
    """The finding with the password replaced, should any text ever have picked it up."""
    if secret in finding.what or (finding.fix and secret in finding.fix):
        return Finding(finding.area, finding.ok, finding.what.replace(secret, "***"),
                       finding.fix.replace(secret, "***") if finding.fix else None, finding.note)
    return finding


def _loopback(host: str) -> bool:
    from mail_followup.imap.connection import is_loopback

    return is_loopback(host)
