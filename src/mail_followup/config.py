"""The YAML config: one schema for validation, defaults and the error messages.

A broken config must never produce a traceback. Every mistake is reported at
once, each with the file, the line and the key path, so the user fixes the
file in one go (borgmatic's habit).
"""

from __future__ import annotations

import functools
import re
import os
from dataclasses import dataclass
from datetime import date, time, timedelta
from pathlib import Path
from collections.abc import Mapping
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from mail_followup.errors import ConfigError
from mail_followup.paths import default_state_dir

KeyPath = tuple[str | int, ...]

_HOURS = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$")


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
    def _some_criterion(self) -> "ScenarioRule":
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
    vacation: list[str] = Field(default=[], description="Days no follow-up appears: 2026-12-24 or 2026-12-21..2027-01-03.")
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


def parse_days(text: str) -> list[date]:
    """``2026-12-24`` or ``2026-12-21..2027-01-03`` (both ends included); ValueError says how to write it."""
    first, sep, last = str(text).partition("..")
    try:
        start = date.fromisoformat(first.strip())
        end = date.fromisoformat(last.strip()) if sep else start
    except ValueError:
        raise ValueError(f"{text!r} is not a day or a range; write 2026-12-24 or 2026-12-21..2027-01-03") from None
    if end < start:
        raise ValueError(f"{text!r} ends before it starts")
    if (end - start).days > 366:
        raise ValueError(f"{text!r} is longer than a year")
    return [start + timedelta(days=i) for i in range((end - start).days + 1)]


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
    def _subdivision(self) -> "Contact":
        known_subdivision(self.country, self.subdivision)
        return self


class Settings(Strict):
    """Everything an account may set, and inherit from ``defaults``."""

    timezone: str = Field(default_factory=lambda: _local_timezone_name())
    country: str | None = None
    subdivision: str | None = None
    language: str = Field(default_factory=lambda: system_language(),
                          description="The weekly review's language, and a draft's where the thread shows none.")
    draft_hours: list[str] = ["08:30-11:30", "14:00-16:00"]
    lookback_days: int = Field(default=60, ge=1)
    history_days: int = Field(default=365, ge=1)
    max_drafts_per_pass: int = Field(default=25, ge=1)
    scan_interval_minutes: int = Field(default=15, ge=1)
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
    templates_dir: str | None = Field(
        default=None, description="Your own templates: <language>/<kind>-<n>.j2, replacing the built-in ones.")
    bulk_recipients: int = Field(default=10, ge=1)
    same_domain_answers: bool = True
    contacts: dict[str, Contact] = {}

    @field_validator("contacts")
    @classmethod
    def _contact_keys(cls, value: dict[str, "Contact"]) -> dict[str, "Contact"]:
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
        from mail_followup.language import available_languages

        if value not in available_languages():
            raise ValueError(f"no texts for language {value!r}; available: {', '.join(available_languages())}")
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
    def _subdivision_known(self) -> "Settings":
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


def known_country(value: str | None) -> str | None:
    """The upper-case ISO code of a country the holidays package knows; ValueError otherwise."""
    if value is None:
        return None
    code = value.upper()
    if code not in holiday_classes():
        raise ValueError(f"unknown country code {value!r}; use an ISO 3166 code such as NO, SE, DE, GB, US")
    return code


@functools.cache
def holiday_classes() -> dict[str, str]:
    """Each country code the holidays package knows (ISO alpha-2 and -3, and its aliases such as UK) and
    the name of its class. Read from the package's registry, which costs milliseconds: its
    ``list_supported_countries`` imports every country, a third of a second on every command."""
    from holidays.registry import COUNTRIES

    return {code: names[0] for names in COUNTRIES.values() for code in names[1:] if code.isupper()}


def known_subdivision(country: str | None, subdivision: str | None) -> None:
    if subdivision and not country:
        raise ValueError("a subdivision needs a country")
    if subdivision and country:
        import holidays

        known = getattr(holidays, holiday_classes()[country]).subdivisions  # imports that one country
        if subdivision not in known:
            raise ValueError(f"unknown subdivision {subdivision!r} for country {country}")


