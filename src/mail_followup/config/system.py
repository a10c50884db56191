"""The defaults the machine gives: its timezone, and the language of the user's locale.

A config that names neither gets these, so a first config can be four
lines long. The languages are those we have texts for: the names of the
files in ``core/lang/``, read here as data (the list
``core.language.available_languages`` gives) so that the config imports no layer.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from importlib import resources


def language_codes() -> tuple[str, ...]:
    """The languages we have texts for (``core/lang/<code>.yaml``), in name order."""
    folder = resources.files("mail_followup").joinpath("core", "lang")
    return tuple(sorted(p.name.removesuffix(".yaml") for p in folder.iterdir() if p.name.endswith(".yaml")))


def local_timezone_name() -> str:
    """The system's IANA timezone name; UTC when it cannot be told."""
    try:
        import tzlocal

        return tzlocal.get_localzone_name() or "UTC"
    except Exception:  # an unusual system: fall back rather than refuse to start
        return "UTC"


def system_language(environ: Mapping[str, str] = os.environ) -> str:
    """The language of the user's locale, the way gettext picks it (LC_ALL, LC_MESSAGES, LANG), when we
    have texts for it; Nynorsk and plain "no" get Bokmål, the closest we have. Else English."""
    locale_name = next((environ[k] for k in ("LC_ALL", "LC_MESSAGES", "LANG") if environ.get(k)), "")
    code = locale_name.split(".")[0].split("_")[0].lower()
    code = "nb" if code in ("no", "nn") else code
    return code if code in language_codes() else "en"
