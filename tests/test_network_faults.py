"""Network faults (issue 9, parts 2 and 3), small version: fourteen seeded runs, each kind of fault in them.
The full campaign (1,000 runs) is benchmarks/network_faults.py."""

from __future__ import annotations

from pathlib import Path

from fault_campaign import campaign


def test_faults_never_double_lose_or_touch_anything(dovecot_server, tmp_path: Path) -> None:
    kinds = ["cut", "cut", "stall", "refuse", "restart", "kill", "kill"]
    tally = campaign(dovecot_server, tmp_path, range(14), kinds)
    assert tally.runs == 14 and tally.struck >= 9 and set(tally.kinds) == set(kinds)
    assert (tally.duplicates, tally.missing, tally.escaped, tally.touched, tally.forbidden) == (0, 0, [], [], 0)
    assert tally.worst_passes <= 2
