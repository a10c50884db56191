"""End to end: the service, as systemd runs it, withdraws a draft within a minute of the answer, through IDLE.

The interval is 15 minutes, so nothing but the watch explains a pass within the minute; the same holds
for the pass a reload starts.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path

from conftest import PYMAP_FOLDERS, PYMAP_PASSWORD, PYMAP_USER
from imapservers import DovecotServer, ImapAccount
from mail_followup.cli.demo_server import PymapServer
from mails import raw_mail
from test_daemon import ME, Notifications, wait_until, write_config


def sent_three_days_ago(account: ImapAccount) -> None:
    """One unanswered message whose follow-up is due whenever the test runs (the rules are opened wide)."""
    sent = datetime.now().astimezone() - timedelta(days=3)
    account.append("Sent", raw_mail(f"Me <{ME}>", "Kim <kim@example.com>", "Coffee next week?", sent,
                                    "<coffee@example.org>", "Hi Kim,\n\nWould you have time for a coffee?\n"),
                   flags=(b"\\Seen",))


def start_service(account: ImapAccount, port: int, tmp_path: Path) -> tuple[subprocess.Popen[bytes], Path, Path]:
    config = tmp_path / "config.yaml"
    write_config(config, tmp_path / "state", [("good", port, account.username, "MF_GOOD")])
    config.write_text(config.read_text().replace("scan_interval_minutes: 1", "scan_interval_minutes: 15"))
    log = tmp_path / "service.log"
    env = {**os.environ, "MF_GOOD": account.password, "NOTIFY_SOCKET": str(tmp_path / "notify.sock")}
    with open(log, "wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "mail_followup", "run", "--config", str(config), "-v"],
                                env=env, stdout=out, stderr=subprocess.STDOUT)
    return proc, log, config


def test_an_answer_withdraws_the_draft_within_a_minute_through_idle(dovecot_server: DovecotServer,
                                                                     tmp_path: Path) -> None:
    account = dovecot_server.new_account()
    sent_three_days_ago(account)
    notes = Notifications(tmp_path / "notify.sock")
    proc, log, _ = start_service(account, dovecot_server.port, tmp_path)
    try:
        notes.wait_for("READY=1")
        wait_until(lambda: len(account.messages("Drafts")) == 1, what="the draft")
        wait_until(lambda: "watching for new mail (IDLE on INBOX" in log.read_text(), what="the watch")

        answered = time.monotonic()
        account.append("INBOX", raw_mail("Kim <kim@example.com>", ME, "Re: Coffee next week?",
                                         datetime.now().astimezone(), "<yes@example.com>", "Yes!\n",
                                         in_reply_to="<coffee@example.org>"))
        wait_until(lambda: account.messages("Drafts") == [], timeout=60, what="the draft withdrawn")
        print(f"the draft was withdrawn {time.monotonic() - answered:.1f} s after the answer arrived")

        # A reload starts a pass at once, not at the next tick 15 minutes away, and the watch starts again.
        passes = log.read_text().count("account good: nothing waiting")
        proc.send_signal(signal.SIGHUP)
        wait_until(lambda: log.read_text().count("account good: nothing waiting") > passes, timeout=30, what="a pass on reload")
        wait_until(lambda: log.read_text().count("watching for new mail") >= 2, what="the watch again")

        # A stop while idling is prompt.
        stopped = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
        assert time.monotonic() - stopped < 5, log.read_text()[-3000:]
    finally:
        if proc.poll() is None:
            proc.kill()
        notes.sock.close()
    assert "Traceback" not in log.read_text()


def test_without_idle_the_service_scans_at_its_interval_and_asks_once(tmp_path: Path) -> None:
    """A server without IDLE (pymap started without it): the first pass drafts, the watch asks once per config
    and says so, and the interval does the rest; a reload starts a pass at once there too."""
    with PymapServer(PYMAP_USER, PYMAP_PASSWORD, PYMAP_FOLDERS, idle=False) as server:
        account = ImapAccount.for_pymap(server)
        sent_three_days_ago(account)
        notes = Notifications(tmp_path / "notify.sock")
        proc, log, _ = start_service(account, server.port, tmp_path)
        try:
            notes.wait_for("READY=1")
            wait_until(lambda: len(account.messages("Drafts")) == 1, what="the draft")
            wait_until(lambda: "offers no IDLE" in log.read_text(), what="the fallback")
            proc.send_signal(signal.SIGHUP)
            wait_until(lambda: log.read_text().count("account good: 1 drafted") >= 2, timeout=30,
                       what="a pass on reload")
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=10) == 0
        finally:
            if proc.poll() is None:
                proc.kill()
            notes.sock.close()
    text = log.read_text()
    # Asked once after the start and once after the reload, not at every pass.
    assert text.count("offers no IDLE") == 2 and "Traceback" not in text
