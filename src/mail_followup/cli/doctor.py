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

The checks are kept by what they look at: ``doctor_account`` each account
on its server, ``doctor_machine`` this machine (the clock, the keyring, the
state directory); ``doctor_report`` holds the finding and how findings are
shown. This module loads the config and runs them all.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from datetime import UTC, datetime
from functools import partial
from pathlib import Path

from mail_followup.cli.doctor_account import Secret, check_account
from mail_followup.cli.doctor_machine import (
    clock_findings,
    keyring_backend,
    keyring_findings,
    keyring_users,
    ntp_synchronized,
    state_findings,
)
from mail_followup.cli.doctor_report import CONFIG_AREA, Finding, one_line
from mail_followup.config import Config, load_config
from mail_followup.errors import ConfigError
from mail_followup.imap import credentials

log = logging.getLogger(__name__)

_LINE = re.compile(r":\d+: ")


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
        return [Finding(CONFIG_AREA, False, f"{config_path}: cannot be loaded: {one_line(exc)}",
                        "run `mail-followup -v doctor` for the details, and report it")]
    findings = [loaded(config)]
    for account in config.accounts:
        findings += _guarded(f"account {account.name}", partial(check_account, account, secret, moment))
    findings += _guarded("clock", lambda: clock_findings(moment, ntp_synchronized()))
    findings += _guarded("keyring", lambda: keyring_findings(keyring_backend(), keyring_users(config.accounts)))
    findings += _guarded("state", lambda: state_findings(config.state_dir))
    return findings


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


# --- small helpers ---------------------------------------------------------------------------------------


def _guarded(area: str, check: Callable[[], list[Finding]]) -> list[Finding]:
    """Run one check; a bug in it becomes a finding, so the other checks still run."""
    try:
        return check()
    except Exception as exc:
        log.info("the %s check failed", area, exc_info=True)
        return [Finding(area, False, f"the check failed: {type(exc).__name__}: {one_line(exc)}",
                        "run `mail-followup -v doctor` for the details")]


def _aware(now: datetime | None) -> datetime:
    if now is None:
        return datetime.now(UTC)
    return now if now.tzinfo else now.astimezone()
