"""A quiet neighbour on a laptop: start-up, idle cost, passes with nothing new, scale and composing (issues 10, 23).

Run by hand (never part of the test suite), all sections or some:

    python benchmarks/resources.py                          # everything, the mailbox at 1,000,000 messages
    python benchmarks/resources.py --only startup,compose   # sections: startup idle nochange scale compose
    python benchmarks/resources.py --only scale --scale 100000 --idle-seconds 60

Every ratio is taken in the same run as what it compares. The figures are
printed one per line, each beside its goal and whether this run met it,
as "(goal under 1 s: met)" or "(goal under 1 s: MISSED)":

- startup: ``mail-followup --help`` and ``mail-followup status`` (on a state
  of 10,000 threads) against ``python -c pass``, medians of several runs;
  and which heavy modules each one loaded (there should be none).
- idle: the service with two accounts, between passes, for --idle-seconds:
  resident memory, CPU time, and wake-ups (context switches) per thread.
- nochange: a pass with nothing new for 1, 5 and 20 accounts on one
  Dovecot: wall time (20 accounts: under 2 s in all), and IMAP commands per
  folder; then the same with one more account behind a server that never
  answers, to show that it holds up nobody else.
- scale: a mailbox of --scale messages (default 1,000,000: 7/10 sent, 3/10
  answers), written as Maildir files over 20 folders (Sent, INBOX, Archive
  and yearly archives; answers and some older sent mail in the archives).
  The first scan against a bare imapclient FETCH of the same header fields
  over the same folders (at most 1.2 times as long) and its peak RSS (under
  300 MB); a quiet pass as the service runs it (under 1 s); a pass after 10
  new messages (under 2 s; under 0.5 s at 100,000 messages or fewer); the
  state's size per message (under 500 bytes); `explain` of one thread
  (under 1 s); `status` on that state, with how many threads it tracks;
  and `status` on a copy of it cut to 10,000 tracked threads (under 0.3 s).
- compose: drafts per second of the pure compose step (compose and
  serialise) over the four languages on one core, and, on the demo's data,
  the time from a pass's start to the first draft in Drafts.

Needs Debian's dovecot-imapd. Everything runs on 127.0.0.1.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "src"))

from imapservers import DovecotServer  # noqa: E402
from measuring import (  # noqa: E402
    ME, command, config_text, env_for_children, goal, median_seconds, scan_argv)
from scale import scale  # noqa: E402
from tracking import NOW, bare_fetch, build_maildir, counting  # noqa: E402

FOLDERS = ("Sent", "INBOX", "Archive")
HEAVY = ("lingua", "dateparser", "apscheduler", "nh3", "mailparser", "jinja2", "holidays", "imapclient",
         "pydantic", "yaml", "keyring", "icalendar")
SECTIONS = ("startup", "idle", "nochange", "scale", "compose")


def heavy_imports(argv: list[str], env: dict[str, str]) -> list[str]:
    done = subprocess.run([sys.executable, "-X", "importtime", *argv], env=env, capture_output=True, text=True)
    found = {m.group(1).split(".")[0] for m in re.finditer(r"\|\s+(\S+)\s*$", done.stderr, re.M)}
    return sorted(found & set(HEAVY))


def mailbox(server: DovecotServer, sent: int, answers: int) -> str:
    """A new account with the tracking benchmark's mailbox, indexed by Dovecot once; its user name."""
    user = server.new_account().username
    build_maildir(server, user, sent, answers)
    bare_fetch(server, user)  # Dovecot indexes the new files
    return user


# --- start-up -------------------------------------------------------------------------------------------


def startup(server: DovecotServer, tmp: Path, runs: int) -> None:
    user = mailbox(server, 10_000, 2_000)
    config = tmp / "startup.yaml"
    config.write_text(config_text(tmp / "startup-state", [("bench", server.host, server.port, user)],
                                  lookback_days=400))
    env = env_for_children(BENCH_PASSWORD=server.password)
    done = subprocess.run(scan_argv(config), env=env, capture_output=True, text=True)
    threads = len(json.loads(done.stdout)["threads"])
    bare = median_seconds([sys.executable, "-c", "pass"], env, runs)
    helped = median_seconds([*command(), "--help"], env, runs)
    status = median_seconds([*command(), "status", "--config", str(config)], env, runs)
    status_json = median_seconds([*command(), "status", "--config", str(config), "--json"], env, runs)
    print(f"startup: python -c pass {bare * 1000:.0f} ms (median of {runs})")
    print(f"startup: mail-followup --help {helped * 1000:.0f} ms, {(helped - bare) * 1000:+.0f} ms over bare Python "
          f"(target within 150 ms)")
    print(f"startup: mail-followup status on {threads:,} threads {status * 1000:.0f} ms, --json "
          f"{status_json * 1000:.0f} ms (target under 500 ms)")
    module = [sys.executable, "-m", "mail_followup"]
    print(f"startup: heavy modules loaded by --help: {heavy_imports([*module[1:], '--help'], env) or 'none'}; "
          f"by status: {heavy_imports([*module[1:], 'status', '--config', str(config)], env) or 'none'}")


