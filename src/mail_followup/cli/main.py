"""The command line: parse, load the config, call one function of the shell, map errors to exit codes.

Exit codes: 0 all went well; 1 an account could not be scanned or a draft
could not be written (the rest was done); 2 a usage or config error
(nothing was done). Heavy modules load inside the command that needs them,
so ``--help`` and ``status`` stay fast.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys

from mail_followup.cli import scanning, setting_up, threads, views
from mail_followup.cli.invocation import EXIT_FAILED, EXIT_OK, EXIT_USAGE, config_of
from mail_followup.cli.parser import build_parser
from mail_followup.errors import ConfigError, MailFollowupError
from mail_followup.logs import setup_logging

log = logging.getLogger("mail_followup")


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return EXIT_USAGE
    setup_logging(args.verbose, daemon=args.command == "run")
    try:
        return COMMANDS[args.command](args)
    except ConfigError as exc:
        print(f"mail-followup: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except MailFollowupError as exc:
        log.debug("details", exc_info=True)
        print(f"mail-followup: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `mail-followup status | head`: the reader left, which is fine
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK
    except Exception as exc:  # a damaged state found in the middle of reading it: put it aside now
        from mail_followup.state.repair import is_damage  # loads sqlite3 only when something went wrong

        if not is_damage(exc):
            raise
        log.debug("details", exc_info=True)
        _begin_again(args)  # it logs where the damaged state is kept
        print("mail-followup: run `mail-followup scan` to read the mailbox into the new state", file=sys.stderr)
        return EXIT_FAILED


def _begin_again(args: argparse.Namespace) -> None:
    """The state was found damaged while a command read it: put it aside, and begin a new one."""
    from mail_followup.state.store import Store

    with Store(config_of(args).state_dir) as store:
        if store.damaged is None:  # opening it again may have found the damage already
            store.begin_again()


# Each command's function, by family; each loads what it needs only when it runs.
COMMANDS = {"scan": scanning.cmd_scan, "run": scanning.cmd_run,
            "status": views.cmd_status, "calendar": views.cmd_calendar,
            "explain": threads.cmd_explain, "stop": threads.cmd_stop, "snooze": threads.cmd_snooze,
            "resume": threads.cmd_resume,
            "auth": setting_up.cmd_auth, "doctor": setting_up.cmd_doctor, "init": setting_up.cmd_init,
            "demo": setting_up.cmd_demo}
