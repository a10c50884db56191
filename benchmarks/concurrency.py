"""Passes at once, many times over (issue 19, part 1). Run by hand:

    python benchmarks/concurrency.py [--runs 10] [--threads 2000] [--processes 3]

Each run: a fresh Dovecot account with THREADS due threads, PROCESSES `mail-followup scan` started
together, on one state and then on states of their own (a second laptop, a backup restored). Counted: drafts per attempt (each must be exactly one), due threads with no draft, the
seconds the race took, and how many passes waited for another.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "tests"), str(ROOT / "src")]

from imapservers import DovecotServer  # noqa: E402
from scenario import write_config  # noqa: E402
from test_concurrency import drafts_per_attempt, due_threads, race  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--threads", type=int, default=2000)
    parser.add_argument("--processes", type=int, default=3)
    args = parser.parse_args()
    bad = 0
    with DovecotServer() as server, tempfile.TemporaryDirectory(prefix="mf-race-") as tmp_name:
        for shape in ("one state", "states of their own"):
            duplicates = missing = waited = 0
            seconds: list[float] = []
            for run in range(args.runs):
                tmp = Path(tmp_name) / f"{shape[:3]}{run}"
                tmp.mkdir()
                account = server.new_account()
                due_threads(account, args.threads)
                config = write_config(tmp, account, max_drafts_per_pass=str(args.threads * 2))
                states = ([tmp / "state"] * args.processes if shape == "one state" else
                          [tmp / "state"] + [tmp / f"state-{i}" for i in range(1, args.processes)])
                start = time.monotonic()
                done = race(config, states, account.password, timeout=1800)
                seconds.append(time.monotonic() - start)
                failed = [p.stderr[-500:] for p in done if p.returncode != 0]
                if failed:
                    print(f"  {shape}, run {run}: a pass failed: {failed}")
                    bad += 1
                drafts = drafts_per_attempt(account)
                duplicates += sum(n - 1 for n in drafts.values())
                missing += args.threads - len(drafts)
                waited += sum("another pass of this account is running" in p.stderr for p in done)
            print(f"{shape}: {args.runs} races of {args.processes} processes on {args.threads} due threads: "
                  f"{duplicates} duplicate drafts, {missing} threads without a draft, {waited} passes waited; "
                  f"{min(seconds):.1f} to {max(seconds):.1f} s a race")
            bad += duplicates + missing
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
