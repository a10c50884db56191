"""Hostile and broken mail at scale (issue 9, part 5): a Dovecot mailbox with the standard good threads
beside thousands of broken or malicious messages, scanned by a real ``mail-followup scan --json``.

Run by hand (``tests/test_hostile.py`` runs a small version in the normal suite):

    PYTHONPATH=src python benchmarks/hostile.py                    # 10,000 messages, full-size giants
    PYTHONPATH=src python benchmarks/hostile.py --count 500 --small
    PYTHONPATH=src python benchmarks/hostile.py --seed 3 --keep    # keep the config and state

Messages come from ``tests/hostile_mail.py`` (seeded), plus the real-world test messages shipped with
CPython (``test/test_email/data``) and with mail-parser's sdist (``tests/mails``; ``--mailparser-dir``, or
unpack ``pip download mail-parser --no-binary :all: --no-deps``). They are written as Maildir files
(APPEND is too slow at that size). Reported: crashes, the good threads' states, drafts with an injected
header or anything active or remote in their HTML, warnings per message (each once, with folder and
UID), the slowest message through the pure path, and the scan's peak RSS.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import re
import subprocess
import sys
import sysconfig
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "src"))

import hostile_mail as hm  # noqa: E402
from imapservers import DovecotServer, ImapAccount  # noqa: E402
from scenario import WEDNESDAY, seed, write_config  # noqa: E402

from mail_followup.core.headers import FETCH_FIELDS, parse_header_block  # noqa: E402

EXPECTED = {"Coffee next week?": "drafted", "Your offer": "replied", "Meeting notes": "replied",
            "Quick question": "waiting"}
MAILDIRS = {"INBOX": "", "Sent": ".Sent", "Archive": ".Archive"}
WARNING = re.compile(r" WARNING mail_followup\.\S+: (?P<account>[^:]+): (?P<folder>\S+) UID (?P<uid>\d+): (?P<what>.*)$")
MAILPARSER_DIRS = ("/tmp/mp-sdist/mail_parser-4.8.0/tests/mails",)


def real_world(mailparser_dir: str | None) -> tuple[list[hm.Hostile], list[str]]:
    """The test messages shipped with CPython and mail-parser, as received mail; and what was not found."""
    found, notes = [], []
    when = hm.LAST_SENT + timedelta(days=2)
    cpython = sorted(glob.glob(os.path.join(sysconfig.get_path("stdlib"), "test", "test_email", "data", "msg_*.txt")))
    if not cpython:
        notes.append("CPython's test_email data is not installed here")
    dirs = [mailparser_dir] if mailparser_dir else [d for d in MAILPARSER_DIRS if os.path.isdir(d)]
    mailparser = sorted(p for d in dirs for p in glob.glob(os.path.join(d, "*")) if os.path.isfile(p))
    if not mailparser:
        notes.append("mail-parser's test mails were not found (pass --mailparser-dir)")
    for k, path in enumerate(cpython + mailparser):
        raw = Path(path).read_bytes()
        family = "cpython" if path in cpython else "mail-parser"
        found.append(hm.Hostile(raw, ("INBOX", "Archive")[k % 2], family, "stranger", when, None))
    return found, notes


@dataclass
class Outcome:
    messages: int = 0
    exit_code: int = 0
    traceback: bool = False
    scan_seconds: float = 0.0
    peak_rss_mb: float = 0.0
    states: dict[str, str] = field(default_factory=dict)
    drafts: int = 0
    bad_drafts: list[tuple[int, list[str]]] = field(default_factory=list)
    warned_messages: int = 0
    warning_lines: int = 0
    duplicate_reports: list[str] = field(default_factory=list)
    unplaced_warnings: list[str] = field(default_factory=list)
    unreported: list[str] = field(default_factory=list)  # messages whose header problems never got a line
    errors: list[str] = field(default_factory=list)
    stderr_tail: str = ""
    slowest: list[tuple[float, str]] = field(default_factory=list)
    pure_crashes: list[str] = field(default_factory=list)
    pure_bad_drafts: int = 0

    @property
    def good_threads_right(self) -> bool:
        return all(self.states.get(s) == v for s, v in EXPECTED.items())


def write_maildir(server: DovecotServer, account: ImapAccount, messages: list[hm.Hostile]) -> None:
    """Every message as a Maildir file, tagged with X-Hostile-Id (to find its UID later), owned by the mail user."""
    maildir = server.root / "home" / account.username / "Maildir"
    for index, message in enumerate(messages):
        folder = maildir / MAILDIRS[message.folder] / "cur" if MAILDIRS[message.folder] else maildir / "cur"
        folder.mkdir(parents=True, exist_ok=True)
        data = f"X-Hostile-Id: {index}\r\n".encode() + message.raw
        path = folder / f"{int(message.when.timestamp())}.M{index}P1.hostile,S={len(data)}:2,S"
        path.write_bytes(data)
        os.utime(path, (message.when.timestamp(), message.when.timestamp()))
    uid, gid = server._mail_ids()
    for path in [maildir, *maildir.rglob("*")]:
        os.chown(path, uid, gid)


def uid_map(account: ImapAccount) -> dict[tuple[str, int], int]:
    """(folder, UID) -> the message's index, read back from the server."""
    found = {}
    with account.client() as client:
        for folder in MAILDIRS:
            client.select_folder(folder, readonly=True)
            uids = client.search(["ALL"])
            for start in range(0, len(uids), 2000):
                data = client.fetch(uids[start:start + 2000], ["BODY.PEEK[HEADER.FIELDS (X-HOSTILE-ID)]"])
                for uid, item in data.items():
                    value = next((v for k, v in item.items() if k.startswith(b"BODY")), b"")
                    match = re.search(rb"X-Hostile-Id:\s*(\d+)", value or b"", re.I)
                    if match:
                        found[(folder, uid)] = int(match.group(1))
    return found


