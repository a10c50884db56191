"""Crash at every write, at full size (issue 9, part 1). Run by hand: python benchmarks/crash.py

For each situation (a first sync with five due threads; an incremental pass
where an answer, a stop request and a bounce arrive; a pass after a
UIDVALIDITY change; a pass on a state damaged after the user stopped a
contact) the pass runs once uninterrupted, then once per write K,
killed right after write K and resumed; every end state must equal the
uninterrupted one (drafts, none twice, the weekly review, the decisions,
PRAGMA integrity_check). The suite runs a sample of the same
(tests/test_crash.py).
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from crash_harness import SITUATIONS, campaign  # noqa: E402
from imapservers import DovecotServer  # noqa: E402


def main() -> int:
    failures = 0
    with DovecotServer() as server, tempfile.TemporaryDirectory(prefix="mf-crash-") as tmp:
        for number, (name, make) in enumerate(SITUATIONS.items()):
            start = time.perf_counter()
            outcome = campaign(server, Path(tmp) / str(number), make)
            failures += len(outcome.mismatches)
            print(f"{name}: {outcome.writes} writes, {outcome.crashed_runs} crashed and resumed runs, "
                  f"{len(outcome.mismatches)} different end state(s) ({time.perf_counter() - start:.0f} s)")
            for line in outcome.mismatches:
                print(f"  {line}")
    print("every resumed run ended in the uninterrupted run's state" if not failures else f"{failures} failure(s)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