# --- idle -----------------------------------------------------------------------------------------------


def proc_sample(pid: int) -> dict[str, object]:
    """RSS (kB), CPU seconds, and context switches per thread of a running process, from /proc."""
    status = Path(f"/proc/{pid}/status").read_text()
    rss = int(re.search(r"VmRSS:\s+(\d+)", status).group(1))  # type: ignore[union-attr]
    stat = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    cpu = (int(stat[11]) + int(stat[12])) / ticks
    switches: dict[str, int] = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            name = (task / "comm").read_text().strip()
            text = (task / "status").read_text()
        except OSError:
            continue
        counts = [int(x) for x in re.findall(r"(?:non)?voluntary_ctxt_switches:\s+(\d+)", text)]
        switches[f"{name}[{task.name}]"] = sum(counts)
    return {"rss": rss, "cpu": cpu, "switches": switches}


def seed_due_now(server: DovecotServer, user: str) -> None:
    """One unanswered thread per language, two weeks old by the real clock: the service's first pass
    (which runs at the real time) writes their drafts, so every heavy module is loaded before the idle
    time is measured, as on a real laptop."""
    from datetime import timedelta

    from imapclient import IMAPClient
    from mails import raw_mail
    from test_drafts import ORIGINALS

    when = datetime.now().astimezone() - timedelta(days=14)
    with IMAPClient(server.host, port=server.port, ssl=False) as client:
        client.login(user, server.password)
        for code, (name, subject, body) in ORIGINALS.items():
            client.append("Sent", raw_mail(f"Me <{ME}>", f"{name} <{code}@example.com>", subject, when,
                                           f"<idle-{code}@example.org>", body + "\n"), flags=(b"\\Seen",),
                          msg_time=when)


