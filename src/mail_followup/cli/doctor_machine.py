"""The doctor's checks of this machine: the clock, the keyring, the state directory.

None of these needs the server; each looks at one fact of the machine the
service runs on (``timedatectl``, the keyring backend, ``stat``) and says
what to do about it.
"""

from __future__ import annotations

import logging
import os
import pwd
import shlex
import shutil
import stat
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from mail_followup.cli.doctor_report import Finding, one_line, utc_offset
from mail_followup.config import Account
from mail_followup.state.store import DB_NAME

log = logging.getLogger(__name__)


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
    shown = f"the system clock says {now.astimezone():%Y-%m-%d %H:%M:%S} (UTC{utc_offset(now.astimezone())})"
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
        return [Finding("state", False, f"{state_dir} cannot be looked at: {one_line(exc)}",
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
            findings.append(Finding("state", False, f"{path} cannot be looked at: {one_line(exc)}",
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
        from mail_followup.state.repair import is_damage

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


def _user(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return f"uid {uid}"
