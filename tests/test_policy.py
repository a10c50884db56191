"""DOMAIN.md R5-R12 and R19, row by row: each test names its rule, and every date was worked out by hand.

The account is in Oslo with Norwegian holidays; the draft windows are the
defaults (08:30-11:30, 14:00-16:00). December 2026 starts on a Tuesday.
"""

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import holidays
import pytest
from hypothesis import given, settings as hsettings, strategies as st

from mail_followup.core.classify import Verdict
from mail_followup.config import CalendarRules, Contact, Policy, ScenarioRule, Settings
from mail_followup.core.policy import decide, in_lookback, left_for_next_pass, oldest_first
from mail_followup.service.deciding import Calendars
from mail_followup.core.threads import Thread, build_threads
from mail_followup.core.timing import WEEKDAY_NAMES, Calendar, forbidden_reason
from mails import ME, mail

OSLO = ZoneInfo("Europe/Oslo")
CAL = Calendar(OSLO, ((time(8, 30), time(11, 30)), (time(14, 0), time(16, 0))), holidays.country_holidays("NO"))
SETTINGS = Settings(timezone="Europe/Oslo", country="NO")
KIM = "kim@example.com"
TUESDAY_PM = datetime(2026, 12, 1, 15, 0, tzinfo=OSLO)
WEDNESDAY_PM = datetime(2026, 12, 2, 15, 0, tzinfo=OSLO)


def at(day: int, hour: int = 9, minute: int = 0, month: int = 12, year: int = 2026) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=OSLO)


def thread(subject: str = "Hello", sent: datetime = TUESDAY_PM, followups: tuple[datetime, ...] = (),
           to: str = KIM, body: str | None = "Hi.", flags: tuple[str, ...] = (),
           answer: tuple[datetime, str] | None = None, promise: tuple[date, str] | None = None) -> Thread:
    """One thread: the original, the follow-ups already sent, and optionally their answer before the original."""
    mails = []
    verdicts = {}
    prev: tuple[str, ...] = ()
    if answer is not None:  # they wrote first (or answered an earlier round), then we wrote the original
        mails.append(mail("<their@y>", to, (ME,), answer[0], subject, (), "INBOX"))
        verdicts["<their@y>"] = Verdict("human", "", promise_day=promise[0] if promise else None,
                                        promise_phrase=promise[1] if promise else None)
        prev = ("<their@y>",)
    mails.append(mail("<a@x>", ME, (to,), sent, subject, prev, flags=frozenset(flags)))
    if body is not None:
        verdicts["<a@x>"] = Verdict("open", "", excerpt=body)
    prev = ("<a@x>",)
    for i, when in enumerate(followups):
        mails.append(mail(f"<f{i}@x>", ME, (to,), when, "Re: " + subject, prev))
        prev = (f"<f{i}@x>",)
    (t,) = build_threads(mails, [ME], verdicts)
    return t


def decided(t: Thread, now: datetime, settings: Settings = SETTINGS, **kw: object):
    cal = Calendars(settings, [ME]).for_thread(t)
    return decide(t, settings, cal, now, drafted=kw.pop("drafted", ()), own=[ME], **kw)  # type: ignore[arg-type]


# --- R10: the scenario table. Each row: how a thread is recognised, and its waits and cap. ---------------

