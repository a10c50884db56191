"""The date by which the other person promised to come back, read from their message.

Why this exists: the follow-up rule must never nag someone before the
timeline they set themselves ("we'll decide by Friday"). A follow-up sent too
early is worse than one sent a little late, so this module leans towards
finding nothing: a date counts only when it stands in the same sentence as a
phrase announcing that *they* will come back, decide or let the user know,
with no request to the user, condition or negation in between. The phrases
live in ``phrases/deadlines/<language>.yaml``, so a language is a data file.

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
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import lru_cache
from typing import Any, Callable, Iterable

from mail_followup.packaged import yaml_data, yaml_names

WINDOW = 60  # characters between a cue and its time expression, at most
HORIZON = timedelta(days=120)  # a promise further away than this is a misreading
PHRASE_MAX = 80
_GAP_WORDS = 8  # words a "..." in a cue may stand for
_SENTENCE_END = re.compile(r"(?:[!?]+|(?<!\d)\.)(?=\s+[^\s\d]|\s*$)|\n[ \t]*\n")
_SPACE = re.compile(r"\s+")
_NUMERAL = re.compile(r"[\d\s.,:/-]+")  # dateparser reads "31.2." as a time of day
_FOLDER = "phrases/deadlines"


@dataclass(frozen=True)
class Promise:
    """Their timeline: ``day`` is its last day, ``phrase`` the words it was read from."""

    day: date
    phrase: str
    language: str


@dataclass(frozen=True)
class _Rules:
    """One language's data file, compiled."""

    code: str
    cues: tuple[re.Pattern[str], ...]
    connector: re.Pattern[str]
    clause_break: re.Pattern[str]
    markers: re.Pattern[str]
    weekdays: dict[str, int]
    next_weekday: frozenset[str]
    months: dict[str, int]
    numbers: dict[str, int]
    units: dict[str, str]
    relative_days: dict[str, int]
    named_dates: dict[str, tuple[int, int]]
    numeric_order: str


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


# --- the data files ---------------------------------------------------------


@lru_cache(maxsize=None)
def _all_rules() -> tuple[_Rules, ...]:
    """Every language in ``phrases/deadlines``, in file-name order."""
    return tuple(_compile(code, _data(code)) for code in yaml_names(_FOLDER))


@lru_cache(maxsize=None)
def _data(code: str) -> dict[str, Any]:
    return dict(yaml_data(_FOLDER, code))


@lru_cache(maxsize=None)
def _patterns_of(code: str) -> tuple[tuple[str, re.Pattern[str]], ...]:
    """A language's time expressions, compiled once one of its cues is found: all four languages'
    took a tenth of a second or more in every pass that read an answer, most of them never used."""
    return _patterns(_data(code))


def _compile(code: str, raw: dict[str, Any]) -> _Rules:
    words = _alt(raw["clause_breaks"])
    return _Rules(
        code=code,
        cues=tuple(_cue(str(c)) for c in raw["cues"]),
        connector=_bounded(_alt(raw["connectors"])),
        clause_break=re.compile(rf"[,;:()]|(?<!\w){words}(?!\w)", re.I),
        markers=_bounded(_alt(raw["markers"])),
        weekdays=_index(raw["weekdays"]),
        next_weekday=frozenset(_key(w) for w in raw["next_weekday"]),
        months=_index(raw["months"], first=1),
        numbers={_key(k): int(v) for k, v in raw["numbers"].items()},
        units={_key(k): str(v) for k, v in raw["units"].items()},
        relative_days={_key(k): int(v) for k, v in raw["relative_days"].items()},
        named_dates={_key(k): _month_day(str(v)) for k, v in raw["named_dates"].items()},
        numeric_order=str(raw["numeric_order"] or ""),
    )


def _key(text: str) -> str:
    return " ".join(str(text).lower().split())


def _words(phrase: str) -> str:
    """A phrase as a pattern that allows any whitespace between its words."""
    return r"\s+".join(re.escape(w) for w in phrase.split())


def _alt(phrases: Iterable[Any]) -> str:
    """An alternation of phrases, longest first; one that never matches when empty."""
    items = sorted({_key(p) for p in phrases}, key=len, reverse=True)
    return "(?:" + "|".join(_words(p) for p in items) + ")" if items else "(?!)"


def _bounded(pattern: str) -> re.Pattern[str]:
    return re.compile(rf"(?<!\w){pattern}(?!\w)", re.I)


def _cue(cue: str) -> re.Pattern[str]:
    """A cue; a "..." in it stands for a few words of the same clause, captured as ``gap``."""
    head, sep, tail = cue.partition("...")
    if not sep:
        return _bounded(_words(head))
    gap = rf"(?P<gap>\s+(?:[^\s,;:!?]+\s+){{0,{_GAP_WORDS}}}?)"
    return _bounded(_words(head) + gap + _words(tail))


def _index(groups: list[list[str]], first: int = 0) -> dict[str, int]:
    """{"monday": 0, "mon": 0, ...} from [["monday", "mon"], ...]."""
    return {_key(name): number for number, names in enumerate(groups, start=first) for name in names}


