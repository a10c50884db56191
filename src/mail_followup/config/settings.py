"""What a config may set, with its defaults: the scenarios' timing, the calendar, the review, the contacts.

One pydantic schema gives the validation, the defaults and the error
messages at once. An account inherits every one of these from ``defaults``
(``accounts.resolve``); the server and the folders, which no two accounts
share, are in ``accounts``.
"""

from __future__ import annotations

from datetime import date, time
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from mail_followup.config.calendar import known_country, known_subdivision, parse_days, parse_window
from mail_followup.config.places import KeyPath
from mail_followup.config.system import language_codes, local_timezone_name, system_language


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Policy(Strict):
    """One scenario's timing (DOMAIN.md R5, R9, R10): the wait before each follow-up, and how many at most.

    A scenario the user overrides keeps the built-in values of the keys not
    given (``Settings.policy``).
    """

    waits_days: list[int] = Field(
        default=[7, 7],
        min_length=1,
        description="Days to wait before follow-up 1, 2, ...; the last value repeats.",
    )
    business_days: bool = Field(default=False, description="Count the waits in business days, not calendar days.")
    max_followups: int = Field(default=2, ge=0, le=20, description="Follow-ups after the original, at most.")
    awaits_decision: bool = Field(
        default=False, description="A short thank-you note still waits for their decision (not a closing note).")

    @field_validator("waits_days")
    @classmethod
    def _positive(cls, value: list[int]) -> list[int]:
        if any(v < 1 for v in value):
            raise ValueError("every wait must be at least 1 day")
        return value

    def wait_before(self, attempt: int) -> int:
        """Days to wait before follow-up number ``attempt`` (1-based)."""
        return self.waits_days[min(attempt, len(self.waits_days)) - 1]

    def kind_of(self, attempt: int) -> str:
        """"first", "later" or "last": the last allowed attempt is the "should I stop?" note (R11), once
        there is more than one."""
        if attempt == self.max_followups and self.max_followups >= 2:
            return "last"
        return "first" if attempt == 1 else "later"

    def describe(self) -> str:
        unit = "business days" if self.business_days else "days"
        waits = ", ".join(str(w) for w in self.waits_days)
        return f"waits {waits} {unit} (the last repeats), at most {self.max_followups} follow-up(s)"


# DOMAIN.md R10, row by row. The keyword rules that pick a scenario are in phrases/<language>.yaml.
DEFAULT_POLICIES: dict[str, Policy] = {
    "job-application": Policy(waits_days=[7], max_followups=1, awaits_decision=True),
    "phone-screen": Policy(waits_days=[3], business_days=True, max_followups=1, awaits_decision=True),
    "interview": Policy(waits_days=[10, 10], business_days=True, max_followups=2, awaits_decision=True),
    "networking": Policy(waits_days=[7, 7], max_followups=2),
    "meeting": Policy(waits_days=[7, 7], max_followups=2),
    "sales": Policy(waits_days=[7, 7, 14], max_followups=5),
    "default": Policy(waits_days=[7, 7], max_followups=2),
}


class ScenarioRule(Strict):
    """One line of the scenario table: a thread that matches every criterion given is this scenario.

    Within a criterion any item may match. Keywords match at the start of a
    word, case-insensitively, and as whole words unless they end with ``*``
    ("bewerbung*" also matches "Bewerbungsunterlagen").
    """

    scenario: str = Field(min_length=1)
    subject: list[str] = []
    body: list[str] = []
    keywords: list[str] = Field(default=[], description="In the subject or the body.")
    recipients: list[str] = Field(default=[], description="kim@example.com, @example.com (and subdomains), or a glob.")

    @model_validator(mode="after")
    def _some_criterion(self) -> ScenarioRule:
        if not (self.subject or self.body or self.keywords or self.recipients):
            raise ValueError("give at least one of subject, body, keywords, recipients")
        return self


