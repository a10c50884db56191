"""The YAML config: one schema for validation, defaults and the error messages.

A broken config must never produce a traceback. Every mistake is reported at
once, each with the file, the line and the key path, so the user fixes the
file in one go (borgmatic's habit).

The names below load on first use, not with the package: ``status`` reads
``config.note`` alone, and the schema's modules import pydantic, which
costs more than the rest of ``status`` does.
"""

from __future__ import annotations

import importlib

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing, which status would not otherwise need
if TYPE_CHECKING:  # the same names, for type checkers and editors (F401: they are re-exported, lazily)
    from typing import Any

    from mail_followup.config.accounts import Account, Config, Folders, Imap  # noqa: F401
    from mail_followup.config.calendar import holiday_classes, known_country  # noqa: F401
    from mail_followup.config.reading import load_config, parse_config  # noqa: F401
    from mail_followup.config.settings import (  # noqa: F401
        DEFAULT_POLICIES,
        CalendarRules,
        Contact,
        Digest,
        InTouchRules,
        Policy,
        ScenarioRule,
        Settings,
    )
    from mail_followup.config.system import local_timezone_name, system_language  # noqa: F401

# Each public name, by the module it lives in.
_MODULES = {
    "accounts": ("Account", "Config", "Folders", "Imap"),
    "calendar": ("holiday_classes", "known_country"),
    "reading": ("load_config", "parse_config"),
    "settings": ("DEFAULT_POLICIES", "CalendarRules", "Contact", "Digest", "InTouchRules", "Policy", "ScenarioRule",
                 "Settings"),
    "system": ("local_timezone_name", "system_language"),
}
_HOME = {name: module for module, names in _MODULES.items() for name in names}
__all__ = sorted(_HOME)


def __getattr__(name: str) -> Any:
    """``from mail_followup.config import Settings``: the name from the module it lives in, imported now."""
    if name not in _HOME:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{_HOME[name]}"), name)
    globals()[name] = value
    return value