def parse_window(text: str) -> tuple[time, time]:
    """Parse ``"HH:MM-HH:MM"``; raise ValueError with the fix in words."""
    match = _HOURS.match(text)
    if not match:
        raise ValueError(f"{text!r} is not a time window; write it as 'HH:MM-HH:MM', such as '09:00-11:30'")
    h1, m1, h2, m2 = (int(g) for g in match.groups())
    try:
        start, end = time(h1, m1), time(h2, m2)
    except ValueError:
        raise ValueError(f"{text!r} has an impossible time of day") from None
    if start >= end:
        raise ValueError(f"{text!r} ends before it starts")
    return start, end


class Imap(Strict):
    host: str = Field(min_length=1)
    port: int | None = Field(default=None, ge=1, le=65535)
    security: Literal["tls", "starttls", "none"] = "tls"
    username: str = Field(min_length=1)
    keyring: bool = True
    password_command: str | None = None
    password_env: str | None = None
    oauth2_token_command: str | None = Field(
        default=None, description="A command that prints a current OAuth2 access token (oama, pizauth, ...).")
    allow_plaintext: bool = False
    tls_ca_file: str | None = Field(default=None, description="A CA certificate (PEM) to trust for this server.")
    tls_fingerprint: str | None = Field(
        default=None, description="Trust exactly this server certificate: its SHA-256 fingerprint (hex).")
    timeout_seconds: float = Field(default=60, gt=0)

    @field_validator("tls_fingerprint")
    @classmethod
    def _fingerprint(cls, value: str | None) -> str | None:
        if value is None:
            return None
        digits = value.replace(":", "").replace(" ", "").lower()
        if not re.fullmatch(r"[0-9a-f]{64}", digits):
            raise ValueError("give the certificate's SHA-256 fingerprint: 64 hex digits (colons allowed)")
        return digits

    @field_validator("tls_ca_file")
    @classmethod
    def _ca_file(cls, value: str | None) -> str | None:
        if value is not None and not Path(value).expanduser().is_file():
            raise ValueError(f"{value!r} is not a file; give the path of a PEM certificate")
        return str(Path(value).expanduser()) if value else None

    @property
    def effective_port(self) -> int:
        if self.port is not None:
            return self.port
        return 993 if self.security == "tls" else 143

    @model_validator(mode="after")
    def _one_secret_source(self) -> "Imap":
        if self.password_command and self.password_env:
            raise ValueError("give password_command or password_env, not both")
        if self.oauth2_token_command and (self.password_command or self.password_env):
            raise ValueError("give oauth2_token_command or a password source, not both")
        return self


class Folders(Strict):
    sent: str = "auto"
    drafts: str = "auto"
    replies: Literal["auto"] | list[str] = "auto"
    exclude: list[str] = []


class AccountModel(Settings):
    name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_.@+-]+$")
    provider: Literal["gmail", "outlook", "fastmail", "icloud", "yahoo", "generic"] | None = None
    imap: Imap
    addresses: list[str] = Field(min_length=1)
    folders: Folders = Folders()

    @model_validator(mode="before")
    @classmethod
    def _preset(cls, data: Any) -> Any:
        """``provider`` fills the imap keys the user did not write (their own always win)."""
        if not isinstance(data, dict) or not data.get("provider"):
            return data
        from mail_followup.providers import PROVIDERS

        preset = PROVIDERS.get(str(data["provider"]))
        if preset is None:
            return data  # the Literal above reports the unknown name
        imap = dict(data.get("imap") or {})
        if preset.host:
            imap.setdefault("host", preset.host)
        imap.setdefault("port", preset.port)
        imap.setdefault("security", preset.security)
        addresses = data.get("addresses")
        if isinstance(addresses, list) and addresses and isinstance(addresses[0], str):
            imap.setdefault("username", addresses[0])
        return {**data, "imap": imap}

    @model_validator(mode="after")
    def _sign_in(self) -> "AccountModel":
        if self.provider == "outlook" and not self.imap.oauth2_token_command:
            raise ValueError("provider outlook (Microsoft 365) accepts only OAuth2: set imap.oauth2_token_command "
                             "to a token helper such as oama or pizauth (see the README)")
        return self

    @field_validator("addresses")
    @classmethod
    def _addresses(cls, value: list[str]) -> list[str]:
        for item in value:
            if "@" not in item or any(c.isspace() for c in item):
                raise ValueError(f"{item!r} is not an e-mail address")
        return [v.lower() for v in value]


class ConfigModel(Strict):
    state_dir: str | None = None
    defaults: Settings = Field(default_factory=Settings)
    accounts: list[AccountModel] = Field(min_length=1)


