"""What to do about each thread, and why (DOMAIN.md R5, R9, R10, R11 first version).

Pure: the thread, the settings, the calendar, the clock and what the ledger
knows are passed in; out comes a ``Decision`` with a human-readable trace of
every rule checked. The shell carries decisions out; ``scan --dry-run`` and
``status`` only show them.
"""

from __future__ import annotations

from collections.abc import Container, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from mail_followup.config import Settings
from mail_followup.threads import Thread
from mail_followup.timing import WEEKDAY_NAMES, Calendar, first_allowed_moment

@dataclass(frozen=True, slots=True)
class Decision:
    thread_key: str
    state: str
    scenario: str
    next_attempt: int
    attempt_kind: str  # "first", "later" or "last" (the "should I stop?" note)
    not_before: datetime | None
    reasons: tuple[str, ...]


def in_lookback(thread: Thread, settings: Settings, now: datetime) -> bool:
    """Only threads whose latest message from the user is recent are followed up (no flood on a first run)."""
    return now - thread.last_user.date <= timedelta(days=settings.lookback_days)


def decide(
    thread: Thread,
    settings: Settings,
    cal: Calendar,
    now: datetime,
    drafted: Container[int],
    stoplist: Mapping[str, str] | None = None,
) -> Decision:
    """Decide the state of ``thread`` at ``now``.

    ``drafted`` holds the attempt numbers whose draft is known to be in
    Drafts; ``stoplist`` the contacts (addresses) and threads (keys) never
    to follow up, and why.
    """
    scenario = "default"
    policy = settings.policy(scenario)
    sent = thread.followups_sent
    attempt = sent + 1
    kind = "last" if attempt == policy.max_followups and policy.max_followups >= 2 else ("first" if attempt == 1 else "later")
    reasons = [f"scenario {scenario}: waits {policy.waits_days} days, at most {policy.max_followups} follow-up(s)"]

    def done(state: str, not_before: datetime | None = None) -> Decision:
        return Decision(thread.key, state, scenario, attempt, kind, not_before, tuple(reasons))

    if thread.forced:
        reasons.append(f"tracked: {thread.forced}")
    if thread.ignored:
        reasons.append(f"expects no answer: {thread.ignored}")
        return done("ignored")
    if thread.answer is not None:
        who = thread.answer.sender.formatted() if thread.answer.sender else "someone"
        reasons.append(f"answered by {who} on {_day(thread.answer.date, cal)}")
        if thread.stop is not None:
            reasons.append("they asked not to be followed up: never again, for this contact too")
            return done("stopped")
        return done("replied")
    if thread.bounce is not None:
        reasons.append(f"bounced on {_day(thread.bounce.date, cal)}: the mail did not reach them")
        return done("bounced")
    if thread.key in (stoplist or {}):
        reasons.append(f"this thread is on the stop list: {(stoplist or {})[thread.key]}")
        return done("stopped")
    stopped = {a.address: (stoplist or {})[a.address] for a in thread.original.everyone_written_to
               if a.address in (stoplist or {})}
    if stopped:
        reasons.extend(f"{address} is on the stop list: {why}" for address, why in stopped.items())
        return done("stopped")
    reasons.append(
        f"your last message on {_day(thread.last_user.date, cal)}; "
        f"{sent} follow-up(s) sent since the original of {_day(thread.original.date, cal)}; no answer yet"
    )
    if sent >= policy.max_followups:
        reasons.append(f"cap reached: {sent} of {policy.max_followups} follow-up(s) sent")
        return done("capped")
    if attempt in drafted:
        reasons.append(f"the draft for follow-up {attempt} is in Drafts")
        return done("drafted")
    wait = policy.wait_before(attempt)
    earliest = thread.last_user.date.astimezone(cal.tz).date() + timedelta(days=wait)
    reasons.append(f"follow-up {attempt} waits {wait} day(s): not before {earliest.isoformat()}")
    for auto in thread.auto_replies:
        reasons.append(f"an automatic reply on {_day(auto.date, cal)} is not an answer")
    if thread.return_date is not None and thread.return_date >= earliest:
        earliest = thread.return_date + timedelta(days=1)
        reasons.append(f"their out-of-office says they are back on {thread.return_date.isoformat()}: "
                       f"not before {earliest.isoformat()}")
    try:
        moment, skipped = first_allowed_moment(cal, earliest, now)
    except ValueError as exc:
        reasons.append(str(exc))
        return done("waiting")
    reasons.extend(f"skipped: {why}" for why in skipped)
    reasons.append(f"first allowed moment: {moment.isoformat()} ({WEEKDAY_NAMES[moment.weekday()]})")
    if moment <= now:
        reasons.append("due now")
        return done("due", moment)
    return done("waiting", moment)


def oldest_first(decisions: Sequence[tuple[Decision, datetime]]) -> list[Decision]:
    """The due decisions, the thread whose last message from the user is oldest first.

    ``decisions`` pairs each decision with that date. A pass writes from the
    front of this list until it reaches ``max_drafts_per_pass``.
    """
    due = sorted((pair for pair in decisions if pair[0].state == "due"), key=lambda p: (p[1], p[0].thread_key))
    return [d for d, _ in due]


def left_for_next_pass(decision: Decision, limit: int) -> Decision:
    return replace(decision, reasons=decision.reasons + (f"left for the next pass: at most {limit} draft(s) per pass",))


def _day(moment: datetime, cal: Calendar) -> str:
    local = moment.astimezone(cal.tz)
    return f"{local.date().isoformat()} ({WEEKDAY_NAMES[local.weekday()][:3]})"