# (scenario, subject, sent, first moment, later follow-up sent, its next moment or None when capped)
R10 = [
    # 1 week; one follow-up. Tue Dec 1 + 7 = Tue Dec 8, the original's weekday (R8): Wed Dec 9 morning.
    ("job-application", "Application: product manager", TUESDAY_PM, at(9, 8, 30), at(9, 9), None),
    # 3 business days from Wed Dec 2 = Mon Dec 7 (R7: no Mondays): Tue Dec 8 morning; one follow-up.
    ("phone-screen", "Thanks for the phone call", WEDNESDAY_PM, at(8, 8, 30), at(8, 9), None),
    # 10 business days from Wed Dec 2 = Wed Dec 16, the original's weekday: Thu Dec 17. Then 10 business
    # days from Thu Dec 17 (Norway: Dec 25 and Jan 1 are holidays, Dec 24 is not) = Mon Jan 4: Tue Jan 5,
    # in the afternoon after a morning follow-up.
    ("interview", "Interview on Monday", WEDNESDAY_PM, at(17, 8, 30), at(17, 9), at(5, 14, 0, 1, 2027)),
    # 1 week, then 1 week; two follow-ups. Second: Wed Dec 9 09:00 + 7 = Wed Dec 16: Thu Dec 17 afternoon.
    ("networking", "Coffee next week?", TUESDAY_PM, at(9, 8, 30), at(9, 9), at(17, 14)),
    ("meeting", "Meeting notes and next steps", TUESDAY_PM, at(9, 8, 30), at(9, 9), at(17, 14)),
    ("sales", "Proposal for Acme", TUESDAY_PM, at(9, 8, 30), at(9, 9), at(17, 14)),
    ("default", "Hello", TUESDAY_PM, at(9, 8, 30), at(9, 9), at(17, 14)),
]


@pytest.mark.parametrize(("scenario", "subject", "sent", "first", "followup", "second"), R10,
                         ids=[row[0] for row in R10])
def test_r10_each_scenario_has_its_waits_and_cap(scenario: str, subject: str, sent: datetime, first: datetime,
                                                 followup: datetime, second: datetime | None) -> None:
    d = decided(thread(subject, sent), sent + timedelta(hours=1))
    assert (d.scenario, d.state, d.not_before, d.attempt_kind) == (scenario, "waiting", first, "first")
    assert decided(thread(subject, sent), first).state == "due"
    later = decided(thread(subject, sent, (followup,)), followup + timedelta(hours=1))
    if second is None:
        assert later.state == "capped" and "cap reached: 1 of 1" in later.reasons[-1]
    else:
        assert (later.state, later.not_before, later.next_attempt) == ("waiting", second, 2)


def test_r9_sales_follows_up_weekly_then_every_two_weeks_up_to_five_times() -> None:
    sent = [at(9, 9), at(16, 14), at(23, 9)]  # three follow-ups already: the fourth waits two weeks
    d = decided(thread("Proposal for Acme", TUESDAY_PM, tuple(sent)), at(23, 10))
    # Wed Dec 23 morning + 14 = Wed Jan 6 2027, the same weekday: Thu Jan 7, in the afternoon.
    assert (d.next_attempt, d.attempt_kind, d.not_before) == (4, "later", at(7, 14, 0, 1, 2027))
    five = decided(thread("Proposal for Acme", TUESDAY_PM, tuple(sent) + (at(7, 14, 0, 1, 2027),)), at(8, 9, 0, 1, 2027))
    assert (five.next_attempt, five.attempt_kind) == (5, "last")  # R11: the fifth is the "should I stop?" note
    six = tuple(sent) + (at(7, 14, 0, 1, 2027), at(21, 9, 0, 1, 2027))
    assert decided(thread("Proposal for Acme", TUESDAY_PM, six), at(1, 9, 0, 3, 2027)).state == "capped"


def test_r11_the_last_allowed_attempt_is_the_should_i_stop_note() -> None:
    assert decided(thread("Hello"), at(9, 9)).attempt_kind == "first"
    assert decided(thread("Hello", followups=(at(9, 9),)), at(17, 14)).attempt_kind == "last"
    # A scenario with one follow-up has no "should I stop?" note: the one follow-up is a plain one.
    assert decided(thread("Application: designer"), at(9, 9)).attempt_kind == "first"


def test_r10_the_table_is_configurable_key_by_key() -> None:
    custom = Settings(timezone="Europe/Oslo", country="NO", policies={
        "interview": Policy(max_followups=1),  # the waits stay the built-in 10 business days
        "default": Policy(waits_days=[2], business_days=False, max_followups=1),
    })
    assert custom.policy("interview").waits_days == [10, 10] and custom.policy("interview").business_days
    # Tue 15:00 + 2 = Thu Dec 3; the morning it prefers (R8) is gone, the afternoon still serves.
    d = decided(thread("Hello"), at(3, 15), custom)
    assert (d.state, d.not_before) == ("due", at(3, 14))


