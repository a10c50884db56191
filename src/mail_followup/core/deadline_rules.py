"""The words a promised date is read with, one language per data file, compiled.

Why this exists: a language is a data file (``phrases/deadlines/<code>.yaml``),
not code. This module turns a file's lists (cues, connectors, markers,
weekday and month names, numbers, units) into lookup tables and regular
expressions, so that ``deadlines`` reads a text without seeing the YAML.
Every language's cues are compiled at the first read; the patterns for time
expressions are built per language, and only when ``deadlines`` needs them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from typing import Any

from mail_followup.core.packaged import yaml_data, yaml_names

_GAP_WORDS = 8  # words a "..." in a cue may stand for
_FOLDER = "phrases/deadlines"


@dataclass(frozen=True)
class Rules:
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


@cache
def all_rules() -> tuple[Rules, ...]:
    """Every language in ``phrases/deadlines``, in file-name order."""
    return tuple(_compile(code, _data(code)) for code in yaml_names(_FOLDER))


@cache
def _data(code: str) -> dict[str, Any]:
    return dict(yaml_data(_FOLDER, code))


def _compile(code: str, raw: dict[str, Any]) -> Rules:
    words = _alt(raw["clause_breaks"])
    return Rules(
        code=code,
        cues=tuple(_cue(str(c)) for c in raw["cues"]),
        connector=_bounded(_alt(raw["connectors"])),
        clause_break=re.compile(rf"[,;:()]|(?<!\w){words}(?!\w)", re.I),
        markers=_bounded(_alt(raw["markers"])),
        weekdays=_index(raw["weekdays"]),
        next_weekday=frozenset(lookup_key(w) for w in raw["next_weekday"]),
        months=_index(raw["months"], first=1),
        numbers={lookup_key(k): int(v) for k, v in raw["numbers"].items()},
        units={lookup_key(k): str(v) for k, v in raw["units"].items()},
        relative_days={lookup_key(k): int(v) for k, v in raw["relative_days"].items()},
        named_dates={lookup_key(k): _month_day(str(v)) for k, v in raw["named_dates"].items()},
        numeric_order=str(raw["numeric_order"] or ""),
    )


def lookup_key(text: str) -> str:
    """``text`` as the tables of ``Rules`` hold it: lower case, single spaces."""
    return " ".join(str(text).lower().split())


def _words(phrase: str) -> str:
    """A phrase as a pattern that allows any whitespace between its words."""
    return r"\s+".join(re.escape(w) for w in phrase.split())


def _alt(phrases: Iterable[Any]) -> str:
    """An alternation of phrases, longest first; one that never matches when empty."""
    items = sorted({lookup_key(p) for p in phrases}, key=len, reverse=True)
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
    return {lookup_key(name): number for number, names in enumerate(groups, start=first) for name in names}


def _month_day(text: str) -> tuple[int, int]:
    month, day = text.split("-")
    return int(month), int(day)


def time_patterns(code: str) -> tuple[tuple[str, re.Pattern[str]], ...]:
    """One pattern per kind of time expression in language ``code``, each after an optional connector and
    article; ``deadlines`` has a reader for each kind."""
    raw = _data(code)
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