class CalendarRules(Strict):
    """Which days and hours a follow-up may appear (DOMAIN.md R6, R7, R8); every rule can be switched off."""

    avoid_weekends: bool = True
    avoid_mondays: bool = True
    avoid_fridays: bool = True
    avoid_holidays: bool = True
    avoid_days_around_holidays: bool = True
    recipient_holidays: bool = Field(
        default=True, description="Use the recipient's holiday calendar where it is known (contacts, country domain).")
    vacation: list[str] = Field(
        default=[], description="Days no follow-up appears: 2026-12-24 or 2026-12-21..2027-01-03.")
    alternate_time_of_day: bool = True
    vary_weekday: bool = True
    their_dates: bool = Field(default=True, description="Wait for a date the other person named (R6).")
    their_date_margin_days: int = Field(default=2, ge=0, le=30, description="Business days after their date.")

    @field_validator("vacation")
    @classmethod
    def _days(cls, value: list[str]) -> list[str]:
        for item in value:
            parse_days(item)
        return value

    def vacation_days(self) -> frozenset[date]:
        return frozenset(d for item in self.vacation for d in parse_days(item))


class InTouchRules(Strict):
    """What ends the wait besides an answer in the thread itself (DOMAIN.md R2; issue 18).

    A reply does not always come as a tidy reply: each switch names one
    other shape of "they were in touch", all on by default, because a missed
    follow-up can be made later while one to someone who answered cannot be
    taken back. Automatic mail (auto-replies, bounces, receipts, lists,
    no-reply senders) never counts, whatever these say.
    """

    contact: bool = Field(default=True, description=(
        "A message from someone you wrote to (or an address `contacts` gives as their alias), "
        "after your last message in the thread, whatever its subject."))
    organisation: bool = Field(default=True, description=(
        "The same from someone at their organisation (their domain or a subdomain of it; never a "
        "free-mail domain or your own)."))
    same_subject: bool = Field(default=True, description="A message under the same subject, from anyone.")
    quotes: bool = Field(default=True, description=(
        "A message that quotes yours, from anyone (searched on the server before a draft is written)."))
    calendar: bool = Field(default=True, description=(
        "A calendar invitation they organise, or their answer to an invitation you sent."))
    other_accounts: bool = Field(default=True, description="Mail in your other accounts counts too.")
    other_topics: bool = Field(default=True, description=(
        "A reply of theirs in another of your conversations (about something else) counts too; "
        "off, only a message that starts a conversation of its own does."))


class Digest(Strict):
    """The weekly review in INBOX (DOMAIN.md R18)."""

    enabled: bool = True
    day: Literal["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"] = "friday"
    time: str = Field(default="09:00", pattern=r"^([01]\d|2[0-3]):[0-5]\d$", description="HH:MM, local time.")


class Contact(Strict):
    """What the user says about one contact or domain."""

    follow_up: Literal["always", "never"] | None = Field(
        default=None, description="always: track even mail the heuristics would skip; never: never follow up")
    country: str | None = Field(default=None, description="Their holiday calendar (ISO 3166 code).")
    subdivision: str | None = None
    prefers: Literal["email", "phone"] | None = Field(
        default=None, description="phone: no draft; the digest reminds you to call (R19).")
    aliases: list[str] = Field(
        default=[], description="Other addresses this person writes from: mail from them counts as theirs.")

    @field_validator("aliases")
    @classmethod
    def _alias_addresses(cls, value: list[str]) -> list[str]:
        for item in value:
            if "@" not in item or item.startswith("@") or any(c.isspace() for c in item):
                raise ValueError(f"{item!r} is not an e-mail address")
        return [v.lower() for v in value]

    @field_validator("country")
    @classmethod
    def _country(cls, value: str | None) -> str | None:
        return known_country(value)

    @model_validator(mode="after")
    def _subdivision(self) -> Contact:
        known_subdivision(self.country, self.subdivision)
        return self


