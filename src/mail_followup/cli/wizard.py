"""`mail-followup init`: ask a few questions, find the server, try the login, write a private config.

This module is the flow: ``Wizard`` asks its steps in order (the address,
the server, the username, where the password comes from, the settings),
tries the login, and writes the file 0600; ``run`` turns its errors into
exit codes and ``main`` is the standalone entry. Every answer can be a flag
(for scripts), and with ``--yes`` nothing is asked. The parts it ties
together live beside it: the questions and their checks
(``wizard_prompts``), the server lookup (``wizard_lookup``), the login
test (``wizard_login``) and the config it renders (``wizard_config``).

Only the domain ever leaves the machine during the lookup, never the
address; and the password never reaches the config, the output or a log.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from mail_followup.cli.wizard_config import (
    DEFAULT_PORT,
    SECURITIES,
    Answers,
    SecretSource,
    default_account_name,
    render_config,
    write_private,
)
from mail_followup.cli.wizard_login import login_account, try_login
from mail_followup.cli.wizard_lookup import Server, find_server, parse_autoconfig  # noqa: F401 (the wizard's face)
from mail_followup.cli.wizard_prompts import (
    Prompter,
    Quit,
    UsageError,
    check_account,
    check_address,
    check_country,
    check_env_name,
    check_host,
    check_language,
    check_nonempty,
    check_port,
    check_security,
    check_timezone,
    guess_country,
    guess_language,
    guess_timezone,
    keyring_problem,
    letter_choice,
    word_choice,
)
from mail_followup.config.providers import PROVIDERS, provider_for
from mail_followup.paths import default_config_path

if TYPE_CHECKING:  # imapclient loads only when a run needs it
    from mail_followup.imap.folders import FolderMap

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2

PASSWORD_ENV = "MAIL_FOLLOWUP_PASSWORD"

_SOURCE_WORDS: dict[str, SecretSource] = {
    "keyring": "keyring", "command": "password_command", "password_command": "password_command",
    "env": "password_env", "password_env": "password_env", "oauth2": "oauth2_token_command",
    "oauth2_token_command": "oauth2_token_command",
}
_SHORT_WORD = {"keyring": "keyring", "password_command": "command", "password_env": "env",
               "oauth2_token_command": "oauth2"}
_SOURCE_FLAG = {"keyring": "--keyring", "password_command": "--password-command", "password_env": "--password-env",
                "oauth2_token_command": "--oauth2-token-command"}


class Wizard(Prompter):
    """One run of `mail-followup init`. Flags given are answers; with ``--yes`` nothing is asked."""

    def __init__(self, args: argparse.Namespace) -> None:
        super().__init__(bool(args.yes))
        self.args = args
        self.path = Path(getattr(args, "config", None) or default_config_path()).expanduser()
        self.secret: str | None = None  # the keyring password, in memory until it is stored
        self.folder_problem: str | None = None  # the login works, but Sent or Drafts was not found

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
            account = login_account(answers, self.path)  # validates everything through the real config schema
            if self.args.no_login_test:
                break
            ok, found, self.folder_problem = try_login(answers, account, self.secret, self.say)
            if ok:
                break
            if self.yes:
                print("mail-followup init: nothing written; fix the answers, or pass --no-login-test to write "
                      "the config anyway", file=sys.stderr)
                return EXIT_FAILED
            choice = self.ask("[f]ix the answers, [w]rite the config anyway, or [q]uit", "--no-login-test",
                              letter_choice("fwq"), "f")
            if choice == "q":
                raise Quit()
            if choice == "w":
                break
            self.ask_server(answers, retry=True)
            self.ask_username(answers, retry=True)
            self.ask_secret(answers, retry=True)
        if answers.secret_source == "keyring" and self.secret is not None:
            from mail_followup.imap.credentials import store_in_keyring

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
        address = self.given(a.address, "--address", check_address) if a.address is not None else \
            self.ask("Your e-mail address", "--address", check_address)
        if a.name is not None:
            name = a.name.strip() or None
        elif self.yes:
            name = None
        else:
            name = self.ask("Your name, to sign the drafts (Enter: the name in your From header)", "--name",
                            lambda t: t.strip() or None, "")
        answers = Answers(address=address, name=name)
        answers.account = self.given(a.account, "--account", check_account) if a.account is not None else \
            self.ask("A short name for this account", "--account", check_account, default_account_name(address))
        return answers

    def ask_server(self, answers: Answers, retry: bool) -> None:
        """Host, port, security: from the flags, else what the lookup found (confirmed), else asked."""
        a = self.args
        preset = PROVIDERS[a.provider] if a.provider else provider_for(answers.address)
        if retry:
            self._ask_server_fields(answers, answers.host, answers.security, answers.port)
        elif a.host is not None:
            answers.host = self.given(a.host, "--host", check_host)
            same = preset is not None and preset.host == answers.host.lower()
            answers.security = self.given(a.security, "--security", check_security) if a.security else \
                (preset.security if preset is not None and same else "tls")
            answers.port = self.given(a.port, "--port", check_port) if a.port is not None else \
                (preset.port if preset is not None and same else DEFAULT_PORT[answers.security])
        else:
            found = self._find(answers)
            if found is not None:
                (host, port, security), source = found
                self.say(f"IMAP server: {host}:{port} ({security}), from {source}.")
                if self.confirm("Use it?", True):
                    answers.host = host
                    answers.security = self.given(a.security, "--security", check_security) if a.security \
                        else security
                    answers.port = self.given(a.port, "--port", check_port) if a.port is not None else port
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
        answers.host = self.ask("IMAP server", "--host", check_host, host)
        answers.security = self.ask("Security: tls, starttls or none", "--security", check_security, security)
        answers.port = self.ask("Port", "--port", check_port, str(port or DEFAULT_PORT[answers.security]))

    def _settle_provider(self, answers: Answers) -> None:
        """Keep a preset only for its own server: it brings rules (Microsoft's OAuth2-only) that fit no other."""
        if self.args.provider:
            answers.provider = self.args.provider
            return
        by_host = [p for p in PROVIDERS.values() if p.host and p.host == answers.host.lower()]
        answers.provider = by_host[0].name if by_host else None

    def ask_username(self, answers: Answers, retry: bool) -> None:
        if not retry and self.args.username is not None:
            answers.username = self.given(self.args.username, "--username", check_nonempty)
        else:
            answers.username = self.ask("Username", "--username", check_nonempty,
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
            check = check_env_name if source == "password_env" else check_nonempty
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
                problem = keyring_problem()
                if problem:
                    self.say(f"Note: {problem}; take a command or an environment variable instead.")

                def check(text: str) -> SecretSource:
                    chosen = word_choice(_SOURCE_WORDS)(text)
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
                                              "--password-command", check_nonempty, before)
            elif source == "password_env":
                answers.secret_ref = self.ask("Environment variable that holds the password", "--password-env",
                                              check_env_name, before)
            elif source == "oauth2_token_command":
                answers.secret_ref = self.ask("Command that prints an OAuth2 access token (e.g. oama access "
                                              f"{answers.address})", "--oauth2-token-command", check_nonempty,
                                              before)
            else:
                answers.secret_ref = None
        if answers.secret_source == "keyring":
            problem = keyring_problem()
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
        answers.timezone = self.given(a.timezone, "--timezone", check_timezone) if a.timezone is not None else \
            self.ask("Your timezone", "--timezone", check_timezone, guess_timezone())
        if a.country is not None:
            answers.country = self.given(a.country, "--country", check_country)
        else:
            guess = guess_country(answers.timezone, answers.domain)
            answers.country = self.ask("Country whose public holidays to avoid (ISO code, or none)", "--country",
                                       check_country, guess or "none")
        answers.language = self.given(a.language, "--language", check_language) if a.language is not None else \
            self.ask("Language of a draft when your message does not show one", "--language", check_language,
                     guess_language())


class KeyringUnusable(Exception):
    """The keyring cannot keep a password here (exit 1: the machine, not the answers)."""


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
    """Standalone entry (`python -m mail_followup.cli.wizard`), the same as `mail-followup init`."""
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
