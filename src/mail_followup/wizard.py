"""`mail-followup init`: ask a few questions, find the server, try the login, write a private config.

The core is pure so it can be tested without a terminal or a network:
``Answers`` holds what the user said, ``render_config`` turns it into a
commented YAML file that ``config.parse_config`` accepts, and ``lookup``
finds the IMAP server of a domain (the built-in presets first; then, unless
offline, the provider's own autoconfig file, Thunderbird's ISPDB and the
RFC 6186 SRV records). ``run`` is the shell around it: questions on the
terminal (or every answer as a flag, for scripts), the password through
getpass into the keyring, the login test, and the file written 0600.

Only the domain ever leaves the machine during the lookup, never the
address; and the password never reaches the config, the output or a log.
"""

from __future__ import annotations

import argparse
import logging
import os
import re
import secrets
import socket
import struct
import sys
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Literal, TypeVar, cast, get_args

from mail_followup.paths import APP, default_config_path
from mail_followup.providers import PROVIDERS, provider_for

if TYPE_CHECKING:  # heavy imports (pydantic, imapclient) load only when a run needs them
    from mail_followup.config import Account
    from mail_followup.mailbox import FolderMap

log = logging.getLogger(__name__)

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2

SecretSource = Literal["keyring", "password_command", "password_env", "oauth2_token_command"]
Security = Literal["tls", "starttls", "none"]
Server = tuple[str, int, str]  # host, port, security

SECURITIES: tuple[str, ...] = get_args(Security)
DEFAULT_PORT = {"tls": 993, "starttls": 143, "none": 143}
PASSWORD_ENV = "MAIL_FOLLOWUP_PASSWORD"

# The provider's own file first (it knows its servers best), then Thunderbird's curated database.
AUTOCONFIG_URLS: tuple[str, ...] = (
    "https://autoconfig.{domain}/mail/config-v1.1.xml",
    "https://autoconfig.thunderbird.net/v1.1/{domain}",
)
LOOKUP_TIMEOUT = 4.0
MAX_AUTOCONFIG_BYTES = 256 * 1024
LOGIN_TIMEOUT = 20.0

_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
# What the network suggests must look like a host name before it is shown or written.
_HOSTNAME = re.compile(rf"^(?=.{{1,253}}$){_LABEL}(?:\.{_LABEL})*\.?$")
_ACCOUNT_NAME = re.compile(r"^[A-Za-z0-9_.@+-]+$")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")

T = TypeVar("T")


# --- the answers and the config they make ------------------------------------------------------------


@dataclass
class Answers:
    """Everything the wizard asks. ``secret_ref`` is the command or the variable's name, never a password."""

    address: str
    name: str | None = None  # signs the drafts (sender_name); None: the name in the From header
    account: str = ""  # the account's name in the config and the keyring; "" derives it from the domain
    provider: str | None = None  # a preset of providers.PROVIDERS, or None
    host: str = ""
    port: int | None = None
    security: str = "tls"
    username: str = ""
    secret_source: SecretSource = "keyring"
    secret_ref: str | None = None
    language: str = "en"
    timezone: str = "UTC"
    country: str | None = None

    @property
    def domain(self) -> str:
        return self.address.rpartition("@")[2].lower()

    @property
    def account_name(self) -> str:
        return self.account or default_account_name(self.address)


def default_account_name(address: str) -> str:
    """The first label of the domain ("example" for me@example.org): short, and a valid account name."""
    label = address.rpartition("@")[2].split(".")[0].lower()
    return re.sub(r"[^A-Za-z0-9_.+-]", "", label) or "mail"


