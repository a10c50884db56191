"""The command line: parse, load the config, call one function of the shell, map errors to exit codes.

Exit codes: 0 all went well; 1 an account could not be scanned or a draft
could not be written (the rest was done); 2 a usage or config error
(nothing was done). Heavy modules load inside the command that needs them,
so ``--help`` and ``status`` stay fast.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from datetime import date, datetime
from pathlib import Path

from mail_followup import __version__
from mail_followup.errors import ConfigError, MailFollowupError
from mail_followup.paths import default_config_path

log = logging.getLogger("mail_followup")

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2

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

    p = sub.add_parser("status", parents=[common], help="every tracked thread and its next step (offline)",
                       description="Show the result of the last pass for every account. Reads the local "
                       "state only; never needs the network.")
    p.add_argument("--json", action="store_true", help="print one JSON object on stdout")

    p = sub.add_parser("explain", parents=[common], help="why a thread is in its state, rule by rule (offline)",
                       description="Decide again, from the local state alone, the thread that holds MESSAGE-ID "
                       "(the message you sent first, or any message of the thread), and show every rule "
                       "checked with its dates. Never needs the network.")
    p.add_argument("message_id", metavar="MESSAGE-ID", help="with or without the angle brackets")
    p.add_argument("--now", metavar="ISO8601", type=_moment, help="decide as if it were this moment")

    p = sub.add_parser("stop", parents=[common], help="never follow up with an address, or in one thread",
                       description="Put the thread holding a Message-ID (with or without angle brackets), or "
                       "an address (in every account), on the stop list. Works on the local state; the next "
                       "pass decides again. A draft already in Drafts stays there for you to delete.")
    p.add_argument("target", metavar="ADDRESS|MESSAGE-ID")

    p = sub.add_parser("snooze", parents=[common], help="no follow-up in one thread before a date",
                       description="Put off the follow-ups of the thread holding MESSAGE-ID until DATE: no draft "
                       "appears before it, and after it the usual rules (days, hours) apply. DATE is "
                       "2026-12-20, or words such as 'next monday' or 'in 2 weeks'. A date in the past ends "
                       "the snooze. Works on the local state; the next pass decides again.")
    p.add_argument("message_id", metavar="MESSAGE-ID", help="with or without the angle brackets")
    p.add_argument("--until", metavar="DATE", required=True, type=_day, help="the first day a follow-up may appear")

    p = sub.add_parser("resume", parents=[common], help="go on following up in a thread answered outside it",
                       description="Let the thread holding MESSAGE-ID go on with its follow-ups: mail outside the "
                       "thread up to now that counted as an answer (a new thread from them, a colleague's "
                       "message, an invitation, mail in another account; `status` lists these) no longer counts, "
                       "your own `stop` of the thread is lifted, and a draft of it you deleted may be written "
                       "again. An answer in the thread itself, their request to stop and a bounce still hold. "
                       "Works on the local state; the next pass decides again.")
    p.add_argument("message_id", metavar="MESSAGE-ID",
                   help="any message of the thread, with or without the angle brackets")
    p.add_argument("--now", metavar="ISO8601", type=_moment, help="resume as of this moment (mail after it counts)")

    sub.add_parser("calendar", parents=[common], help="the follow-ups as an iCalendar file on stdout (offline)",
                   description="Write every thread's next follow-up (waiting, due, drafted, snoozed, or a call) "
                   "as a 15-minute event at the moment it is due, to import into a calendar app: "
                   "mail-followup calendar > followups.ics. Reads the local state only; never needs the "
                   "network. Importing again updates the events instead of duplicating them.")

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

    from mail_followup.wizard import DESCRIPTION as INIT_DESCRIPTION, add_arguments as init_arguments

    p = sub.add_parser("init", parents=[common], help="set up an account: find the server, try the login, "
                       "write the config", description=INIT_DESCRIPTION,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    init_arguments(p)

    sub.add_parser("demo", parents=[common], help="a throwaway local IMAP server with sample threads",
                   description="Start a private IMAP server on 127.0.0.1, put sample threads into it, run "
                   "one scan with a fixed date, print the status and the drafts written, and stop. "
                   "Needs no account and touches no real mailbox.")
    return parser


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
        from mail_followup.state_repair import is_damage  # loads sqlite3 only when something went wrong

        if not is_damage(exc):
            raise
        log.debug("details", exc_info=True)
        _begin_again(args)  # it logs where the damaged state is kept
        print("mail-followup: run `mail-followup scan` to read the mailbox into the new state", file=sys.stderr)
        return EXIT_FAILED


def _begin_again(args: argparse.Namespace) -> None:
    """The state was found damaged while a command read it: put it aside, and begin a new one."""
    from mail_followup.store import Store

    with Store(_load(args).state_dir) as store:
        if store.damaged is None:  # opening it again may have found the damage already
            store.begin_again()


def setup_logging(verbose: int, daemon: bool = False) -> None:
    level = logging.WARNING if verbose == 0 and not daemon else (logging.INFO if verbose <= 1 else logging.DEBUG)
    # Under journald the journal adds the time itself.
    fmt = "%(levelname)s %(name)s: %(message)s" if os.environ.get("JOURNAL_STREAM") else \
        "%(asctime)s %(levelname)s %(name)s: %(message)s"
    logging.basicConfig(level=level, format=fmt, stream=sys.stderr, force=True)
    # The IMAP conversation (imapclient redacts the LOGIN password) only with -vv.
    logging.getLogger("imapclient").setLevel(logging.WARNING if verbose < 2 else logging.DEBUG)


def _load(args: argparse.Namespace):  # -> Config
    from mail_followup.config import load_config

    return load_config(args.config or default_config_path())


def _moment(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an ISO 8601 moment such as 2026-12-09T09:00:00+01:00")
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


def _progress_bar(account: str, folder: str, done: int, total: int) -> None:
    """A first sync of a large folder on a terminal: one line, redrawn."""
    width = 30
    filled = width * done // max(total, 1)
    sys.stderr.write(f"\r{account}: {folder}: [{'#' * filled}{'.' * (width - filled)}] {done:,}/{total:,} headers")
    if done >= total:
        sys.stderr.write("\n")
    sys.stderr.flush()


STOP_GRACE = 1.5  # seconds `scan` gives its passes to end cleanly after SIGTERM or Ctrl-C


def cmd_scan(args: argparse.Namespace) -> int:
    config = _load(args)
    import signal
    import threading
    import time

    from mail_followup.report import table
    from mail_followup.scan import ScanResult, scan

    now = args.now or datetime.now().astimezone()
    # The passes run beside the main thread, which only waits: SIGTERM or Ctrl-C asks them to stop, and
    # what they cannot end within STOP_GRACE ends with the process (each write is whole on its own).
    cancel, done, outcome, stop = threading.Event(), threading.Event(), [], []

    def run() -> None:
        try:
            outcome.append(scan(config, now, account=args.account, dry_run=args.dry_run, cancel=cancel,
                                progress=_progress_bar if sys.stderr.isatty() else None))
        except BaseException as exc:  # handed to the main thread, which reports it as before
            outcome.append(exc)
        finally:
            done.set()

    def asked(signum: int, _frame: object) -> None:
        stop.append(signum)
        cancel.set()

    in_main = threading.current_thread() is threading.main_thread()  # only there may handlers be set
    previous = {s: signal.signal(s, asked) for s in (signal.SIGTERM, signal.SIGINT)} if in_main else {}
    threading.Thread(target=run, name="scan", daemon=True).start()
    try:
        given_up = None
        while not done.wait(0.1):
            if stop and given_up is None:
                given_up = time.monotonic() + STOP_GRACE
            if given_up is not None and time.monotonic() >= given_up:
                print(f"mail-followup: stopped ({signal.Signals(stop[0]).name}) before the passes ended; nothing "
                      "was half-written, and the next pass goes on from here", file=sys.stderr)
                sys.stdout.flush()
                from mail_followup.credentials import end_helpers

                end_helpers()  # a password or token helper a pass waits on goes with it
                os._exit(128 + stop[0])  # the passes' threads would hold the interpreter's exit
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    if isinstance(outcome[0], BaseException):
        raise outcome[0]
    result: ScanResult = outcome[0]
    if args.json:
        result.write_json(sys.stdout)
        sys.stdout.write("\n")
    else:
        threads = [t for a in result.accounts for t in a.reports()]
        sys.stdout.write(table(threads, now, verbose=args.verbose > 0))
        written = sum(a.written for a in result.accounts)
        print(f"{written} draft(s) written" + (" (dry run: nothing written)" if args.dry_run else ""))
    for account in result.accounts:
        for error in account.errors:
            print(f"mail-followup: {error}", file=sys.stderr)
    if stop:  # every pass ended at a clean place in time: what was done is reported above
        return 128 + stop[0]
    return EXIT_OK if result.ok else EXIT_FAILED


def cmd_status(args: argparse.Namespace) -> int:
    from mail_followup.confignote import recall

    # A config validated before, unchanged since, is not validated again: that alone took 0.3 s.
    note = recall(args.config or default_config_path())
    if note is None:
        config = _load(args)
        state_dir, names = config.state_dir, {a.name for a in config.accounts}
    else:
        state_dir, names = note.state_dir, set(note.accounts)
    from mail_followup.report import TABLE_FIELDS, table, write_json_document
    from mail_followup.store import Store

    with Store(state_dir) as store:
        if args.json:
            texts = store.all_report_texts(names)  # handed on as stored
        else:  # the table's columns alone
            threads = [t for t in store.report_fields(TABLE_FIELDS) if t["account"] in names]
            for t in threads:
                t["to"] = json.loads(str(t["to"])) if t["to"] else []
        passes = store.passes()
        paused = {a: p for a, p in store.paused().items() if a in names}
    now = datetime.now().astimezone()
    if args.json:
        accounts = {a: {"last_pass": p[0], "ok": p[1], "error": p[2]} for a, p in passes.items() if a in names}
        for name, (why, since) in paused.items():
            accounts.setdefault(name, {}).update({"paused": True, "paused_since": since, "paused_because": why})
        write_json_document(sys.stdout, {"now": now.isoformat(timespec="seconds"), "threads": [],
                                         "accounts": accounts}, texts)
        sys.stdout.write("\n")
        return EXIT_OK
    sys.stdout.write(table(threads, now, verbose=args.verbose > 0))
    for name in sorted(names):
        if name in paused:
            why, since = paused[name]
            print(f"account {name}: paused since {since}: {why}\n"
                  f"  fix the sign-in (a password: mail-followup auth set {name}; an OAuth2 token: sign in again "
                  f"with your token helper), then reload or restart the service")
        elif name not in passes:
            print(f"account {name}: never scanned")
        elif not passes[name][1]:
            print(f"account {name}: the last pass ({passes[name][0]}) failed: {passes[name][2]}")
    return EXIT_OK


def cmd_explain(args: argparse.Namespace) -> int:
    config = _load(args)
    from mail_followup.thread_commands import explain

    now = args.now or datetime.now().astimezone()
    found = explain(config, args.message_id, now)
    if found is None:
        print(f"mail-followup: no thread holds {args.message_id} in the local state; "
              "run `mail-followup scan` first, or check the Message-ID", file=sys.stderr)
        return EXIT_FAILED
    account, thread, decision = found
    people = ", ".join(a.address for a in thread.original.everyone_written_to if a.address not in account.addresses)
    print(f"{thread.key}  \"{thread.subject}\"  to {people or '-'}  (account {account.name})")
    when = f", not before {decision.not_before.astimezone(account.settings.tz).isoformat()}" \
        if decision.not_before and decision.state in ("waiting", "due", "snoozed", "call") else ""
    # Only a thread that goes on has a next follow-up; an answered, stopped, capped... one has none.
    step = f"next: follow-up {decision.next_attempt} ({decision.attempt_kind}){when}" \
        if decision.state in ("waiting", "due", "drafted", "snoozed", "call") else "no follow-up"
    print(f"state at {now.isoformat(timespec='minutes')}: {decision.state}; {step}")
    for reason in decision.reasons:
        print(f"  - {reason}")
    return EXIT_OK


def cmd_stop(args: argparse.Namespace) -> int:
    config = _load(args)
    from mail_followup.thread_commands import stop

    done = stop(config, args.target, datetime.now().astimezone())
    if not done:
        print(f"mail-followup: no thread holds {args.target} in the local state; "
              "run `mail-followup scan` first, or check the Message-ID", file=sys.stderr)
        return EXIT_FAILED
    for line in done:
        print(line)
    return EXIT_OK


def cmd_snooze(args: argparse.Namespace) -> int:
    config = _load(args)
    from mail_followup.thread_commands import snooze

    done = snooze(config, args.message_id, args.until, datetime.now().astimezone())
    if done is None:
        print(f"mail-followup: no thread holds {args.message_id} in the local state; "
              "run `mail-followup scan` first, or check the Message-ID", file=sys.stderr)
        return EXIT_FAILED
    print(done)
    return EXIT_OK


def cmd_resume(args: argparse.Namespace) -> int:
    config = _load(args)
    from mail_followup.thread_commands import resume

    done = resume(config, args.message_id, args.now or datetime.now().astimezone())
    if done is None:
        print(f"mail-followup: no thread holds {args.message_id} in the local state; "
              "run `mail-followup scan` first, or check the Message-ID", file=sys.stderr)
        return EXIT_FAILED
    print("\n".join(done))
    return EXIT_OK


def cmd_calendar(args: argparse.Namespace) -> int:
    config = _load(args)
    from datetime import timezone

    from mail_followup.ics import followups_calendar
    from mail_followup.store import Store

    names = {a.name for a in config.accounts}
    with Store(config.state_dir) as store:
        threads = [t for t in store.reports() if t["account"] in names]
    sys.stdout.flush()
    sys.stdout.buffer.write(followups_calendar(threads, datetime.now(timezone.utc)))
    sys.stdout.buffer.flush()
    return EXIT_OK


def cmd_auth(args: argparse.Namespace) -> int:
    config = _load(args)
    account = config.account(args.account)
    from mail_followup import credentials

    if args.action == "set":
        import getpass

        secret = getpass.getpass(f"Password for {account.imap.username} at {account.imap.host}: ")
        if not secret:
            print("mail-followup: no password given; nothing stored", file=sys.stderr)
            return EXIT_USAGE
        credentials.store_in_keyring(account.name, secret)
        from mail_followup.store import Store

        with Store(config.state_dir) as store:
            store.resume(account.name)  # a paused service tries this account again at its next pass
        print(f"Stored in the keyring for account {account.name}. Try it: mail-followup auth test {account.name}")
        return EXIT_OK
    from mail_followup.mailbox import Mailbox

    with Mailbox.connect(account, credentials.password) as mailbox:
        folders = mailbox.discover(account.folders)
        caps = sorted(c for c in mailbox.capabilities if c in {"SPECIAL-USE", "CONDSTORE", "QRESYNC", "IDLE", "UIDPLUS", "MOVE"})
    print(f"account {account.name}: login to {account.imap.host} as {account.imap.username} works")
    print(f"  sent: {folders.sent} ({folders.how.get('sent')}); drafts: {folders.drafts} ({folders.how.get('drafts')})")
    print(f"  answers looked for in: {', '.join(folders.replies)}")
    print(f"  capabilities that matter: {', '.join(caps) or 'none'}")
    return EXIT_OK


def cmd_doctor(args: argparse.Namespace) -> int:
    from mail_followup.doctor import diagnose, report

    text, code = report(diagnose(args.config or default_config_path()))
    sys.stdout.write(text)
    return code


def cmd_init(args: argparse.Namespace) -> int:
    from mail_followup.wizard import run

    return run(args)


def cmd_run(args: argparse.Namespace) -> int:
    config = _load(args)
    from mail_followup.daemon import run

    return run(config)


def cmd_demo(args: argparse.Namespace) -> int:
    from mail_followup.demo import run_demo

    return run_demo(sys.stdout)


COMMANDS = {"scan": cmd_scan, "status": cmd_status, "explain": cmd_explain, "stop": cmd_stop, "snooze": cmd_snooze,
            "resume": cmd_resume, "calendar": cmd_calendar,
            "auth": cmd_auth,
            "doctor": cmd_doctor, "init": cmd_init, "run": cmd_run, "demo": cmd_demo}
