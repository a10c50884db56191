"""Network faults (issue 9, parts 2 and 3), small version: a dozen seeded runs.
The full campaign (1,000 runs) is benchmarks/network_faults.py."""

from __future__ import annotations

from pathlib import Path

from fault_campaign import campaign


def test_faults_never_double_lose_or_touch_anything(dovecot_server, tmp_path: Path) -> None:
    tally = campaign(dovecot_server, tmp_path, range(12))
    assert tally.runs == 12 and tally.struck >= 6
    assert (tally.duplicates, tally.missing, tally.escaped, tally.touched, tally.forbidden) == (0, 0, [], [], 0)
    assert tally.worst_passes <= 2