# --- Which scenario: the keyword on the message, the user's rules, the built-in keywords, the default. ------

@pytest.mark.parametrize(("subject", "body", "scenario"), [
    ("Bewerbung als Entwicklerin", None, "job-application"),
    ("Søknad på stilling som rådgiver", None, "job-application"),
    ("Tack för intervjun", None, "interview"),
    ("Takk for praten", "Takk for intervjuet i går, det var hyggelig å høre mer om teamet.", "interview"),
    ("Angebot für Ihr Team", None, "sales"),
    ("Re: Vorstellungsgespräch", None, "interview"),
    ("Hej!", "Anna tipsade om dig och jag undrar om du har tid för en fika?", "networking"),
    ("Following up", "Thanks for the meeting on Tuesday; here are the next steps we agreed.", "meeting"),
    ("Quick note", "Nothing in particular here.", "default"),
    ("Interviewing tips", None, "interview"),  # a prefix keyword: interview*
])
def test_the_builtin_keywords_pick_the_scenario_in_four_languages(subject: str, body: str | None, scenario: str) -> None:
    d = decided(thread(subject, body=body if body is not None else "Hi."), at(2, 9))
    assert d.scenario == scenario
    assert "no rule matched" in d.reasons[0] if scenario == "default" else "(a built-in rule)" in d.reasons[0]


def test_the_keyword_on_the_sent_message_wins_over_every_rule() -> None:
    d = decided(thread("Application: designer", flags=("$FollowUp-sales",)), at(2, 9))
    assert d.scenario == "sales" and "your message has the keyword $FollowUp-sales" in d.reasons[0]


def test_user_rules_come_first_and_every_criterion_must_match() -> None:
    rules = [ScenarioRule(scenario="sales", recipients=["@example.com"], subject=["hello"]),
             ScenarioRule(scenario="networking", recipients=["*@*.example.com"])]
    custom = Settings(timezone="Europe/Oslo", scenario_rules=rules)
    assert decided(thread("Hello there"), at(2, 9), custom).scenario == "sales"
    assert "scenario_rules[0]" in decided(thread("Hello there"), at(2, 9), custom).reasons[0]
    assert decided(thread("Application", to="kim@example.com"), at(2, 9), custom).scenario == "job-application"
    assert decided(thread("Hi", to="kim@mail.example.com"), at(2, 9), custom).scenario == "networking"
    plain = Settings(timezone="Europe/Oslo", default_scenario="sales", builtin_scenario_rules=False)
    assert decided(thread("Application"), at(2, 9), plain).scenario == "sales"


def test_keywords_look_at_the_subject_then_the_body() -> None:
    custom = Settings(timezone="Europe/Oslo", builtin_scenario_rules=False, policies={"sales": Policy(waits_days=[1])},
                      scenario_rules=[ScenarioRule(scenario="sales", keywords=["pitch deck"])])
    by_subject = decided(thread("Our Pitch  Deck"), at(2, 9), custom)
    assert by_subject.scenario == "sales" and "the subject has 'pitch deck'" in by_subject.reasons[0]
    by_body = decided(thread("Hi", body="here is our pitch deck for you"), at(2, 9), custom)
    assert by_body.scenario == "sales" and "your message says 'pitch deck'" in by_body.reasons[0]
    assert decided(thread("Hi", body="nothing to see"), at(2, 9), custom).scenario == "default"
    unread = decided(thread("Hi", body=None), at(1, 16), custom)
    assert (unread.scenario, unread.state, unread.not_before) == ("default", "waiting", at(2, 8, 30))
    assert "may make this sales rather than default: decided again at 2026-12-02T08:30" in unread.reasons[0]