class Settings(Strict):
    """Everything an account may set, and inherit from ``defaults``."""

    timezone: str = Field(default_factory=lambda: local_timezone_name())
    country: str | None = None
    subdivision: str | None = None
    language: str = Field(default_factory=lambda: system_language(),
                          description="The weekly review's language, and a draft's where the thread shows none.")
    draft_hours: list[str] = ["08:30-11:30", "14:00-16:00"]
    lookback_days: int = Field(default=60, ge=1)
    history_days: int = Field(default=365, ge=1)
    max_drafts_per_pass: int = Field(default=25, ge=1)
    scan_interval_minutes: int = Field(default=15, ge=1)
    imap_idle: bool = True  # watch for news with IMAP IDLE where the server offers it; else the interval alone
    policies: dict[str, Policy] = {}
    scenario_rules: list[ScenarioRule] = []
    builtin_scenario_rules: bool = True
    default_scenario: str = "default"
    calendar: CalendarRules = CalendarRules()
    in_touch: InTouchRules = InTouchRules()
    digest: Digest = Digest()
    sender_name: str | None = None
    signature: str | None = None
    on_dismiss: Literal["stop", "skip"] = Field(
        default="stop", description="A draft deleted unsent: stop this thread, or skip to the next attempt.")
    keyword_snooze_days: int = Field(
        default=7, ge=1, description="The keyword $FollowUpSnooze puts a thread off this many days from when seen.")
    templates_dir: str | None = Field(
        default=None, description="Your own templates: <language>/<kind>-<n>.j2, replacing the built-in ones.")
    bulk_recipients: int = Field(default=10, ge=1)
    same_domain_answers: bool = True
    desktop_notifications: bool = Field(
        default=True, description="The service's desktop notices (new drafts, an account failing for an hour).")
    contacts: dict[str, Contact] = {}

    @field_validator("contacts")
    @classmethod
    def _contact_keys(cls, value: dict[str, Contact]) -> dict[str, Contact]:
        for key in value:
            if "@" not in key or any(c.isspace() for c in key):
                raise ValueError(f"{key!r} is neither an address (kim@example.com) nor a domain (@example.com)")
            if key.startswith("@") and value[key].aliases:
                raise ValueError(f"{key!r}: aliases belong to one person; give them under an address")
        return {k.lower(): v for k, v in value.items()}

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown timezone {value!r}; use an IANA name such as Europe/Oslo") from None
        return value

    @field_validator("country")
    @classmethod
    def _known_country(cls, value: str | None) -> str | None:
        return known_country(value)

    @field_validator("language")
    @classmethod
    def _known_language(cls, value: str) -> str:
        if value not in language_codes():
            raise ValueError(f"no texts for language {value!r}; available: {', '.join(language_codes())}")
        return value

    @field_validator("draft_hours")
    @classmethod
    def _hours(cls, value: list[str]) -> list[str]:
        if not value:
            raise ValueError("give at least one window, such as '09:00-11:30'")
        for item in value:
            parse_window(item)
        return value

    @model_validator(mode="after")
    def _subdivision_known(self) -> Settings:
        known_subdivision(self.country, self.subdivision)
        return self

    def unknown_scenarios(self) -> list[tuple[KeyPath, str]]:
        """Scenario ids used but neither built in nor defined under ``policies`` (checked once resolved:
        an account may use a scenario its defaults define)."""
        known = set(DEFAULT_POLICIES) | set(self.policies)
        found: list[tuple[KeyPath, str]] = [
            (("scenario_rules", i, "scenario"), rule.scenario)
            for i, rule in enumerate(self.scenario_rules) if rule.scenario not in known]
        if self.default_scenario not in known:
            found.append((("default_scenario",), self.default_scenario))
        return found

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def windows(self) -> tuple[tuple[time, time], ...]:
        return tuple(sorted(parse_window(w) for w in self.draft_hours))

    def aliases(self) -> dict[str, frozenset[str]]:
        """Each address a contact entry names (itself and its ``aliases``) -> all of them: one person."""
        groups: dict[str, frozenset[str]] = {}
        for key, contact in self.contacts.items():
            if contact.aliases and not key.startswith("@"):
                group = frozenset([key, *contact.aliases])
                for address in group:
                    groups[address] = groups.get(address, frozenset()) | group
        return groups

    def policy(self, scenario: str) -> Policy:
        """The scenario's policy: the built-in one, with the keys the config gives replacing its own."""
        builtin = DEFAULT_POLICIES.get(scenario, DEFAULT_POLICIES["default"])
        own = self.policies.get(scenario)
        if own is None:
            return builtin
        return builtin.model_copy(update={k: getattr(own, k) for k in own.model_fields_set})
