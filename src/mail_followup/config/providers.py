"""What the big mail providers need, so a config can say `provider: gmail` and be done.

Pure data. A preset fills the server, the port, the security and how to
sign in; keys the user writes win. Folders are not preset: they are found
on the server (SPECIAL-USE, then the known names, including Gmail's
`[Gmail]/…` and Exchange's localized ones), which stays right when a
provider localizes them.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Provider:
    name: str
    host: str
    port: int
    security: str
    sign_in: str  # "password" (an app password will do), "oauth2" (nothing else works), "either"
    first_steps: str  # what the user must do before the first login, in words


PROVIDERS: dict[str, Provider] = {
    "gmail": Provider(
        "gmail", "imap.gmail.com", 993, "tls", "either",
        "Turn on 2-Step Verification, then create an app password (Google Account > Security > App passwords) "
        "and store it with `mail-followup auth set ACCOUNT`; or sign in with OAuth2 through oama or pizauth "
        "(oauth2_token_command). IMAP is always on for Gmail."),
    "outlook": Provider(
        "outlook", "outlook.office365.com", 993, "tls", "oauth2",
        "Microsoft 365 and Outlook.com accept only OAuth2 for IMAP: set oauth2_token_command to a helper such "
        "as oama or pizauth, with a client registered in Entra ID (or one your organisation already allows), "
        "and the scope https://outlook.office.com/IMAP.AccessAsUser.All."),
    "fastmail": Provider(
        "fastmail", "imap.fastmail.com", 993, "tls", "password",
        "Create an app password with IMAP access (Settings > Privacy & Security > App passwords) and store it "
        "with `mail-followup auth set ACCOUNT`."),
    "icloud": Provider(
        "icloud", "imap.mail.me.com", 993, "tls", "password",
        "Turn on two-factor authentication, create an app-specific password at appleid.apple.com, and store "
        "it with `mail-followup auth set ACCOUNT`. The username is your iCloud address."),
    "yahoo": Provider(
        "yahoo", "imap.mail.yahoo.com", 993, "tls", "password",
        "Create an app password (Account Info > Account Security > Generate app password) and store it with "
        "`mail-followup auth set ACCOUNT`."),
    "generic": Provider(
        "generic", "", 993, "tls", "password",
        "Ask your provider for the IMAP server name; store the password with `mail-followup auth set ACCOUNT`."),
}

DOMAINS: dict[str, str] = {
    "gmail.com": "gmail", "googlemail.com": "gmail",
    "outlook.com": "outlook", "hotmail.com": "outlook", "live.com": "outlook", "msn.com": "outlook",
    "outlook.de": "outlook", "hotmail.de": "outlook", "hotmail.se": "outlook", "hotmail.no": "outlook",
    "live.se": "outlook", "live.no": "outlook", "live.de": "outlook", "hotmail.co.uk": "outlook",
    "fastmail.com": "fastmail", "fastmail.fm": "fastmail",
    "icloud.com": "icloud", "me.com": "icloud", "mac.com": "icloud",
    "yahoo.com": "yahoo", "ymail.com": "yahoo", "yahoo.co.uk": "yahoo", "yahoo.de": "yahoo", "yahoo.se": "yahoo",
    "yahoo.no": "yahoo",
}


def provider_for(address: str) -> Provider | None:
    """The preset for an address's domain, when it is one of the big providers' own domains."""
    name = DOMAINS.get(address.rpartition("@")[2].lower())
    return PROVIDERS[name] if name else None
