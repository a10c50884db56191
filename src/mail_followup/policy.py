"""What to do about each thread, and why (DOMAIN.md R5, R6, R9-R12, R19).

Pure: the thread, the settings, the calendar, the clock and what the ledger
knows are passed in; out comes a ``Decision`` with a human-readable trace of
every rule checked. The shell carries decisions out; ``scan --dry-run`` and
``status`` only show them.
"""

from __future__ import annotations

import sys
from collections.abc import Collection, Container, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta

from mail_followup.config import Settings
from mail_followup.intouch import Touch
from mail_followup.scenarios import match_scenario
from mail_followup.threads import Thread, most_specific
from mail_followup.timing import NOON, WEEKDAY_NAMES, Calendar, add_business_days, first_allowed_moment

@dataclass(frozen=True, slots=True)
class Decision:
    thread_key: str
    state: str
    scenario: str
    next_attempt: int
    attempt_kind: str  # "first", "later" or "last" (the "should I stop?" note, R11)
    not_before: datetime | None
    reasons: tuple[str, ...]
    touch: Touch | None = None  # the message outside the thread that ended the wait, when one did


def in_lookback(thread: Thread, settings: Settings, now: datetime) -> bool:
    """Only threads whose latest message from the user is recent are followed up (no flood on a first run)."""
    return sent_in_lookback(thread.last_user.date, settings, now)


def sent_in_lookback(last_sent: datetime, settings: Settings, now: datetime) -> bool:
    """``in_lookback`` for a thread known by its report: the user's last message was sent at ``last_sent``."""
    return now - last_sent <= timedelta(days=settings.lookback_days)


def decide(
    thread: Thread,
    settings: Settings,
    cal: Calendar,
    now: datetime,
    drafted: Container[int],
    stoplist: Mapping[str, str] | None = None,
    snoozed: Mapping[str, date] | None = None,
    own: Collection[str] = (),
    dismissed: Mapping[int, datetime] | None = None,
    touch: Touch | None = None,
) -> Decision:
    """Decide the state of ``thread`` at ``now``.

    ``drafted`` holds the attempt numbers whose draft is known to be in
    Drafts; ``stoplist`` the contacts (addresses) and threads (keys) never
    to follow up, and why; ``snoozed`` the threads the user put off, until
    when; ``own`` the user's addresses; ``dismissed`` the attempts whose
    draft the user deleted without sending, and when that was seen; ``touch`` the message outside the
    thread that ended its wait (``intouch.first_touch``), if any. While the user's message is unread
    and its body could still change the scenario, every scenario it could
    be is decided and the earliest moment counts: the body is then read in
    time, and nothing is written before it is.
    """
    match = match_scenario(thread, settings, own)
    chosen = _decide(thread, settings, cal, now, drafted, stoplist or {}, snoozed or {}, dismissed or {},
                     match.scenario, match.why, touch)
    if not match.could_be or chosen.state not in ("waiting", "due", "capped", "call", "snoozed"):
        return chosen
    seen = [settings.policy(match.scenario)]  # scenarios with the same policy decide the same
    alternatives = []
    for other in match.could_be:
        if (policy := settings.policy(other)) not in seen:
            seen.append(policy)
            alternatives.append(_decide(thread, settings, cal, now, drafted, stoplist or {}, snoozed or {},
                                        dismissed or {}, other, "your message could still turn out to be this", touch))
    maybe = ", ".join(match.could_be)
    due = sorted((a for a in alternatives if a.state == "due"), key=lambda a: a.not_before or now)
    if due and chosen.state != "due":
        note = (f"your message is not read yet; its text may make this {maybe} rather than {match.scenario}, "
                f"and as {due[0].scenario} it is due: it is read before anything is written")
        return replace(due[0], reasons=(note,) + due[0].reasons)
    sooner = [a.not_before for a in alternatives if a.state == "waiting" and a.not_before is not None
              and (chosen.not_before is None or a.not_before < chosen.not_before)]
    if not sooner:
        return chosen
    # Come back at the earliest moment another reading allows: the body is read then, in time.
    note = (f"your message is not read yet; its text may make this {maybe} rather than {match.scenario}: "
            f"decided again at {min(sooner).isoformat()}, the earliest moment one of them allows")
    return replace(chosen, not_before=min(sooner), reasons=(note,) + chosen.reasons)


