"""One thread's decision, the same in a pass and in ``explain``: the rules, then mail outside the thread.

The shell's side of the pure core: it gathers what ``policy.decide`` takes
(the calendar of the thread's recipients, what the drafts ledger knows, the
stop list, the snoozes) and, for a thread that would wait or be written,
asks the inbound index whether someone was in touch outside it (issue 18).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import replace
from datetime import date, datetime
from typing import Any

from mail_followup.config import Account, Settings, holiday_classes
from mail_followup.core.classify import Verdict
from mail_followup.core.intouch import Touch
from mail_followup.core.policy import Decision, amended, decide
from mail_followup.core.threads import Thread, TrackingRules, most_specific
from mail_followup.core.timing import Calendar, Region, recipient_regions
from mail_followup.service.elsewhere import Elsewhere
from mail_followup.state import inbound
from mail_followup.state.ledger import DraftRecord

OUTSTANDING = ("written", "missing")  # drafts whose fate the next pass must look at


def tracking_rules(settings: Settings) -> TrackingRules:
    return TrackingRules(settings.bulk_recipients, settings.same_domain_answers,
                         {k: c.follow_up for k, c in settings.contacts.items() if c.follow_up})


def ledger_facts(records: dict[int, DraftRecord]) -> tuple[set[int], dict[int, datetime]]:
    """(the attempts whose draft is in Drafts as far as we know, the attempts whose draft was dismissed)."""
    drafted = {a for a, r in records.items() if r.state in OUTSTANDING}
    dismissed = {a: datetime.fromisoformat(r.changed_at) for a, r in records.items()
                 if r.state == "dismissed" and r.changed_at}
    return drafted, dismissed


OPEN = frozenset(inbound.OPEN_STATES)  # the decisions mail outside the thread may change


def decide_thread(thread: Thread, account: Account, calendars: Calendars, now: datetime,
                  ledger: Mapping[str, dict[int, DraftRecord]], stoplist: Mapping[str, str],
                  snoozed: Mapping[str, date], elsewhere: Elsewhere, verdicts: Mapping[str, Verdict]) -> Decision:
    """The decision of one thread: the rules of ``policy.decide``, then, for a thread that would wait or be
    written, whether someone was in touch outside it (issue 18), and whether an account never read yet
    holds a draft back. ``explain`` and a pass decide alike through here."""
    settings = account.settings
    drafted, dismissed = ledger_facts(ledger.get(thread.key, {}))
    cal = calendars.for_thread(thread)

    def decided(touch: Touch | None = None) -> Decision:
        return decide(thread, settings, cal, now, drafted=drafted, stoplist=stoplist, snoozed=snoozed,
                      own=account.addresses, dismissed=dismissed, touch=touch)

    decision = decided()
    if decision.state in OPEN:
        touch = elsewhere.first(thread, verdicts)
        if touch is not None:
            decision = decided(touch)
    if decision.state == "due" and (why := elsewhere.hold()):
        decision = amended(decision, "waiting", why)
    return decision


class Calendars:
    """The calendar each thread is timed by: its recipients' holidays where known, else the account's (R7).

    The holiday tables are built once per country and pass.
    """

    def __init__(self, settings: Settings, own: Collection[str]) -> None:
        self.settings = settings
        self.own = set(own)
        self._supported = holiday_classes()  # the codes alone; listing subdivisions imports every country
        self._tables: dict[str, Any] = {}
        self._cache: dict[tuple[str, ...], Calendar] = {}
        rules = settings.calendar
        self._forbidden = frozenset(
            ({5, 6} if rules.avoid_weekends else set()) | ({0} if rules.avoid_mondays else set())
            | ({4} if rules.avoid_fridays else set()))
        self._vacation = rules.vacation_days()
        account = ((Region(settings.country, settings.subdivision, "the account's country"),)
                   if settings.country else ())
        self.account = self._calendar(account)

    def for_thread(self, thread: Thread) -> Calendar:
        if not self.settings.calendar.recipient_holidays:
            return self.account
        people = [a.address for a in thread.original.recipients if a.address not in self.own]
        contacts = {}
        for address in people:
            found = most_specific(address, self.settings.contacts)
            if found is not None and found[1].country:
                contacts[address] = (found[1].country, found[1].subdivision, found[0])
        regions = recipient_regions(people, contacts, self._supported)
        if not regions:
            return self.account
        return replace(self._calendar(regions), regions=regions)  # the same days; this thread's reasons

    def _calendar(self, regions: tuple[Region, ...]) -> Calendar:
        key = tuple(r.code for r in regions)
        if key not in self._cache:
            import holidays

            for r in regions:
                if r.code not in self._tables:
                    self._tables[r.code] = holidays.country_holidays(r.country, subdiv=r.subdivision)
            rules = self.settings.calendar
            self._cache[key] = Calendar(
                tz=self.settings.tz, windows=self.settings.windows,
                holidays=tuple((r.code, self._tables[r.code]) for r in regions),
                forbidden_weekdays=self._forbidden, avoid_holidays=rules.avoid_holidays,
                avoid_days_around_holidays=rules.avoid_days_around_holidays, vacation=self._vacation,
                regions=regions)
        return self._cache[key]
