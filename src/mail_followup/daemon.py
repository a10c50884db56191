"""The service: one APScheduler interval job per account, until SIGTERM.

Each job is one ``scan`` of its account with the real clock. A job never
overlaps itself (max_instances=1) and missed runs after a suspend collapse
into one (coalesce), so a laptop waking up does one pass, not a burst.
"""

from __future__ import annotations

import logging
import signal
import threading
from datetime import datetime
from types import FrameType

from mail_followup.config import Config

log = logging.getLogger(__name__)


def run(config: Config) -> int:
    """Run until SIGTERM or SIGINT; return the exit code. The pass in flight finishes first."""
    from apscheduler.schedulers.background import BackgroundScheduler

    stop = threading.Event()
    scheduler = BackgroundScheduler(job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None})
    for account in config.accounts:
        minutes = account.settings.scan_interval_minutes
        scheduler.add_job(
            _pass, "interval", args=(config, account.name), id=account.name, name=f"scan {account.name}",
            minutes=minutes, jitter=min(60, minutes * 6), next_run_time=datetime.now().astimezone(),
        )
        log.info("account %s: a pass every %d minute(s)", account.name, minutes)

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        log.info("received %s; finishing the pass in flight, then stopping", signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    scheduler.start()
    try:
        stop.wait()
    finally:
        scheduler.shutdown(wait=True)
    log.info("stopped")
    return 0


def _pass(config: Config, account: str) -> None:
    from mail_followup.scan import scan

    try:
        result = scan(config, datetime.now().astimezone(), account=account)
    except Exception:  # a bug in one pass must not end the service; the next pass tries again
        log.exception("account %s: the pass failed unexpectedly", account)
        return
    for acct in result.accounts:
        states: dict[str, int] = {}
        for t in acct.threads:
            states[t["state"]] = states.get(t["state"], 0) + 1
        summary = ", ".join(f"{n} {s}" for s, n in sorted(states.items())) or "no threads"
        log.info("account %s: %s; %d draft(s) written", acct.account, summary, acct.written)
