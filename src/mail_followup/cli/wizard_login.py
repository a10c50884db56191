"""The login test of `mail-followup init`: the answers tried on the real server before anything is written.

The answers go through the real config schema first, so the login uses the
account the file will hold. A keyring password is still only in memory
here (it is stored after the test); a token helper is run once to see that
it prints something, and its token is never shown.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, cast

from mail_followup.cli.wizard_config import Answers, printable, render_config

if TYPE_CHECKING:  # heavy imports (pydantic, imapclient) load only when a run needs them
    from mail_followup.config import Account
    from mail_followup.imap.folders import FolderMap

LOGIN_TIMEOUT = 20.0

Say = Callable[[str], None]


def login_account(answers: Answers, path: Path) -> Account:
    """The account ``answers`` make, validated through the real config schema, with the test's short timeout."""
    from mail_followup.config import parse_config

    account = parse_config(render_config(answers), path).accounts[0]
    return replace(account, imap=account.imap.model_copy(update={"timeout_seconds": LOGIN_TIMEOUT}))


def try_login(answers: Answers, account: Account, secret: str | None,
              say: Say) -> tuple[bool, FolderMap | None, str | None]:
    """Log in and find the folders; a failure is shown with its hint.

    (ok, folders found, why the folders are a problem): the login may work
    while Sent or Drafts is not found. ``secret`` is the keyring password
    not yet stored.
    """
    from mail_followup.errors import MailFollowupError

    imap = account.imap
    if answers.secret_source == "oauth2_token_command" and not try_token_command(
            imap.oauth2_token_command or "", say):
        return False, None, None
    from mail_followup.imap import credentials
    from mail_followup.imap.mailbox import Mailbox

    getter = (lambda _account: cast(str, secret)) if answers.secret_source == "keyring" else credentials.password
    say(f"Trying the login to {imap.host}:{imap.effective_port} as {imap.username} ...")
    try:
        with Mailbox.connect(account, getter) as mailbox:
            say("Login works.")
            try:
                found = mailbox.discover(account.folders)
            except MailFollowupError as exc:
                say(f"But the folders are a problem: {exc}")
                return True, None, str(exc)
    except MailFollowupError as exc:
        say(f"The login failed: {exc}")
        return False, None, None
    say("Folders found:")
    say(f"  sent:   {printable(found.sent)} ({found.how.get('sent', '?')})")
    say(f"  drafts: {printable(found.drafts)} ({found.how.get('drafts', '?')})")
    say(f"  answers looked for in: {', '.join(printable(f) for f in found.replies)}")
    return True, found, None


def try_token_command(command: str, say: Say) -> bool:
    """Run the token helper once: it must print something. Its output (a token) is never shown."""
    import subprocess

    from mail_followup.imap.credentials import HELPER_TIMEOUT_SECONDS, run_helper

    say("Trying the token command ...")
    try:
        done = run_helper(command)
    except subprocess.TimeoutExpired:
        say(f"The token command did not finish within {HELPER_TIMEOUT_SECONDS:g} seconds.")
        return False
    except OSError as exc:
        say(f"The token command cannot be run ({type(exc).__name__}).")
        return False
    if done.returncode != 0 or not done.stdout.strip():
        say(f"The token command failed (exit code {done.returncode}"
            + (", no output)" if not done.stdout.strip() else ")")
            + "; run it by hand to see why.")
        return False
    say("The token command prints a token.")
    return True
