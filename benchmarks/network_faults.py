"""Network faults at full size (issue 9, parts 2 and 3). Run by hand:
python benchmarks/network_faults.py [--runs 1000] [--first-seed 0]

Each seeded run cuts, stalls or refuses the connection between the product
and Dovecot at a random byte of one pass, restarts Dovecot at a random byte,
SIGKILLs the pass (in a process of its own) at a random moment, SIGTERMs it
(which must end it within STOP_LIMIT seconds), or damages its state database
(garbage, cut in half, a corrupted page), then lets the next passes run
clean; see tests/fault_campaign.py for what is counted.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from fault_campaign import STOP_LIMIT, campaign, report  # noqa: E402
from imapservers import DovecotServer  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--first-seed", type=int, default=0)
    args = parser.parse_args()
    started = datetime.now()
    with DovecotServer() as server, tempfile.TemporaryDirectory(prefix="mf-faults-") as tmp:
        tally = campaign(server, Path(tmp), range(args.first_seed, args.first_seed + args.runs))
    print(report(tally, started))
    for line in tally.escaped + tally.touched:
        print(f"  {line}")
    bad = tally.duplicates or tally.missing or tally.escaped or tally.touched or tally.forbidden \
        or tally.worst_passes > 2 or max(tally.stops, default=0) > STOP_LIMIT
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
