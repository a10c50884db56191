"""`mail-followup doctor`: everything that can stop the service, checked at once, each with its fix.

A user who installs the service meets its problems one at a time, in the
journal, hours apart (a wrong password at the first pass, a world-readable
state directory never). The doctor looks at all of them in one run and says
for each what to do, in words. It never raises for a problem it can
describe: a problem is a finding, and the next check still runs (a broken
account does not hide the next one).

The checks that only look at facts are pure functions of those facts
(``config_findings``, ``capability_findings``, ``clock_findings``, ...);
the I/O (the config file, IMAP, ``timedatectl``, the keyring, ``stat``)
stays in a few functions at the edges. No text a finding holds ever
contains a password: the secret is asked for only by Mailbox.connect, once
the connection is safe, and every text of that account is scrubbed of it.

The server's clock is not compared: IMAP has no command that tells the
time, and learning it from an APPEND would write to the mailbox.
"""

from __future__ import annotations

import logging
import os
import pwd
import re
import shlex
import shutil
import stat
import subprocess
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timezone
from functools import partial
from pathlib import Path
from zoneinfo import ZoneInfo

from mail_followup import credentials
from mail_followup.config import Account, Config, Imap, load_config
from mail_followup.errors import AccountError, AuthError, ConfigError
from mail_followup.store import DB_NAME

log = logging.getLogger(__name__)

CONFIG_AREA = "config"
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
_LINE = re.compile(r":\d+: ")
_FOLDER_ROLE = re.compile(r"\b(sent|drafts) folder\b")
_MAX_NAMES = 8


@dataclass(frozen=True)
class Finding:
    """One fact the doctor checked.

    ``ok`` False is a problem (the exit code is non-zero) and ``fix`` says
    what to do. ``note`` marks an ok finding that is worth reading anyway
    (a missing capability and what its fallback costs, an unknown clock).
    """

    area: str
    ok: bool
    what: str
    fix: str | None = None
    note: bool = False


Secret = Callable[[Account], str]


def diagnose(config_path: Path, secret: Secret = credentials.password, now: datetime | None = None
             ) -> list[Finding]:
    """Check the config, then every account (login, folders, capabilities, timezone), the clock, the
    keyring and the state directory; return what was found, problems and all.

    ``secret`` gives an account's password (the tests pass their own);
    ``now`` the moment shown as local time (default: the system clock).
    """
    moment = _aware(now)
    try:
        config = load_config(config_path)
    except ConfigError as exc:
        return config_findings(exc)
    except Exception as exc:  # a bug in the config code must still not hide behind a traceback here
        log.info("loading the config failed", exc_info=True)
        return [Finding(CONFIG_AREA, False, f"{config_path}: cannot be loaded: {_one_line(exc)}",
                        "run `mail-followup -v doctor` for the details, and report it")]
    findings = [loaded(config)]
    for account in config.accounts:
        findings += _guarded(f"account {account.name}", partial(check_account, account, secret, moment))
    findings += _guarded("clock", lambda: clock_findings(moment, ntp_synchronized()))
    findings += _guarded("keyring", lambda: keyring_findings(keyring_backend(), keyring_users(config.accounts)))
    findings += _guarded("state", lambda: state_findings(config.state_dir))
    return findings


def report(findings: list[Finding]) -> tuple[str, int]:
    """The findings as text, one line each (a problem adds its fix), and the exit code.

    0: no problem; 1: at least one; 2: the config did not load (nothing
    else could be checked, as for every other command).
    """
    lines: list[str] = []
    for finding in findings:
        label = "PROBLEM" if not finding.ok else ("note" if finding.note else "ok")
        lines.append(f"{label:<7}  {finding.area}: {_one_line(finding.what)}")
        if not finding.ok and finding.fix:
            lines.append(f"{'':<7}    fix: {_one_line(finding.fix)}")
    problems = sum(1 for f in findings if not f.ok)
    lines.append(f"{problems} problem(s) found" if problems else "no problem found")
    if any(not f.ok and f.area == CONFIG_AREA for f in findings):
        code = 2
    else:
        code = 1 if problems else 0
    return "\n".join(lines) + "\n", code


# --- the config ---------------------------------------------------------------------------------


def config_findings(error: ConfigError) -> list[Finding]:
    """Each mistake of a config that did not load; the message already names the file and the line."""
    findings = []
    for problem in error.problems or [str(error)]:
        if _LINE.search(problem):
            fix = "edit the file at the line named"
        elif "does not exist" in problem:
            fix = f"copy config.example.yaml to {error.path} and edit it, or pass --config PATH"
        else:
            fix = "fix the file as the message says (config.example.yaml is the commented reference)"
        what = problem if problem.startswith(error.path) else f"{error.path}: {problem}"
        findings.append(Finding(CONFIG_AREA, False, what, fix))
    return findings


