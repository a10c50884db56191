"""The date by which the other person promised to come back, read from their message.

Why this exists: the follow-up rule must never nag someone before the
timeline they set themselves ("we'll decide by Friday"). A follow-up sent too
early is worse than one sent a little late, so this module leans towards
finding nothing: a date counts only when it stands in the same sentence as a
phrase announcing that *they* will come back, decide or let the user know,
with no request to the user, condition or negation in between. The phrases
live in ``phrases/deadlines/<language>.yaml`` (compiled by ``deadline_rules``), so a
language is a data file.

Weekdays, weeks, durations and dates are read by our own patterns first:
dateparser reads "11.12." as a time of day, a Swedish "11 december" as the
year 2111 and "next week" as seven days from now rather than the end of that
week. dateparser reads only what the patterns leave over. Where a phrase
allows two readings we take the later one ("next Friday" is the Friday of
next week), for the same reason.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import cache, lru_cache

from mail_followup.core.deadline_rules import Rules, all_rules, lookup_key, time_patterns

WINDOW = 60  # characters between a cue and its time expression, at most
HORIZON = timedelta(days=120)  # a promise further away than this is a misreading
PHRASE_MAX = 80
_SENTENCE_END = re.compile(r"(?:[!?]+|(?<!\d)\.)(?=\s+[^\s\d]|\s*$)|\n[ \t]*\n")
_SPACE = re.compile(r"\s+")
_NUMERAL = re.compile(r"[\d\s.,:/-]+")  # dateparser reads "31.2." as a time of day


@dataclass(frozen=True)
class Promise:
    """Their timeline: ``day`` is its last day, ``phrase`` the words it was read from."""

    day: date
    phrase: str
    language: str


def promised_date(text: str, sent: datetime) -> Promise | None:
    """The first promise in ``text`` to come back by a date, or None.

    ``sent`` is when the message was sent; relative expressions ("next week",
    "within two weeks") count from its local calendar day. A weekday alone
    ("by Friday") is the next such day strictly after that day; "next week"
    and "end of next week" are the Friday of the next calendar week; "this
    week" is this week's Friday; "within N days/weeks" is ``sent`` plus that.
    A reading before ``sent`` or more than 120 days after it is skipped.
    """
    base = sent.replace(tzinfo=None)  # the sender's wall clock
    for start, end in _sentences(text):
        if text[start:end].rstrip().endswith("?"):
            continue  # a question to the user is no promise
        for rules, cue in _cues(text, start, end):
            found = _read(text, (start, end), rules, cue, base)
            if found is not None:
                return found
    return None


# --- finding cues and their time ---------------------------------------------


def _sentences(text: str) -> list[tuple[int, int]]:
    """Spans of sentences (a full stop after a digit, as in "11. Dezember", ends none)."""
    spans, start = [], 0
    for end in _SENTENCE_END.finditer(text):
        spans.append((start, end.end()))
        start = end.end()
    spans.append((start, len(text)))
    return [(s, e) for s, e in spans if text[s:e].strip()]


def _cues(text: str, start: int, end: int) -> list[tuple[Rules, re.Match[str]]]:
    """Every cue of every language in ``text[start:end]``, in text order, longer first."""
    found = []
    for order, rules in enumerate(all_rules()):
        for pattern in rules.cues:
            for match in pattern.finditer(text, start, end):
                found.append((match.start(), match.start() - match.end(), order, rules, match))
    found.sort(key=lambda f: f[:3])
    return [(rules, match) for _, _, _, rules, match in found]


def _read(text: str, sentence: tuple[int, int], rules: Rules, cue: re.Match[str],
          base: datetime) -> Promise | None:
    """The first valid time expression around one cue: before it in its clause, in its gap, after it."""
    sentence_start, sentence_end = sentence
    breaks = rules.clause_break.finditer(text, sentence_start, cue.start())
    clause = max((m.end() for m in breaks), default=sentence_start)
    after_end = text.find(";", cue.end(), sentence_end)
    regions = [(max(clause, cue.start() - WINDOW), cue.start(), cue.start())]
    if "gap" in cue.re.groupindex:
        regions.append((cue.start("gap"), cue.end("gap"), cue.end("gap")))
    regions.append((cue.end(), sentence_end if after_end < 0 else after_end, cue.end() + WINDOW))
    for start, end, limit in regions:
        for kind, match in _candidates(text, start, end, limit, rules):
            found = _evaluate(kind, match, end, rules, base)
            if found is None:
                continue
            day, expr_end = found
            if not base.date() <= day <= base.date() + HORIZON:
                continue
            if _blocked(text, clause, cue, match.start(), expr_end, rules):
                continue
            return Promise(day, _phrase(text, cue, match.start(), expr_end), rules.code)
    return None


@cache
def _patterns_of(code: str) -> tuple[tuple[str, re.Pattern[str]], ...]:
    """A language's time expressions, compiled once one of its cues is found: all four languages'
    took a tenth of a second or more in every pass that read an answer, most of them never used."""
    return time_patterns(code)


def _candidates(text: str, start: int, end: int, limit: int,
                rules: Rules) -> list[tuple[str, re.Match[str]]]:
    """Time expressions in ``text[start:end]`` starting at or before ``limit``, in text order, longest first.

    Then, after all of ours, each connector that starts none of them, for dateparser.
    """
    found = []
    for order, (kind, pattern) in enumerate(_patterns_of(rules.code)):
        for match in pattern.finditer(text, start, end):
            if match.start() <= limit:
                found.append((match.start(), match.start() - match.end(), order, kind, match))
    found.sort(key=lambda f: f[:3])
    spans = [(f[4].start(), f[4].end()) for f in found]
    leftover = [("dateparser", m) for m in rules.connector.finditer(text, start, end)
                if m.start() <= limit and not any(a <= m.start() < b for a, b in spans)]
    return [(kind, match) for _, _, _, kind, match in found] + leftover


def _blocked(text: str, clause: int, cue: re.Match[str], expr_start: int, expr_end: int, rules: Rules) -> bool:
    """Does a marker (a request, a condition, a negation) stand in the clause, outside cue and time?"""
    low, high = min(clause, expr_start), max(cue.end(), expr_end)
    chars = list(text[low:high])
    gap = (cue.start("gap"), cue.end("gap")) if "gap" in cue.re.groupindex else (cue.end(), cue.end())
    for start, end in ((cue.start(), gap[0]), (gap[1], cue.end()), (expr_start, expr_end)):
        for i in range(max(start, low), min(end, high)):
            chars[i - low] = " "
    return rules.markers.search("".join(chars)) is not None


def _phrase(text: str, cue: re.Match[str], expr_start: int, expr_end: int) -> str:
    """The words the promise was read from, on one line, at most PHRASE_MAX characters."""
    whole = _tidy(text[min(cue.start(), expr_start):max(cue.end(), expr_end)])
    if len(whole) <= PHRASE_MAX:
        return whole
    cue_text, expr = _tidy(cue.group(0)), _tidy(text[expr_start:expr_end])
    short = f"{cue_text} … {expr}" if cue.start() < expr_start else f"{expr} … {cue_text}"
    return short[:PHRASE_MAX]


def _tidy(text: str) -> str:
    """On one line, without the punctuation that ends a sentence (but keeping "11.12.")."""
    text = _SPACE.sub(" ", text).strip(" ,;:!?")
    return text[:-1] if text.endswith(".") and not text[-2:-1].isdigit() else text


# --- reading a time expression -------------------------------------------------


def _evaluate(kind: str, match: re.Match[str], region_end: int, rules: Rules,
              base: datetime) -> tuple[date, int] | None:
    """The day an expression names and where it ends, or None."""
    if kind == "dateparser":
        return _dateparser(match, region_end, rules, base)
    try:
        day = _READERS[kind](rules, match, base)
    except (ValueError, OverflowError):  # 31 February, week 60, a year too far
        return None
    return (day, match.end()) if day is not None else None


def _dateparser(connector: re.Match[str], region_end: int, rules: Rules,
                base: datetime) -> tuple[date, int] | None:
    """What dateparser reads in the few words after a connector; the shortest reading wins.

    Longer readings pull in the words after the time ("bis 15 Uhr eine Antwort"
    is the 15th). Numbers and very short words are left alone: dateparser
    reads "a", "one" and "may" as dates.
    """
    text = connector.string
    words = list(re.finditer(r"\S+", text[connector.end():region_end]))[:4]
    for count in range(1, len(words) + 1):
        end = connector.end() + words[count - 1].end()
        phrase = _SPACE.sub(" ", text[connector.end():end]).strip(" ,.:;()")
        if len(phrase) < 4 or _NUMERAL.fullmatch(phrase) or lookup_key(phrase) in rules.numbers:
            continue
        parsed = _parse(phrase, rules.code, base)
        if parsed is not None:
            return parsed, end
    return None


@lru_cache(maxsize=1024)
def _parse(phrase: str, code: str, base: datetime) -> date | None:
    import dateparser  # heavy: loaded only when our own patterns read nothing

    parsed = dateparser.parse(phrase, languages=[code],
                              settings={"RELATIVE_BASE": base, "PREFER_DATES_FROM": "future"})
    return parsed.date() if parsed is not None else None


def _monday(day: date) -> date:
    return day - timedelta(days=day.weekday())


def _last_of_month(year: int, month: int) -> date:
    return date(year, month, calendar.monthrange(year, month)[1])


def _year(match: re.Match[str]) -> int | None:
    text = match.group("y")
    if not text:
        return None
    return int(text) + 2000 if len(text) == 2 else int(text)


def _on_or_after(today: date, month: int, day: int, year: int | None) -> date:
    """That month and day in ``year``, or else the next one on or after ``today``."""
    if year is not None:
        return date(year, month, day)
    found = date(today.year, month, day)
    return found if found >= today else date(today.year + 1, month, day)


def _read_iso(rules: Rules, m: re.Match[str], base: datetime) -> date | None:
    return date(int(m["y"]), int(m["m"]), int(m["d"]))


def _read_numeric(rules: Rules, m: re.Match[str], base: datetime) -> date | None:
    if m["sep"] == "." and not m["tail"]:
        return None  # "11.30" is a time of day
    a, b = int(m["a"]), int(m["b"])
    order = rules.numeric_order or ("dm" if a > 12 >= b else "md" if b > 12 >= a else "")
    if not order:
        return None  # "11/12" in a language that writes both orders
    day, month = (a, b) if order == "dm" else (b, a)
    return _on_or_after(base.date(), month, day, _year(m))


def _read_day_month(rules: Rules, m: re.Match[str], base: datetime) -> date | None:
    return _on_or_after(base.date(), rules.months[lookup_key(m["mon"])], int(m["d"]), _year(m))


def _read_day_only(rules: Rules, m: re.Match[str], base: datetime) -> date | None:
    today, day = base.date(), int(m["d"])
    if day >= today.day:
        return today.replace(day=day)
    following = _last_of_month(today.year, today.month) + timedelta(days=1)
    return following.replace(day=day)


def _read_month(rules: Rules, m: re.Match[str], base: datetime) -> date | None:
    if not (m["conn"] or m["q"]):
        return None  # "may" alone is no month
    today, month = base.date(), rules.months[lookup_key(m["mon"])]
    year = _year(m) or (today.year if month >= today.month else today.year + 1)
    return _last_of_month(year, month)


def _read_weekday(rules: Rules, m: re.Match[str], base: datetime) -> date | None:
    today, weekday = base.date(), rules.weekdays[lookup_key(m["wd"])]
    if m["nextweek"] or lookup_key(m["mod"] or "") in rules.next_weekday:
        return _monday(today) + timedelta(days=7 + weekday)
    if m["thisweek"]:
        return _monday(today) + timedelta(days=weekday)
    return today + timedelta(days=(weekday - today.weekday() - 1) % 7 + 1)


def _read_week_number(rules: Rules, m: re.Match[str], base: datetime) -> date | None:
    today, week = base.date(), int(m["n"])
    friday = date.fromisocalendar(today.year, week, 5)
    return friday if friday >= today else date.fromisocalendar(today.year + 1, week, 5)


def _read_duration(rules: Rules, m: re.Match[str], base: datetime) -> date | None:
    count = _number(rules, m["n3"] or m["n2"] or m["n"])
    unit = rules.units[lookup_key(m["unit"])]
    if unit == "hour":
        return (base + timedelta(hours=count)).date()
    if unit == "workday":
        return _add_workdays(base.date(), count)
    if unit == "month":
        return _add_months(base.date(), count)
    return base.date() + timedelta(days=count * (7 if unit == "week" else 1))


def _number(rules: Rules, text: str) -> int:
    return int(text) if text.isdigit() else rules.numbers[lookup_key(text)]


def _add_workdays(day: date, count: int) -> date:
    for _ in range(min(count, 1000)):
        day += timedelta(days=1)
        while day.weekday() >= 5:
            day += timedelta(days=1)
    return day


def _add_months(day: date, count: int) -> date:
    years, month = divmod(day.month - 1 + count, 12)
    last = _last_of_month(day.year + years, month + 1)
    return last.replace(day=min(day.day, last.day))


def _week_friday(weeks_ahead: int) -> Callable[[Rules, re.Match[str], datetime], date]:
    return lambda rules, m, base: _monday(base.date()) + timedelta(days=7 * weeks_ahead + 4)


def _read_relative_day(rules: Rules, m: re.Match[str], base: datetime) -> date | None:
    return base.date() + timedelta(days=rules.relative_days[lookup_key(m["rel"])])


def _read_named_date(rules: Rules, m: re.Match[str], base: datetime) -> date | None:
    month, day = rules.named_dates[lookup_key(m["named"])]
    return _on_or_after(base.date(), month, day, None)


def _read_end_of_month(rules: Rules, m: re.Match[str], base: datetime) -> date | None:
    return _last_of_month(base.year, base.month)


def _read_end_of_next_month(rules: Rules, m: re.Match[str], base: datetime) -> date | None:
    following = _last_of_month(base.year, base.month) + timedelta(days=1)
    return _last_of_month(following.year, following.month)


def _read_end_of_year(rules: Rules, m: re.Match[str], base: datetime) -> date | None:
    return date(base.year, 12, 31)


_READERS: dict[str, Callable[[Rules, re.Match[str], datetime], date | None]] = {
    "iso": _read_iso,
    "numeric": _read_numeric,
    "day_month": _read_day_month,
    "month_day": _read_day_month,
    "day_only": _read_day_only,
    "month": _read_month,
    "weekday": _read_weekday,
    "week_number": _read_week_number,
    "duration": _read_duration,
    "time_of_day": lambda rules, m, base: base.date(),
    "relative_day": _read_relative_day,
    "named_date": _read_named_date,
    "this_week": _week_friday(0),
    "next_week": _week_friday(1),
    "week_after_next": _week_friday(2),
    "end_of_month": _read_end_of_month,
    "end_of_next_month": _read_end_of_next_month,
    "end_of_year": _read_end_of_year,
}


def read_date(text: str, language: str, sent: datetime, within: int = 12) -> date | None:
    """The date that ``text`` starts with ("den 14 december", "14. Januar", "Monday"), read in
    ``language`` relative to ``sent`` by the same patterns as a promise, or None.

    For the return date of an out-of-office, where the cue is already found:
    dateparser alone misreads Swedish dates and numeric ones.
    """
    rules = next((r for r in all_rules() if r.code == language), None)
    if rules is None:
        return None
    base = sent.replace(tzinfo=None)
    for kind, match in _candidates(text, 0, len(text), within, rules):
        if kind == "dateparser":
            continue
        found = _evaluate(kind, match, len(text), rules, base)
        if found is not None:
            return found[0]
    return None
