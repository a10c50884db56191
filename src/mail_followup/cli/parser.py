"""The argparse parser: every command, its options and its ``--help`` text.

Kept apart from the commands themselves so that building it imports none of
them: ``--help`` and ``status`` stay fast. One function per family of
commands adds its subparsers, in the order ``--help`` lists them.
"""

from __future__ import annotations

import argparse
import textwrap
from datetime import date, datetime
from pathlib import Path
from typing import Any, TypeAlias

from mail_followup import __version__
from mail_followup.paths import default_config_path

DESCRIPTION = """\
Finds mail you sent that nobody answered and, when a follow-up is due by the
rules, writes a polite reply that quotes the thread into your Drafts folder.
It never sends mail: you review each draft and send it from your mail client.

Start with `mail-followup demo` to see it work on sample mail, then copy
config.example.yaml to {config} and run `mail-followup scan --dry-run`.
"""

EPILOG = """\
exit codes: 0 all went well; 1 an account could not be scanned or a draft
could not be written (the rest was done, each failure is on stderr);
2 a usage or config error (nothing was done).
"""

# The thread commands' `-`: a message a mail client pipes in names the thread.
PIPED = """

With - instead of the MESSAGE-ID, `mail-followup {command} -{more}` reads one
message on standard input, as a mail client pipes it with its headers: the
follow-up draft this program wrote, your own sent message, or their answer.
Its X-Mail-Followup-For, Message-ID, In-Reply-To and References (newest
first) find the thread; a message that no thread holds, or that points at
two threads, is refused (exit code 1) and nothing is done."""
PIPED_EPILOG = """\
from a mail client (the README has ready macros for neomutt, mutt and aerc):
  neomutt, mutt:  macro index,pager {key} "<pipe-message>mail-followup {command} -{more}<enter>"
  aerc:           :pipe -m mail-followup {command} -{more}
  a saved file:   mail-followup {command} -{more} < message.eml
"""

Subparsers: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"  # what add_subparsers returns


def _common(top: bool) -> argparse.ArgumentParser:
    """--config and -v, accepted before and after the command.

    After the command their default is SUPPRESS, so that an option given
    before the command is not reset by the command's own parser.
    """
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--config", metavar="P", type=Path, default=None if top else argparse.SUPPRESS,
                        help=f"the config file (default: {default_config_path()})")
    parser.add_argument("-v", "--verbose", action="count", default=0 if top else argparse.SUPPRESS,
                        help="say more: -v shows progress and tracebacks, -vv the IMAP conversation")
    return parser


