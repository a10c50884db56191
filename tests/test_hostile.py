"""Hostile and broken mail (issue 9, part 5), the small version of ``benchmarks/hostile.py``.

A few hundred broken or malicious messages (every family, the giants at moderate size, the
real-world test messages of CPython and mail-parser where present) beside the good threads,
scanned by a real ``mail-followup scan`` against Dovecot; and hypothesis on the pure functions.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings

import hostile_mail as hm

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))

import hostile as campaign_module  # noqa: E402


def test_hostile_mailbox_small_campaign(dovecot_account, tmp_path) -> None:
    messages = list(hm.generate(seed=5, count=300, sizes=hm.SMALL))
    extra, _ = campaign_module.real_world(None)
    messages += extra
    assert {m.family for m in messages} >= set(hm.FAMILIES)
    assert {m.giant for m in messages if m.giant} == set(hm.GIANTS.values())
    outcome = campaign_module.campaign(dovecot_account.server, dovecot_account, tmp_path, messages)
    report = campaign_module.summary(outcome, [])
    assert outcome.exit_code == 0 and not outcome.traceback, report + outcome.stderr_tail
    assert outcome.errors == [], report
    assert outcome.good_threads_right, report
    assert outcome.drafts > 4, report  # the hostile sent threads were drafted too, quoting their bodies
    assert outcome.bad_drafts == [], report
    assert outcome.duplicate_reports == [] and outcome.unplaced_warnings == [], report
    assert outcome.unreported == [], report
    assert outcome.warned_messages > 0, report
    assert outcome.pure_crashes == [] and outcome.pure_bad_drafts == 0, report
    assert max(seconds for seconds, _ in outcome.slowest) < 10, report


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(hm.hostile_messages())
def test_pure_functions_never_raise_and_drafts_carry_no_injected_header(message: hm.Hostile) -> None:
    problems, _draft = hm.pure_pass(message)
    assert problems == []


@pytest.mark.parametrize("payload", hm.INJECT)
def test_each_injection_payload_in_a_sent_subject_and_name(payload: str) -> None:
    import random

    for family in ("inject", "rfc2047"):
        message = hm.build(family, "sent", 1, random.Random(payload), hm.TINY, [], None, payload)
        problems, draft = hm.pure_pass(message)
        assert draft is not None and problems == [], problems