def _month_day(text: str) -> tuple[int, int]:
    month, day = text.split("-")
    return int(month), int(day)


def _patterns(raw: dict[str, Any]) -> tuple[tuple[str, re.Pattern[str]], ...]:
    """One pattern per kind of time expression, each after an optional connector and article."""
    art = _alt(raw["articles"])
    lead = rf"(?:(?P<conn>{_alt(raw['connectors'])})\s+)?(?:{art}\s+)?"
    weekday = _alt(n for names in raw["weekdays"] for n in names)
    month = _alt(n for names in raw["months"] for n in names)
    ordinal = _alt(raw["ordinal_suffixes"])
    joiner = rf"(?:\s+{_alt(raw['date_joiners'])})?"
    year = r"(?:,?\s+(?P<y>\d{4}))?"
    on_day = rf"(?:{weekday},?\s+)?(?:{art}\s+)?"
    number = rf"(?:{_alt(raw['numbers'])}|\d{{1,3}})"
    ranges = _alt(raw["ranges"])
    bodies = {
        "iso": r"(?P<y>\d{4})-(?P<m>\d{1,2})-(?P<d>\d{1,2})",
        "numeric": on_day + r"(?P<a>\d{1,2})(?P<sep>[./])(?P<b>\d{1,2})(?P<tail>(?P=sep)(?P<y>\d{4}|\d{2})?)?",
        "day_month": on_day + rf"(?P<d>\d{{1,2}})(?:{ordinal})?{joiner}\s+(?P<mon>{month})\.?{year}",
        "month_day": rf"(?:{weekday},?\s+)?(?P<mon>{month})\.?\s+(?:{art}\s+)?(?P<d>\d{{1,2}})(?:{ordinal})?{year}",
        "day_only": on_day + rf"(?P<d>\d{{1,2}}){ordinal}",
        "month": rf"(?:(?P<q>{_alt(raw['month_qualifiers'])})\s*)?(?:{art}\s+)?(?P<mon>{month}){year}",
        "weekday": (rf"(?:(?P<mod>{_alt(raw['this_weekday'] + raw['next_weekday'])})\s+)?(?P<wd>{weekday})"
                    rf"(?:\s+(?:(?P<nextweek>{_alt(raw['next_week'])})|(?P<thisweek>{_alt(raw['this_week'])})))?"),
        "week_number": rf"{_alt(raw['week_words'])}\.?\s*(?P<n>\d{{1,2}})",
        "duration": (rf"(?:{_alt(raw['duration_leads'])}\s+)?(?P<n>{number})"
                     rf"(?:(?:\s+{ranges}\s+|\s*[-–]\s*)(?P<n2>{number}))?\s+(?P<unit>{_alt(raw['units'])})"
                     rf"(?:\s+{ranges}\s+(?P<n3>{number}))?"),
        "time_of_day": (rf"(?:{_alt(raw['time_prefixes'])}\s*\d{{1,2}}(?:[:.]\d{{2}})?"
                        rf"|\d{{1,2}}(?:[:.]\d{{2}})?\s*{_alt(raw['time_suffixes'])}|\d{{1,2}}:\d{{2}})"),
        "relative_day": rf"(?P<rel>{_alt(raw['relative_days'])})",
        "named_date": rf"(?P<named>{_alt(raw['named_dates'])})",
    }
    for kind in ("this_week", "next_week", "week_after_next", "end_of_month", "end_of_next_month", "end_of_year"):
        bodies[kind] = _alt(raw[kind])
    # Not inside a number either: the "2." of "31.2." is no day.
    return tuple((kind, re.compile(rf"(?<![\w./:-]){lead}{body}(?!\w)", re.I)) for kind, body in bodies.items())


# --- finding cues and their time ---------------------------------------------


def _sentences(text: str) -> list[tuple[int, int]]:
    """Spans of sentences (a full stop after a digit, as in "11. Dezember", ends none)."""
    spans, start = [], 0
    for end in _SENTENCE_END.finditer(text):
        spans.append((start, end.end()))
        start = end.end()
    spans.append((start, len(text)))
    return [(s, e) for s, e in spans if text[s:e].strip()]


def _cues(text: str, start: int, end: int) -> list[tuple[_Rules, re.Match[str]]]:
    """Every cue of every language in ``text[start:end]``, in text order, longer first."""
    found = []
    for order, rules in enumerate(_all_rules()):
        for pattern in rules.cues:
            for match in pattern.finditer(text, start, end):
                found.append((match.start(), match.start() - match.end(), order, rules, match))
    found.sort(key=lambda f: f[:3])
    return [(rules, match) for _, _, _, rules, match in found]


