"""An account's server, folders and addresses, and the config as the rest of the code sees it.

The file's shape (``ConfigModel``) keeps ``defaults`` and each account's
own keys apart; ``resolve`` merges them into the ``Account`` every other
module is handed, so no one else needs to know which setting came from where.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, field_validator, model_validator

from mail_followup.config.providers import PROVIDERS
from mail_followup.config.settings import Settings, Strict
from mail_followup.errors import ConfigError


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
    def _one_secret_source(self) -> Imap:
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
    def _sign_in(self) -> AccountModel:
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

    def find(self, name: str) -> Account | None:
        """The account named ``name``, or None (one a reload has removed, say)."""
        return next((a for a in self.accounts if a.name == name), None)

    def account(self, name: str) -> Account:
        found = self.find(name)
        if found is not None:
            return found
        known = ", ".join(a.name for a in self.accounts)
        raise ConfigError(str(self.path), [f"no account named {name!r} (accounts: {known})"])


def resolve(defaults: Settings, account: AccountModel) -> Account:
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