def test_an_unread_body_counts_as_the_earliest_scenario_it_could_be() -> None:
    # Sent Wednesday afternoon; not read yet. As phone-screen (a body keyword) it could be due on Tuesday
    # Dec 8 (3 business days), as default only on Thursday Dec 10: Tuesday counts, so the body gets read.
    d = decided(thread("Hi", WEDNESDAY_PM, body=None), at(8, 9))
    assert d.state == "due" and d.scenario == "phone-screen"
    assert "your message is not read yet" in d.reasons[0]
    # Once read, the text decides.
    read = decided(thread("Hi", WEDNESDAY_PM, body="Great to chat, let me know."), at(8, 9))
    assert (read.scenario, read.state, read.not_before) == ("default", "waiting", at(10, 8, 30))


def test_a_cap_that_an_unread_body_could_lift_is_looked_at_again_in_time() -> None:
    history = (at(9, 9), at(17, 14))  # two follow-ups: the cap of the default, not of sales
    capped = decided(thread("Hi", TUESDAY_PM, history, body=None), at(18, 9))
    # As sales, the third would wait 14 days from Thu Dec 17: Dec 31 is a Thursday like the last message
    # and the day before New Year; then Friday, the weekend, Monday: Tuesday Jan 5, in the morning.
    assert (capped.state, capped.scenario, capped.not_before) == ("capped", "default", at(5, 8, 30, 1, 2027))
    assert "decided again at 2027-01-05T08:30:00+01:00" in capped.reasons[0]
    then = decided(thread("Hi", TUESDAY_PM, history, body=None), at(5, 9, 0, 1, 2027))
    assert (then.state, then.scenario) == ("due", "sales") and "it is read before anything" in then.reasons[0]
    assert decided(thread("Hi", TUESDAY_PM, history, body="Hi."), at(5, 9, 0, 1, 2027)).state == "capped"


# --- R5, R6: how long to wait first. -------------------------------------------------------------------

def test_r5_at_least_a_week_before_the_first_followup() -> None:
    d = decided(thread("Hello"), at(8, 9))
    assert d.state == "waiting" and "waits 7 day(s): not before 2026-12-08" in "\n".join(d.reasons)


@pytest.mark.parametrize(("promised", "margin", "first"), [
    # "by Friday Dec 18": 2 business days more = Tue Dec 22, the morning (the original went out 15:00).
    (date(2026, 12, 18), 2, at(22, 8, 30)),
    # "by Monday Dec 7": 2 business days = Wed Dec 9, the original's weekday is Wednesday: Thu Dec 10.
    (date(2026, 12, 7), 2, at(10, 8, 30)),
    # No margin: Fri Dec 18 itself is a Friday, Monday too: Tue Dec 22.
    (date(2026, 12, 18), 0, at(22, 8, 30)),
    # Dec 23 + 2 business days: Dec 24, (25 holiday, weekend), 28 = Mon: Tue Dec 29.
    (date(2026, 12, 23), 2, at(29, 8, 30)),
])
def test_r6_their_date_replaces_the_first_wait(promised: date, margin: int, first: datetime) -> None:
    t = thread("Application: designer", WEDNESDAY_PM, answer=(at(1, 11), ),
               promise=(promised, "we will get back to you by ..."))
    settings = SETTINGS.model_copy(update={"calendar": CalendarRules(their_date_margin_days=margin)})
    d = decided(t, at(2, 16), settings)
    assert d.not_before == first
    assert f"read as {promised.isoformat()}" in "\n".join(d.reasons)


def test_r6_can_be_switched_off() -> None:
    t = thread("Application: designer", WEDNESDAY_PM, answer=(at(1, 11),), promise=(date(2026, 12, 30), "by Dec 30"))
    off = SETTINGS.model_copy(update={"calendar": CalendarRules(their_dates=False)})
    assert decided(t, at(2, 16), off).not_before == at(10, 8, 30)  # a week: Wed Dec 9 is Wednesday: Thu
    assert decided(t, at(2, 16)).not_before == at(5, 8, 30, 1, 2027)  # Dec 30 + 2 bd = Jan 4 (Mon): Tue Jan 5


# --- R7: which days. --------------------------------------------------------------------------------

