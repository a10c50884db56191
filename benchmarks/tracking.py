"""Tracking at scale: a Dovecot mailbox with 100,000 sent threads and 50,000 answers.

Run by hand (it is not part of the test suite):

    python benchmarks/tracking.py                  # the full size: 100,000 sent, 50,000 answers
    python benchmarks/tracking.py --sent 10000     # a quicker look

It writes the Maildir files directly (APPEND is too slow at that size),
lets Dovecot index them once, and reports in one run:

- the first scan's wall time against a bare imapclient FETCH of the same
  header fields over the same folders, and their ratio (target: at most 1.5);
- a rescan with nothing changed: wall time and IMAP commands per folder
  (targets: under 1 s, at most 3 commands per folder);
- a rescan after 100 new answers: wall time and commands per folder;
- the peak RSS of the first scan's process (target: under 250 MB);
- a pass with a backlog: the same mailbox with the last two months unanswered, so that
  thousands of threads are due and each pass writes the next 25 (``--backlog``);
- the state database's size per message.

Needs Debian's dovecot-imapd. Everything runs on 127.0.0.1.
"""

from __future__ import annotations

import argparse
import imaplib
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "src"))

from imapservers import DovecotServer  # noqa: E402

from mail_followup.core.headers import FETCH_ITEM  # noqa: E402

NOW = "2026-12-09T09:30:00+01:00"
ME = "me@example.org"
FOLDERS = ("Sent", "INBOX", "Archive")

BARE_FETCH = """
import imaplib, sys, time
from imapclient import IMAPClient
imaplib._MAXLINE = 64 << 20  # as the product does: a SEARCH of 150,000 UIDs or more is a longer line
host, port, user, password, item = sys.argv[1:6]
start = time.perf_counter()
client = IMAPClient(host, port=int(port), ssl=False)
client.login(user, password)
count = 0
for folder in ("Sent", "INBOX", "Archive"):
    client.select_folder(folder, readonly=True)
    uids = client.search(["ALL"])
    for i in range(0, len(uids), 500):
        count += len(client.fetch(uids[i:i + 500], ["FLAGS", "INTERNALDATE", item]))
client.logout()
print(count, time.perf_counter() - start)
"""


def build_maildir(server: DovecotServer, user: str, sent: int, answers: int, backlog: bool = False,
                  seed: int = 7) -> None:
    """Write the messages as Maildir files, owned by the mail user, as Dovecot would have."""
    rng = random.Random(seed)
    now = datetime.fromisoformat(NOW)
    maildir = server.root / "home" / user / "Maildir"
    dirs = {"Sent": maildir / ".Sent" / "cur", "INBOX": maildir / "cur", "Archive": maildir / ".Archive" / "cur"}
    for d in dirs.values():
        d.mkdir(parents=True, exist_ok=True)
    contacts = [f"person{i}@company{i % 3000}.example" for i in range(20_000)]
    counter = 0

    def write(folder: str, when: datetime, text: str) -> None:
        nonlocal counter
        counter += 1
        data = text.replace("\n", "\r\n").encode()
        name = f"{int(when.timestamp())}.M{counter}P1.bench,S={len(data)}:2,S"
        path = dirs[folder] / name
        path.write_bytes(data)
        os.utime(path, (when.timestamp(), when.timestamp()))

    sent_info = []
    for i in range(sent):
        when = now - timedelta(days=rng.uniform(1, 300))
        to = rng.choice(contacts)
        subject = f"Question {i} about project {rng.randint(1, 500)}"
        mid = f"<sent{i}@example.org>"
        sent_info.append((when, to, subject, mid))
        write("Sent", when, f"From: Me <{ME}>\nTo: {to}\nSubject: {subject}\nDate: {format_datetime(when)}\n"
                            f"Message-ID: {mid}\nMIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\n\n"
                            f"Hello,\n\ncould you tell me more about this?\n\nMe\n")
    # Like a mailbox whose owner has used the tool for a while: the threads of the last 60 days that are
    # older than a week have their answer (or were followed up and answered); the rest of the answers
    # go to older threads. So the first pass finds the last week's threads waiting and nothing due.
    recent = [s for s in sent_info if timedelta(days=6) < now - s[0] <= timedelta(days=60)]
    older = [s for s in sent_info if now - s[0] > timedelta(days=60)]
    chosen = recent[:answers] + rng.sample(older, max(0, min(len(older), answers - len(recent))))
    if backlog:  # answers at random: half the threads of the last two months are unanswered, thousands due
        chosen = rng.sample(sent_info, answers)
    for j, (when, to, subject, mid) in enumerate(chosen):
        at = when + timedelta(hours=rng.uniform(1, 120))
        threading = f"In-Reply-To: {mid}\nReferences: {mid}\n" if j % 10 else ""
        write("INBOX" if j % 2 else "Archive", at,
              f"From: {to}\nTo: {ME}\nSubject: Re: {subject}\nDate: {format_datetime(at)}\n"
              f"Message-ID: <answer{j}@example.net>\n{threading}MIME-Version: 1.0\n"
              f"Content-Type: text/plain; charset=utf-8\n\nThanks, here is the answer.\n")
    uid, gid = server._mail_ids()
    for path in [maildir, *maildir.rglob("*")]:
        os.chown(path, uid, gid)


def bare_fetch(server: DovecotServer, user: str) -> tuple[int, float, float]:
    """(messages, wall seconds inside the client, wall seconds of the process)."""
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", BARE_FETCH, server.host, str(server.port), user, server.password,
                           FETCH_ITEM], capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"the bare fetch failed: {done.stderr[-1500:]}\n{server._logs()}")
    count, inner = done.stdout.split()
    return int(count), float(inner), time.perf_counter() - start


