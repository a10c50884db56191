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
from typing import TypeVar

from mail_followup.config import CalendarRules, Policy, Settings
from mail_followup.core.intouch import Touch
from mail_followup.core.scenarios import match_scenario
from mail_followup.core.threads import Thread, most_specific
from mail_followup.core.timing import NOON, WEEKDAY_NAMES, Calendar, add_business_days, first_allowed_moment


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
    return last_sent >= lookback_start(settings, now)


def lookback_start(settings: Settings, now: datetime) -> datetime:
    """The earliest moment a user's last message may have been sent for its thread to be followed up: the
    one boundary of ``sent_in_lookback``, for the passes that ask the index and the reports instead."""
    return now - timedelta(days=settings.lookback_days)


T = TypeVar("T")


def held_by(thread: Thread, holds: Mapping[str, T]) -> list[T]:
    """What a stop list or the snoozes say of ``thread``: under its key (``stop``, ``snooze``; lowercased
    too, as ``stop`` stored it before issue 22) or under the Message-ID of any of its messages
    (a keyword set in a mail client, ``core/keywords.py``)."""
    keys = dict.fromkeys((thread.key, thread.key.lower(), *(m.message_id for m in thread.messages)))
    return [holds[k] for k in keys if k in holds]


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
    """The state of ``thread`` as ``scenario``: the rules below, in order; the first that settles it wins."""
    policy = settings.policy(scenario)
    rules = settings.calendar
    sent = thread.followups_sent
    attempt, skipped = _next_attempt(sent, settings, dismissed)
    kind = policy.kind_of(attempt)
    reasons = [f"scenario {scenario}, because {why}: {policy.describe()}"]

    def done(state: str, not_before: datetime | None = None) -> Decision:
        # The same reasons recur from thread to thread: one copy each (MB at 100,000 threads).
        return Decision(thread.key, state, scenario, attempt, kind, not_before, tuple(map(sys.intern, reasons)),
                        touch if state == "replied" else None)

    ended = (_expects_no_answer(thread, policy, scenario, rules, reasons)
             or _wait_over(thread, cal, stoplist, touch, reasons))
    if ended:
        return done(ended)
    last = thread.last_user.date.astimezone(cal.tz)
    reasons.append(
        f"your last message on {_day(last, cal)} at {last:%H:%M}; "
        f"{sent} follow-up(s) sent since the original of {_day(thread.original.date, cal)}; no answer yet"
    )
    held = _no_followup_owed(sent, policy, cal, attempt, skipped, dismissed, drafted, reasons)
    if held:
        return done(held)
    for _, when in skipped:  # a skipped draft counts as an attempt made when it was seen gone
        last = max(last, when.astimezone(cal.tz))
    reasons.append(_holidays_used(cal, settings))
    earliest = _scenario_wait(policy, cal, attempt, last, reasons)
    earliest = _after_their_date(thread, attempt, rules, cal, last, earliest, reasons)
    earliest = _after_their_return(thread, cal, earliest, reasons)
    until = max(held_by(thread, snoozed), default=None)
    if until is not None and until > earliest:
        earliest = until
        reasons.append(f"you snoozed it until {until.isoformat()}")
    moment = _allowed_moment(rules, cal, now, last, earliest, reasons)
    if moment is None:
        return done("waiting")
    return done(_state_at(moment, thread, settings, now, until is not None and until == earliest, reasons), moment)


def _next_attempt(sent: int, settings: Settings,
                  dismissed: Mapping[int, datetime]) -> tuple[int, list[tuple[int, datetime]]]:
    """The number of the next follow-up, and the attempts skipped on the way (number, when seen deleted)."""
    attempt = sent + 1
    skipped: list[tuple[int, datetime]] = []
    if settings.on_dismiss == "skip":  # a deleted draft counts as that attempt, made when it was seen gone
        while attempt in dismissed:
            skipped.append((attempt, dismissed[attempt]))
            attempt += 1
    return attempt, skipped


def _expects_no_answer(thread: Thread, policy: Policy, scenario: str, rules: CalendarRules,
                       reasons: list[str]) -> str | None:
    """R4: "ignored" for a message that expects no answer, unless the user forced it or a wait is owed."""
    if thread.forced:
        reasons.append(f"tracked: {thread.forced}")
    if thread.ignored:
        reasons.append(f"expects no answer: {thread.ignored}")
        return "ignored"
    if thread.closing and not thread.forced:
        if policy.awaits_decision:
            reasons.append(f"{thread.closing}, but after a {scenario} the wait is for their decision")
        elif thread.promised is not None and rules.their_dates:
            reasons.append(f"{thread.closing}, but they named a date to come back by: the wait is for their news")
        else:
            reasons.append(f"expects no answer: {thread.closing}")
            return "ignored"
    return None


def _wait_over(thread: Thread, cal: Calendar, stoplist: Mapping[str, str], touch: Touch | None,
               reasons: list[str]) -> str | None:
    """R2, R3, R12: the state when the wait is over (an answer, a bounce, the stop list), else None."""
    if thread.answer is not None:
        who = thread.answer.sender.formatted() if thread.answer.sender else "someone"
        reasons.append(f"answered by {who} on {_day(thread.answer.date, cal)}")
        if thread.stop is not None:
            reasons.append("they asked not to be followed up: never again, for this contact too")
            return "stopped"
        return "replied"
    if thread.bounce is not None:
        reasons.append(f"bounced on {_day(thread.bounce.date, cal)}: the mail did not reach them")
        return "bounced"
    held = held_by(thread, stoplist)
    if held:
        reasons.append(f"this thread is on the stop list: {held[0]}")
        return "stopped"
    stopped = {a.address: stoplist[a.address] for a in thread.original.everyone_written_to if a.address in stoplist}
    if stopped:
        reasons.extend(f"{address} is on the stop list: {why}" for address, why in stopped.items())
        return "stopped"
    if touch is not None:
        reasons.append(touch.reason(cal.tz))
        return "replied"
    return None


