"""Crash at every write, and compare (issue 9, part 1): shared by tests/test_crash.py and benchmarks/crash.py.

A situation is a mailbox and a state made ready for one pass. The pass runs
once uninterrupted (writing a numbered log of its writes), then once per
write K in a fresh copy of the situation, killed right after write K
(``os._exit``: no cleanup, like a power cut) and started again. The end
state of every interrupted run must equal the uninterrupted one: the same
drafts in Drafts, none twice, the same weekly review, the same decisions,
and a database that passes ``PRAGMA integrity_check``.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from email import message_from_bytes, policy
from pathlib import Path

from imapservers import DovecotServer, ImapAccount
from mails import raw_mail
from test_classify import bounce_report

ME = "me@example.org"
WEDNESDAY = "2026-12-09T09:30:00+01:00"
THURSDAY = "2026-12-10T09:30:00+01:00"
SENT = datetime.fromisoformat("2026-12-01T15:00:00+01:00")
CRASH_EXIT = 99
SRC = Path(__file__).resolve().parent.parent / "src"  # the code under test, whatever is installed


@dataclass
class Situation:
    account: ImapAccount
    config: Path
    state: Path
    now: str


def write_config(tmp: Path, account: ImapAccount) -> Path:
    tmp.mkdir(parents=True, exist_ok=True)
    path = tmp / "config.yaml"
    path.write_text(
        f"state_dir: {tmp / 'state'}\ndefaults:\n  timezone: Europe/Oslo\n  country: \"NO\"\n"
        "  digest: {day: wednesday, time: '09:00'}\naccounts:\n  - name: test\n"
        f"    imap: {{host: {account.host}, port: {account.port}, security: none, username: {account.username}, "
        "password_env: MF_TEST_PASSWORD}\n"
        f"    addresses: [{ME}]\n")
    return path


def seed_five_due(account: ImapAccount) -> None:
    """Five unanswered threads due on the Wednesday, one answered, one too recent."""
    for i in range(5):
        account.append("Sent", raw_mail(f"Me <{ME}>", f"Person {i} <p{i}@example.com>", f"Question {i}",
                                        SENT + timedelta(minutes=i), f"<q{i}@example.org>",
                                        f"Hi,\n\nWould you have time for question {i}?\n"), flags=(b"\\Seen",))
    account.append("Sent", raw_mail(f"Me <{ME}>", "ola@example.no", "Your offer", SENT, "<offer@example.org>",
                                    "What do you think?\n"), flags=(b"\\Seen",))
    account.append("INBOX", raw_mail("ola@example.no", ME, "Re: Your offer", SENT + timedelta(days=1),
                                     "<offer-re@example.no>", "Good!\n", in_reply_to="<offer@example.org>"),
                   flags=(b"\\Seen",))
    account.append("Sent", raw_mail(f"Me <{ME}>", "new@example.com", "Recent", SENT + timedelta(days=6),
                                    "<recent@example.org>", "Shall we meet?\n"), flags=(b"\\Seen",))


def arrivals(account: ImapAccount) -> None:
    """After the Wednesday's drafts: an answer, a stop request and a bounce (three drafts to withdraw)."""
    when = datetime.fromisoformat("2026-12-09T12:00:00+01:00")
    account.append("INBOX", raw_mail("Person 0 <p0@example.com>", ME, "Re: Question 0", when, "<a0@example.com>",
                                     "Yes, gladly.\n", in_reply_to="<q0@example.org>"))
    account.append("INBOX", raw_mail("Person 1 <p1@example.com>", ME, "Re: Question 1", when, "<a1@example.com>",
                                     "Thanks, but we are not interested.\n", in_reply_to="<q1@example.org>"))
    account.append("INBOX", bounce_report("<q2@example.org>"))


def scan_process(situation: Situation, **env: str) -> tuple[list[str], dict[str, str]]:
    """The command line and environment of a pass in a process of its own, running the code under test."""
    full = {**os.environ, "MF_TEST_PASSWORD": situation.account.password, "PYTHONPATH": str(SRC)}
    full.pop("MAIL_FOLLOWUP_CRASH_AFTER", None)
    full.pop("MAIL_FOLLOWUP_WRITE_LOG", None)
    return ([sys.executable, "-m", "mail_followup", "scan", "--config", str(situation.config),
             "--now", situation.now, "--json"], full | env)


def scan(situation: Situation, crash_after: int | None = None, write_log: Path | None = None
         ) -> subprocess.CompletedProcess[str]:
    env = {}
    if crash_after is not None:
        env["MAIL_FOLLOWUP_CRASH_AFTER"] = str(crash_after)
    if write_log is not None:
        env["MAIL_FOLLOWUP_WRITE_LOG"] = str(write_log)
    argv, full = scan_process(situation, **env)
    return subprocess.run(argv, env=full, capture_output=True, text=True, timeout=120)


def scan_here(situation: Situation) -> int:
    """A pass in this process: a fresh start as far as the product knows (its own Store, a new connection)."""
    from mail_followup.config import load_config
    from mail_followup.service.scan import scan as run

    config = load_config(situation.config)
    result = run(config, datetime.fromisoformat(situation.now), secret=lambda _a: situation.account.password)
    return 0 if result.ok else 1


