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
from typing import NamedTuple

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "src"))

from imapservers import DovecotServer  # noqa: E402

from mail_followup.core.headers import FETCH_ITEM  # noqa: E402

NOW = "2026-12-09T09:30:00+01:00"
ME = "me@example.org"
FOLDERS = ("Sent", "INBOX", "Archive")

BARE_FETCH = r"""
import imaplib, json, sys, time
from imapclient import IMAPClient
imaplib._MAXLINE = 64 << 20  # as the product does: a SEARCH of 150,000 UIDs or more is a longer line
host, port, user, password, item = sys.argv[1:6]
start = time.perf_counter()
client = IMAPClient(host, port=int(port), ssl=False)
client.login(user, password)
# The folders a scan reads: every selectable one but Drafts, Trash and Junk (empty here in any case).
skip = {b"\Noselect", b"\NonExistent", b"\Drafts", b"\Trash", b"\Junk"}
folders = [name for flags, _, name in client.list_folders() if not skip & set(flags)]
count = 0
for folder in folders:
    client.select_folder(folder, readonly=True)
    uids = client.search(["ALL"])
    for i in range(0, len(uids), 500):
        count += len(client.fetch(uids[i:i + 500], ["FLAGS", "INTERNALDATE", item]))
client.logout()
print(json.dumps({"messages": count, "inner": time.perf_counter() - start, "folders": folders}))
"""


class BareFetch(NamedTuple):
    """What one bare fetch read, so a report can say it covered the folders the scan covers."""

    messages: int
    inner: float  # wall seconds inside the client
    wall: float  # wall seconds of the process, start-up included
    folders: tuple[str, ...]


def folder_names(folders: int) -> list[str]:
    """Sent, INBOX, Archive, then yearly archives ending at Archive.2026 (Archive.2010 … for 20 folders):
    the folders of a mailbox used for years, each a Maildir++ folder that the scan reads."""
    if folders < 3:
        raise ValueError(f"at least the 3 folders Sent, INBOX and Archive, not {folders}")
    extra = folders - 3
    return ["Sent", "INBOX", "Archive", *(f"Archive.{2027 - extra + k}" for k in range(extra))]


def build_maildir(server: DovecotServer, user: str, sent: int, answers: int, backlog: bool = False,
                  seed: int = 7, folders: int = 3) -> None:
    """Write the messages as Maildir files, owned by the mail user, as Dovecot would have.

    With more than 3 folders, some sent mail older than 90 days and most answers go to the yearly
    archives, as people archive; their placement has its own seeded rng, so the messages themselves
    (and with 3 folders, everything) stay as they were."""
    rng = random.Random(seed)
    place = random.Random(seed + 1)
    now = datetime.fromisoformat(NOW)
    maildir = server.root / "home" / user / "Maildir"
    names = folder_names(folders)
    archives = names[3:]  # Maildir++: the folder "Archive.2015" is the directory .Archive.2015
    dirs = {name: maildir / "cur" if name == "INBOX" else maildir / f".{name}" / "cur" for name in names}
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
        archived = bool(archives) and now - when > timedelta(days=90) and place.random() < 0.3
        write(place.choice(archives) if archived else "Sent", when,
              f"From: Me <{ME}>\nTo: {to}\nSubject: {subject}\nDate: {format_datetime(when)}\n"
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
        write(answer_folder(j, archives, place), at,
              f"From: {to}\nTo: {ME}\nSubject: Re: {subject}\nDate: {format_datetime(at)}\n"
              f"Message-ID: <answer{j}@example.net>\n{threading}MIME-Version: 1.0\n"
              f"Content-Type: text/plain; charset=utf-8\n\nThanks, here is the answer.\n")
    uid, gid = server._mail_ids()
    for path in [maildir, *maildir.rglob("*")]:
        os.chown(path, uid, gid)


def answer_folder(j: int, archives: list[str], place: random.Random) -> str:
    """Where the j-th answer lies: INBOX or Archive by turns with 3 folders; with more, four in ten
    still in INBOX, two in Archive, the rest in a yearly archive."""
    if not archives:
        return "INBOX" if j % 2 else "Archive"
    r = place.random()
    return "INBOX" if r < 0.4 else "Archive" if r < 0.6 else place.choice(archives)


def bare_fetch_detail(server: DovecotServer, user: str) -> BareFetch:
    """A bare imapclient FETCH of the header fields the scan reads, over the folders it reads, in a
    fresh process: the yardstick for the first scan."""
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", BARE_FETCH, server.host, str(server.port), user, server.password,
                           FETCH_ITEM], capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"the bare fetch failed: {done.stderr[-1500:]}\n{server._logs()}")
    found = json.loads(done.stdout)
    return BareFetch(found["messages"], found["inner"], time.perf_counter() - start, tuple(found["folders"]))


def bare_fetch(server: DovecotServer, user: str) -> tuple[int, float, float]:
    """(messages, wall seconds inside the client, wall seconds of the process)."""
    found = bare_fetch_detail(server, user)
    return found.messages, found.inner, found.wall


def peak_rss_mb(argv: list[str], env: dict[str, str]) -> tuple[float, float, subprocess.CompletedProcess[str]]:
    """(wall seconds, peak RSS in MB, the finished process) of one command, measured by GNU time."""
    out = Path(tempfile.mktemp(prefix="mf-time-"))
    start = time.perf_counter()
    done = subprocess.run(["/usr/bin/time", "-f", "%M", "-o", str(out), *argv], env=env, capture_output=True,
                          text=True)
    elapsed = time.perf_counter() - start
    rss = int(out.read_text().split()[-1]) / 1024
    out.unlink()
    return elapsed, rss, done


def arrive(server: DovecotServer, user: str, count: int) -> None:
    """New mail since the last pass: answers to sent messages of the last days, and new sent messages."""
    from imapclient import IMAPClient

    now = datetime.fromisoformat(NOW)
    with IMAPClient(server.host, port=server.port, ssl=False) as client:
        client.login(user, server.password)
        for i in range(count):
            folder, text = ("INBOX", f"From: someone{i}@company{i}.example\nTo: me@example.org\n"
                            f"Subject: Re: Question {i}\nIn-Reply-To: <sent{i}@example.org>\n") if i % 2 else (
                            "Sent", f"From: Me <me@example.org>\nTo: new{i}@company{i}.example\nSubject: New {i}\n")
            client.append(folder, (text + f"Date: {format_datetime(now)}\nMessage-ID: <arrived{i}@example.org>\n"
                                   "Content-Type: text/plain; charset=utf-8\n\nHello\n").replace("\n", "\r\n").encode(),
                          msg_time=now)


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


def state_bytes(state: Path) -> int:
    """The state database's size on disk, its write-ahead log included."""
    return sum(p.stat().st_size for p in state.glob("state.sqlite3*"))


def weekly_upkeep(state: Path) -> list[str]:
    """Run the state's upkeep as a pass a week and a day later would (state/upkeep.py): VACUUM and ANALYZE."""
    from datetime import UTC

    from mail_followup.state.store import Store

    with Store(state) as store:
        store.tend(datetime.now(UTC))  # dates the state's week, where no pass did yet
        return store.tend(datetime.now(UTC) + timedelta(days=8))