def build_parser() -> argparse.ArgumentParser:
    common = _common(top=False)

    parser = argparse.ArgumentParser(
        prog="mail-followup",
        description=DESCRIPTION.format(config=default_config_path()),
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        parents=[_common(top=True)],
    )
    parser.add_argument("--version", action="version", version=f"mail-followup {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    _add_scanning(sub, common)
    _add_status(sub, common)
    _add_thread_commands(sub, common)
    _add_calendar(sub, common)
    _add_setting_up(sub, common)
    return parser


def _add_scanning(sub: Subparsers, common: argparse.ArgumentParser) -> None:
    """run and scan: the passes that read the mailboxes and write drafts."""
    sub.add_parser("run", parents=[common], help="run the service in the foreground (systemd runs this)",
                   description="Scan every account on its interval until stopped (SIGTERM or Ctrl-C).")

    p = sub.add_parser("scan", parents=[common], help="one pass now: sync, decide, write due drafts",
                       description="Sync the sent mail and the folders where answers land, decide every "
                       "thread, and write the drafts that are due into Drafts.")
    p.add_argument("--account", metavar="A", help="scan only this account")
    p.add_argument("--now", metavar="ISO8601", type=_moment,
                   help="pretend it is this moment, for every decision and the drafts' Date "
                   "(e.g. 2026-12-09T09:00:00+01:00; without an offset it is local time)")
    p.add_argument("--dry-run", action="store_true", help="decide and report, but write nothing to any mailbox")
    p.add_argument("--json", action="store_true", help="print one JSON object on stdout (see README)")


def _add_status(sub: Subparsers, common: argparse.ArgumentParser) -> None:
    """status: every thread as the last pass left it, from the local state."""
    p = sub.add_parser("status", parents=[common], help="every tracked thread and its next step (offline)",
                       description="Show the result of the last pass for every account. Reads the local "
                       "state only; never needs the network.")
    p.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    p.add_argument("--now", metavar="ISO8601", type=_moment,
                   help="show the threads as of this moment (a snooze over by then shows as due)")


def _add_thread_commands(sub: Subparsers, common: argparse.ArgumentParser) -> None:
    """explain, stop, snooze and resume: what the user says about one thread, offline."""
    p = sub.add_parser("explain", parents=[common], help="why a thread is in its state, rule by rule (offline)",
                       description="Decide again, from the local state alone, the thread that holds MESSAGE-ID "
                       "(the message you sent first, or any message of the thread), and show every rule "
                       "checked with its dates. Never needs the network.")
    p.add_argument("message_id", metavar="MESSAGE-ID", help="with or without the angle brackets")
    p.add_argument("--now", metavar="ISO8601", type=_moment, help="decide as if it were this moment")

    p = sub.add_parser("stop", parents=[common], help="never follow up with an address, or in one thread",
                       **_reads_a_pipe("stop", ",s",
                                       "Put the thread holding a Message-ID (with or without angle brackets), or an "
                                       "address (in every account), on the stop list. Works on the local state; the "
                                       "next pass decides again. A draft already in Drafts stays there for you to "
                                       "delete."))
    p.add_argument("target", metavar="ADDRESS|MESSAGE-ID|-", help="- reads a message on standard input")

    p = sub.add_parser("snooze", parents=[common], help="no follow-up in one thread before a date",
                       **_reads_a_pipe("snooze", ",z",
                                       "Put off the follow-ups of the thread holding MESSAGE-ID until DATE: no draft "
                                       "appears before it, and after it the usual rules (days, hours) apply. DATE is "
                                       "2026-12-20, or words such as 'next monday' or 'in 2 weeks'. A date in the past "
                                       "ends the snooze. Works on the local state; the next pass decides again.",
                                       " --until DATE", " --until 'next monday'"))
    p.add_argument("message_id", metavar="MESSAGE-ID|-",
                   help="with or without the angle brackets; - reads a message on standard input")
    p.add_argument("--until", metavar="DATE", required=True, type=_day, help="the first day a follow-up may appear")

    p = sub.add_parser("resume", parents=[common], help="go on following up in a thread answered outside it",
                       **_reads_a_pipe("resume", ",r",
                                       "Let the thread holding MESSAGE-ID go on with its follow-ups: mail outside the "
                                       "thread up to now that counted as an answer (a new thread from them, a "
                                       "colleague's message, an invitation, mail in another account; `status` lists "
                                       "these) no longer counts, your own `stop` of the thread is lifted, and a draft "
                                       "of it you deleted may be written again. An answer in the thread itself, their "
                                       "request to stop and a bounce still hold. Works on the local state; the next "
                                       "pass decides again."))
    p.add_argument("message_id", metavar="MESSAGE-ID|-",
                   help="any message of the thread, with or without the angle brackets; - reads a message on "
                   "standard input")
    p.add_argument("--now", metavar="ISO8601", type=_moment, help="resume as of this moment (mail after it counts)")


class _PipedHelp(argparse.RawDescriptionHelpFormatter):
    """The command's own description wrapped as usual, then the paragraph on `-` and the epilog's examples
    as written."""

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        if "\n\n" not in text:  # the examples
            return super()._fill_text(text, width, indent)
        return "\n\n".join(textwrap.fill(" ".join(paragraph.split()), width, initial_indent=indent,
                                         subsequent_indent=indent, break_on_hyphens=False)
                           for paragraph in text.split("\n\n"))  # never X-Mail- at a line's end


def _reads_a_pipe(command: str, key: str, description: str, more: str = "", example: str = "") -> dict[str, Any]:
    """The help of a thread command that takes -: its description, the paragraph on -, and the pipes from
    mail clients."""
    return {"description": description + PIPED.format(command=command, more=more),
            "epilog": PIPED_EPILOG.format(command=command, key=key, more=example or more),
            "formatter_class": _PipedHelp}


def _add_calendar(sub: Subparsers, common: argparse.ArgumentParser) -> None:
    """calendar: the next follow-ups as events, from the local state."""
    sub.add_parser("calendar", parents=[common], help="the follow-ups as an iCalendar file on stdout (offline)",
                   description="Write every thread's next follow-up (waiting, due, drafted, snoozed, or a call) "
                   "as a 15-minute event at the moment it is due, to import into a calendar app: "
                   "mail-followup calendar > followups.ics. Reads the local state only; never needs the "
                   "network. Importing again updates the events instead of duplicating them.")


def _add_setting_up(sub: Subparsers, common: argparse.ArgumentParser) -> None:
    """auth, doctor, init and demo: getting an account to work, and trying the tool without one."""
    p = sub.add_parser("auth", parents=[common], help="store a password in the keyring, or try a login",
                       description="`auth set ACCOUNT` asks for the password and stores it in the system "
                       "keyring; `auth test ACCOUNT` logs in and shows the folders found.")
    p.add_argument("action", choices=("set", "test"))
    p.add_argument("account", metavar="ACCOUNT")

    sub.add_parser("doctor", parents=[common], help="check the config, logins, folders, capabilities, clock",
                   description="Check everything the service needs: the config, each account's login, folders "
                   "and server capabilities, the clock and timezones, the keyring and the state directory. "
                   "Each problem is shown with its fix; the exit code is 1 when there is one (2: the config "
                   "does not load).")

    from mail_followup.cli.wizard import DESCRIPTION as INIT_DESCRIPTION
    from mail_followup.cli.wizard import add_arguments as init_arguments

    p = sub.add_parser("init", parents=[common], help="set up an account: find the server, try the login, "
                       "write the config", description=INIT_DESCRIPTION,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    init_arguments(p)

    sub.add_parser("demo", parents=[common], help="a throwaway local IMAP server with sample threads",
                   description="Start a private IMAP server on 127.0.0.1, put sample threads into it, run "
                   "one scan with a fixed date, print the status and the drafts written, and stop. "
                   "Needs no account and touches no real mailbox.")


def _moment(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not an ISO 8601 moment such as 2026-12-09T09:00:00+01:00") from None
    return moment if moment.tzinfo else moment.astimezone()


def _day(text: str) -> date:
    """2026-12-20, or words dateparser reads ("next monday", "in 2 weeks", "20. Dezember")."""
    try:
        return date.fromisoformat(text)
    except ValueError:
        pass
    import dateparser

    parsed = dateparser.parse(text, settings={"PREFER_DATES_FROM": "future"})
    if parsed is None:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date; write 2026-12-20 or words like 'next monday'")
    return parsed.date()