@dataclass(frozen=True)
class Account:
    """One account with its settings resolved (the account's own keys win over ``defaults``)."""

    name: str
    imap: Imap
    addresses: tuple[str, ...]
    folders: Folders
    settings: Settings


@dataclass(frozen=True)
class Config:
    path: Path
    state_dir: Path
    accounts: tuple[Account, ...]

    def account(self, name: str) -> Account:
        for account in self.accounts:
            if account.name == name:
                return account
        known = ", ".join(a.name for a in self.accounts)
        raise ConfigError(str(self.path), [f"no account named {name!r} (accounts: {known})"])


def _local_timezone_name() -> str:
    try:
        import tzlocal

        return tzlocal.get_localzone_name() or "UTC"
    except Exception:  # an unusual system: fall back rather than refuse to start
        return "UTC"


def system_language(environ: Mapping[str, str] = os.environ) -> str:
    """The language of the user's locale, the way gettext picks it (LC_ALL, LC_MESSAGES, LANG), when we
    have texts for it; Nynorsk and plain "no" get Bokmål, the closest we have. Else English."""
    from mail_followup.language import available_languages

    locale_name = next((environ[k] for k in ("LC_ALL", "LC_MESSAGES", "LANG") if environ.get(k)), "")
    code = locale_name.split(".")[0].split("_")[0].lower()
    code = "nb" if code in ("no", "nn") else code
    return code if code in available_languages() else "en"


