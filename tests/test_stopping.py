"""A stop must stop (issue 19, part 2): the service and `scan` end within two seconds of SIGTERM or Ctrl-C,
at any moment and on any link, and a server that never ends an answer costs only its own account.

Real processes, real signals: the service at start-up and in the middle of a first sync on a slow link (a
proxy hands Dovecot's answers on at 20 KB/s), `scan` likewise, and a server that answers LIST with untagged
lines without end beside a healthy account. Afterwards nothing is half-written: a pass that follows ends
in exactly the state an uninterrupted run gives.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from fault_proxy import Fault, FaultProxy
from imapservers import ImapAccount
from scenario import WEDNESDAY, by_subject, scan_json, seed, write_config
from test_concurrency import THREADS, drafts_per_attempt, due_threads
from test_daemon import RELAXED, Notifications

LIMIT = 2.0  # seconds from the signal to the end of the process


def slow_config(account: ImapAccount, tmp_path: Path, proxy: FaultProxy) -> Path:
    """The standard config, with the account reached through ``proxy``."""
    config = write_config(tmp_path, account, max_drafts_per_pass="1000")
    config.write_text(config.read_text().replace(f"port: {account.port}", f"port: {proxy.port}"))
    return config


def ended_within(proc: subprocess.Popen[str], signum: int) -> float:
    start = time.monotonic()
    proc.send_signal(signum)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        pytest.fail(f"still running 30 s after {signal.Signals(signum).name}")
    return time.monotonic() - start


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_scan_stops_within_two_seconds_in_a_sync_on_a_slow_link(dovecot_account, tmp_path, capsys, monkeypatch,
                                                                signum) -> None:
    due_threads(dovecot_account)
    with FaultProxy(dovecot_account.host, dovecot_account.port, Fault("slow", rate=20_000)) as proxy:
        config = slow_config(dovecot_account, tmp_path, proxy)
        proc = subprocess.Popen([sys.executable, "-m", "mail_followup", "scan", "--config", str(config),
                                 "--now", WEDNESDAY], env={**os.environ, "MF_TEST_PASSWORD": dovecot_account.password},
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        time.sleep(2.5)  # well inside the sync of 300 headers at 20 KB/s
        assert proc.poll() is None, proc.communicate()
        assert ended_within(proc, signum) < LIMIT
        assert proc.returncode == 128 + signum
        assert "stopped" in proc.stderr.read()
    # Nothing half-written: a pass with the healthy link ends as an uninterrupted one would.
    fresh = write_config(tmp_path, dovecot_account, max_drafts_per_pass="1000")
    monkeypatch.setenv("MF_TEST_PASSWORD", dovecot_account.password)
    code, report = scan_json(fresh, WEDNESDAY, capsys)
    assert code == 0 and len(report["threads"]) == THREADS, report["errors"]
    drafts = drafts_per_attempt(dovecot_account)
    assert len(drafts) == THREADS and set(drafts.values()) == {1}


def service(config: Path, password: str, notes: Notifications) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "mail_followup", "run", "--config", str(config), "-v"],
                            env={**os.environ, "MF_TEST_PASSWORD": password, "NOTIFY_SOCKET": str(notes.path)},
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def relaxed(config: Path) -> Path:
    config.write_text(config.read_text().rstrip("\n") + "\n" + RELAXED)
    return config


def test_the_service_stops_within_two_seconds_at_start_up(dovecot_account, tmp_path) -> None:
    seed(dovecot_account)
    config = relaxed(write_config(tmp_path, dovecot_account))
    notes = Notifications(tmp_path / "notify.sock")
    proc = service(config, dovecot_account.password, notes)
    try:
        notes.wait_for("READY=1")  # the first pass starts now, in a process of its own
        assert ended_within(proc, signal.SIGTERM) < LIMIT and proc.returncode == 0
    finally:
        notes.sock.close()
        if proc.poll() is None:
            proc.kill()


def test_the_service_stops_within_two_seconds_in_a_sync_on_a_slow_link(dovecot_account, tmp_path) -> None:
    due_threads(dovecot_account)
    with FaultProxy(dovecot_account.host, dovecot_account.port, Fault("slow", rate=20_000)) as proxy:
        config = relaxed(slow_config(dovecot_account, tmp_path, proxy))
        notes = Notifications(tmp_path / "notify.sock")
        proc = service(config, dovecot_account.password, notes)
        try:
            notes.wait_for("READY=1")
            time.sleep(3)
            assert proc.poll() is None
            assert ended_within(proc, signal.SIGTERM) < LIMIT and proc.returncode == 0
        finally:
            notes.sock.close()
            if proc.poll() is None:
                proc.kill()


class EndlessServer:
    """Answers the greeting, CAPABILITY and LOGIN, and then every command with untagged lines, without end."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(4)
        self.port = self.sock.getsockname()[1]
        self.ended = threading.Event()
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while not self.ended.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._talk, args=(conn,), daemon=True).start()

    def _talk(self, conn: socket.socket) -> None:
        try:
            with conn, conn.makefile("rb") as lines:
                conn.sendall(b"* OK [CAPABILITY IMAP4rev1] ready\r\n")
                for raw in lines:
                    tag, _, command = raw.decode().rstrip("\r\n").partition(" ")
                    verb = command.split(" ", 1)[0].upper()
                    if verb == "CAPABILITY":
                        conn.sendall(f"* CAPABILITY IMAP4rev1\r\n{tag} OK done\r\n".encode())
                    elif verb == "LOGIN":
                        conn.sendall(f"{tag} OK logged in\r\n".encode())
                    else:
                        while not self.ended.is_set():  # the answer that never ends
                            conn.sendall(b"* OK still thinking about it\r\n")
                            time.sleep(0.01)
                        return
        except OSError:
            return

    def close(self) -> None:
        self.ended.set()
        self.sock.close()