def _quote(text: str) -> str:
    """A YAML double-quoted scalar: safe for any text (a name with a colon, "NO", a command with quotes)."""
    out = []
    for ch in text:
        if ch in '"\\':
            out.append("\\" + ch)
        elif not ch.isprintable():
            code = ord(ch)
            out.append(f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def _comment(text: str) -> str:
    """Text from the server, made safe to sit in a one-line comment."""
    return "".join(ch if ch.isprintable() else "?" for ch in text)


_SECRET_LINES: dict[str, tuple[str, str]] = {
    "keyring": ("The password is in the system keyring; change it with: mail-followup auth set {account}",
                "keyring: true"),
    "password_command": ("Run each time the password is needed; its first line of output is the password.",
                         "password_command: {ref}"),
    "password_env": ("The password comes from this environment variable (give it to the service too).",
                     "password_env: {ref}"),
    "oauth2_token_command": ("Prints a current OAuth2 access token (oama, pizauth, ...); no password is kept.",
                             "oauth2_token_command: {ref}"),
}


def render_config(answers: Answers, found: FolderMap | None = None) -> str:
    """The config file for ``answers``: only the keys an account needs, each with a short comment.

    Everything else keeps its default and is documented in
    config.example.yaml, so this file stays short enough to read. The
    folders stay ``auto`` (found on the server at every start, which stays
    right when a provider renames them); what was found at setup is noted.
    """
    a = answers
    port = a.port if a.port is not None else DEFAULT_PORT.get(a.security, 993)
    lines = [
        "# mail-followup configuration, written by `mail-followup init`.",
        "#",
        "# Only what this account needs is here. Every other setting (the draft",
        "# hours, the scenarios and their waits, the calendar rules, contacts,",
        "# the weekly review, more accounts) is explained in config.example.yaml,",
        "# which comes with mail-followup: copy from there what you want to change.",
        "# Unknown keys are errors, reported with their line. Check this file with:",
        "#   mail-followup doctor",
        "",
        "# Settings every account inherits (an account may set them again).",
        "defaults:",
        "  # Your timezone (IANA name): the draft hours and days are counted in it.",
        f"  timezone: {_quote(a.timezone)}",
    ]
    if a.country:
        lines += ["  # The public holidays of this country (ISO 3166 code) are avoided, and the",
                  "  # day before and after each.",
                  f"  country: {_quote(a.country)}"]
    else:
        lines += ["  # The public holidays of this country (ISO 3166 code) would be avoided:",
                  '  # country: "NO"']
    lines += ["  # The language of a draft when your own message does not show one.",
              f"  language: {_quote(a.language)}"]
    if a.name:
        lines += ["  # How the drafts are signed (without it: the name in your From header).",
                  f"  sender_name: {_quote(a.name)}"]
    lines += ["", "accounts:",
              f"  - name: {_quote(a.account_name)}  # used by --account and as the keyring entry"]
    if a.provider and a.provider != "generic":
        lines += [f"    # The {a.provider} preset: it knows the server and how to sign in; the keys below win.",
                  f"    provider: {a.provider}"]
    comment, line = _SECRET_LINES[a.secret_source]
    lines += [
        "    imap:",
        f"      host: {_quote(a.host)}",
        f"      port: {int(port)}",
        "      # tls | starttls | none (none only to 127.0.0.1, unless allow_plaintext: true)",
        f"      security: {a.security}",
        f"      username: {_quote(a.username or a.address)}",
        f"      # {comment.format(account=a.account_name)}",
        f"      {line.format(ref=_quote(a.secret_ref or ''))}",
        "    # Every address you send from in this account: mail from these is yours,",
        "    # and they are never put into a draft's To or Cc.",
        f"    addresses: [{_quote(a.address.lower())}]",
        "    # auto: found on the server (SPECIAL-USE, then the usual names).",
    ]
    if found is not None:
        replies = [_comment(f) for f in found.replies]
        shown = ", ".join(replies[:8]) + (f" and {len(replies) - 8} more" if len(replies) > 8 else "")
        lines += [f"    # Found at setup: sent {_comment(found.sent)}, drafts {_comment(found.drafts)};",
                  f"    # answers are looked for in {shown}."]
    lines += ["    folders: {sent: auto, drafts: auto, replies: auto, exclude: []}", ""]
    return "\n".join(lines)


# --- finding the server ----------------------------------------------------------------------------------


def lookup(domain: str, timeout: float = LOOKUP_TIMEOUT, *, offline: bool = False,
           autoconfig_urls: Sequence[str] = AUTOCONFIG_URLS,
           nameserver: tuple[str, int] | None | Literal["system"] = "system") -> Server | None:
    """(host, port, security) of the IMAP server for ``domain``, or None when nothing says.

    See ``find_server``, which also says where the answer came from.
    """
    found = find_server(domain, timeout, offline=offline, autoconfig_urls=autoconfig_urls, nameserver=nameserver)
    return found[0] if found else None


def find_server(domain: str, timeout: float = LOOKUP_TIMEOUT, *, offline: bool = False,
                autoconfig_urls: Sequence[str] = AUTOCONFIG_URLS,
                nameserver: tuple[str, int] | None | Literal["system"] = "system") -> tuple[Server, str] | None:
    """The server for ``domain`` and where it came from: the preset, then (online) autoconfig, then SRV.

    Each network step has its own ``timeout`` and runs in a thread, since
    name resolution ignores socket timeouts: a dead network costs seconds,
    never a hang. Plaintext servers are never suggested. ``nameserver``
    None leaves SRV out; "system" asks the first one in /etc/resolv.conf.
    """
    domain = domain.strip().lower().rstrip(".")
    preset = provider_for("x@" + domain)
    if preset is not None and preset.host:
        return (preset.host, preset.port, preset.security), f"the {preset.name} preset"
    if offline or not _HOSTNAME.match(domain):
        return None
    for template in autoconfig_urls:
        url = template.format(domain=domain)
        server = _within(timeout + 1, partial(_autoconfig, url, domain, timeout))
        if server:
            return server, url
    resolver = _system_nameserver() if nameserver == "system" else nameserver
    if resolver is not None:
        for service, security in (("_imaps._tcp", "tls"), ("_imap._tcp", "starttls")):
            name = f"{service}.{domain}"
            records = _within(timeout + 1, partial(srv_records, name, resolver, timeout)) or []
            usable = sorted((r for r in records if r[3] not in ("", ".") and _HOSTNAME.match(r[3]) and r[2]),
                            key=lambda r: (r[0], -r[1]))
            if usable:
                return (usable[0][3].rstrip("."), usable[0][2], security), f"the DNS record {name} (RFC 6186)"
    return None


def _within(timeout: float, work: Callable[[], T | None]) -> T | None:
    """``work()`` in a daemon thread, or None when it fails or takes longer than ``timeout``."""
    box: list[T | None] = []

    def target() -> None:
        try:
            box.append(work())
        except Exception:  # anything the network sends us is only a lost hint, never a crash
            log.debug("lookup step failed", exc_info=True)

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(timeout)
    return box[0] if box else None


def _autoconfig(url: str, domain: str, timeout: float) -> Server | None:
    import urllib.request

    request = urllib.request.Request(url, headers={"User-Agent": "mail-followup init"})
    with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 (https or a test's URL)
        body = response.read(MAX_AUTOCONFIG_BYTES + 1)
    return None if len(body) > MAX_AUTOCONFIG_BYTES else parse_autoconfig(body, domain)


def parse_autoconfig(xml: bytes, domain: str) -> Server | None:
    """The IMAP server of a Thunderbird autoconfig file (clientConfig v1.1); implicit TLS preferred."""
    from xml.etree import ElementTree

    best: Server | None = None
    for server in ElementTree.fromstring(xml).iter("incomingServer"):
        if server.get("type") != "imap":
            continue
        host = (server.findtext("hostname") or "").strip().replace("%EMAILDOMAIN%", domain)
        port = (server.findtext("port") or "").strip()
        security = {"SSL": "tls", "STARTTLS": "starttls"}.get((server.findtext("socketType") or "").strip().upper())
        if security is None or not _HOSTNAME.match(host) or not port.isdigit() or not 0 < int(port) < 65536:
            continue  # plain: a password is never suggested to go out unencrypted
        if security == "tls":
            return host, int(port), security
        best = best or (host, int(port), security)
    return best


def _system_nameserver() -> tuple[str, int] | None:
    try:
        with open("/etc/resolv.conf", encoding="utf-8") as fh:
            for line in fh:
                parts = line.split()
                if len(parts) >= 2 and parts[0] == "nameserver":
                    return parts[1].split("%")[0], 53
    except OSError:
        pass
    return None


def srv_records(name: str, nameserver: tuple[str, int], timeout: float) -> list[tuple[int, int, int, str]]:
    """(priority, weight, port, target) of the SRV records of ``name``: one DNS query over UDP.

    The standard library has no resolver for SRV, and these few lines are
    all RFC 6186 needs (no TCP fallback: such answers are small).
    """
    qid = secrets.randbits(16)
    labels = [label.encode("idna") for label in name.rstrip(".").split(".")]
    question = b"".join(bytes([len(label)]) + label for label in labels) + b"\0" + struct.pack("!HH", 33, 1)
    family = socket.AF_INET6 if ":" in nameserver[0] else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM) as sock:
        sock.settimeout(timeout)
        sock.connect(nameserver)  # a connected socket reads only the resolver's answers
        sock.send(struct.pack("!6H", qid, 0x0100, 1, 0, 0, 0) + question)  # recursion desired
        reply = sock.recv(4096)
    rid, flags, questions, answers, _, _ = struct.unpack_from("!6H", reply)
    if rid != qid or not flags & 0x8000 or flags & 0x000F:  # not our answer, or an error (NXDOMAIN, ...)
        return []
    pos = 12
    for _ in range(questions):
        pos = _dns_name(reply, pos)[1] + 4
    records = []
    for _ in range(answers):
        pos = _dns_name(reply, pos)[1]
        rtype, _, _, length = struct.unpack_from("!HHIH", reply, pos)
        pos += 10
        if rtype == 33:
            priority, weight, port = struct.unpack_from("!3H", reply, pos)
            records.append((priority, weight, port, _dns_name(reply, pos + 6)[0]))
        pos += length
    return records


def _dns_name(data: bytes, pos: int) -> tuple[str, int]:
    """The name at ``pos`` (following compression pointers) and the position after it."""
    labels: list[str] = []
    end: int | None = None
    for _ in range(128):  # a bound, against pointer loops
        size = data[pos]
        if size >= 0xC0:
            end = pos + 2 if end is None else end
            pos = ((size & 0x3F) << 8) | data[pos + 1]
        elif size == 0:
            return ".".join(labels), pos + 1 if end is None else end
        else:
            labels.append(data[pos + 1:pos + 1 + size].decode("ascii", "replace"))
            pos += 1 + size
    raise ValueError("DNS name too long or looping")


# --- checks of single answers (the message says what would be right) -----------------------------------


def _check_address(text: str) -> str:
    local, at, domain = text.strip().rpartition("@")
    if not at or not local or "." not in domain or any(c.isspace() for c in text.strip()):
        raise ValueError(f"{text!r} is not an e-mail address such as me@example.org")
    return text.strip()


def _check_account(text: str) -> str:
    if not _ACCOUNT_NAME.match(text):
        raise ValueError(f"{text!r}: use letters, digits and . _ - + @ only")
    return text


def _check_host(text: str) -> str:
    host = text.strip()
    if not host or any(c.isspace() for c in host):
        raise ValueError(f"{text!r} is not a host name such as imap.example.org")
    return host


def _check_port(text: str) -> int:
    if not text.strip().isdigit() or not 0 < int(text) < 65536:
        raise ValueError(f"{text!r} is not a port number (1-65535)")
    return int(text)


def _check_security(text: str) -> str:
    if text.strip().lower() not in SECURITIES:
        raise ValueError(f"{text!r}: answer tls, starttls or none")
    return text.strip().lower()


def _check_nonempty(text: str) -> str:
    if not text.strip():
        raise ValueError("an answer is needed here")
    return text.strip()


def _check_env_name(text: str) -> str:
    if not _ENV_NAME.match(text.strip()):
        raise ValueError(f"{text!r} is not an environment variable name such as WORK_IMAP_PASSWORD")
    return text.strip()


def _check_timezone(text: str) -> str:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(text.strip())
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown timezone {text!r}; use an IANA name such as Europe/Oslo") from None
    return text.strip()


def _check_country(text: str) -> str | None:
    if text.strip().lower() in ("", "none", "-"):
        return None
    from mail_followup.config import known_country

    return known_country(text.strip())


def _check_language(text: str) -> str:
    from mail_followup.language import available_languages

    if text.strip() not in available_languages():
        raise ValueError(f"no texts for language {text!r}; available: {', '.join(available_languages())}")
    return text.strip()


# --- guesses for the defaults ----------------------------------------------------------------------------


def _guess_timezone() -> str:
    from mail_followup.config import _local_timezone_name

    return _local_timezone_name()


def _guess_country(timezone: str, domain: str) -> str | None:
    """The country of the timezone (tzdata's zone.tab), else of the address's country-code domain."""
    import zoneinfo

    from mail_followup.timing import GENERIC_CCTLDS

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
            return _check_country(code)
        except ValueError:
            continue
    return None


def _guess_language() -> str:
    from mail_followup.language import available_languages

    for var in ("LC_ALL", "LC_MESSAGES", "LANG"):
        code = os.environ.get(var, "").split(".")[0].split("_")[0].lower()
        if code:
            code = "nb" if code in ("no", "nn") else code
            return code if code in available_languages() else "en"
    return "en"


def _keyring_problem() -> str | None:
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


# --- the run: questions, login test, the file ----------------------------------------------------------


class UsageError(Exception):
    """A missing or wrong answer in a run that may not ask (exit 2); ``flag`` is what to give."""

    def __init__(self, flag: str, message: str) -> None:
        super().__init__(f"{flag}: {message}")


class Quit(Exception):
    """The user chose to stop; nothing was written (exit 1)."""


_SOURCE_WORDS: dict[str, SecretSource] = {
    "keyring": "keyring", "command": "password_command", "password_command": "password_command",
    "env": "password_env", "password_env": "password_env", "oauth2": "oauth2_token_command",
    "oauth2_token_command": "oauth2_token_command",
}
_SHORT_WORD = {"keyring": "keyring", "password_command": "command", "password_env": "env",
               "oauth2_token_command": "oauth2"}
_SOURCE_FLAG = {"keyring": "--keyring", "password_command": "--password-command", "password_env": "--password-env",
                "oauth2_token_command": "--oauth2-token-command"}


class Wizard:
    """One run of `mail-followup init`. Flags given are answers; with ``--yes`` nothing is asked."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.yes = bool(args.yes)
        self.path = Path(getattr(args, "config", None) or default_config_path()).expanduser()
        self.secret: str | None = None  # the keyring password, in memory until it is stored
        self.folder_problem: str | None = None  # the login works, but Sent or Drafts was not found

    # -- talking

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

    # -- the steps

    def run(self) -> int:
        overwrite = self.may_overwrite()
        answers = self.ask_identity()
        self.ask_server(answers, retry=False)
        self.ask_username(answers, retry=False)
        self.ask_secret(answers, retry=False)
        self.ask_settings(answers)
        found: FolderMap | None = None
        while True:
            account = self.account(answers)  # validates everything through the real config schema
            if self.args.no_login_test:
                break
            ok, found = self.try_login(answers, account)
            if ok:
                break
            if self.yes:
                print("mail-followup init: nothing written; fix the answers, or pass --no-login-test to write "
                      "the config anyway", file=sys.stderr)
                return EXIT_FAILED
            choice = self.ask("[f]ix the answers, [w]rite the config anyway, or [q]uit", "--no-login-test",
                              _choice("fwq"), "f")
            if choice == "q":
                raise Quit()
            if choice == "w":
                break
            self.ask_server(answers, retry=True)
            self.ask_username(answers, retry=True)
            self.ask_secret(answers, retry=True)
        if answers.secret_source == "keyring" and self.secret is not None:
            from mail_followup.credentials import store_in_keyring

            store_in_keyring(answers.account_name, self.secret)
            self.say(f"Stored the password in the keyring for account {answers.account_name}.")
        backup = write_private(self.path, render_config(answers, found), overwrite)
        self.say(f"Wrote {self.path} (readable by you only)." + (f" The old one is {backup}." if backup else ""))
        option = "" if self.path == default_config_path() else f" --config {self.path}"
        if self.folder_problem:
            print(f"mail-followup init: the config is written, but the folders need a look: {self.folder_problem}",
                  file=sys.stderr)
            return EXIT_FAILED
        self.say(f"Next: mail-followup scan --dry-run{option}   (and: mail-followup doctor{option})")
        return EXIT_OK

    def may_overwrite(self) -> bool:
        """Whether the file may be replaced: only with --force, or a yes to the question."""
        if not self.path.exists():
            return False
        if self.args.force:
            return True
        if self.yes:
            raise UsageError("--force", f"{self.path} exists; it is never overwritten without --force")
        if not self.confirm(f"{self.path} exists. Overwrite it (the old one is kept as .bak)?", False, "--force"):
            raise Quit()
        return True

    def ask_identity(self) -> Answers:
        a = self.args
        address = self.given(a.address, "--address", _check_address) if a.address is not None else \
            self.ask("Your e-mail address", "--address", _check_address)
        if a.name is not None:
            name = a.name.strip() or None
        elif self.yes:
            name = None
        else:
            name = self.ask("Your name, to sign the drafts (Enter: the name in your From header)", "--name",
                            lambda t: t.strip() or None, "")
        answers = Answers(address=address, name=name)
        answers.account = self.given(a.account, "--account", _check_account) if a.account is not None else \
            self.ask("A short name for this account", "--account", _check_account, default_account_name(address))
        return answers

    def ask_server(self, answers: Answers, retry: bool) -> None:
        """Host, port, security: from the flags, else what the lookup found (confirmed), else asked."""
        a = self.args
        preset = PROVIDERS[a.provider] if a.provider else provider_for(answers.address)
        if retry:
            self._ask_server_fields(answers, answers.host, answers.security, answers.port)
        elif a.host is not None:
            answers.host = self.given(a.host, "--host", _check_host)
            same = preset is not None and preset.host == answers.host.lower()
            answers.security = self.given(a.security, "--security", _check_security) if a.security else \
                (preset.security if preset is not None and same else "tls")
            answers.port = self.given(a.port, "--port", _check_port) if a.port is not None else \
                (preset.port if preset is not None and same else DEFAULT_PORT[answers.security])
        else:
            found = self._find(answers)
            if found is not None:
                (host, port, security), source = found
                self.say(f"IMAP server: {host}:{port} ({security}), from {source}.")
                if self.confirm("Use it?", True):
                    answers.host = host
                    answers.security = self.given(a.security, "--security", _check_security) if a.security \
                        else security
                    answers.port = self.given(a.port, "--port", _check_port) if a.port is not None else port
                    self._settle_provider(answers)
                    return
            elif self.yes:
                why = "offline, and no preset" if a.offline else "no preset, autoconfig or SRV record"
                raise UsageError("--host", f"required: {why} for {answers.domain} (give --port and --security too)")
            else:
                self.say(f"No settings found for {answers.domain}" + (" (offline)" if a.offline else "")
                         + "; your provider's help pages name its IMAP server.")
            self._ask_server_fields(answers, found[0][0] if found else f"imap.{answers.domain}",
                                    a.security or (found[0][2] if found else "tls"), a.port)
        self._settle_provider(answers)

    def _find(self, answers: Answers) -> tuple[Server, str] | None:
        a = self.args
        if a.provider and a.provider != "generic":
            preset = PROVIDERS[a.provider]
            return (preset.host, preset.port, preset.security), f"the {preset.name} preset"
        if not a.offline and provider_for(answers.address) is None:
            self.say(f"Looking up the IMAP server of {answers.domain} ...")
        return find_server(answers.domain, offline=a.offline)

    def _ask_server_fields(self, answers: Answers, host: str, security: str, port: int | None) -> None:
        answers.host = self.ask("IMAP server", "--host", _check_host, host)
        answers.security = self.ask("Security: tls, starttls or none", "--security", _check_security, security)
        answers.port = self.ask("Port", "--port", _check_port, str(port or DEFAULT_PORT[answers.security]))

    def _settle_provider(self, answers: Answers) -> None:
        """Keep a preset only for its own server: it brings rules (Microsoft's OAuth2-only) that fit no other."""
        if self.args.provider:
            answers.provider = self.args.provider
            return
        by_host = [p for p in PROVIDERS.values() if p.host and p.host == answers.host.lower()]
        answers.provider = by_host[0].name if by_host else None

    def ask_username(self, answers: Answers, retry: bool) -> None:
        if not retry and self.args.username is not None:
            answers.username = self.given(self.args.username, "--username", _check_nonempty)
        else:
            answers.username = self.ask("Username", "--username", _check_nonempty,
                                        answers.username or answers.address)

    def ask_secret(self, answers: Answers, retry: bool) -> None:
        """Where the password comes from; for the keyring, the password itself (kept in memory only)."""
        a = self.args
        self.secret = None
        preset = PROVIDERS.get(answers.provider or "")
        oauth_only = preset is not None and preset.sign_in == "oauth2"
        given: dict[SecretSource, str | None] = {
            "keyring": "" if a.keyring else None, "password_command": a.password_command,
            "password_env": a.password_env, "oauth2_token_command": a.oauth2_token_command}
        flagged = [(source, value) for source, value in given.items() if value is not None]
        source: SecretSource
        if flagged and not retry:
            source, ref = flagged[0]
            if oauth_only and source != "oauth2_token_command":
                raise UsageError("--oauth2-token-command", f"{preset.name if preset else ''} accepts only OAuth2: "
                                 f"{preset.first_steps if preset else ''}")
            answers.secret_source = source
            check = _check_env_name if source == "password_env" else _check_nonempty
            answers.secret_ref = self.given(ref, _SOURCE_FLAG[source], check) if source != "keyring" else None
        else:
            if self.yes:
                raise UsageError("--keyring, --password-command, --password-env or --oauth2-token-command",
                                 "say where the password comes from (with --yes nothing is asked)")
            if preset is not None and not retry:
                self.say(f"{preset.name}: {preset.first_steps}")
            if oauth_only:
                source = "oauth2_token_command"
            else:
                problem = _keyring_problem()
                if problem:
                    self.say(f"Note: {problem}; take a command or an environment variable instead.")

                def check(text: str) -> SecretSource:
                    chosen = _choice_word(_SOURCE_WORDS)(text)
                    if chosen == "keyring" and problem:
                        raise ValueError(f"{problem}: answer command, env or oauth2")
                    return chosen

                default = _SHORT_WORD[answers.secret_source] if retry else ("command" if problem else "keyring")
                source = self.ask("Where the password comes from: keyring (stored now), command, env or oauth2",
                                  "--keyring", check, default)
            before = answers.secret_ref if source == answers.secret_source else None
            answers.secret_source = source
            if source == "password_command":
                answers.secret_ref = self.ask("Command that prints the password (e.g. pass show mail/work)",
                                              "--password-command", _check_nonempty, before)
            elif source == "password_env":
                answers.secret_ref = self.ask("Environment variable that holds the password", "--password-env",
                                              _check_env_name, before)
            elif source == "oauth2_token_command":
                answers.secret_ref = self.ask("Command that prints an OAuth2 access token (e.g. oama access "
                                              f"{answers.address})", "--oauth2-token-command", _check_nonempty,
                                              before)
            else:
                answers.secret_ref = None
        if answers.secret_source == "keyring":
            problem = _keyring_problem()
            if problem:
                raise KeyringUnusable(f"{problem}: it cannot keep the password. Start a Secret Service "
                                      "(gnome-keyring, KWallet), or use --password-command or --password-env")
            self.secret = self.read_password(answers)

    def read_password(self, answers: Answers) -> str:
        """The password for the keyring: $MAIL_FOLLOWUP_PASSWORD, a line of stdin when it is no terminal,
        else getpass (never echoed)."""
        from_env = os.environ.get(PASSWORD_ENV)
        if from_env:
            self.say(f"Taking the password from ${PASSWORD_ENV}.")
            return from_env
        if not sys.stdin.isatty():
            line = sys.stdin.readline().rstrip("\r\n")
            if not line:
                raise UsageError("--keyring", f"no password: give it on stdin or in ${PASSWORD_ENV}")
            return line
        if self.yes:
            raise UsageError("--keyring", f"with --yes the password comes from ${PASSWORD_ENV} or stdin")
        import getpass

        while True:
            secret = getpass.getpass(f"Password for {answers.username} at {answers.host}: ")
            if secret:
                return secret
            self.say("  no password given; try again (Ctrl-C stops)")

    def ask_settings(self, answers: Answers) -> None:
        a = self.args
        answers.timezone = self.given(a.timezone, "--timezone", _check_timezone) if a.timezone is not None else \
            self.ask("Your timezone", "--timezone", _check_timezone, _guess_timezone())
        if a.country is not None:
            answers.country = self.given(a.country, "--country", _check_country)
        else:
            guess = _guess_country(answers.timezone, answers.domain)
            answers.country = self.ask("Country whose public holidays to avoid (ISO code, or none)", "--country",
                                       _check_country, guess or "none")
        answers.language = self.given(a.language, "--language", _check_language) if a.language is not None else \
            self.ask("Language of a draft when your message does not show one", "--language", _check_language,
                     _guess_language())

    def account(self, answers: Answers) -> Account:
        from mail_followup.config import parse_config

        account = parse_config(render_config(answers), self.path).accounts[0]
        return replace(account, imap=account.imap.model_copy(update={"timeout_seconds": LOGIN_TIMEOUT}))

    def try_login(self, answers: Answers, account: Account) -> tuple[bool, FolderMap | None]:
        """Log in and find the folders; a failure is shown with its hint. (ok, folders found)."""
        from mail_followup.errors import MailFollowupError

        imap = account.imap
        if answers.secret_source == "oauth2_token_command" and not self.try_token_command(
                imap.oauth2_token_command or ""):
            return False, None
        from mail_followup import credentials
        from mail_followup.mailbox import Mailbox

        self.folder_problem = None
        secret = self.secret
        getter = (lambda _account: cast(str, secret)) if answers.secret_source == "keyring" else credentials.password
        self.say(f"Trying the login to {imap.host}:{imap.effective_port} as {imap.username} ...")
        try:
            with Mailbox.connect(account, getter) as mailbox:
                self.say("Login works.")
                try:
                    found = mailbox.discover(account.folders)
                except MailFollowupError as exc:
                    self.say(f"But the folders are a problem: {exc}")
                    self.folder_problem = str(exc)
                    return True, None
        except MailFollowupError as exc:
            self.say(f"The login failed: {exc}")
            return False, None
        self.say("Folders found:")
        self.say(f"  sent:   {_comment(found.sent)} ({found.how.get('sent', '?')})")
        self.say(f"  drafts: {_comment(found.drafts)} ({found.how.get('drafts', '?')})")
        self.say(f"  answers looked for in: {', '.join(_comment(f) for f in found.replies)}")
        return True, found

    def try_token_command(self, command: str) -> bool:
        """Run the token helper once: it must print something. Its output (a token) is never shown."""
        import subprocess

        from mail_followup.credentials import HELPER_TIMEOUT_SECONDS, run_helper

        self.say("Trying the token command ...")
        try:
            done = run_helper(command)
        except subprocess.TimeoutExpired:
            self.say(f"The token command did not finish within {HELPER_TIMEOUT_SECONDS:g} seconds.")
            return False
        except OSError as exc:
            self.say(f"The token command cannot be run ({type(exc).__name__}).")
            return False
        if done.returncode != 0 or not done.stdout.strip():
            self.say(f"The token command failed (exit code {done.returncode}"
                     + (", no output)" if not done.stdout.strip() else ")")
                     + "; run it by hand to see why.")
            return False
        self.say("The token command prints a token.")
        return True


class KeyringUnusable(Exception):
    """The keyring cannot keep a password here (exit 1: the machine, not the answers)."""


def _yes_no(text: str) -> bool:
    if text.lower() in ("y", "yes"):
        return True
    if text.lower() in ("n", "no"):
        return False
    raise ValueError("answer y or n")


def _choice(letters: str) -> Callable[[str], str]:
    def check(text: str) -> str:
        if len(text.strip()) >= 1 and text.strip()[0].lower() in letters:
            return text.strip()[0].lower()
        raise ValueError(f"answer one of: {', '.join(letters)}")
    return check


def _choice_word(words: dict[str, SecretSource]) -> Callable[[str], SecretSource]:
    def check(text: str) -> SecretSource:
        if text.strip().lower() in words:
            return words[text.strip().lower()]
        raise ValueError("answer keyring, command, env or oauth2")
    return check


def write_private(path: Path, text: str, overwrite: bool) -> Path | None:
    """Write ``text`` to ``path`` as 0600, in a 0700 folder; return the backup of a replaced file.

    A new folder is made 0700, and so is our own (``mail-followup``) when it
    exists; any other existing folder is left as it is. Without
    ``overwrite`` the file is created exclusively, so a file that appeared
    meanwhile is never replaced.
    """
    folder = path.parent
    if not folder.exists():
        folder.mkdir(parents=True, mode=0o700)
        os.chmod(folder, 0o700)
    elif folder.name == APP:
        os.chmod(folder, 0o700)
    data = text.encode("utf-8")
    backup = None
    if overwrite and path.exists():
        backup = path.with_name(path.name + ".bak")
        old = path.read_bytes()
        fd = os.open(backup, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as fh:
            os.fchmod(fh.fileno(), 0o600)
            fh.write(old)
        tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, path)
        finally:
            if tmp.exists():
                tmp.unlink()
        return backup
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        os.fchmod(fh.fileno(), 0o600)
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    return backup


# --- the command line --------------------------------------------------------------------------------------


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The flags of `mail-followup init` (``--config`` comes from the CLI's common options)."""
    parser.add_argument("--address", metavar="ADDR", help="your e-mail address")
    parser.add_argument("--name", help="your name, to sign the drafts (default: the name in your From header)")
    parser.add_argument("--account", metavar="NAME", help="the account's short name (default: from the domain)")
    parser.add_argument("--provider", choices=sorted(PROVIDERS), help="a preset (default: from the address)")
    parser.add_argument("--host", help="the IMAP server (default: the preset, autoconfig or SRV record)")
    parser.add_argument("--port", type=int, help="default: 993 for tls, 143 for starttls and none")
    parser.add_argument("--security", choices=SECURITIES, help="default: tls")
    parser.add_argument("--username", help="the IMAP username (default: the address)")
    secret = parser.add_mutually_exclusive_group()
    secret.add_argument("--keyring", action="store_true",
                        help=f"store the password in the keyring (read from ${PASSWORD_ENV}, or stdin when it "
                        "is no terminal, else asked without echo)")
    secret.add_argument("--password-command", metavar="CMD", help="a command that prints the password")
    secret.add_argument("--password-env", metavar="VAR", help="an environment variable that holds the password")
    secret.add_argument("--oauth2-token-command", metavar="CMD", help="a command that prints an OAuth2 token")
    parser.add_argument("--timezone", metavar="TZ", help="IANA name (default: the system's)")
    parser.add_argument("--country", metavar="CC", help="public holidays to avoid: ISO code, or none "
                        "(default: the timezone's country)")
    parser.add_argument("--language", metavar="LANG", help="drafts' default language: en, de, sv or nb")
    parser.add_argument("--no-login-test", action="store_true", help="write the config without trying the login")
    parser.add_argument("--offline", action="store_true",
                        help="no network lookup of the server (autoconfig, ISPDB, SRV); only the presets")
    parser.add_argument("--force", action="store_true", help="replace an existing config (kept as .bak)")
    parser.add_argument("--yes", action="store_true",
                        help="ask nothing: take the defaults; a missing required answer is an error (exit 2)")


DESCRIPTION = """\
Set up one account and write the config: asks for your address and name,
finds the IMAP server (presets; online also the provider's autoconfig and
SRV records), stores the password in the keyring (or takes a command),
tries the login, shows the folders found, and writes a commented config
readable by you only. An existing config is replaced only after a yes (or
with --force). With --yes and every answer as a flag it needs no terminal.
"""


def run(args: argparse.Namespace) -> int:
    """`mail-followup init`; the exit code (0 written, 1 failed or stopped, 2 a usage error)."""
    from mail_followup.errors import ConfigError, MailFollowupError

    try:
        return Wizard(args).run()
    except UsageError as exc:
        print(f"mail-followup init: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except ConfigError as exc:  # the answers made a config the schema refuses
        print(f"mail-followup init: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except Quit:
        print("mail-followup init: nothing written.", file=sys.stderr)
        return EXIT_FAILED
    except (MailFollowupError, KeyringUnusable) as exc:
        print(f"mail-followup init: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except OSError as exc:
        print(f"mail-followup init: cannot write {getattr(exc, 'filename', '') or 'the config'}: "
              f"{exc.strerror or exc}", file=sys.stderr)
        return EXIT_FAILED


def main(argv: list[str] | None = None) -> int:
    """Standalone entry (`python -m mail_followup.wizard`), the same as `mail-followup init`."""
    parser = argparse.ArgumentParser(prog="mail-followup init", description=DESCRIPTION,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", metavar="P", type=Path, help=f"the config file (default: {default_config_path()})")
    add_arguments(parser)
    try:
        return run(parser.parse_args(argv))
    except KeyboardInterrupt:
        print("\nmail-followup init: stopped; nothing written.", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
