"""Where an account's password comes from: the keyring, a command, or an environment variable.

A secret is returned to the caller and nowhere else: it never reaches a log
line, an exception text or the state files. Errors name the source, never
the value.
"""

from __future__ import annotations

import logging
import os
import subprocess

from mail_followup.config import Account
from mail_followup.errors import AccountError, AuthError

log = logging.getLogger(__name__)

KEYRING_SERVICE = "mail-followup"


def password(account: Account) -> str:
    """Return the password for ``account``; raise AccountError naming the source when there is none."""
    imap = account.imap
    if imap.password_command:
        return _from_command(account.name, imap.password_command)
    if imap.password_env:
        value = os.environ.get(imap.password_env)
        if not value:
            raise AccountError(
                account.name,
                f"the environment variable {imap.password_env} named by password_env is not set or empty",
                "export it in the service's environment, or use keyring / password_command",
            )
        return value
    if imap.keyring:
        return _from_keyring(account.name)
    raise AccountError(
        account.name,
        "no password source: keyring is off and neither password_command nor password_env is set",
        "set one of them in the account's imap section",
    )


def store_in_keyring(account: str, secret: str) -> None:
    import keyring
    from keyring.errors import KeyringError

    try:
        keyring.set_password(KEYRING_SERVICE, account, secret)
    except KeyringError as exc:
        raise AccountError(account, f"the keyring refused to store the password ({type(exc).__name__})",
                           "check that a keyring service (GNOME Keyring, KWallet) runs in your session") from None


def _from_keyring(account: str) -> str:
    import keyring
    from keyring.errors import KeyringError

    try:
        value = keyring.get_password(KEYRING_SERVICE, account)
    except KeyringError as exc:
        raise AccountError(account, f"the keyring cannot be read ({type(exc).__name__})",
                           "check that a keyring service runs, or use password_command") from None
    if not value:
        raise AuthError(account, "no password in the keyring",
                           f"run: mail-followup auth set {account}")
    return value


def _from_command(account: str, command: str) -> str:
    try:
        done = subprocess.run(command, shell=True, capture_output=True, timeout=60, check=False)
    except subprocess.TimeoutExpired:
        raise AccountError(account, "password_command did not finish within 60 seconds") from None
    if done.returncode != 0:
        # Its stderr may be useful, its stdout may be the secret: show neither in full.
        log.debug("password_command for %s failed with exit code %d", account, done.returncode)
        raise AccountError(account, f"password_command failed with exit code {done.returncode}",
                           "run the command by hand to see why")
    value = done.stdout.decode("utf-8", "replace").split("\n", 1)[0].rstrip("\r")
    if not value:
        raise AccountError(account, "password_command printed nothing")
    return value