def idle(server: DovecotServer, tmp: Path, seconds: float) -> None:
    users = [mailbox(server, 2_000, 1_000) for _ in range(2)]
    for user in users:
        seed_due_now(server, user)
    config = tmp / "idle.yaml"
    anytime = ("{avoid_weekends: false, avoid_mondays: false, avoid_fridays: false, avoid_holidays: false, "
               "avoid_days_around_holidays: false, alternate_time_of_day: false, vary_weekday: false}")
    config.write_text(config_text(tmp / "idle-state", [(f"a{i}", server.host, server.port, u)
                                                       for i, u in enumerate(users)],
                                  draft_hours='["00:00-23:59"]', calendar=anytime))
    notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    notify_path = tmp / "notify.sock"
    notify.bind(str(notify_path))
    notify.settimeout(1)
    env = env_for_children(BENCH_PASSWORD=server.password, NOTIFY_SOCKET=str(notify_path),
                           WATCHDOG_USEC=str(5 * 60 * 1_000_000))  # as the unit's WatchdogSec=5min
    service = subprocess.Popen([*command(), "run", "--config", str(config)], env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 300
        status = ""
        while time.monotonic() < deadline:  # both first passes over: a STATUS naming both, neither scanning
            try:
                message = notify.recv(4096).decode()
            except TimeoutError:
                continue
            for line in message.splitlines():
                if line.startswith("STATUS="):
                    status = line[7:]
            if "a0:" in status and "a1:" in status and not re.search(r"starting|scanning|first sync", status):
                break
        else:
            raise RuntimeError(f"the service never finished its first passes: {status!r}")
        time.sleep(2)
        before = proc_sample(service.pid)
        peak = before["rss"]
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            time.sleep(min(5, max(0.0, end - time.monotonic())))
            peak = max(peak, proc_sample(service.pid)["rss"])  # type: ignore[type-var]
        after = proc_sample(service.pid)
    finally:
        service.terminate()
        service.wait(timeout=60)
        notify.close()
    woke = {name: n - before["switches"].get(name, 0)  # type: ignore[attr-defined]
            for name, n in after["switches"].items()}  # type: ignore[attr-defined]
    print(f"idle: {seconds:.0f} s between passes, two accounts: RSS {after['rss'] / 1024:.0f} MB, peak "
          f"{peak / 1024:.0f} MB (target under 80 MB); CPU {after['cpu'] - before['cpu']:.2f} s "  # type: ignore[operator]
          f"(target under 0.5 s)")
    print(f"idle: wake-ups (context switches) per thread: {sum(woke.values())} in all; "
          + ", ".join(f"{k} {v}" for k, v in sorted(woke.items()) if v) + f"; last status: {status}")


# --- passes with nothing new ----------------------------------------------------------------------------


def timed_pass(config_path: Path) -> tuple[float, dict[str, float], Counter[tuple[int, str]], dict[str, float]]:
    """A pass in this process: total wall time, each account's time to finish (from the pass's start)
    and its own time (from its own start, which waits for a free worker when there are more than eight
    accounts), commands."""
    from mail_followup.service import scan as scanning
    from mail_followup.config import load_config

    config = load_config(config_path)
    finished: dict[str, float] = {}
    own: dict[str, float] = {}
    original = scanning.scan_account
    start = time.perf_counter()

    def timed(account, *args, **kwargs):  # type: ignore[no-untyped-def]
        began = time.perf_counter()
        result = original(account, *args, **kwargs)
        finished[account.name] = time.perf_counter() - start
        own[account.name] = time.perf_counter() - began
        return result

    scanning.scan_account = timed  # type: ignore[assignment]
    try:
        with counting() as counts:
            result = scanning.scan(config, datetime.fromisoformat(NOW))
    finally:
        scanning.scan_account = original  # type: ignore[assignment]
    elapsed = time.perf_counter() - start
    bad = [e for e in result.as_json()["errors"] if "never" not in e]
    if bad and "slow" not in finished:
        raise RuntimeError(bad)
    return elapsed, finished, counts, own


def nochange(server: DovecotServer, tmp: Path) -> None:
    from fault_proxy import Fault, FaultProxy

    os.environ["BENCH_PASSWORD"] = server.password
    users = [mailbox(server, 2_000, 1_000) for _ in range(20)]
    for n in (1, 5, 20):
        config = tmp / f"nochange-{n}.yaml"
        config.write_text(config_text(tmp / f"nochange-{n}-state", [(f"a{i}", server.host, server.port, u)
                                                                    for i, u in enumerate(users[:n])]))
        timed_pass(config)  # the first sync
        elapsed, finished, counts, own = timed_pass(config)
        per_folder = max((c for (_conn, folder), c in counts.items() if folder in FOLDERS), default=0)
        outside = max((c for (_conn, folder), c in counts.items() if folder not in FOLDERS), default=0)
        whole = f" of all {n} {goal(elapsed, 2)}" if n == 20 else ""
        print(f"nochange: {n} account(s), 3,000 messages each: {elapsed:.2f} s for the pass{whole}; each account's "
              f"own pass {statistics.median(own.values()):.2f} s median, {max(own.values()):.2f} s at most "
              f"{goal(max(own.values()), 1)}; commands per folder at most {per_folder} "
              f"{goal(per_folder, 3, '', at_most=True)}, outside a folder at most {outside}")
    # One more account, read once, whose server then accepts the connection and never says a word. (One never
    # read is waited for, up to its timeout: it may hold the answer to a thread of the others.)
    config = tmp / "nochange-slow.yaml"
    others = [(f"a{i}", server.host, server.port, u) for i, u in enumerate(users[:5])]
    config.write_text(config_text(tmp / "nochange-5-state", [("slow", server.host, server.port, users[0]), *others]))
    timed_pass(config)
    with FaultProxy(server.host, server.port, Fault("stall", "down", 0)) as silent:
        config.write_text(config_text(tmp / "nochange-5-state", [("slow", server.host, silent.port, users[0]),
                                                                 *others]))
        elapsed, finished, _, _ = timed_pass(config)
    others = max(v for k, v in finished.items() if k != "slow")
    print(f"nochange: 5 accounts and one whose server never answers (timeout 10 s): the others done after "
          f"{others:.2f} s, the silent one after {finished['slow']:.1f} s, the pass {elapsed:.1f} s")


# --- composing ------------------------------------------------------------------------------------------


def compose_rate(seconds: float) -> None:
    from test_drafts import NOW as DRAFT_NOW
    from test_drafts import ME as DRAFT_ME
    from test_drafts import ORIGINALS, decision, thread_in

    from mail_followup.core.compose import Quoted, as_bytes, compose

    os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})  # one core
    cases = [(code, kind, *thread_in(code)) for code in ORIGINALS for kind in ("first", "later", "last")]
    for code, kind, thread, body in cases:  # warm: templates, phrase lists, the HTML sanitizer
        as_bytes(compose(thread, decision(kind), (DRAFT_ME.address,), DRAFT_NOW, Quoted(body, None), None,
                         language=code))
    def rate(html: str | None) -> float:
        made = 0
        start = time.process_time()
        while time.process_time() - start < seconds:
            for code, kind, thread, body in cases:
                as_bytes(compose(thread, decision(kind), (DRAFT_ME.address,), DRAFT_NOW, Quoted(body, html), None,
                                 language=code))
                made += 1
        return made / (time.process_time() - start)

    plain = rate(None)
    with_html = rate("<p>" + "Thank you for the call today. " * 20 + "</p><img src='https://tracker.example/x.gif'>")
    print(f"compose: {plain:.0f} drafts/s on one core over en, de, sv, nb (target over 200); "
          f"{with_html:.0f} drafts/s when the quoted message has HTML")


