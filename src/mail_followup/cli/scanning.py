"""The passes from the command line: ``scan`` once now, ``run`` as the service.

``scan`` runs its passes beside the main thread so that SIGTERM or Ctrl-C
ends them at a clean place; ``run`` hands over to the service's loop.
"""

from __future__ import annotations

import argparse
import os
import sys
from datetime import datetime

from mail_followup.cli.invocation import EXIT_FAILED, EXIT_OK, config_of


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
    config = config_of(args)
    import signal
    import threading
    import time

    from mail_followup.service.report import table
    from mail_followup.service.scan import ScanResult, scan

    now = args.now or datetime.now().astimezone()
    # The passes run beside the main thread, which only waits: SIGTERM or Ctrl-C asks them to stop, and
    # what they cannot end within STOP_GRACE ends with the process (each write is whole on its own).
    cancel, done, stop = threading.Event(), threading.Event(), []
    outcome: list[ScanResult | BaseException] = []

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
                from mail_followup.imap.credentials import end_helpers

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


def cmd_run(args: argparse.Namespace) -> int:
    config = config_of(args)
    from mail_followup.service.daemon import run

    return run(config)
