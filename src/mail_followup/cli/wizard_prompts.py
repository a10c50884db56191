"""Asking the user: one question at a time on the terminal, each answer checked, each default guessed.

``Prompter`` asks until an answer passes its check, and with ``--yes``
asks nothing: it takes the default, and a missing one is a usage error
that names the flag to give. The checks say in their message what would be
right; the guesses (timezone, country, language, the keyring) only fill in
the default the user sees in brackets.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Callable
from typing import TypeVar

from mail_followup.cli.wizard_config import SECURITIES, SecretSource

_ACCOUNT_NAME = re.compile(r"^[A-Za-z0-9_.@+-]+$")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")

T = TypeVar("T")


class UsageError(Exception):
    """A missing or wrong answer in a run that may not ask (exit 2); ``flag`` is what to give."""

    def __init__(self, flag: str, message: str) -> None:
        super().__init__(f"{flag}: {message}")


class Quit(Exception):
    """The user chose to stop; nothing was written (exit 1)."""


class Prompter:
    """The terminal side of a run: say, ask, confirm. With ``yes`` nothing is asked and defaults are taken."""

    def __init__(self, yes: bool) -> None:
        self.yes = yes

    def say(self, text: str = "") -> None:
        print(text, flush=True)

    def ask(self, question: str, flag: str, check: Callable[[str], T], default: str | None = None) -> T:
        """Ask until ``check`` accepts the answer; Enter takes the default (shown in brackets)."""
        if self.yes:
            if default is None:
                raise UsageError(flag, "required (with --yes nothing is asked)")
            try:
                return check(default)
            except ValueError as exc:
                raise UsageError(flag, str(exc)) from None
        shown = f" [{default}]" if default else ""
        while True:
            sys.stdout.write(f"{question}{shown}: ")
            sys.stdout.flush()
            line = sys.stdin.readline()
            if not line:
                self.say()
                also = "" if flag == "--force" else ", or --yes to take the defaults"
                raise UsageError(flag, f"no answer to {question!r} (input closed); give {flag}{also}")
            text = line.strip() or (default or "")
            try:
                return check(text)
            except ValueError as exc:
                self.say(f"  {exc}")

    def confirm(self, question: str, default: bool, flag: str = "--yes") -> bool:
        """A yes/no question; with --yes its default is taken."""
        if self.yes:
            return default
        hint = "Y/n" if default else "y/N"
        return self.ask(f"{question} [{hint}]", flag, lambda t: default if not t else _yes_no(t), "")

    def given(self, flag_value: str | int | None, flag: str, check: Callable[[str], T]) -> T:
        try:
            return check(str(flag_value))
        except ValueError as exc:
            raise UsageError(flag, str(exc)) from None


def _yes_no(text: str) -> bool:
    if text.lower() in ("y", "yes"):
        return True
    if text.lower() in ("n", "no"):
        return False
    raise ValueError("answer y or n")


def letter_choice(letters: str) -> Callable[[str], str]:
    """A check that takes one of ``letters`` by the answer's first letter ("w", "write" and "W" alike)."""
    def check(text: str) -> str:
        if len(text.strip()) >= 1 and text.strip()[0].lower() in letters:
            return text.strip()[0].lower()
        raise ValueError(f"answer one of: {', '.join(letters)}")
    return check


def word_choice(words: dict[str, SecretSource]) -> Callable[[str], SecretSource]:
    """A check that takes a word of ``words`` (any case) and gives the secret source it names."""
    def check(text: str) -> SecretSource:
        if text.strip().lower() in words:
            return words[text.strip().lower()]
        raise ValueError("answer keyring, command, env or oauth2")
    return check


# --- checks of single answers (the message says what would be right) -----------------------------------


def check_address(text: str) -> str:
    local, at, domain = text.strip().rpartition("@")
    if not at or not local or "." not in domain or any(c.isspace() for c in text.strip()):
        raise ValueError(f"{text!r} is not an e-mail address such as me@example.org")
    return text.strip()


def check_account(text: str) -> str:
    if not _ACCOUNT_NAME.match(text):
        raise ValueError(f"{text!r}: use letters, digits and . _ - + @ only")
    return text


def check_host(text: str) -> str:
    host = text.strip()
    if not host or any(c.isspace() for c in host):
        raise ValueError(f"{text!r} is not a host name such as imap.example.org")
    return host


def check_port(text: str) -> int:
    if not text.strip().isdigit() or not 0 < int(text) < 65536:
        raise ValueError(f"{text!r} is not a port number (1-65535)")
    return int(text)


def check_security(text: str) -> str:
    if text.strip().lower() not in SECURITIES:
        raise ValueError(f"{text!r}: answer tls, starttls or none")
    return text.strip().lower()


def check_nonempty(text: str) -> str:
    if not text.strip():
        raise ValueError("an answer is needed here")
    return text.strip()


def check_env_name(text: str) -> str:
    if not _ENV_NAME.match(text.strip()):
        raise ValueError(f"{text!r} is not an environment variable name such as WORK_IMAP_PASSWORD")
    return text.strip()


def check_timezone(text: str) -> str:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(text.strip())
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown timezone {text!r}; use an IANA name such as Europe/Oslo") from None
    return text.strip()


def check_country(text: str) -> str | None:
    if text.strip().lower() in ("", "none", "-"):
        return None
    from mail_followup.config import known_country

    return known_country(text.strip())


def check_language(text: str) -> str:
    from mail_followup.core.language import available_languages

    if text.strip() not in available_languages():
        raise ValueError(f"no texts for language {text!r}; available: {', '.join(available_languages())}")
    return text.strip()


# --- guesses for the defaults ----------------------------------------------------------------------------


def guess_timezone() -> str:
    from mail_followup.config import local_timezone_name

    return local_timezone_name()


def guess_country(timezone: str, domain: str) -> str | None:
    """The country of the timezone (tzdata's zone.tab), else of the address's country-code domain."""
    import zoneinfo

    from mail_followup.core.timing import GENERIC_CCTLDS

    candidates = []
    for folder in zoneinfo.TZPATH:
        try:
            with open(os.path.join(folder, "zone.tab"), encoding="utf-8") as fh:
                candidates += [p[0] for p in (line.split("\t") for line in fh if not line.startswith("#"))
                               if len(p) >= 3 and p[2].strip() == timezone]
            break
        except OSError:
            continue
    tld = domain.rpartition(".")[2].lower()
    if len(tld) == 2 and tld not in GENERIC_CCTLDS:
        candidates.append("GB" if tld == "uk" else tld.upper())
    for code in candidates:
        try:
            return check_country(code)
        except ValueError:
            continue
    return None


def guess_language() -> str:
    from mail_followup.core.language import available_languages

    for var in ("LC_ALL", "LC_MESSAGES", "LANG"):
        code = os.environ.get(var, "").split(".")[0].split("_")[0].lower()
        if code:
            code = "nb" if code in ("no", "nn") else code
            return code if code in available_languages() else "en"
    return "en"


def keyring_problem() -> str | None:
    """Why the keyring cannot keep a password here, or None when it can."""
    try:
        import keyring
        from keyring.backends import fail, null

        chosen = keyring.get_keyring()
    except Exception as exc:
        return f"the keyring cannot be asked ({type(exc).__name__})"
    if isinstance(chosen, (fail.Keyring, null.Keyring)):
        return f"no usable keyring here (backend {type(chosen).__module__}.{type(chosen).__qualname__})"
    return None
