"""Crash at every write (issue 9, part 1), small version: in each situation, after the first write of
each kind and after the last write.

The full campaign (every write of all three, with figures) is benchmarks/crash.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from crash_harness import SITUATIONS, campaign


@pytest.mark.parametrize("name", list(SITUATIONS))
def test_a_crash_after_a_write_ends_in_the_same_state(dovecot_server, tmp_path: Path, name: str) -> None:
    outcome = campaign(dovecot_server, tmp_path, SITUATIONS[name], varied=True)
    assert outcome.writes >= 5 and outcome.crashed_runs == len(outcome.tried) >= 2
    assert outcome.mismatches == []
