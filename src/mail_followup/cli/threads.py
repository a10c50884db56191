"""The thread commands' printing side: explain, stop, snooze and resume as the user sees them.

The work on the local state is in ``thread_commands``, which imports the
deciding machinery; it loads only when one of these commands runs.
"""

from __future__ import annotations

import argparse
import sys
from datetime import datetime
from typing import TYPE_CHECKING

from mail_followup.cli.invocation import EXIT_FAILED, EXIT_OK, config_of

if TYPE_CHECKING:
    from mail_followup.cli.thread_commands import Found
    from mail_followup.config import Config


def cmd_explain(args: argparse.Namespace) -> int:
    config = config_of(args)
    from mail_followup.cli.thread_commands import explain

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
    config = config_of(args)
    from mail_followup.cli.thread_commands import stop, stop_thread

    now = datetime.now().astimezone()
    if args.target == "-":  # the thread of the message on standard input
        found = _piped(config, now)
        if isinstance(found, int):
            return found
        print(stop_thread(config, found, now))
        return EXIT_OK
    done = stop(config, args.target, now)
    if not done:
        print(f"mail-followup: no thread holds {args.target} in the local state; "
              "run `mail-followup scan` first, or check the Message-ID", file=sys.stderr)
        return EXIT_FAILED
    for line in done:
        print(line)
    return EXIT_OK


def cmd_snooze(args: argparse.Namespace) -> int:
    config = config_of(args)
    from mail_followup.cli.thread_commands import snooze, snooze_thread

    now = datetime.now().astimezone()
    if args.message_id == "-":
        found = _piped(config, now)
        if isinstance(found, int):
            return found
        print(snooze_thread(config, found, args.until, now))
        return EXIT_OK
    done = snooze(config, args.message_id, args.until, now)
    if done is None:
        print(f"mail-followup: no thread holds {args.message_id} in the local state; "
              "run `mail-followup scan` first, or check the Message-ID", file=sys.stderr)
        return EXIT_FAILED
    print(done)
    return EXIT_OK


def cmd_resume(args: argparse.Namespace) -> int:
    config = config_of(args)
    from mail_followup.cli.thread_commands import resume, resume_thread

    now = args.now or datetime.now().astimezone()
    if args.message_id == "-":
        found = _piped(config, now)
        if isinstance(found, int):
            return found
        print("\n".join(resume_thread(config, found, now)))
        return EXIT_OK
    done = resume(config, args.message_id, now)
    if done is None:
        print(f"mail-followup: no thread holds {args.message_id} in the local state; "
              "run `mail-followup scan` first, or check the Message-ID", file=sys.stderr)
        return EXIT_FAILED
    print("\n".join(done))
    return EXIT_OK


def _piped(config: Config, now: datetime) -> Found | int:
    """The thread of the message a mail client pipes in, or the exit code when there is not exactly one."""
    from mail_followup.cli.piped import piped_thread

    return piped_thread(config, now)
