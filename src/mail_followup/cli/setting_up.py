"""Getting an account to work, and trying the tool without one: auth, doctor, init and demo.

Each is a thin call into its own module (the keyring and IMAP login, the
doctor's checks, the wizard, the demo server), loaded only when it runs.
"""

from __future__ import annotations

import argparse
import sys

from mail_followup.cli.invocation import EXIT_OK, EXIT_USAGE, config_of
from mail_followup.paths import default_config_path


def cmd_auth(args: argparse.Namespace) -> int:
    config = config_of(args)
    account = config.account(args.account)
    from mail_followup.imap import credentials

    if args.action == "set":
        import getpass

        secret = getpass.getpass(f"Password for {account.imap.username} at {account.imap.host}: ")
        if not secret:
            print("mail-followup: no password given; nothing stored", file=sys.stderr)
            return EXIT_USAGE
        credentials.store_in_keyring(account.name, secret)
        from mail_followup.state.store import Store

        with Store(config.state_dir) as store:
            store.resume(account.name)  # a paused service tries this account again at its next pass
        print(f"Stored in the keyring for account {account.name}. Try it: mail-followup auth test {account.name}")
        return EXIT_OK
    from mail_followup.imap.mailbox import Mailbox

    with Mailbox.connect(account, credentials.password) as mailbox:
        folders = mailbox.discover(account.folders)
        caps = sorted(c for c in mailbox.capabilities
                      if c in {"SPECIAL-USE", "CONDSTORE", "QRESYNC", "IDLE", "UIDPLUS", "MOVE"})
    print(f"account {account.name}: login to {account.imap.host} as {account.imap.username} works")
    print(f"  sent: {folders.sent} ({folders.how.get('sent')}); drafts: {folders.drafts} ({folders.how.get('drafts')})")
    print(f"  answers looked for in: {', '.join(folders.replies)}")
    print(f"  capabilities that matter: {', '.join(caps) or 'none'}")
    return EXIT_OK


def cmd_doctor(args: argparse.Namespace) -> int:
    from mail_followup.cli.doctor import diagnose
    from mail_followup.cli.doctor_report import report

    text, code = report(diagnose(args.config or default_config_path()))
    sys.stdout.write(text)
    return code


def cmd_init(args: argparse.Namespace) -> int:
    from mail_followup.cli.wizard import run

    return run(args)


def cmd_demo(args: argparse.Namespace) -> int:
    from mail_followup.cli.demo import run_demo

    return run_demo(sys.stdout)
