"""Seeded network-fault runs and what they must prove (issue 9, parts 2 and 3).

Each run: a fresh mailbox with five due threads, one pass through a
``FaultProxy`` with one random fault, then passes without faults until the
state settles. The faults: the connection cut, stalled or refused at a
random byte; Dovecot restarted at a random byte (in the middle of the pass);
the pass, run in a process of its own, killed with SIGKILL or asked to stop
with SIGTERM at a random moment of its run (issue 19: it must end within
2 s); or the state damaged after the pass (garbage, cut in half, a page
overwritten: issue 19). Counted: duplicate drafts (0 allowed), due follow-ups never
drafted once the faults stop (0), passes needed to converge (at most 2),
exceptions that escaped a pass (0), and, part 3, any change to a folder
other than Drafts (UID, flags, MODSEQ, content) and any STORE, COPY, MOVE or
EXPUNGE in the protocol log (there is nothing of the product's own to
change in these runs, so: 0).
"""

from __future__ import annotations

import random
import re
import signal
import subprocess
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from crash_harness import Situation, end_state, first_sync, scan_here, scan_process
from fault_proxy import Fault, FaultProxy
from imapservers import DovecotServer, ImapAccount

FOLDERS = ("Sent", "INBOX", "Archive")
KINDS = {"cut": 6, "stall": 1, "refuse": 1, "restart": 1, "kill": 2, "term": 2, "damage": 1}  # how often drawn
STOP_LIMIT = 2.0  # seconds from SIGTERM to the end of the pass's process
_FORBIDDEN = re.compile(rb"^\S+ (?:UID )?(?:STORE|COPY|MOVE|EXPUNGE)\b", re.I | re.M)


@dataclass
class Tally:
    runs: int = 0
    struck: int = 0
    duplicates: int = 0
    missing: int = 0
    worst_passes: int = 0
    escaped: list[str] = field(default_factory=list)
    touched: list[str] = field(default_factory=list)
    forbidden: int = 0
    kinds: Counter[str] = field(default_factory=Counter)
    kills_in_session: int = 0  # kills that struck once the pass had begun talking IMAP
    stops: list[float] = field(default_factory=list)  # seconds from each SIGTERM to the end of the process


def snapshot(account: ImapAccount) -> dict[str, object]:
    out: dict[str, object] = {}
    with account.client() as client:
        for folder in FOLDERS:
            client.select_folder(folder, readonly=True)
            uids = client.search(["ALL"])
            data = client.fetch(uids, ["FLAGS", "MODSEQ", "BODY.PEEK[]"]) if uids else {}
            # The weekly review in INBOX is the product's own message: everything else must stay as it was.
            out[folder] = sorted((uid, tuple(sorted(v[b"FLAGS"])), v.get(b"MODSEQ"), v[b"BODY[]"])
                                 for uid, v in data.items() if b"X-Mail-Followup-Digest:" not in v[b"BODY[]"])
    return out


def random_fault(rng: random.Random, traffic: dict[str, int], kind: str | None = None) -> Fault:
    """A fault somewhere inside a clean pass's traffic (``traffic``: bytes each way; and, in
    milliseconds from its start, when a pass in a process of its own connects and ends, between
    which a kill picks its moment)."""
    kind = kind or rng.choices(list(KINDS), weights=list(KINDS.values()))[0]
    if kind in ("kill", "term"):
        return Fault(kind, "time", rng.randrange(traffic["connect_ms"], traffic["ms"]))
    if kind == "damage":
        return Fault(kind, "state", how=rng.choice(["garbage", "half", "page"]))
    direction = rng.choice(["down", "up"])
    return Fault(kind, direction, rng.randrange(traffic[direction]) if kind != "refuse" else 0)


def killed_pass(situation: Situation, after_ms: int, signum: int = signal.SIGKILL) -> float | None:
    """A pass in a process of its own, sent ``signum`` after ``after_ms``: the seconds it took to end then,
    None if it finished first."""
    argv, env = scan_process(situation)
    with subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) as process:
        try:
            process.wait(timeout=after_ms / 1000)
            return None
        except subprocess.TimeoutExpired:
            sent = time.monotonic()
            process.send_signal(signum)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            return time.monotonic() - sent