def test_r7_the_recipients_holidays_from_the_country_domain() -> None:
    # Epiphany (Jan 6) is a public holiday in Sweden, not in Norway. Sent Tue Dec 29 15:00, + 7 = Tue Jan 5.
    sent = at(29, 15)
    to_sweden = decided(thread("Hello", sent, to="kim@example.se"), at(30, 9))
    # Jan 5 is the day before Epiphany, Jan 6 the holiday, Jan 7 the day after: Tue Jan 12? No: the
    # original went out on a Tuesday, so Wednesday Jan 13.
    assert to_sweden.not_before == at(13, 8, 30, 1, 2027)
    reasons = "\n".join(to_sweden.reasons)
    assert "holidays of SE (kim@example.se: the .se domain)" in reasons and "Epiphany (SE)" in reasons
    to_norway = decided(thread("Hello", sent, to="kim@example.no"), at(30, 9))
    assert to_norway.not_before == at(6, 8, 30, 1, 2027)  # Jan 5 is a Tuesday like the original: Wednesday
    assert "holidays of NO (kim@example.no: the .no domain)" in "\n".join(to_norway.reasons)
    # A generic domain says nothing: the account's calendar.
    assert "the account's country" in "\n".join(decided(thread("Hello", sent, to="kim@example.io"), at(30, 9)).reasons)


def test_r7_a_contact_setting_names_the_country_and_wins_over_the_domain() -> None:
    settings = Settings(timezone="Europe/Oslo", country="NO", contacts={"@example.no": Contact(country="SE")})
    d = decided(thread("Hello", at(29, 15), to="kim@example.no"), at(30, 9), settings)
    assert d.not_before == at(13, 8, 30, 1, 2027)
    assert "contacts '@example.no' in the config" in "\n".join(d.reasons)
    off = settings.model_copy(update={"calendar": CalendarRules(recipient_holidays=False)})
    assert decided(thread("Hello", at(29, 15), to="kim@example.no"), at(30, 9), off).not_before == at(6, 8, 30, 1, 2027)


@pytest.mark.parametrize(("switch", "first"), [
    ({}, at(9, 8, 30)),  # Tue Dec 8 is the original's weekday: Wednesday
    ({"vary_weekday": False}, at(8, 8, 30)),
    ({"vary_weekday": False, "alternate_time_of_day": False}, at(8, 8, 30)),
    # Fri, weekend, Mon skipped, and Tue Dec 15 is the original's weekday: Wednesday Dec 16.
    ({"vacation": ["2026-12-08..2026-12-10"]}, at(16, 8, 30)),
])
def test_r7_r8_each_rule_can_be_switched(switch: dict, first: datetime) -> None:
    settings = SETTINGS.model_copy(update={"calendar": CalendarRules(**switch)})
    assert decided(thread("Hello"), at(2, 9), settings).not_before == first


def test_r7_mondays_fridays_and_weekends_can_be_allowed() -> None:
    sent = datetime(2026, 12, 4, 15, 0, tzinfo=OSLO)  # a Friday afternoon: + 7 = Friday Dec 11
    assert decided(thread("Hello", sent), at(5, 9)).not_before == at(15, 8, 30)  # Fri, Sat, Sun, Mon skipped
    relaxed = SETTINGS.model_copy(update={"calendar": CalendarRules(avoid_fridays=False, avoid_weekends=False,
                                                                     avoid_mondays=False, vary_weekday=False)})
    assert decided(thread("Hello", sent), at(5, 9), relaxed).not_before == at(11, 8, 30)


def test_r7_holidays_and_the_days_around_them() -> None:
    sent = datetime(2026, 5, 6, 15, 0, tzinfo=OSLO)  # Wed May 6; + 7 = Wed May 13, before Ascension (Thu 14)
    d = decided(thread("Hello", sent), datetime(2026, 5, 7, 9, 0, tzinfo=OSLO))
    # 13 before, 14 holiday, 15 after (and a Friday), weekend, 18 Mon, 19 Tue (May 17 is a Sunday, so
    # the 18th is the day after it too): Tue May 19.
    assert d.not_before == datetime(2026, 5, 19, 8, 30, tzinfo=OSLO)
    reasons = "\n".join(d.reasons)
    assert "day before a public holiday: Ascension Day (NO)" in reasons
    allowed = SETTINGS.model_copy(update={"calendar": CalendarRules(avoid_holidays=False,
                                                                     avoid_days_around_holidays=False)})
    assert decided(thread("Hello", sent), datetime(2026, 5, 7, 9, 0, tzinfo=OSLO), allowed).not_before == \
        datetime(2026, 5, 14, 8, 30, tzinfo=OSLO)  # Wednesday is the original's weekday: Thursday


