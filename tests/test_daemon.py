"""The service as systemd runs it: a subprocess against a real Dovecot, with sd_notify on a real socket.

The clock is the real one, so the account's rules are opened wide (any day,
any hour, one day's wait) and the thread is sent three days before now:
whatever moment the suite runs at, its follow-up is due.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from imapservers import DovecotServer
from mails import raw_mail

ME = "me@example.org"
RELAXED = """\
    draft_hours: ["00:00-23:59"]
    scan_interval_minutes: 1
    policies: {default: {waits_days: [1]}}
    scenario_rules: []
    builtin_scenario_rules: false
    calendar: {avoid_weekends: false, avoid_mondays: false, avoid_fridays: false, avoid_holidays: false,
               avoid_days_around_holidays: false, alternate_time_of_day: false, vary_weekday: false}
"""


@pytest.fixture
def own_dovecot() -> Iterator[DovecotServer]:
    """A Dovecot of its own: this test restarts it."""
    if not DovecotServer.available():
        if os.environ.get("CI") == "true":
            pytest.fail("Dovecot not installed, but CI=true and CI must run the Dovecot tests")
        pytest.skip("Dovecot not installed")
    with DovecotServer() as server:
        yield server


def write_config(path: Path, state: Path, accounts: list[tuple[str, int, str, str]]) -> None:
    lines = [f"state_dir: {state}", "defaults:", "  timezone: Europe/Oslo", "accounts:"]
    for name, port, user, env in accounts:
        lines += [f"  - name: {name}",
                  f"    imap: {{host: 127.0.0.1, port: {port}, security: none, username: {user}, "
                  f"password_env: {env}, timeout_seconds: 5}}",
                  f"    addresses: [{ME}]", RELAXED.rstrip("\n")]
    path.write_text("\n".join(lines) + "\n")


class Notifications:
    """The NOTIFY_SOCKET end of sd_notify: what the service told systemd."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(path))
        self.sock.settimeout(0.2)
        self.seen: list[str] = []

    def wait_for(self, text: str, timeout: float = 30) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = next((m for m in self.seen if text in m), None)
            if found:
                return found
            try:
                self.seen.append(self.sock.recv(4096).decode())
            except socket.timeout:
                pass
        raise AssertionError(f"no notification with {text!r}; got {self.seen}")


def wait_until(check, timeout: float = 30, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.3)
    raise AssertionError(f"timed out waiting for {what}")


def test_the_service_drafts_survives_restarts_pauses_reloads_and_stops(own_dovecot: DovecotServer,
                                                                       tmp_path: Path) -> None:
    good, wrong = own_dovecot.new_account(), own_dovecot.new_account()
    sent = datetime.now().astimezone() - timedelta(days=3)
    good.append("Sent", raw_mail(f"Me <{ME}>", "Kim <kim@example.com>", "Coffee next week?", sent,
                                 "<coffee@example.org>", "Hi Kim,\n\nWould you have time for a coffee?\n"),
                 flags=(b"\\Seen",))
    config = tmp_path / "config.yaml"
    write_config(config, tmp_path / "state", [("good", own_dovecot.port, good.username, "MF_GOOD"),
                                              ("wrong", own_dovecot.port, wrong.username, "MF_WRONG")])
    notes = Notifications(tmp_path / "notify.sock")
    log = tmp_path / "service.log"
    env = {**os.environ, "MF_GOOD": good.password, "MF_WRONG": "not-the-password",
           "NOTIFY_SOCKET": str(notes.path), "JOURNAL_STREAM": "8:1234"}
    # The second account worked once, then its password changed. (An account never read would hold the
    # first one's drafts back: an answer may be in it. test_loop.py tests that.)
    first = subprocess.run([sys.executable, "-m", "mail_followup", "scan", "--config", str(config), "--account",
                            "wrong"], env={**os.environ, "MF_WRONG": wrong.password}, capture_output=True, text=True)
    assert first.returncode == 0, first.stderr
    with open(log, "wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "mail_followup", "run", "--config", str(config), "-v"],
                                env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        notes.wait_for("READY=1")
        # It drafts, and tells systemd in one line.
        wait_until(lambda: len(good.messages("Drafts")) == 1, what="the draft")
        notes.wait_for("1 drafted")
        # A refused login pauses that account: one clear line, a status entry, no retry loop.
        notes.wait_for("wrong: paused")
        text = log.read_text()
        assert text.count("paused until the sign-in is fixed") == 1
        assert "not-the-password" not in text
        # Under journald the journal adds the time: no timestamp of our own at the start of a line.
        assert not any(line[:4].isdigit() for line in text.splitlines() if line)
        status = subprocess.run([sys.executable, "-m", "mail_followup", "status", "--config", str(config)],
                                env=env, capture_output=True, text=True)
        assert "account wrong: paused" in status.stdout

        # The server goes away and comes back: the service backs off and recovers by itself.
        own_dovecot.restart(down_seconds=2)
        good.append("INBOX", raw_mail("Kim <kim@example.com>", ME, "Re: Coffee next week?",
                                      datetime.now().astimezone(), "<kim@example.com>", "Yes!\n",
                                      in_reply_to="<coffee@example.org>"))
        # The answer withdraws the unedited draft at the next pass (the interval is a minute; SIGHUP
        # reschedules every account at once, which also proves the reload).
        proc.send_signal(signal.SIGHUP)
        wait_until(lambda: good.messages("Drafts") == [], timeout=60, what="the draft withdrawn")

        # A broken config on reload keeps the old one, and says so.
        saved = config.read_text()
        config.write_text(saved.replace("accounts:", "acounts:"))
        proc.send_signal(signal.SIGHUP)
        notes.wait_for("config reload failed (old config kept)")
        assert proc.poll() is None
        config.write_text(saved)

        proc.send_signal(signal.SIGTERM)
        try:
            assert proc.wait(timeout=30) == 0
        except subprocess.TimeoutExpired:
            pytest.fail(f"the service did not stop within 30 s of SIGTERM; it said:\n{log.read_text()[-6000:]}")
        notes.wait_for("STOPPING=1")
    finally:
        if proc.poll() is None:
            proc.kill()
        notes.sock.close()
    text = log.read_text()
    assert "config reloaded" in text and "the new config cannot be used" in text and "stopped" in text


def test_network_failures_back_off_up_to_the_interval(tmp_path: Path) -> None:
    """A closed port is a real refused connection: the next try comes after 1, then 2, then 4 minutes."""
    from mail_followup.config import load_config
    from mail_followup.service.daemon import Service

    config = tmp_path / "config.yaml"
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    write_config(config, tmp_path / "state", [("away", port, "nobody", "MF_NONE")])
    config.write_text(config.read_text().replace("scan_interval_minutes: 1", "scan_interval_minutes: 5"))
    service = Service(config, load_config(config))
    from apscheduler.schedulers.background import BackgroundScheduler

    service.scheduler = BackgroundScheduler()
    service._schedule()
    service.scheduler.start(paused=True)  # no pass of its own: the test runs them
    try:
        gaps = []
        for _ in range(5):
            before = datetime.now().astimezone()
            service.run_pass("away")
            gaps.append(round((service.scheduler.get_job("away").next_run_time - before).total_seconds() / 60))
        assert gaps == [1, 2, 4, 5, 5]  # doubling, never beyond the interval
        assert service.states["away"].failures == 5 and "offline" in service.states["away"].summary
    finally:
        service.scheduler.shutdown(wait=False)