def write_config(tmp: Path, server: DovecotServer, user: str) -> Path:
    path = tmp / "config.yaml"
    path.write_text(
        f"state_dir: {tmp / 'state'}\ndefaults: {{timezone: Europe/Oslo, country: 'NO'}}\n"
        f"accounts:\n  - name: bench\n    imap: {{host: {server.host}, port: {server.port}, security: none, "
        f"username: {user}, password_env: BENCH_PASSWORD}}\n    addresses: [{ME}]\n"
    )
    return path


@contextmanager
def counting() -> Iterator[Counter[tuple[int, str]]]:
    """IMAP commands by (connection, folder selected when they were sent), however many connections
    run at once; "-" before any SELECT or EXAMINE."""
    counts: Counter[tuple[int, str]] = Counter()
    original = imaplib.IMAP4._command
    lock = threading.Lock()

    def command(imap: imaplib.IMAP4, name: str, *args: object) -> object:
        if name in ("SELECT", "EXAMINE"):
            folder = args[0].decode() if isinstance(args[0], bytes) else str(args[0])
            imap._bench_folder = folder.strip('"')  # type: ignore[attr-defined]
        with lock:
            counts[(id(imap), getattr(imap, "_bench_folder", "-"))] += 1
        return original(imap, name, *args)

    imaplib.IMAP4._command = command  # type: ignore[method-assign]
    try:
        yield counts
    finally:
        imaplib.IMAP4._command = original  # type: ignore[method-assign]


def by_folder(counts: Counter[tuple[int, str]]) -> dict[str, int]:
    """Commands per folder, over every connection."""
    found: Counter[str] = Counter()
    for (_connection, folder), n in counts.items():
        found[folder] += n
    return dict(found)


def timed_scan(config_path: Path) -> tuple[float, dict[str, int]]:
    from mail_followup.config import load_config
    from mail_followup.service.scan import scan

    config = load_config(config_path)
    with counting() as counts:
        start = time.perf_counter()
        result = scan(config, datetime.fromisoformat(NOW))
        elapsed = time.perf_counter() - start
    assert result.ok, result.as_json()["errors"]
    return elapsed, by_folder(counts)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sent", type=int, default=100_000)
    parser.add_argument("--answers", type=int, default=None, help="default: half of --sent")
    parser.add_argument("--backlog", action="store_true",
                        help="answer threads at random, so thousands are due and every pass writes 25 drafts")
    args = parser.parse_args()
    answers = args.answers if args.answers is not None else args.sent // 2
    with DovecotServer() as server, tempfile.TemporaryDirectory(prefix="mf-bench-") as tmp_name:
        tmp = Path(tmp_name)
        account = server.new_account()
        user = account.username
        t = time.perf_counter()
        build_maildir(server, user, args.sent, answers, args.backlog)
        print(f"mailbox: {args.sent} sent threads, {answers} answers, written in {time.perf_counter() - t:.1f} s")
        count, _, warm = bare_fetch(server, user)  # Dovecot indexes the new files once
        print(f"Dovecot indexing (first bare fetch, not compared): {warm:.1f} s for {count} messages")
        count, inner, bare = bare_fetch(server, user)
        print(f"bare imapclient FETCH of the same header fields: {bare:.2f} s ({inner:.2f} s inside the client)")

        config = write_config(tmp, server, user)
        env = {**os.environ, "BENCH_PASSWORD": server.password, "PYTHONPATH": str(ROOT / "src")}
        start = time.perf_counter()
        done = subprocess.run([sys.executable, "-m", "mail_followup", "scan", "--config", str(config), "--now", NOW,
                               "--json"], capture_output=True, text=True, env=env)
        first = time.perf_counter() - start
        if done.returncode != 0:
            print(done.stderr)
            return 1
        rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        states = Counter(t["state"] for t in json.loads(done.stdout)["threads"])
        print(f"first scan: {first:.2f} s, ratio to the bare fetch {first / bare:.2f} (target <= 1.5); "
              f"peak RSS {rss:.0f} MB (target < 250 MB)")
        print(f"  threads in the lookback window by state: {dict(sorted(states.items()))}")

        os.environ["BENCH_PASSWORD"] = server.password
        elapsed, commands = timed_scan(config)
        per_folder = {f: commands.get(f, 0) for f in FOLDERS}
        label = "rescan, nothing new (the next 25 of the backlog written)" if args.backlog else \
            "rescan, nothing changed"
        print(f"{label}: {elapsed:.2f} s (target < 1 s); commands per folder {per_folder} "
              f"(target <= 3); outside any folder {commands.get('-', 0)}")

        rng = random.Random(11)
        with account.client() as client:
            for k in range(100):
                i = rng.randrange(args.sent)
                when = datetime.fromisoformat(NOW) - timedelta(hours=1)
                client.append("INBOX", (
                    f"From: person{i}@elsewhere.example\r\nTo: {ME}\r\nSubject: Re: Question {i}\r\n"
                    f"Date: {format_datetime(when)}\r\nMessage-ID: <late{k}@example.net>\r\n"
                    f"In-Reply-To: <sent{i}@example.org>\r\n\r\nLate answer.\r\n").encode(), msg_time=when)
        elapsed, commands = timed_scan(config)
        per_folder = {f: commands.get(f, 0) for f in FOLDERS}
        print(f"rescan after 100 new answers: {elapsed:.2f} s; commands per folder {per_folder}; "
              f"outside any folder {commands.get('-', 0)}")
        size = (tmp / "state" / "state.sqlite3").stat().st_size
        print(f"state database: {size / 1e6:.1f} MB, {size / (args.sent + answers):.0f} bytes per message")
    return 0


if __name__ == "__main__":
    sys.exit(main())
