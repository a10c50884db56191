"""Language data for the drafts, and which language a thread is in (DOMAIN.md R17).

Each language is one YAML file in ``lang/`` (greetings, closings, the
attribution line, the words that show a register) and a folder of
templates in ``templates/<code>/``, so adding a language adds files, not
code. The thread's language is read from the user's own words: a follow-up
in the language the user wrote in is the only one they would send.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache, lru_cache
from typing import Any

from mail_followup.core.packaged import yaml_data, yaml_names

_REQUIRED = (
    "code", "name", "default_formal", "greeting", "greeting_anonymous", "closing", "attribution", "weekdays",
    "months", "date_format", "reply_prefix", "trimmed", "salutations", "signoffs", "formal_markers",
    "informal_markers", "blame_phrases", "review", "notify",
)
_WORD = re.compile(r"\w+", re.UNICODE)


@dataclass(frozen=True)
class Texts:
    code: str
    name: str
    default_formal: bool
    greeting: dict[str, str]  # "formal" / "informal" -> "Hi {name},"
    greeting_anonymous: dict[str, str]
    closing: dict[str, str]
    attribution: str
    weekdays: tuple[str, ...]
    months: tuple[str, ...]
    date_format: str
    reply_prefix: str
    trimmed: str
    salutations: tuple[str, ...]
    signoffs: tuple[str, ...]
    formal_markers: tuple[str, ...]
    informal_markers: tuple[str, ...]
    blame_phrases: tuple[str, ...]
    review: dict[str, Any]  # the weekly review's words (digest.py)
    notify: dict[str, Any]  # the service's desktop notifications (service/desktop.py)

    def register(self, formal: bool) -> str:
        return "formal" if formal else "informal"


@cache
def available_languages() -> tuple[str, ...]:
    return yaml_names("lang")


@cache
def texts(code: str) -> Texts:
    """Load the texts for ``code``; raise KeyError for a language we have no file for."""
    if code not in available_languages():
        raise KeyError(code)
    raw = yaml_data("lang", code)
    missing = [k for k in _REQUIRED if k not in raw]
    if missing:
        raise ValueError(f"lang/{code}.yaml lacks {', '.join(missing)}")
    values: dict[str, Any] = {k: tuple(raw[k]) if isinstance(raw[k], list) else raw[k] for k in _REQUIRED}
    values["salutations"] = tuple(str(s).lower() for s in raw["salutations"])
    values["blame_phrases"] = tuple(str(s).casefold().replace("\u2019", "'") for s in raw["blame_phrases"])
    return Texts(**values)


def all_blame_phrases() -> tuple[str, ...]:
    """Every language's blame phrases: a follow-up contains none of them, whatever its language (R13)."""
    return tuple(p for code in available_languages() for p in texts(code).blame_phrases)


# Languages lingua may answer with. Close neighbours of ours are in the list so that a Danish or a
# Nynorsk text is not forced into Bokmål, nor a Dutch one into German: those fall back instead.
_LINGUA = {"ENGLISH": "en", "GERMAN": "de", "SWEDISH": "sv", "BOKMAL": "nb", "NYNORSK": None, "DANISH": None,
           "DUTCH": None, "FRENCH": None, "SPANISH": None, "ITALIAN": None, "FINNISH": None, "POLISH": None}
MIN_LETTERS = 20  # shorter texts say too little about their language


def detect_language(text: str) -> str | None:
    """The language of ``text`` among those we have texts for, or None when unsure or another one."""
    if sum(c.isalpha() for c in text) < MIN_LETTERS:
        return None
    found = _detector().detect_language_of(text)
    if found is None:
        return None
    code = _LINGUA.get(found.name)
    return code if code in available_languages() else None


@lru_cache(maxsize=1)
def _detector() -> Any:
    """Built once, on first use: the models load lazily and cost memory only in a pass that reads bodies."""
    from lingua import Language, LanguageDetectorBuilder

    languages = [getattr(Language, name) for name in _LINGUA]
    return (LanguageDetectorBuilder.from_languages(*languages)
            .with_minimum_relative_distance(0.1).with_low_accuracy_mode().build())


def choose_language(detected: str | None, account: str) -> str:
    """The thread's language where we have texts for it, else the account's, else English."""
    for code in (detected, account, "en"):
        if code and code in available_languages():
            return code
    return "en"