def fetched_fields(raw: bytes) -> bytes:
    """The header lines a scan fetches (HEADER.FIELDS of FETCH_FIELDS), as the server would give them."""
    wanted = {f.lower().encode() for f in FETCH_FIELDS}
    out, keep = [], False
    head = raw.split(b"\r\n\r\n", 1)[0].split(b"\n\n", 1)[0]
    for line in head.split(b"\n"):
        if line[:1] in (b" ", b"\t"):
            if keep:
                out.append(line)
            continue
        keep = line.split(b":", 1)[0].strip().lower() in wanted
        if keep:
            out.append(line)
    return b"\n".join(out) + b"\n"


def scan_once(config: Path, password: str, now: str) -> tuple[int, str, str, float, float]:
    """Run ``mail-followup scan --json`` in its own process; (exit, stdout, stderr, seconds, peak RSS MB)."""
    env = {**os.environ, "MF_TEST_PASSWORD": password, "PYTHONPATH": str(ROOT / "src")}
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        proc = subprocess.Popen([sys.executable, "-m", "mail_followup", "scan", "--config", str(config), "--now", now,
                                 "--json"], stdout=out, stderr=err, env=env)
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        seconds = time.perf_counter() - start
        out.seek(0)
        err.seek(0)
        return proc.returncode, out.read().decode("utf-8", "replace"), err.read().decode("utf-8", "replace"), \
            seconds, usage.ru_maxrss / 1024


def campaign(server: DovecotServer, account: ImapAccount, tmp: Path, messages: list[hm.Hostile],
             time_pure: str = "sample") -> Outcome:
    """Seed the good threads and ``messages``, scan once (and once more), and check everything."""
    outcome = Outcome(messages=len(messages))
    seed(account)
    write_maildir(server, account, messages)
    located = uid_map(account)
    config = write_config(tmp, account, max_drafts_per_pass="100000")
    code, stdout, stderr, outcome.scan_seconds, outcome.peak_rss_mb = scan_once(config, account.password, WEDNESDAY)
    outcome.exit_code, outcome.traceback = code, "Traceback" in stderr
    outcome.stderr_tail = stderr[-3000:]
    try:
        report = json.loads(stdout)
    except ValueError:
        report = {"threads": [], "errors": ["no JSON on stdout"]}
    outcome.errors = list(report.get("errors", []))
    outcome.states = {t["subject"]: t["state"] for t in report["threads"] if t["subject"] in EXPECTED}

    lines: Counter[tuple[str, int, str]] = Counter()
    for line in stderr.splitlines():
        match = WARNING.search(line)
        if match:
            lines[(match["folder"], int(match["uid"]), match["what"])] += 1
        elif " WARNING " in line:
            outcome.unplaced_warnings.append(line[-200:])
    outcome.warning_lines = sum(lines.values())
    outcome.warned_messages = len({(f, u) for f, u, _ in lines})
    outcome.duplicate_reports = [f"{f} UID {u}: {w} (x{n})" for (f, u, w), n in lines.items() if n > 1]
    warned = {(f, u) for f, u, _ in lines}
    since = hm.NOW - timedelta(days=365)
    for (folder, uid), index in located.items():
        message = messages[index]
        if message.when < since:
            continue
        mail = parse_header_block(folder, uid, fetched_fields(message.raw), (), message.when)
        if mail.problems and (folder, uid) not in warned:
            outcome.unreported.append(f"{folder} UID {uid} ({message.family}): {mail.problems[0]}")

    drafts = account.messages("Drafts")
    outcome.drafts = len(drafts)
    for uid, _flags, raw in drafts:
        problems = hm.draft_problems(raw)
        if problems:
            outcome.bad_drafts.append((uid, problems))

    # A second pass must neither crash nor report the same messages again (the sync is incremental).
    code2, _, stderr2, _, _ = scan_once(config, account.password, WEDNESDAY)
    if code2 != 0 or "Traceback" in stderr2:
        outcome.errors.append(f"second pass: exit {code2}")
    again = [m.group(0) for m in map(WARNING.search, stderr2.splitlines()) if m]
    outcome.duplicate_reports += [f"reported again by the second pass: {line}" for line in again[:20]]

    timings = []
    chosen = [i for i, m in enumerate(messages)
              if time_pure == "all" or m.giant or m.family in ("cpython", "mail-parser") or i % 20 == 0]
    for i in chosen:
        start = time.perf_counter()
        try:
            problems, _ = hm.pure_pass(messages[i], i + 1)
        except Exception as exc:  # counted and shown: any exception here is a finding
            outcome.pure_crashes.append(f"{messages[i].family}/{messages[i].role}: {type(exc).__name__}: {exc}"[:300])
            continue
        outcome.pure_bad_drafts += bool(problems)
        m = messages[i]
        timings.append((time.perf_counter() - start,
                        f"{m.family}/{m.role}{'/giant ' + m.giant if m.giant else ''} ({len(m.raw):,} bytes)"))
    outcome.slowest = sorted(timings, reverse=True)[:5]
    return outcome