def loaded(config: Config) -> Finding:
    names = ", ".join(a.name for a in config.accounts)
    return Finding(CONFIG_AREA, True, f"{config.path} loads: {len(config.accounts)} account(s): {names}")


# --- one account: login, folders, capabilities, timezone ----------------------------------------


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

    from mail_followup.mailbox import Mailbox

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
                findings.append(Finding(f"{area}: folders", False, f"listing the folders failed: {_one_line(exc)}",
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
                   f"{zone}: it is {local:%a %Y-%m-%d %H:%M} (UTC{_offset(local)}) there; drafts appear {windows}")


# --- the clock ---------------------------------------------------------------------------------------


def ntp_synchronized() -> bool | None:
    """Whether systemd says the clock is synchronised; None when that cannot be known."""
    exe = shutil.which("timedatectl")
    if exe is None:
        return None
    try:
        done = subprocess.run([exe, "show", "-p", "NTPSynchronized", "--value"], capture_output=True, text=True,
                              timeout=5, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    if done.returncode != 0:
        return None
    return {"yes": True, "no": False}.get(done.stdout.strip())


def clock_findings(now: datetime, synchronized: bool | None) -> list[Finding]:
    """A wrong clock puts drafts on the wrong day: show the time, and whether it is kept right."""
    shown = f"the system clock says {now.astimezone():%Y-%m-%d %H:%M:%S} (UTC{_offset(now.astimezone())})"
    if synchronized is True:
        return [Finding("clock", True, f"{shown}, synchronised by NTP")]
    if synchronized is False:
        return [Finding("clock", False, f"{shown}, but it is not synchronised (NTPSynchronized=no)",
                        "enable time sync: timedatectl set-ntp true")]
    return [Finding("clock", True, f"{shown}; whether it is synchronised is unknown here (no timedatectl, or "
                                   "systemd does not run): drafts are timed by this clock", note=True)]


# --- the keyring -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Backend:
    name: str
    works: bool  # False: keyring's fail or null backend, which cannot keep a password


def keyring_backend() -> Backend:
    """The keyring backend the keyring package chose; an unusable one when it cannot even be asked."""
    try:
        import keyring
        from keyring.backends import fail, null

        chosen = keyring.get_keyring()
    except Exception as exc:
        log.info("the keyring cannot be asked", exc_info=True)
        return Backend(f"none ({type(exc).__name__})", False)
    name = f"{type(chosen).__module__}.{type(chosen).__qualname__}"
    inner = getattr(chosen, "backends", None)
    if inner:
        name += " (" + ", ".join(f"{type(b).__module__}.{type(b).__qualname__}" for b in inner) + ")"
    return Backend(name, not isinstance(chosen, (fail.Keyring, null.Keyring)))


def keyring_users(accounts: Iterable[Account]) -> list[str]:
    """The accounts whose password comes from the keyring: keyring on, and no command or variable instead."""
    return [a.name for a in accounts
            if a.imap.keyring and not a.imap.password_command and not a.imap.password_env]


def keyring_findings(backend: Backend, users: list[str]) -> list[Finding]:
    if not users:
        return [Finding("keyring", True, f"backend {backend.name}; no account takes its password from it",
                        note=not backend.works)]
    if backend.works:
        return [Finding("keyring", True, f"backend {backend.name}, used by {', '.join(users)}")]
    return [Finding("keyring", False, f"no usable keyring (backend {backend.name}), but {', '.join(users)} "
                                      "take(s) the password from it",
                    "install and unlock a Secret Service such as gnome-keyring or KWallet in your session, "
                    "or give the account a password_command")]


# --- the state directory ------------------------------------------------------------------------------


def state_findings(state_dir: Path) -> list[Finding]:
    """The state holds who you write to: a directory of yours, 0700, its database files 0600."""
    where = shlex.quote(str(state_dir))
    try:
        info = state_dir.stat()
    except FileNotFoundError:
        return [_creatable(state_dir)]
    except OSError as exc:
        return [Finding("state", False, f"{state_dir} cannot be looked at: {_one_line(exc)}",
                        "check the permissions of the folders above it, or set state_dir in the config")]
    if not stat.S_ISDIR(info.st_mode):
        return [Finding("state", False, f"{state_dir} is not a directory",
                        "move that file away, or set state_dir in the config to another place")]
    findings: list[Finding] = []
    me = os.geteuid()
    if info.st_uid != me:
        findings.append(Finding("state", False, f"{state_dir} belongs to {_user(info.st_uid)}, not to you",
                                f"chown {shlex.quote(_user(me))} {where}, or set state_dir in the config"))
    mode = stat.S_IMODE(info.st_mode)
    if mode != 0o700:
        findings.append(Finding("state", False, f"{state_dir} has mode {mode:04o}, not 0700: it must be private",
                                f"chmod 700 {where}"))
    elif info.st_uid == me and not os.access(state_dir, os.W_OK | os.X_OK):
        findings.append(Finding("state", False, f"{state_dir} cannot be written to",
                                "check that its file system is not read-only, or set state_dir in the config"))
    database = state_dir / DB_NAME
    for path in (database, Path(f"{database}-wal"), Path(f"{database}-shm")):
        try:
            found = path.lstat()
        except FileNotFoundError:
            continue
        except OSError as exc:
            findings.append(Finding("state", False, f"{path} cannot be looked at: {_one_line(exc)}",
                                    f"chmod 700 {where}"))
            continue
        if found.st_uid != me:
            findings.append(Finding("state", False, f"{path} belongs to {_user(found.st_uid)}, not to you",
                                    f"chown {shlex.quote(_user(me))} {shlex.quote(str(path))}"))
        if stat.S_IMODE(found.st_mode) != 0o600:
            findings.append(Finding("state", False, f"{path} has mode {stat.S_IMODE(found.st_mode):04o}, not 0600",
                                    f"chmod 600 {shlex.quote(str(path))}"))
    damage = _damage(database) if database.exists() else None
    if damage is not None:
        findings.append(Finding("state", False, f"{database} is damaged ({damage})",
                                "mail-followup scan moves it aside (it is kept) and reads the mailbox again; no "
                                "draft is written twice, and your stop, snooze and resume are copied over"))
    if not findings:
        db = f"{DB_NAME} 0600, intact" if database.exists() else f"no {DB_NAME} yet (the first scan writes it)"
        findings.append(Finding("state", True, f"{state_dir}: yours, 0700; {db}"))
    return findings


def _damage(database: Path) -> str | None:
    """What SQLite's own check finds wrong in the state database, read only; None when nothing is."""
    import sqlite3

    try:
        db = sqlite3.connect(f"file:{database}?mode=ro", uri=True)
        try:
            found = [str(row[0]) for row in db.execute("PRAGMA quick_check(3)")]
        finally:
            db.close()
    except sqlite3.DatabaseError as exc:
        from mail_followup.state_repair import is_damage

        return str(exc) if is_damage(exc) else None  # locked, unreadable: the checks above say why
    return None if found == ["ok"] else "; ".join(found)


def _creatable(state_dir: Path) -> Finding:
    parent = state_dir.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if parent.is_dir() and os.access(parent, os.W_OK | os.X_OK):
        return Finding("state", True, f"{state_dir} does not exist yet; the first scan creates it (0700)")
    return Finding("state", False, f"{state_dir} does not exist and cannot be created ({parent} is not writable)",
                   f"create it: mkdir -p {shlex.quote(str(state_dir))} && chmod 700 {shlex.quote(str(state_dir))}, "
                   "or set state_dir in the config")


# --- small helpers ---------------------------------------------------------------------------------------


def _guarded(area: str, check: Callable[[], list[Finding]]) -> list[Finding]:
    """Run one check; a bug in it becomes a finding, so the other checks still run."""
    try:
        return check()
    except Exception as exc:
        log.info("the %s check failed", area, exc_info=True)
        return [Finding(area, False, f"the check failed: {type(exc).__name__}: {_one_line(exc)}",
                        "run `mail-followup -v doctor` for the details")]


def _account_text(account: Account, error: Exception) -> str:
    """The error's message without the "account 'x': " prefix the area already says, on one line."""
    text = getattr(error, "message", None) or str(error) or type(error).__name__
    return _one_line(str(text).removeprefix(f"account {account.name!r}: "))


def _scrubbed(finding: Finding, secret: str) -> Finding:
    """The finding with the password replaced, should any text ever have picked it up."""
    if secret in finding.what or (finding.fix and secret in finding.fix):
        return Finding(finding.area, finding.ok, finding.what.replace(secret, "***"),
                       finding.fix.replace(secret, "***") if finding.fix else None, finding.note)
    return finding


def _one_line(value: object) -> str:
    return " ".join(str(value).split())


def _aware(now: datetime | None) -> datetime:
    if now is None:
        return datetime.now(timezone.utc)
    return now if now.tzinfo else now.astimezone()


def _offset(moment: datetime) -> str:
    return moment.strftime("%z")[:3] + ":" + moment.strftime("%z")[3:]


def _loopback(host: str) -> bool:
    from mail_followup.mailbox import is_loopback

    return is_loopback(host)


def _user(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return f"uid {uid}"
