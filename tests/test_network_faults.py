"""Network faults (issue 9, parts 2 and 3; issue 19), small version: eighteen seeded runs, each kind of fault.
The full campaign (1,000 runs) is benchmarks/network_faults.py."""

from __future__ import annotations

from pathlib import Path

from fault_campaign import STOP_LIMIT, campaign


def test_faults_never_double_lose_or_touch_anything(dovecot_server, tmp_path: Path) -> None:
    kinds = ["cut", "cut", "stall", "refuse", "restart", "kill", "kill", "term", "damage"]
    tally = campaign(dovecot_server, tmp_path, range(18), kinds)
    assert tally.runs == 18 and tally.struck >= 11 and set(tally.kinds) == set(kinds)
    assert (tally.duplicates, tally.missing, tally.escaped, tally.touched, tally.forbidden) == (0, 0, [], [], 0)
    assert tally.worst_passes <= 2
    assert all(seconds < STOP_LIMIT for seconds in tally.stops)