# --- R8: the time of day. ------------------------------------------------------------------------------

def test_r8_attempts_alternate_morning_and_afternoon_and_avoid_the_last_weekday() -> None:
    morning = decided(thread("Hello", at(1, 9)), at(2, 9))  # sent Tuesday morning: Wednesday afternoon
    assert morning.not_before == at(9, 14)
    assert any("this one prefers the afternoon" in r for r in morning.reasons)
    afternoon = decided(thread("Hello", at(1, 15)), at(2, 9))
    assert afternoon.not_before == at(9, 8, 30)
    one_window = SETTINGS.model_copy(update={"draft_hours": ["09:00-11:00"]})
    assert decided(thread("Hello", at(1, 9)), at(2, 9), one_window).not_before == at(9, 9)  # no afternoon to go to


# --- R12, R19: stops and the phone. ---------------------------------------------------------------------

def test_r12_stop_list_for_the_contact_and_the_thread() -> None:
    assert decided(thread("Hello"), at(9, 9), stoplist={KIM: "asked to stop"}).state == "stopped"
    assert decided(thread("Hello"), at(9, 9), stoplist={"<a@x>": "you said stop"}).state == "stopped"


def test_snooze_puts_the_followup_off_until_the_date() -> None:
    d = decided(thread("Hello"), at(9, 9), snoozed={"<a@x>": date(2026, 12, 20)})
    # Dec 20 is a Sunday, Dec 21 a Monday, Dec 22 a Tuesday like the original (R8).
    assert (d.state, d.not_before) == ("snoozed", at(23, 8, 30))
    assert "you snoozed it until 2026-12-20" in "\n".join(d.reasons)
    assert decided(thread("Hello"), at(23, 9), snoozed={"<a@x>": date(2026, 12, 20)}).state == "due"
    # A snooze that ends before the rules allow a follow-up changes nothing.
    assert decided(thread("Hello"), at(2, 9), snoozed={"<a@x>": date(2026, 12, 3)}).state == "waiting"


def test_r19_a_contact_who_prefers_the_phone_gets_no_draft() -> None:
    settings = Settings(timezone="Europe/Oslo", country="NO", contacts={KIM: Contact(prefers="phone")})
    d = decided(thread("Hello"), at(9, 9), settings)
    assert (d.state, d.not_before) == ("call", at(9, 8, 30))
    assert "kim@example.com prefers a phone call" in d.reasons[-1]


# --- The rest of the first version. ---------------------------------------------------------------------

def test_answered_and_drafted_threads() -> None:
    answered = build_threads([mail("<a@x>", ME, (KIM,), TUESDAY_PM),
                              mail("<r@y>", KIM, (ME,), at(3, 10), "Re: Hello", ("<a@x>",), "INBOX")], [ME])[0]
    assert decided(answered, at(9, 9)).state == "replied"
    assert decided(thread("Hello"), at(9, 9), drafted={1}).state == "drafted"


def test_lookback_keeps_old_threads_out() -> None:
    t = thread()
    assert in_lookback(t, SETTINGS, TUESDAY_PM + timedelta(days=59))
    assert not in_lookback(t, SETTINGS, TUESDAY_PM + timedelta(days=61))


def test_the_oldest_due_threads_come_first() -> None:
    now = at(10, 9)
    pairs = []
    for i in range(5):
        (t,) = build_threads([mail(f"<{i}@x>", ME, (KIM,), TUESDAY_PM - timedelta(days=i), f"s{i}")], [ME])
        pairs.append((decided(t, now), t.last_user.date))
    ordered = oldest_first(pairs)
    assert [d.thread_key for d in ordered] == ["<4@x>", "<3@x>", "<2@x>", "<1@x>", "<0@x>"]
    assert "at most 3 draft(s) per pass" in left_for_next_pass(ordered[0], 3).reasons[-1]