def load_config(path: str | os.PathLike[str]) -> Config:
    """Read and validate the config at ``path``.

    Raise ConfigError listing every problem, each as ``file:line: key.path: what``.
    """
    path = Path(path).expanduser()
    try:
        with open(path, "rb") as source:  # no more than a config can be: a huge file is refused unread
            text = source.read(MAX_CONFIG_BYTES * 4 + 1).decode("utf-8")
    except FileNotFoundError:
        raise ConfigError(
            str(path), ["the file does not exist; copy config.example.yaml there, or pass --config PATH"]
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(str(path), [f"cannot read the file: {exc}"]) from None
    config = parse_config(text, path)
    from mail_followup.confignote import remember

    remember(path, text.encode("utf-8"), config.state_dir, tuple(a.name for a in config.accounts))
    return config


MAX_CONFIG_BYTES = 256 * 1024  # a config is a few kilobytes: far past that, it is the wrong file or a trap
MAX_CONFIG_VALUES = 50_000  # values, counting each use of an alias in full (a "billion laughs" counts a billion)


def parse_config(text: str, path: Path) -> Config:
    """Validate the text of a config. Raise ConfigError listing every problem, each with its place.

    A file far larger than any config, or whose aliases expand to more values than any config has, is
    refused before anything is built from it: otherwise such a file (loaded by SIGHUP into the service,
    say) would take gigabytes and minutes before the first error."""
    if len(text) > MAX_CONFIG_BYTES:
        raise ConfigError(str(path), [f"{path}: the file has {len(text):,} characters, more than any config "
                                      f"({MAX_CONFIG_BYTES:,} at most): is it the right file?"])
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        values = _values(root, {}) if root is not None else 0
        if values > MAX_CONFIG_VALUES:
            raise ConfigError(str(path), [f"{path}: the YAML expands to more than {MAX_CONFIG_VALUES:,} values "
                                          "(aliases that repeat aliases); a config needs a few hundred"])
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark else str(path)
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(str(path), [f"{where}: not valid YAML: {problem}"]) from None
    except RecursionError:
        raise ConfigError(str(path), [f"{path}: the YAML is nested too deeply to be a config"]) from None
    if not isinstance(data, dict):
        raise ConfigError(str(path), [f"{path}:1: the file must be a mapping with 'accounts' (and optionally 'defaults')"])
    lines: dict[KeyPath, int] = {}
    problems: list[str] = []
    if root is not None:
        _index_lines(root, (), lines, problems, path)
    try:
        model = ConfigModel.model_validate(data)
    except ValidationError as exc:
        for err in exc.errors():
            loc = tuple(err["loc"])
            problems.append(f"{path}:{_line_for(loc, lines)}: {_dotted(loc)}: {_message(err)}")
        raise ConfigError(str(path), problems) from None
    resolved = tuple(_resolve(model.defaults, a) for a in model.accounts)
    for i, acct in enumerate(resolved):
        for loc, name in acct.settings.unknown_scenarios():
            at: KeyPath = ("accounts", i) + loc if loc[0] in model.accounts[i].model_fields_set else ("defaults",) + loc
            problems.append(f"{path}:{_line_for(at, lines)}: {_dotted(at)}: the scenario {name!r} is neither "
                            f"built in nor defined under policies")
    for folder in sorted({a.settings.templates_dir for a in resolved if a.settings.templates_dir}):
        from mail_followup.templates import load_templates

        try:
            load_templates(folder)
        except ValueError as exc:
            problems.extend(str(exc).split("\n"))
    names = [a.name for a in model.accounts]
    for i, name in enumerate(names):
        if names.index(name) != i:
            problems.append(f"{path}:{_line_for(('accounts', i, 'name'), lines)}: accounts[{i}].name: {name!r} is used twice")
    if problems:
        raise ConfigError(str(path), problems)
    state_dir = Path(model.state_dir).expanduser() if model.state_dir else default_state_dir()
    return Config(path=path, state_dir=state_dir, accounts=resolved)


def _resolve(defaults: Settings, account: AccountModel) -> Account:
    """The account's settings: its own keys win; mappings and sections merge key by key."""
    own = {f: getattr(account, f) for f in account.model_fields_set if f in Settings.model_fields}
    if "policies" in own:
        own["policies"] = _merge_models(defaults.policies, own["policies"])
    if "contacts" in own:
        own["contacts"] = _merge_models(defaults.contacts, own["contacts"])
    for section in ("calendar", "in_touch", "digest"):
        if section in own:
            own[section] = _merged(getattr(defaults, section), own[section])
    settings = defaults.model_copy(update=own)
    return Account(
        name=account.name,
        imap=account.imap,
        addresses=tuple(account.addresses),
        folders=account.folders,
        settings=settings,
    )


def _merge_models(base: dict[str, Any], own: dict[str, Any]) -> dict[str, Any]:
    return {**base, **{k: _merged(base[k], v) if k in base else v for k, v in own.items()}}


def _merged(base: Any, own: BaseModel) -> Any:
    """``base`` with the keys ``own`` was given; the result remembers both as given."""
    merged = base.model_copy(update={k: getattr(own, k) for k in own.model_fields_set})
    object.__setattr__(merged, "__pydantic_fields_set__", base.model_fields_set | own.model_fields_set)
    return merged


def _values(node: yaml.Node, known: dict[int, int]) -> int:
    """How many values ``node`` stands for with every alias expanded; each node is counted once and its total
    reused (an alias is the same node again), so this costs the size of the file, not of the expansion."""
    found = known.get(id(node))
    if found is None:
        if isinstance(node, yaml.MappingNode):
            found = 1 + sum(_values(k, known) + _values(v, known) for k, v in node.value)
        elif isinstance(node, yaml.SequenceNode):
            found = 1 + sum(_values(item, known) for item in node.value)
        else:
            found = 1
        known[id(node)] = found = min(found, MAX_CONFIG_VALUES + 1)
    return found


def _index_lines(node: yaml.Node, key: KeyPath, lines: dict[KeyPath, int], problems: list[str], path: Path) -> None:
    """Remember the line of every key path, and report duplicate keys (YAML silently keeps the last)."""
    lines[key] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for knode, vnode in node.value:
            name = knode.value
            if name in seen:
                problems.append(f"{path}:{knode.start_mark.line + 1}: {_dotted(key + (name,))}: key given twice")
            seen.add(name)
            lines[key + (name,)] = knode.start_mark.line + 1
            _index_lines(vnode, key + (name,), lines, problems, path)
            lines[key + (name,)] = knode.start_mark.line + 1
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _index_lines(item, key + (i,), lines, problems, path)


def _line_for(loc: KeyPath, lines: dict[KeyPath, int]) -> int:
    loc = tuple(p for p in loc if not (isinstance(p, str) and p in {"list[str]", "literal['auto']"}))
    while loc and loc not in lines:
        loc = loc[:-1]
    return lines.get(loc, 1)


def _dotted(loc: KeyPath) -> str:
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        elif part in {"list[str]", "literal['auto']"}:
            continue
        else:
            text += f".{part}" if text else str(part)
    return text or "(top level)"


def _message(err: Any) -> str:
    kind = err["type"]
    if kind == "missing":
        return "required key is missing"
    if kind == "extra_forbidden":
        return "unknown key (check the spelling against config.example.yaml)"
    msg = str(err["msg"])
    return msg.removeprefix("Value error, ")