def _decide(
    thread: Thread, settings: Settings, cal: Calendar, now: datetime, drafted: Container[int],
    stoplist: Mapping[str, str], snoozed: Mapping[str, date], dismissed: Mapping[int, datetime], scenario: str,
    why: str, touch: Touch | None = None,
) -> Decision:
    policy = settings.policy(scenario)
    rules = settings.calendar
    sent = thread.followups_sent
    attempt = sent + 1
    skipped: list[tuple[int, datetime]] = []
    if settings.on_dismiss == "skip":  # a deleted draft counts as that attempt, made when it was seen gone
        while attempt in dismissed:
            skipped.append((attempt, dismissed[attempt]))
            attempt += 1
    kind = policy.kind_of(attempt)
    reasons = [f"scenario {scenario}, because {why}: {policy.describe()}"]

    def done(state: str, not_before: datetime | None = None) -> Decision:
        # The same reasons recur from thread to thread: one copy each (MB at 100,000 threads).
        return Decision(thread.key, state, scenario, attempt, kind, not_before, tuple(map(sys.intern, reasons)),
                        touch if state == "replied" else None)

    if thread.forced:
        reasons.append(f"tracked: {thread.forced}")
    if thread.ignored:
        reasons.append(f"expects no answer: {thread.ignored}")
        return done("ignored")
    if thread.closing and not thread.forced:
        if policy.awaits_decision:
            reasons.append(f"{thread.closing}, but after a {scenario} the wait is for their decision")
        elif thread.promised is not None and rules.their_dates:
            reasons.append(f"{thread.closing}, but they named a date to come back by: the wait is for their news")
        else:
            reasons.append(f"expects no answer: {thread.closing}")
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
    if thread.key in stoplist:
        reasons.append(f"this thread is on the stop list: {stoplist[thread.key]}")
        return done("stopped")
    stopped = {a.address: stoplist[a.address] for a in thread.original.everyone_written_to if a.address in stoplist}
    if stopped:
        reasons.extend(f"{address} is on the stop list: {why}" for address, why in stopped.items())
        return done("stopped")
    if touch is not None:
        reasons.append(touch.reason(cal.tz))
        return done("replied")
    last = thread.last_user.date.astimezone(cal.tz)
    reasons.append(
        f"your last message on {_day(last, cal)} at {last:%H:%M}; "
        f"{sent} follow-up(s) sent since the original of {_day(thread.original.date, cal)}; no answer yet"
    )
    if attempt in dismissed:  # on_dismiss: stop
        reasons.append(f"you deleted the draft for follow-up {attempt} without sending it (seen "
                       f"{_day(dismissed[attempt], cal)}): no more follow-ups here (on_dismiss: stop)")
        return done("stopped")
    for number, when in skipped:
        reasons.append(f"you deleted the draft for follow-up {number} without sending it (seen {_day(when, cal)}): "
                       f"it counts as made (on_dismiss: skip)")
        last = max(last, when.astimezone(cal.tz))
    if attempt > policy.max_followups:
        reasons.append(f"cap reached: {attempt - 1} of {policy.max_followups} follow-up(s) sent or skipped"
                       if skipped else f"cap reached: {sent} of {policy.max_followups} follow-up(s) sent")
        return done("capped")
    if attempt in drafted:
        reasons.append(f"the draft for follow-up {attempt} is in Drafts")
        return done("drafted")
    reasons.append(_holidays_used(cal, settings))
    wait = policy.wait_before(attempt)
    if policy.business_days:
        earliest = add_business_days(cal, last.date(), wait)
        reasons.append(f"follow-up {attempt} waits {wait} business day(s): not before {earliest.isoformat()}")
    else:
        earliest = last.date() + timedelta(days=wait)
        reasons.append(f"follow-up {attempt} waits {wait} day(s): not before {earliest.isoformat()}")
    if thread.promised is not None and attempt == 1:
        day, words = thread.promised
        if rules.their_dates:
            theirs = max(add_business_days(cal, day, rules.their_date_margin_days), last.date() + timedelta(days=1))
            reasons.append(f"they named a date on {_day(thread.their_last.date, cal) if thread.their_last else '?'}: "
                           f"\u201c{words}\u201d, read as {day.isoformat()}; with {rules.their_date_margin_days} "
                           f"business day(s) more, the first follow-up waits until {theirs.isoformat()} "
                           f"instead of the scenario's wait")
            earliest = theirs
        else:
            reasons.append(f"they named a date (\u201c{words}\u201d), but calendar.their_dates is off")
    for auto in thread.auto_replies:
        reasons.append(f"an automatic reply on {_day(auto.date, cal)} is not an answer")
    if thread.return_date is not None and thread.return_date >= earliest:
        earliest = thread.return_date + timedelta(days=1)
        reasons.append(f"their out-of-office says they are back on {thread.return_date.isoformat()}: "
                       f"not before {earliest.isoformat()}")
    until = snoozed.get(thread.key)
    if until is not None and until > earliest:
        earliest = until
        reasons.append(f"you snoozed it until {until.isoformat()}")
    avoid = last.weekday() if rules.vary_weekday else None
    afternoon = last.time() < NOON if rules.alternate_time_of_day else None
    if afternoon is not None:
        reasons.append(f"your last message went out in the {'morning' if afternoon else 'afternoon'}: "
                       f"this one prefers the {'afternoon' if afternoon else 'morning'}")
    try:
        moment, passed_over = first_allowed_moment(cal, earliest, now, avoid, afternoon)
    except ValueError as exc:
        reasons.append(str(exc))
        return done("waiting")
    reasons.extend(f"skipped: {why}" for why in passed_over)
    reasons.append(f"first allowed moment: {moment.isoformat()} ({WEEKDAY_NAMES[moment.weekday()]})")
    phone = _prefers_phone(thread, settings)
    if phone:
        reasons.append(f"{phone} prefers a phone call: no draft; the weekly digest lists it from that moment")
        return done("call", moment)
    if until is not None and now < moment and until == earliest:
        return done("snoozed", moment)
    if moment <= now:
        reasons.append("due now")
        return done("due", moment)
    return done("waiting", moment)


