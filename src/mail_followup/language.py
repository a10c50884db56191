"""Language data: the texts of a draft and the phrases the rules look for.

Each language is one YAML file in ``lang/``, so adding a language adds a file,
not code.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Any

import yaml

_REQUIRED = (
    "code", "greeting", "greeting_anonymous", "closing", "attribution", "weekdays", "months",
    "date_format", "reply_prefix", "first", "later", "last", "blame_phrases",
)


@dataclass(frozen=True)
class Texts:
    code: str
    greeting: str
    greeting_anonymous: str
    closing: str
    attribution: str
    weekdays: tuple[str, ...]
    months: tuple[str, ...]
    date_format: str
    reply_prefix: str
    first: tuple[str, ...]
    later: tuple[str, ...]
    last: tuple[str, ...]
    blame_phrases: tuple[str, ...]

    def variants(self, kind: str) -> tuple[str, ...]:
        return {"first": self.first, "later": self.later, "last": self.last}[kind]


@lru_cache(maxsize=None)
def available_languages() -> tuple[str, ...]:
    folder = resources.files("mail_followup") / "lang"
    return tuple(sorted(p.name.removesuffix(".yaml") for p in folder.iterdir() if p.name.endswith(".yaml")))


@lru_cache(maxsize=None)
def texts(code: str) -> Texts:
    """Load the texts for ``code``; raise KeyError for a language we have no file for."""
    if code not in available_languages():
        raise KeyError(code)
    raw = yaml.safe_load((resources.files("mail_followup") / "lang" / f"{code}.yaml").read_text("utf-8"))
    missing = [k for k in _REQUIRED if k not in raw]
    if missing:
        raise ValueError(f"lang/{code}.yaml lacks {', '.join(missing)}")
    values: dict[str, Any] = {k: tuple(raw[k]) if isinstance(raw[k], list) else raw[k] for k in _REQUIRED}
    return Texts(**values)
