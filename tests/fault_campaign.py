"""Seeded network-fault runs and what they must prove (issue 9, parts 2 and 3).

Each run: a fresh mailbox with five due threads, one pass through a
``FaultProxy`` with one random fault, then passes without faults until the
state settles. Counted: duplicate drafts (0 allowed), due follow-ups never
drafted once the faults stop (0), passes needed to converge (at most 2),
exceptions that escaped a pass (0), and, part 3, any change to a folder
other than Drafts (UID, flags, MODSEQ, content) and any STORE, COPY, MOVE or
EXPUNGE in the protocol log (there is nothing of the product's own to
change in these runs, so: 0).
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from crash_harness import Situation, end_state, first_sync, scan_here
from fault_proxy import Fault, FaultProxy
from imapservers import DovecotServer, ImapAccount

FOLDERS = ("Sent", "INBOX", "Archive")
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


def random_fault(rng: random.Random, traffic: dict[str, int]) -> Fault:
    """A fault somewhere inside a clean pass's traffic (``traffic``: bytes each way)."""
    kind = rng.choices(["cut", "stall", "refuse"], weights=[7, 2, 1])[0]
    direction = rng.choice(["down", "up"])
    return Fault(kind, direction, rng.randrange(traffic[direction]) if kind != "refuse" else 0)


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
    return counted


def one_run(server: DovecotServer, tmp: Path, seed: int, expected: dict[str, object], tally: Tally,
            traffic: dict[str, int]) -> None:
    rng = random.Random(seed)
    situation = first_sync(server, tmp)
    before = snapshot(situation.account)
    fault = random_fault(rng, traffic)
    proxy = FaultProxy(server.host, server.port, fault)
    faulty = through(proxy, situation, tmp)
    tally.runs += 1
    try:
        scan_here(faulty)
    except Exception as exc:  # a pass must report, never raise
        tally.escaped.append(f"seed {seed} ({fault}): {exc!r}")
    finally:
        proxy.close()
    tally.struck += proxy.struck
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


def campaign(server: DovecotServer, tmp: Path, seeds: range) -> Tally:
    base = first_sync(server, tmp / "base")
    assert scan_here(base) == 0
    expected = end_state(base)
    traffic = traffic_of(server, tmp / "traffic")
    tally = Tally()
    for seed in seeds:
        one_run(server, tmp / f"s{seed}", seed, expected, tally, traffic)
    return tally


def report(tally: Tally, started: datetime) -> str:
    seconds = (datetime.now() - started).total_seconds()
    return (f"{tally.runs} seeded runs ({tally.struck} where the fault struck) in {seconds:.0f} s\n"
            f"  duplicate drafts: {tally.duplicates}\n"
            f"  due follow-ups never drafted once the faults stopped: {tally.missing}\n"
            f"  passes needed to converge, at most: {tally.worst_passes}\n"
            f"  exceptions that escaped a pass: {len(tally.escaped)}\n"
            f"  folders other than Drafts changed: {len(tally.touched)}\n"
            f"  runs with STORE, COPY, MOVE or EXPUNGE on the wire: {tally.forbidden}")