def end_state(situation: Situation) -> dict[str, object]:
    """What the user would see: drafts by thread and attempt (with counts), reviews, decisions, integrity."""
    drafts: Counter[tuple[str, str]] = Counter()
    for _, flags, raw in situation.account.messages("Drafts"):
        if b"\\Deleted" in flags:
            continue
        msg = message_from_bytes(raw, policy=policy.default)
        drafts[(str(msg["X-Mail-Followup-For"]), str(msg["X-Mail-Followup-Attempt"]))] += 1
    reviews = sum(b"X-Mail-Followup-Digest:" in raw for _, _, raw in situation.account.messages("INBOX"))
    with sqlite3.connect(situation.state / "state.sqlite3") as db:
        integrity = db.execute("PRAGMA integrity_check").fetchone()[0]
        states = {json.loads(r[0])["subject"]: json.loads(r[0])["state"]
                  for r in db.execute("SELECT report FROM threads WHERE account='test'")}
        ledger = sorted(db.execute("SELECT thread, attempt, state FROM drafts WHERE account='test'").fetchall())
    return {"drafts": dict(sorted(drafts.items())), "reviews": reviews, "states": dict(sorted(states.items())),
            "integrity": integrity, "ledger": ledger}


def first_sync(server: DovecotServer, tmp: Path) -> Situation:
    account = server.new_account()
    seed_five_due(account)
    return Situation(account, write_config(tmp, account), tmp / "state", WEDNESDAY)


def incremental(server: DovecotServer, tmp: Path) -> Situation:
    situation = first_sync(server, tmp)
    assert scan_here(situation) == 0
    arrivals(situation.account)
    situation.now = THURSDAY
    return situation


def uidvalidity_changed(server: DovecotServer, tmp: Path) -> Situation:
    situation = first_sync(server, tmp)
    assert scan_here(situation) == 0
    server.doveadm("mailbox", "update", "--uid-validity", "4242", "-u", situation.account.username, "Sent")
    situation.now = THURSDAY
    return situation


def damaged_state(server: DovecotServer, tmp: Path) -> Situation:
    """After the Wednesday's drafts the user stops one contact, and then a page of the header index is
    overwritten: the pass puts the state aside and begins again from it. A crash at any point of that
    must not lose the stop, which only the state knew."""
    from mail_followup.cli.main import main

    situation = first_sync(server, tmp)
    assert scan_here(situation) == 0
    assert main(["stop", "p3@example.com", "--config", str(situation.config)]) == 0
    db = situation.state / "state.sqlite3"
    connection = sqlite3.connect(db)
    connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    size = connection.execute("PRAGMA page_size").fetchone()[0]
    root = connection.execute("SELECT rootpage FROM sqlite_master WHERE name='messages'").fetchone()[0]
    connection.close()
    for suffix in ("-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    with open(db, "r+b") as out:
        out.seek((root - 1) * size)
        out.write(b"\xff" * size)
    situation.now = THURSDAY
    return situation


SITUATIONS: dict[str, Callable[[DovecotServer, Path], Situation]] = {
    "first sync with five due threads": first_sync,
    "incremental pass: an answer, a stop request and a bounce arrive": incremental,
    "a pass after a UIDVALIDITY change": uidvalidity_changed,
    "a pass on a state damaged after a stop": damaged_state,
}


@dataclass
class Outcome:
    writes: int
    crashed_runs: int
    mismatches: list[str]
    tried: list[int]


def campaign(server: DovecotServer, tmp: Path, make: Callable[[DovecotServer, Path], Situation],
             varied: bool = False) -> Outcome:
    """Run the situation uninterrupted, then crashed after every write and resumed.

    ``varied`` (the suite's small version) crashes only after the first write of each kind (a commit,
    an APPEND, a flag, an expunge) and after the last write.
    """
    base = make(server, tmp / "base")
    log = tmp / "base-writes.log"
    done = scan(base, write_log=log)
    assert done.returncode == 0, done.stderr
    expected = end_state(base)
    steps = log.read_text().splitlines()
    total = len(steps)
    chosen = list(range(1, total + 1))
    if varied:
        firsts = {}
        for number, line in enumerate(steps, start=1):
            firsts.setdefault(line.split(" ", 1)[1].split(" in ")[0].split(" to ")[0].rstrip("0123456789 "), number)
        chosen = sorted({total} | set(firsts.values()))
    mismatches: list[str] = []
    crashed = 0
    for k in chosen:
        situation = make(server, tmp / f"k{k}")
        first = scan(situation, crash_after=k)
        if first.returncode != CRASH_EXIT:
            mismatches.append(f"write {k}: the run did not crash there (exit {first.returncode}): {first.stderr[-300:]}")
            continue
        crashed += 1
        if scan_here(situation) != 0:
            mismatches.append(f"write {k}: the resumed run failed")
            continue
        got = end_state(situation)
        if got != expected:
            diff = {key: (got[key], expected[key]) for key in expected if got[key] != expected[key]}
            mismatches.append(f"write {k} ({log.read_text().splitlines()[k - 1]}): {diff}")
    return Outcome(total, crashed, mismatches, chosen)
