"""The one family of errors meant for the user.

Each carries advice in words; the CLI prints them without a traceback (the
traceback appears with ``-v``). Anything else that escapes is a bug.
"""

from __future__ import annotations


class MailFollowupError(Exception):
    """An error a user can act on: what went wrong, and what to do about it."""

    def __init__(self, message: str, advice: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.advice = advice

    def __str__(self) -> str:
        if self.advice:
            return f"{self.message}\n  hint: {self.advice}"
        return self.message


class ConfigError(MailFollowupError):
    """The config file cannot be used; ``problems`` lists every mistake found, each with its place."""

    def __init__(self, path: str, problems: list[str]) -> None:
        self.path = path
        self.problems = problems
        lines = "\n".join(f"  {p}" for p in problems)
        super().__init__(f"{path}: {len(problems)} problem(s) in the config:\n{lines}")

    def __str__(self) -> str:
        return self.message


class AccountError(MailFollowupError):
    """One account could not be scanned; the other accounts go on.

    ``kind`` tells the service what to do: ``network`` (try again soon,
    backing off), ``auth`` (pause: retrying a refused login risks a
    lockout), or ``account`` and ``suspicious`` (try again at the next
    pass; the cause is in the config or the mailbox).
    """

    kind = "account"

    def __init__(self, account: str, message: str, advice: str | None = None, kind: str | None = None) -> None:
        super().__init__(f"account {account!r}: {message}", advice)
        self.account = account
        if kind is not None:
            self.kind = kind


class AuthError(AccountError):
    """The server refused the credentials, or there are none. Retrying would only risk a lockout."""

    kind = "auth"


class SuspiciousSnapshot(AccountError):
    """A folder looks emptied or renumbered: decisions from it could be wrong, so the pass stops."""

    kind = "suspicious"