# --- The property: no computed moment on a forbidden day, anywhere, 2026-2030. ---------------------------

COUNTRIES = ["NO", "SE", "DE", "AT", "CH", "DK", "FI", "GB", "US", "FR", "NL", "ES", "IT", "PL", "IE", "CA",
             "AU", "NZ", "BE", "PT", "JP", "BR"]
TLDS = {"GB": "uk"}


@hsettings(max_examples=300, deadline=None)
@given(
    account_country=st.sampled_from(COUNTRIES),
    recipient_country=st.sampled_from(COUNTRIES + [None]),
    sent=st.datetimes(datetime(2026, 1, 1), datetime(2030, 11, 30)),
    subject=st.sampled_from([row[1] for row in R10]),
    followups=st.integers(0, 2),
    promised_in=st.one_of(st.none(), st.integers(0, 40)),
    tz=st.sampled_from(["Europe/Oslo", "America/New_York", "Asia/Tokyo", "Australia/Sydney", "UTC"]),
)
def test_no_computed_moment_falls_on_a_forbidden_day(account_country: str, recipient_country: str | None,
                                                     sent: datetime, subject: str, followups: int,
                                                     promised_in: int | None, tz: str) -> None:
    zone = ZoneInfo(tz)
    sent = sent.replace(tzinfo=zone)
    to = f"kim@example.{TLDS.get(recipient_country, recipient_country.lower())}" if recipient_country else KIM
    history = tuple(sent + timedelta(days=8 * (i + 1), hours=i) for i in range(followups))
    promise = (sent.date() + timedelta(days=promised_in), "by then") if promised_in is not None else None
    t = thread(subject, sent, history, to=to, answer=(sent - timedelta(days=1), ) if promise else None,
               promise=promise)
    settings = Settings(timezone=tz, country=account_country)
    cal = Calendars(settings, [ME]).for_thread(t)
    now = t.last_user.date + timedelta(hours=1)
    d = decide(t, settings, cal, now, drafted=(), own=[ME])
    if d.not_before is None:
        assert d.state in ("capped",)
        return
    day = d.not_before.astimezone(zone).date()
    assert forbidden_reason(cal, day) is None
    assert day.weekday() in (1, 2, 3), WEEKDAY_NAMES[day.weekday()]
    assert day.weekday() != t.last_user.date.astimezone(zone).weekday()
    table = holidays.country_holidays(recipient_country or account_country)  # theirs where known (R7)
    assert not any(x in table for x in (day - timedelta(days=1), day, day + timedelta(days=1)))
    local = d.not_before.astimezone(zone)
    assert any(start == local.time() for start, _ in settings.windows)


TOKENS = [*"abcdefghijklmnopqrstuvwxyzäöüåøß -:!?,.", "bewerbung", "application", "interview", "intervju", "kaffee",
          "coffee", "offert", "job", "möte", "thank you for the phone call", "tack för mötet"]


@hsettings(max_examples=300, deadline=None)
@given(text=st.lists(st.sampled_from(TOKENS), max_size=25).map("".join))
def test_the_keyword_pattern_finds_what_one_alternative_per_word_finds(text: str) -> None:
    """The pattern asks for the start of a word once, before its alternatives: it must find exactly what the
    plain form (the start asked in each alternative) finds, for every built-in list of words."""
    import re

    from mail_followup.core.scenarios import _pattern, builtin_rules

    for rule in builtin_rules():
        words = tuple(rule.subject or rule.body)
        parts = []
        for word in sorted(words, key=len, reverse=True):
            core = r"\s+".join(re.escape(w) for w in word.rstrip("*").casefold().split())
            parts.append(rf"(?<!\w){core}\w*" if word.endswith("*") else rf"(?<!\w){core}(?!\w)")
        plain = re.compile("|".join(parts))
        found, expected = _pattern(words).search(text), plain.search(text)
        assert (found and (found.start(), found.group(0))) == (expected and (expected.start(), expected.group(0)))
