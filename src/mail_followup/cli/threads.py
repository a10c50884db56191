"""The thread commands' printing side: explain, stop, snooze and resume as the user sees them.

The work on the local state is in ``thread_commands``, which imports the
deciding machinery; it loads only when one of these commands runs.
"""

from __future__ import annotations

import argparse
import sys
from datetime import datetime

from mail_followup.cli.invocation import EXIT_FAILED, EXIT_OK, config_of


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
    from mail_followup.cli.thread_commands import stop

    done = stop(config, args.target, datetime.now().astimezone())
    if not done:
        print(f"mail-followup: no thread holds {args.target} in the local state; "
              "run `mail-followup scan` first, or check the Message-ID", file=sys.stderr)
        return EXIT_FAILED
    for line in done:
        print(line)
    return EXIT_OK


def cmd_snooze(args: argparse.Namespace) -> int:
    config = config_of(args)
    from mail_followup.cli.thread_commands import snooze

    done = snooze(config, args.message_id, args.until, datetime.now().astimezone())
    if done is None:
        print(f"mail-followup: no thread holds {args.message_id} in the local state; "
              "run `mail-followup scan` first, or check the Message-ID", file=sys.stderr)
        return EXIT_FAILED
    print(done)
    return EXIT_OK


def cmd_resume(args: argparse.Namespace) -> int:
    config = config_of(args)
    from mail_followup.cli.thread_commands import resume

    done = resume(config, args.message_id, args.now or datetime.now().astimezone())
    if done is None:
        print(f"mail-followup: no thread holds {args.message_id} in the local state; "
              "run `mail-followup scan` first, or check the Message-ID", file=sys.stderr)
        return EXIT_FAILED
    print("\n".join(done))
    return EXIT_OK