def _no_followup_owed(sent: int, policy: Policy, cal: Calendar, attempt: int, skipped: list[tuple[int, datetime]],
                      dismissed: Mapping[int, datetime], drafted: Container[int], reasons: list[str]) -> str | None:
    """R10 and the user's hand: the state when no draft is owed (a deleted draft, the cap, one in Drafts)."""
    if attempt in dismissed:  # on_dismiss: stop
        reasons.append(f"you deleted the draft for follow-up {attempt} without sending it (seen "
                       f"{_day(dismissed[attempt], cal)}): no more follow-ups here (on_dismiss: stop)")
        return "stopped"
    for number, when in skipped:
        reasons.append(f"you deleted the draft for follow-up {number} without sending it (seen {_day(when, cal)}): "
                       f"it counts as made (on_dismiss: skip)")
    if attempt > policy.max_followups:
        reasons.append(f"cap reached: {attempt - 1} of {policy.max_followups} follow-up(s) sent or skipped"
                       if skipped else f"cap reached: {sent} of {policy.max_followups} follow-up(s) sent")
        return "capped"
    if attempt in drafted:
        reasons.append(f"the draft for follow-up {attempt} is in Drafts")
        return "drafted"
    return None


def _scenario_wait(policy: Policy, cal: Calendar, attempt: int, last: datetime, reasons: list[str]) -> date:
    """R5, R9, R10: the first day the scenario's wait after the user's last attempt allows."""
    wait = policy.wait_before(attempt)
    if policy.business_days:
        earliest = add_business_days(cal, last.date(), wait)
        reasons.append(f"follow-up {attempt} waits {wait} business day(s): not before {earliest.isoformat()}")
    else:
        earliest = last.date() + timedelta(days=wait)
        reasons.append(f"follow-up {attempt} waits {wait} day(s): not before {earliest.isoformat()}")
    return earliest


def _after_their_date(thread: Thread, attempt: int, rules: CalendarRules, cal: Calendar, last: datetime,
                      earliest: date, reasons: list[str]) -> date:
    """R6: the first follow-up waits for the date they named, plus a margin, instead of the scenario's wait."""
    if thread.promised is None or attempt != 1:
        return earliest
    day, words = thread.promised
    if not rules.their_dates:
        reasons.append(f"they named a date (\u201c{words}\u201d), but calendar.their_dates is off")
        return earliest
    theirs = max(add_business_days(cal, day, rules.their_date_margin_days), last.date() + timedelta(days=1))
    reasons.append(f"they named a date on {_day(thread.their_last.date, cal) if thread.their_last else '?'}: "
                   f"\u201c{words}\u201d, read as {day.isoformat()}; with {rules.their_date_margin_days} "
                   f"business day(s) more, the first follow-up waits until {theirs.isoformat()} "
                   f"instead of the scenario's wait")
    return theirs


def _after_their_return(thread: Thread, cal: Calendar, earliest: date, reasons: list[str]) -> date:
    """R3: an automatic reply is no answer, but an out-of-office's return date puts the follow-up after it."""
    for auto in thread.auto_replies:
        reasons.append(f"an automatic reply on {_day(auto.date, cal)} is not an answer")
    if thread.return_date is not None and thread.return_date >= earliest:
        earliest = thread.return_date + timedelta(days=1)
        reasons.append(f"their out-of-office says they are back on {thread.return_date.isoformat()}: "
                       f"not before {earliest.isoformat()}")
    return earliest


def _allowed_moment(rules: CalendarRules, cal: Calendar, now: datetime, last: datetime, earliest: date,
                    reasons: list[str]) -> datetime | None:
    """R7, R8: the first moment from ``earliest`` the calendar allows, varied from ``last``; None if none is."""
    avoid = last.weekday() if rules.vary_weekday else None
    afternoon = last.time() < NOON if rules.alternate_time_of_day else None
    if afternoon is not None:
        reasons.append(f"your last message went out in the {'morning' if afternoon else 'afternoon'}: "
                       f"this one prefers the {'afternoon' if afternoon else 'morning'}")
    try:
        moment, passed_over = first_allowed_moment(cal, earliest, now, avoid, afternoon)
    except ValueError as exc:
        reasons.append(str(exc))
        return None
    reasons.extend(f"skipped: {why}" for why in passed_over)
    reasons.append(f"first allowed moment: {moment.isoformat()} ({WEEKDAY_NAMES[moment.weekday()]})")
    return moment


def _state_at(moment: datetime, thread: Thread, settings: Settings, now: datetime, snooze_sets_it: bool,
              reasons: list[str]) -> str:
    """R19, then the clock: "call", "snoozed", "due" or "waiting" for a follow-up allowed at ``moment``."""
    phone = _prefers_phone(thread, settings)
    if phone:
        reasons.append(f"{phone} prefers a phone call: no draft; the weekly digest lists it from that moment")
        return "call"
    if snooze_sets_it and now < moment:
        return "snoozed"
    if moment <= now:
        reasons.append("due now")
        return "due"
    return "waiting"


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
