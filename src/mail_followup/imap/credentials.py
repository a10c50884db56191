"""Where an account's password comes from: the keyring, a command, or an environment variable.

A secret is returned to the caller and nowhere else: it never reaches a log
line, an exception text or the state files. Errors name the source, never
the value.
"""

from __future__ import annotations

import logging
import os
import shlex
import signal
import subprocess

from mail_followup.config import Account
from mail_followup.errors import AccountError, AuthError

log = logging.getLogger(__name__)

KEYRING_SERVICE = "mail-followup"

HELPER_TIMEOUT_SECONDS = 60.0
"""How long a password or token helper may take: long enough to type a passphrase into
pinentry or to approve a sign-in, short enough that a hung one doesn't stall the service."""


_RUNNING: set[int] = set()  # the process groups of the helpers running now (their leaders' pids)


def run_helper(command: str) -> subprocess.CompletedProcess[bytes]:
    """Run a password or token helper through the shell, its output captured, its stdin closed.

    The helper gets a process group of its own. Past HELPER_TIMEOUT_SECONDS
    the whole group is killed, the shell and whatever it started (a
    pipeline, a `sleep` of a script): no pass leaves a process behind, and
    nothing holds its output open. Raises subprocess.TimeoutExpired then,
    and OSError when it cannot be started.
    """
    with subprocess.Popen(command, shell=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          stdin=subprocess.DEVNULL, process_group=0) as proc:
        _RUNNING.add(proc.pid)
        try:
            out, err = proc.communicate(timeout=HELPER_TIMEOUT_SECONDS)
        except BaseException:  # the timeout, or the pass stopping: the helper goes with it
            _end_group(proc.pid)
            proc.communicate()
            raise
        finally:
            _RUNNING.discard(proc.pid)
    return subprocess.CompletedProcess(command, proc.returncode, out, err)


def end_helpers() -> None:
    """Kill every helper still running, group and all: the pass that asked for them is ending."""
    for pid in list(_RUNNING):
        _end_group(pid)


def _end_group(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


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


def token(account: Account) -> str:
    """Run the account's ``oauth2_token_command`` and return the access token it prints (its first line).

    The product runs no OAuth flow of its own: the helper (oama, pizauth, a
    provider's script) keeps the refresh token and hands out a current
    access token. A helper that fails or prints nothing cannot be fixed by
    asking again, so that is an AuthError (the account pauses); a helper
    that hangs is an AccountError (the next pass tries again). Errors name
    the helper's program, never its output.
    """
    command = account.imap.oauth2_token_command
    if not command:
        raise AccountError(account.name, "no oauth2_token_command is set",
                           "set imap.oauth2_token_command to a token helper such as oama or pizauth")
    helper = command_program(command)
    where = f"oauth2_token_command ({helper})"
    try:
        done = run_helper(command)
    except subprocess.TimeoutExpired:
        raise AccountError(account.name, f"{where} did not finish within {HELPER_TIMEOUT_SECONDS:g} seconds",
                           "run the command by hand: a helper waiting for a sign-in in the browser "
                           "must be authorized first") from None
    except OSError as exc:
        raise AuthError(account.name, f"{where} cannot be run ({type(exc).__name__})") from None
    if done.returncode != 0:
        # Its stdout may be the token, its stderr may quote it: show neither.
        log.debug("oauth2_token_command for %s failed with exit code %d", account.name, done.returncode)
        raise AuthError(account.name, f"{where} failed with exit code {done.returncode}",
                        "run the command by hand to see why; the helper may need a new sign-in "
                        "(e.g. oama authorize, pizauth refresh), then resume the account")
    value = done.stdout.decode("utf-8", "replace").split("\n", 1)[0].strip()
    if not value:
        raise AuthError(account.name, f"{where} printed nothing",
                        "run the command by hand: it must print the access token on its first line")
    if not value.isprintable() or not value.isascii() or any(c.isspace() for c in value):
        raise AuthError(account.name, f"{where} printed something that is not an access token "
                                      "(spaces, control or non-ASCII characters in its first line)",
                        "run the command by hand: it must print only the access token on its first line")
    return value


def command_program(command: str) -> str:
    """The name of the program a shell command line runs, for messages (never its arguments, which may hold secrets)."""
    try:
        words = shlex.split(command)
    except ValueError:
        words = command.split()
    for word in words:
        if "=" in word.split("/", 1)[0]:
            continue  # VAR=value before the program
        return os.path.basename(word) or word
    return "the command"


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
        done = run_helper(command)
    except subprocess.TimeoutExpired:
        raise AccountError(account, f"password_command did not finish within {HELPER_TIMEOUT_SECONDS:g} seconds",
                           "run the command by hand: a passphrase prompt needs a terminal or a pinentry "
                           "the service can reach") from None
    except OSError as exc:
        raise AccountError(account, f"password_command cannot be run ({type(exc).__name__})") from None
    if done.returncode != 0:
        # Its stderr may be useful, its stdout may be the secret: show neither in full.
        log.debug("password_command for %s failed with exit code %d", account, done.returncode)
        raise AccountError(account, f"password_command failed with exit code {done.returncode}",
                           "run the command by hand to see why")
    value = done.stdout.decode("utf-8", "replace").split("\n", 1)[0].rstrip("\r")
    if not value:
        raise AccountError(account, "password_command printed nothing")
    return value