def demo_first_draft() -> None:
    """In a fresh process: the demo's pass, from its start to the first draft APPENDed."""
    import io

    from mail_followup.cli import demo
    from mail_followup.imap import mailbox
    from mail_followup.service import scan as scanning

    marks: dict[str, float] = {}
    original_scan, original_append = scanning.scan, mailbox.Mailbox.append_draft

    def timed_scan(*args, **kwargs):  # type: ignore[no-untyped-def]
        marks["start"] = time.perf_counter()
        result = original_scan(*args, **kwargs)
        marks["end"] = time.perf_counter()
        return result

    def timed_append(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        uid = original_append(self, *args, **kwargs)
        marks.setdefault("first", time.perf_counter())
        return uid

    scanning.scan = timed_scan  # type: ignore[assignment]
    mailbox.Mailbox.append_draft = timed_append  # type: ignore[method-assign]
    demo.run_demo(io.StringIO())
    print(json.dumps({"first": marks["first"] - marks["start"], "pass": marks["end"] - marks["start"]}))


def compose_section(seconds: float) -> None:
    compose_rate(seconds)
    done = subprocess.run([sys.executable, __file__, "--demo-first-draft"], env=env_for_children(),
                          capture_output=True, text=True, check=True)
    marks = json.loads(done.stdout.strip().splitlines()[-1])
    print(f"compose: the demo's pass: first draft in Drafts {marks['first']:.2f} s after the pass began, "
          f"the whole pass {marks['pass']:.2f} s (a fresh process: the heavy modules load on the way)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", default=",".join(SECTIONS), help=f"comma-separated sections: {' '.join(SECTIONS)}")
    parser.add_argument("--runs", type=int, default=11, help="start-up runs for each median (default 11)")
    parser.add_argument("--idle-seconds", type=float, default=600)
    parser.add_argument("--scale", type=int, default=1_000_000, help="messages in the scale mailbox")
    parser.add_argument("--compose-seconds", type=float, default=5)
    parser.add_argument("--demo-first-draft", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.demo_first_draft:
        demo_first_draft()
        return 0
    chosen = [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = set(chosen) - set(SECTIONS)
    if unknown:
        parser.error(f"unknown section(s): {', '.join(sorted(unknown))}")
    print(f"machine: {os.cpu_count()} cores, Python {sys.version.split()[0]}, {os.uname().sysname} "
          f"{os.uname().release}")
    with DovecotServer() as server, tempfile.TemporaryDirectory(prefix="mf-resources-") as tmp_name:
        tmp = Path(tmp_name)
        for section in chosen:
            started = time.perf_counter()
            if section == "startup":
                startup(server, tmp, args.runs)
            elif section == "idle":
                idle(server, tmp, args.idle_seconds)
            elif section == "nochange":
                nochange(server, tmp)
            elif section == "scale":
                scale(server, tmp, args.scale)
            elif section == "compose":
                compose_section(args.compose_seconds)
            print(f"({section}: {time.perf_counter() - started:.0f} s)", flush=True)
    print(f"peak RSS of this script's children: {resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024:.0f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