def damage(state: Path, how: str, rng: random.Random) -> None:
    """Break the state database the way a disk or a crash of the file system would."""
    import sqlite3

    db = state / "state.sqlite3"
    connection = sqlite3.connect(db)  # the WAL folded in first, so that the damage hits real pages
    connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    page = connection.execute("PRAGMA page_size").fetchone()[0]
    pages = connection.execute("PRAGMA page_count").fetchone()[0]
    connection.close()
    with open(db, "r+b") as out:
        if how == "garbage":
            out.write(rng.randbytes(page * pages))
        elif how == "half":
            out.truncate(page * pages // 2)
        else:
            out.seek(page * rng.randrange(1, pages))
            out.write(rng.randbytes(page))


def through(proxy: FaultProxy, situation: Situation, tmp: Path) -> Situation:
    """The same situation, its account reached through ``proxy`` with a short timeout."""
    text = situation.config.read_text()
    config = tmp / "through-proxy.yaml"
    config.write_text(text.replace(f"port: {situation.account.port}", f"port: {proxy.port}")
                      .replace("security: none,", "security: none, timeout_seconds: 2,"))
    return Situation(situation.account, config, situation.state, situation.now)


def traffic_of(server: DovecotServer, tmp: Path) -> dict[str, int]:
    """Bytes each way in one clean first pass, measured through a proxy that never strikes."""
    situation = first_sync(server, tmp)
    proxy = FaultProxy(server.host, server.port, Fault("none"))
    counted = {"up": 0, "down": 0}
    original = proxy._let_through

    def count(data: bytes, direction: str, *rest: object) -> bytes | None:
        counted[direction] += len(data)
        return original(data, direction, *rest)  # type: ignore[arg-type]

    proxy._let_through = count  # type: ignore[method-assign]
    assert scan_here(through(proxy, situation, tmp)) == 0
    proxy.close()
    # And a kill's window: from the moment a pass in a process of its own connects to its end
    # (a kill during Python's start-up would prove nothing).
    timer = FaultProxy(server.host, server.port, Fault("none"))
    argv, env = scan_process(through(timer, first_sync(server, tmp / "timed"), tmp / "timed"))
    started = time.monotonic()
    subprocess.run(argv, env=env, capture_output=True, check=True, timeout=120)
    ended = time.monotonic()
    timer.close()
    assert timer.first_contact is not None
    counted["connect_ms"] = int((timer.first_contact - started) * 1000)
    counted["ms"] = int((ended - started) * 1000)
    return counted


def one_run(server: DovecotServer, tmp: Path, seed: int, expected: dict[str, object], tally: Tally,
            traffic: dict[str, int], kind: str | None = None) -> None:
    rng = random.Random(seed)
    situation = first_sync(server, tmp)
    before = snapshot(situation.account)
    fault = random_fault(rng, traffic, kind)
    proxy = FaultProxy(server.host, server.port, fault, on_strike=server.restart)
    faulty = through(proxy, situation, tmp)
    tally.runs += 1
    tally.kinds[fault.kind] += 1
    struck = False
    try:
        if fault.kind in ("kill", "term"):
            ended = killed_pass(faulty, fault.after, signal.SIGKILL if fault.kind == "kill" else signal.SIGTERM)
            struck = ended is not None
            if fault.kind == "term" and ended is not None:
                tally.stops.append(ended)
        else:
            scan_here(faulty)
            if fault.kind == "damage":
                damage(situation.state, fault.how, rng)
                struck = True
    except Exception as exc:  # a pass must report, never raise
        tally.escaped.append(f"seed {seed} ({fault}): {exc!r}")
    finally:
        proxy.close()
    tally.struck += struck or proxy.struck
    tally.kills_in_session += struck and b"LOGIN" in proxy.sent.upper()
    if _FORBIDDEN.search(bytes(proxy.sent)):
        tally.forbidden += 1
    passes = 0
    state: dict[str, object] = {}
    for passes in range(1, 4):
        scan_here(situation)
        state = end_state(situation)
        if state["drafts"] == expected["drafts"]:
            break
    tally.worst_passes = max(tally.worst_passes, passes)
    drafts = state["drafts"]
    assert isinstance(drafts, dict)
    tally.duplicates += sum(n - 1 for n in drafts.values() if n > 1)
    tally.missing += len(set(expected["drafts"]) - set(drafts))  # type: ignore[arg-type]
    if snapshot(situation.account) != before:
        tally.touched.append(f"seed {seed} ({fault})")


def campaign(server: DovecotServer, tmp: Path, seeds: range, kinds: Sequence[str] = ()) -> Tally:
    """Run one seeded fault per seed; with ``kinds``, run i's fault is of kind ``kinds[i % len(kinds)]``
    (the suite's small version names them, so that each kind runs whatever the seeds draw)."""
    base = first_sync(server, tmp / "base")
    assert scan_here(base) == 0
    expected = end_state(base)
    traffic = traffic_of(server, tmp / "traffic")
    tally = Tally()
    for i, seed in enumerate(seeds):
        one_run(server, tmp / f"s{seed}", seed, expected, tally, traffic, kinds[i % len(kinds)] if kinds else None)
    return tally


def report(tally: Tally, started: datetime) -> str:
    seconds = (datetime.now() - started).total_seconds()
    kinds = ", ".join(f"{kind} {n}" for kind, n in sorted(tally.kinds.items()))
    return (f"{tally.runs} seeded runs ({tally.struck} where the fault struck) in {seconds:.0f} s\n"
            f"  faults drawn: {kinds} (kills after the pass had logged in: {tally.kills_in_session})\n"
            f"  duplicate drafts: {tally.duplicates}\n"
            f"  due follow-ups never drafted once the faults stopped: {tally.missing}\n"
            f"  passes needed to converge, at most: {tally.worst_passes}\n"
            f"  exceptions that escaped a pass: {len(tally.escaped)}\n"
            f"  SIGTERM to the end of the pass: {len(tally.stops)} stops, at most "
            f"{max(tally.stops, default=0):.2f} s (limit {STOP_LIMIT:g} s)\n"
            f"  folders other than Drafts changed: {len(tally.touched)}\n"
            f"  runs with STORE, COPY, MOVE or EXPUNGE on the wire: {tally.forbidden}")