def summary(outcome: Outcome, notes: list[str]) -> str:
    rows = [
        ("messages seeded (hostile + real-world)", f"{outcome.messages:,}", ""),
        ("crashes (exit code, traceback)", f"exit {outcome.exit_code}, traceback {outcome.traceback}", "0"),
        ("scan errors", str(len(outcome.errors)), "0"),
        ("good threads decided right", f"{sum(outcome.states.get(s) == v for s, v in EXPECTED.items())}/4 "
         f"{outcome.states}", "all"),
        ("drafts written / with an injected header or active/remote HTML",
         f"{outcome.drafts} / {len(outcome.bad_drafts)}", "0 bad"),
        ("messages warned about / warning lines", f"{outcome.warned_messages} / {outcome.warning_lines}", ""),
        ("warnings repeated (same message and problem) or re-reported", str(len(outcome.duplicate_reports)), "0"),
        ("warnings without folder and UID", str(len(outcome.unplaced_warnings)), "0"),
        ("header problems never reported", str(len(outcome.unreported)), "0"),
        ("pure path: exceptions / drafts with problems",
         f"{len(outcome.pure_crashes)} / {outcome.pure_bad_drafts}", "0 / 0"),
        ("first scan wall time", f"{outcome.scan_seconds:.1f} s", ""),
        ("first scan peak RSS", f"{outcome.peak_rss_mb:.0f} MB", ""),
    ]
    width = max(len(r[0]) for r in rows)
    out = [f"{'check'.ljust(width)}  result  (target)"]
    out += [f"{name.ljust(width)}  {value}" + (f"  ({target})" if target else "") for name, value, target in rows]
    out.append("slowest messages through the pure path (parse, classify 64 KiB, read body, compose):")
    out += [f"  {seconds:6.2f} s  {what}" for seconds, what in outcome.slowest]
    for title, items in (("errors", outcome.errors), ("bad drafts", [f"UID {u}: {p[:3]}" for u, p in outcome.bad_drafts]),
                         ("duplicates", outcome.duplicate_reports), ("unplaced warnings", outcome.unplaced_warnings),
                         ("unreported", outcome.unreported), ("pure-path exceptions", outcome.pure_crashes)):
        if items:
            out.append(f"{title}:")
            out += [f"  {item}" for item in items[:10]] + ([f"  ... {len(items) - 10} more"] if len(items) > 10 else [])
    out += [f"note: {n}" for n in notes]
    return "\n".join(out)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--count", type=int, default=10_000, help="generated hostile messages (default 10,000)")
    parser.add_argument("--small", action="store_true", help="the test's sizes for the giants, not 50 MB etc.")
    parser.add_argument("--keep", action="store_true", help="keep the config and state directory, and say where")
    parser.add_argument("--mailparser-dir", help="mail-parser's tests/mails directory (from its sdist)")
    parser.add_argument("--time-all", action="store_true", help="time every message through the pure path")
    args = parser.parse_args()
    start = time.perf_counter()
    messages = list(hm.generate(args.seed, args.count, hm.SMALL if args.small else hm.FULL))
    extra, notes = real_world(args.mailparser_dir)
    messages += extra
    notes.append(f"{len(extra)} real-world messages; generated in {time.perf_counter() - start:.1f} s; "
                 f"{sum(len(m.raw) for m in messages) / 1e6:.0f} MB in all")
    notes.append("caps: header field decoded to 65,536 chars; strict address parser given 8,192 chars; "
                 "classify reads 64 KiB (scan) / 1 MiB (any caller); a quoted body is read to 4 MiB; "
                 "draft subject 1,000 chars")
    tmp = Path(tempfile.mkdtemp(prefix="mf-hostile-"))
    with DovecotServer() as server:
        account = server.new_account()
        outcome = campaign(server, account, tmp, messages, "all" if args.time_all else "sample")
        print(summary(outcome, notes))
        if args.keep:
            print(f"kept the config and state: {tmp} (the Dovecot mailbox goes with its server)")
    if not args.keep:
        import shutil

        shutil.rmtree(tmp, ignore_errors=True)
    bad = (outcome.exit_code != 0 or outcome.traceback or not outcome.good_threads_right or outcome.bad_drafts
           or outcome.duplicate_reports or outcome.pure_crashes or outcome.pure_bad_drafts)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