def _prefers_phone(thread: Thread, settings: Settings) -> str | None:
    """The first person written to whom the config marks ``prefers: phone`` (R19), or None."""
    for person in thread.original.recipients:
        found = most_specific(person.address, settings.contacts)
        if found is not None and found[1].prefers == "phone":
            return person.address
    return None


def _holidays_used(cal: Calendar, settings: Settings) -> str:
    if cal.regions:
        return "holidays of " + "; ".join(f"{r.code} ({r.why})" for r in cal.regions)
    if settings.country:
        sub = f"-{settings.subdivision}" if settings.subdivision else ""
        return f"holidays of {settings.country}{sub} (the account's country)"
    return "no holiday calendar: set country in the config"


def oldest_first(decisions: Sequence[tuple[Decision, datetime]]) -> list[Decision]:
    """The due decisions, the thread whose last message from the user is oldest first.

    ``decisions`` pairs each decision with that date. A pass writes from the
    front of this list until it reaches ``max_drafts_per_pass``.
    """
    due = sorted((pair for pair in decisions if pair[0].state == "due"), key=lambda p: (p[1], p[0].thread_key))
    return [d for d, _ in due]


def amended(decision: Decision, state: str, reason: str) -> Decision:
    """``decision`` in another state, with the reason for it added to its trace."""
    return replace(decision, state=state, reasons=decision.reasons + (reason,))


def left_for_next_pass(decision: Decision, limit: int) -> Decision:
    return replace(decision, reasons=decision.reasons + (f"left for the next pass: at most {limit} draft(s) per pass",))


def _day(moment: datetime, cal: Calendar) -> str:
    local = moment.astimezone(cal.tz)
    return f"{local.date().isoformat()} ({WEEKDAY_NAMES[local.weekday()][:3]})"