def _read(text: str, sentence: tuple[int, int], rules: _Rules, cue: re.Match[str],
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


def _candidates(text: str, start: int, end: int, limit: int,
                rules: _Rules) -> list[tuple[str, re.Match[str]]]:
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


def _blocked(text: str, clause: int, cue: re.Match[str], expr_start: int, expr_end: int, rules: _Rules) -> bool:
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


def _evaluate(kind: str, match: re.Match[str], region_end: int, rules: _Rules,
              base: datetime) -> tuple[date, int] | None:
    """The day an expression names and where it ends, or None."""
    if kind == "dateparser":
        return _dateparser(match, region_end, rules, base)
    try:
        day = _READERS[kind](rules, match, base)
    except (ValueError, OverflowError):  # 31 February, week 60, a year too far
        return None
    return (day, match.end()) if day is not None else None


def _dateparser(connector: re.Match[str], region_end: int, rules: _Rules,
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
        if len(phrase) < 4 or _NUMERAL.fullmatch(phrase) or _key(phrase) in rules.numbers:
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


def _read_iso(rules: _Rules, m: re.Match[str], base: datetime) -> date | None:
    return date(int(m["y"]), int(m["m"]), int(m["d"]))


def _read_numeric(rules: _Rules, m: re.Match[str], base: datetime) -> date | None:
    if m["sep"] == "." and not m["tail"]:
        return None  # "11.30" is a time of day
    a, b = int(m["a"]), int(m["b"])
    order = rules.numeric_order or ("dm" if a > 12 >= b else "md" if b > 12 >= a else "")
    if not order:
        return None  # "11/12" in a language that writes both orders
    day, month = (a, b) if order == "dm" else (b, a)
    return _on_or_after(base.date(), month, day, _year(m))


def _read_day_month(rules: _Rules, m: re.Match[str], base: datetime) -> date | None:
    return _on_or_after(base.date(), rules.months[_key(m["mon"])], int(m["d"]), _year(m))


def _read_day_only(rules: _Rules, m: re.Match[str], base: datetime) -> date | None:
    today, day = base.date(), int(m["d"])
    if day >= today.day:
        return today.replace(day=day)
    following = _last_of_month(today.year, today.month) + timedelta(days=1)
    return following.replace(day=day)


def _read_month(rules: _Rules, m: re.Match[str], base: datetime) -> date | None:
    if not (m["conn"] or m["q"]):
        return None  # "may" alone is no month
    today, month = base.date(), rules.months[_key(m["mon"])]
    year = _year(m) or (today.year if month >= today.month else today.year + 1)
    return _last_of_month(year, month)


def _read_weekday(rules: _Rules, m: re.Match[str], base: datetime) -> date | None:
    today, weekday = base.date(), rules.weekdays[_key(m["wd"])]
    if m["nextweek"] or _key(m["mod"] or "") in rules.next_weekday:
        return _monday(today) + timedelta(days=7 + weekday)
    if m["thisweek"]:
        return _monday(today) + timedelta(days=weekday)
    return today + timedelta(days=(weekday - today.weekday() - 1) % 7 + 1)


def _read_week_number(rules: _Rules, m: re.Match[str], base: datetime) -> date | None:
    today, week = base.date(), int(m["n"])
    friday = date.fromisocalendar(today.year, week, 5)
    return friday if friday >= today else date.fromisocalendar(today.year + 1, week, 5)


def _read_duration(rules: _Rules, m: re.Match[str], base: datetime) -> date | None:
    count = _number(rules, m["n3"] or m["n2"] or m["n"])
    unit = rules.units[_key(m["unit"])]
    if unit == "hour":
        return (base + timedelta(hours=count)).date()
    if unit == "workday":
        return _add_workdays(base.date(), count)
    if unit == "month":
        return _add_months(base.date(), count)
    return base.date() + timedelta(days=count * (7 if unit == "week" else 1))


def _number(rules: _Rules, text: str) -> int:
    return int(text) if text.isdigit() else rules.numbers[_key(text)]


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


def _week_friday(weeks_ahead: int) -> Callable[[_Rules, re.Match[str], datetime], date]:
    return lambda rules, m, base: _monday(base.date()) + timedelta(days=7 * weeks_ahead + 4)


def _read_relative_day(rules: _Rules, m: re.Match[str], base: datetime) -> date | None:
    return base.date() + timedelta(days=rules.relative_days[_key(m["rel"])])


def _read_named_date(rules: _Rules, m: re.Match[str], base: datetime) -> date | None:
    month, day = rules.named_dates[_key(m["named"])]
    return _on_or_after(base.date(), month, day, None)


def _read_end_of_month(rules: _Rules, m: re.Match[str], base: datetime) -> date | None:
    return _last_of_month(base.year, base.month)


def _read_end_of_next_month(rules: _Rules, m: re.Match[str], base: datetime) -> date | None:
    following = _last_of_month(base.year, base.month) + timedelta(days=1)
    return _last_of_month(following.year, following.month)


def _read_end_of_year(rules: _Rules, m: re.Match[str], base: datetime) -> date | None:
    return date(base.year, 12, 31)


_READERS: dict[str, Callable[[_Rules, re.Match[str], datetime], date | None]] = {
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
    rules = next((r for r in _all_rules() if r.code == language), None)
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