def test_a_server_that_never_ends_its_answer_is_cut_off_and_the_others_are_reported(dovecot_account, tmp_path,
                                                                                 capsys, monkeypatch) -> None:
    seed(dovecot_account)
    endless = EndlessServer()
    try:
        monkeypatch.setenv("MF_TEST_PASSWORD", dovecot_account.password)
        config = write_config(tmp_path, dovecot_account)
        text = config.read_text().replace("defaults:", "defaults:\n  in_touch: {other_accounts: false}")
        config.write_text(text + (  # the endless account could never be read: the other does not wait on it
            f"  - name: endless\n    imap: {{host: 127.0.0.1, port: {endless.port}, security: none, username: u, "
            f"password_env: MF_TEST_PASSWORD, timeout_seconds: 0.4}}\n    addresses: [me@example.org]\n"))
        start = time.monotonic()
        code, report = scan_json(config, WEDNESDAY, capsys)
        assert time.monotonic() - start < 15
        assert code == 1
        (error,) = report["errors"]
        assert "'endless': the server did not finish its answer to LIST within 2 s, so the connection was cut" in error
        coffee = by_subject(report)["Coffee next week?"]
        assert coffee["state"] == "drafted", coffee["reasons"]  # the healthy account, reported
    finally:
        endless.close()


def test_a_hostile_config_loaded_by_sighup_is_refused_at_once_and_the_service_still_stops(dovecot_account,
                                                                                        tmp_path) -> None:
    """A "billion laughs" reloaded into the running service: the old config stays, and SIGTERM still works."""
    seed(dovecot_account)
    config = relaxed(write_config(tmp_path, dovecot_account))
    notes = Notifications(tmp_path / "notify.sock")
    proc = service(config, dovecot_account.password, notes)
    try:
        notes.wait_for("READY=1")
        config.write_text("a: &a [x,x,x,x,x,x,x,x,x]\n" + "".join(
            f"{chr(98 + i)}: &{chr(98 + i)} [{','.join([f'*{chr(97 + i)}'] * 9)}]\n" for i in range(8))
            + "accounts: *i\n")
        proc.send_signal(signal.SIGHUP)
        assert "expands to more than" in notes.wait_for("config reload failed (old config kept)", timeout=10)
        assert ended_within(proc, signal.SIGTERM) < LIMIT and proc.returncode == 0
    finally:
        notes.sock.close()
        if proc.poll() is None:
            proc.kill()
