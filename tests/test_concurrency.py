"""Passes at the same time (issue 19, part 1): never two drafts for one attempt.

The way it happens: the service runs a pass while the user types
`mail-followup scan`; or two copies of the program share a state; or two
states (a backup restored, a second laptop) share one mailbox. Real
processes race here, started together on one account with a few hundred
due threads, and the Drafts folder is counted afterwards.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from collections import Counter
from email.utils import format_datetime
from pathlib import Path

import pytest

from imapservers import ImapAccount
from scenario import ME, WEDNESDAY, at, write_config

THREADS = 300


def due_threads(account: ImapAccount, count: int = THREADS) -> None:
    """``count`` unanswered threads, each to a contact of its own, sent on a Tuesday afternoon a week before."""
    when = at("2026-12-01T15:00:00+01:00")
    with account.client() as client:
        for i in range(count):
            raw = (f"From: Me <{ME}>\r\nTo: person{i}@company{i}.example\r\nSubject: Proposal {i}\r\n"
                   f"Date: {format_datetime(when)}\r\nMessage-ID: <proposal{i}@example.org>\r\n"
                   "Content-Type: text/plain; charset=utf-8\r\n\r\nHello,\r\n\r\ncould we talk about the "
                   f"proposal number {i} next week?\r\n\r\nMe\r\n").encode()
            client.append("Sent", raw, flags=(b"\\Seen",), msg_time=when)


def drafts_per_attempt(account: ImapAccount) -> Counter[tuple[str, str]]:
    found: Counter[tuple[str, str]] = Counter()
    with account.client() as client:
        client.select_folder("Drafts", readonly=True)
        uids = client.search(["NOT", "DELETED"])
        for data in client.fetch(uids, ["BODY.PEEK[HEADER.FIELDS (X-MAIL-FOLLOWUP-FOR X-MAIL-FOLLOWUP-ATTEMPT)]"]
                                 ).values() if uids else []:
            head = next(v for k, v in data.items() if k.startswith(b"BODY")).decode()
            fields = dict(line.split(": ", 1) for line in head.strip().splitlines() if ": " in line)
            found[(fields.get("X-Mail-Followup-For", ""), fields.get("X-Mail-Followup-Attempt", ""))] += 1
    return found


def race(config: Path, state_dirs: list[Path], password: str, timeout: float = 240
         ) -> list[subprocess.CompletedProcess[str]]:
    """One `scan` per state directory (the same one repeated: passes sharing a state), started together.
    Their output goes to files: a report of thousands of threads would fill a pipe and stall its pass."""
    procs = []
    for state in state_dirs:
        text = config.read_text()
        own = config.with_name(f"config-{len(procs)}.yaml")
        own.write_text(text.replace(f"state_dir: {config.parent / 'state'}", f"state_dir: {state}"))
        out, err = tempfile.TemporaryFile("w+"), tempfile.TemporaryFile("w+")
        procs.append((subprocess.Popen([sys.executable, "-m", "mail_followup", "scan", "--config", str(own),
                                        "--now", WEDNESDAY], env={**os.environ, "MF_TEST_PASSWORD": password},
                                       stdout=out, stderr=err, text=True), out, err))
    done = []
    for proc, out, err in procs:
        proc.wait(timeout=timeout)
        out.seek(0)
        err.seek(0)
        done.append(subprocess.CompletedProcess(proc.args, proc.returncode, out.read(), err.read()))
    return done


@pytest.mark.parametrize("shape", ["one state", "two states"])
def test_passes_at_once_write_each_draft_once(dovecot_account: ImapAccount, tmp_path: Path, shape: str) -> None:
    due_threads(dovecot_account)
    config = write_config(tmp_path, dovecot_account, max_drafts_per_pass="1000")
    states = [tmp_path / "state"] * 3 if shape == "one state" else [tmp_path / "state", tmp_path / "state-2",
                                                                   tmp_path / "state"]
    done = race(config, states, dovecot_account.password)
    assert all(p.returncode == 0 for p in done), [p.stderr[-2000:] for p in done]
    drafts = drafts_per_attempt(dovecot_account)
    assert len(drafts) == THREADS and set(drafts.values()) == {1}, Counter(drafts.values())
    if shape == "one state":  # the passes that waited said for whom
        waited = [p.stderr for p in done if "another pass of this account is running" in p.stderr]
        assert len(waited) >= 1 and all("(mail-followup scan), since 20" in text for text in waited), waited


def test_the_service_steps_aside_for_a_pass_that_runs_and_a_dead_holder_holds_nothing(configured, tmp_path) -> None:
    """The service does not wait behind a `scan` typed meanwhile: it says who runs the pass and goes on. A
    pass killed while it held the account (SIGKILL: no cleanup at all) leaves nothing stuck."""
    import signal
    import time

    from mail_followup.config import load_config
    from mail_followup.state.passlock import AccountLock
    from mail_followup.service.scan import scan

    account, config_path = configured
    config = load_config(config_path)
    with AccountLock(config.state_dir, "test") as lock:
        lock.acquire(0)
        result = scan(config, at(WEDNESDAY), lock_wait=0)
        (only,) = result.accounts
        assert only.failure == "busy" and f"process {os.getpid()}" in only.errors[0]
        assert account.messages("Drafts") == []
    holder = subprocess.Popen([sys.executable, "-c", "import sys, time\nfrom pathlib import Path\n"
                               "from mail_followup.state.passlock import AccountLock\n"
                               "AccountLock(Path(sys.argv[1]), 'test').acquire(0)\nprint('held', flush=True)\n"
                               "time.sleep(60)", str(config.state_dir)], stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "held"
    os.kill(holder.pid, signal.SIGKILL)
    holder.wait()
    start = time.monotonic()
    assert scan(config, at(WEDNESDAY), lock_wait=0).ok and time.monotonic() - start < 30
    assert len(account.messages("Drafts")) == 1
