"""`mail-followup init` (wizard.py): the config it writes, the server lookup, and the run as a user meets it.

The logins go to the real servers of conftest.py (plaintext on 127.0.0.1).
Nothing here touches the internet: the autoconfig server and the DNS
resolver are local fakes, and every other run is --offline.
"""

from __future__ import annotations

import http.server
import io
import json
import os
import pty
import select
import signal
import socket
import stat
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import keyring
import pytest

from conftest import MemoryKeyring
from mail_followup.cli import wizard
from mail_followup.config import load_config, parse_config
from mail_followup.imap.folders import FolderMap
from mail_followup.config.providers import PROVIDERS
from mail_followup.cli.wizard_config import Answers, render_config
from mail_followup.cli.wizard_lookup import lookup

SRC = Path(__file__).resolve().parents[1] / "src"
ME = "me@example.org"
ENV_VAR = "MF_WIZARD_PASSWORD"


def child_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != wizard.PASSWORD_ENV}
    env["PYTHONPATH"] = os.pathsep.join([str(SRC), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    return {**env, **extra}


def run_wizard(*args: str, env: dict[str, str] | None = None, stdin: str = "",
               timeout: float = 90) -> subprocess.CompletedProcess[str]:
    """The wizard as its own process (`python -m mail_followup.cli.wizard` is `mail-followup init`); stdin no tty."""
    return subprocess.run([sys.executable, "-m", "mail_followup.cli.wizard", *args], input=stdin, capture_output=True,
                          text=True, timeout=timeout, env=child_env(**(env or {})))


def flags(account, config: Path, *extra: str) -> list[str]:
    """Every answer as a flag: what a script gives."""
    return ["--config", str(config), "--yes", "--offline", "--address", ME, "--name", "Kari Nordmann",
            "--host", account.host, "--port", str(account.port), "--security", "none",
            "--username", account.username, "--timezone", "Europe/Oslo", "--country", "NO", "--language", "en",
            *extra]


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)




# --- flags only: no terminal --------------------------------------------------------------------------


def test_flags_only_writes_a_private_config_that_loads_and_never_overwrites(imap_account, tmp_path: Path) -> None:
    config = tmp_path / "new-folder" / "config.yaml"
    env = {ENV_VAR: imap_account.password}
    done = run_wizard(*flags(imap_account, config, "--password-env", ENV_VAR), env=env)
    assert done.returncode == 0, done.stderr
    assert mode(config) == 0o600 and mode(config.parent) == 0o700

    loaded = load_config(config)
    (account,) = loaded.accounts
    assert account.name == "example" and account.addresses == (ME,)
    assert (account.imap.host, account.imap.port, account.imap.security) == (imap_account.host, imap_account.port,
                                                                               "none")
    assert account.imap.username == imap_account.username and account.imap.password_env == ENV_VAR
    assert account.settings.timezone == "Europe/Oslo" and account.settings.country == "NO"
    assert account.settings.sender_name == "Kari Nordmann" and account.settings.language == "en"

    how = "special-use" if imap_account.special_use else "known name"
    assert "Login works." in done.stdout
    assert f"sent:   Sent ({how})" in done.stdout and f"drafts: Drafts ({how})" in done.stdout
    assert "answers looked for in: INBOX" in done.stdout
    text = config.read_text()
    assert "config.example.yaml" in text and "# Found at setup: sent Sent, drafts Drafts;" in text
    assert imap_account.password not in done.stdout + done.stderr + text

    before = (config.read_bytes(), config.stat().st_mtime_ns)
    again = run_wizard(*flags(imap_account, config, "--password-env", ENV_VAR), env=env)
    assert again.returncode == 2 and "--force" in again.stderr and "exists" in again.stderr
    assert (config.read_bytes(), config.stat().st_mtime_ns) == before

    forced = run_wizard(*flags(imap_account, config, "--password-env", ENV_VAR, "--force", "--account", "work"),
                        env=env)
    assert forced.returncode == 0, forced.stderr
    backup = config.with_name("config.yaml.bak")
    assert backup.read_bytes() == before[0] and mode(backup) == 0o600 and mode(config) == 0o600
    assert load_config(config).accounts[0].name == "work"


@pytest.mark.parametrize("missing, flag", [
    ("--address", "--address"),
    ("--host", "--host"),  # example.org: no preset, and --offline looks nothing up
    ("--password-env", "--keyring, --password-command, --password-env or --oauth2-token-command"),
])
def test_with_yes_a_missing_answer_is_a_usage_error_naming_the_flag(
        pymap_account, tmp_path: Path, capsys, missing: str, flag: str) -> None:
    config = tmp_path / "config.yaml"
    args = flags(pymap_account, config, "--password-env", ENV_VAR)
    i = args.index(missing)
    del args[i:i + 2]
    assert wizard.main(args) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"mail-followup init: {flag}: ") and "Traceback" not in err
    assert not config.exists()


def test_a_bad_answer_given_as_a_flag_is_a_usage_error(pymap_account, tmp_path: Path, capsys) -> None:
    config = tmp_path / "config.yaml"
    assert wizard.main(flags(pymap_account, config, "--password-env", ENV_VAR, "--timezone", "Nowhere/Land")) == 2
    assert "--timezone: unknown timezone 'Nowhere/Land'" in capsys.readouterr().err
    assert wizard.main(flags(pymap_account, config, "--password-env", "NOT A NAME")) == 2
    assert "--password-env: 'NOT A NAME' is not an environment variable name" in capsys.readouterr().err
    assert wizard.main(flags(pymap_account, config, "--provider", "outlook", "--password-env", ENV_VAR)) == 2
    assert "--oauth2-token-command: outlook accepts only OAuth2" in capsys.readouterr().err
    assert not config.exists()


def test_a_refused_login_writes_nothing_and_shows_the_hint(
        pymap_account, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    config = tmp_path / "config.yaml"
    monkeypatch.setenv(ENV_VAR, "not-the-password")
    assert wizard.main(flags(pymap_account, config, "--password-env", ENV_VAR)) == 1
    out, err = capsys.readouterr()
    assert "The login failed: account 'example': the server 127.0.0.1 refused the login for demo" in out
    assert "hint: check the username and password" in out and "--no-login-test" in err
    assert not config.exists() and "not-the-password" not in out + err

    assert wizard.main(flags(pymap_account, config, "--password-env", ENV_VAR, "--no-login-test")) == 0
    assert "Trying the login" not in capsys.readouterr().out
    assert load_config(config).accounts[0].imap.password_env == ENV_VAR


def test_a_server_without_sent_folder_gets_the_config_and_exit_1(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    from mail_followup.cli.demo_server import PymapServer

    config = tmp_path / "config.yaml"
    with PymapServer("demo", "pw", ("Archive",)) as server:
        monkeypatch.setenv(ENV_VAR, "pw")
        account = type("Server", (), {"host": server.host, "port": server.port, "username": "demo"})()
        assert wizard.main(flags(account, config, "--password-env", ENV_VAR)) == 1
    out, err = capsys.readouterr()
    assert "Login works." in out and "no sent folder found" in err and "folders: {sent: NAME}" in err
    assert load_config(config).accounts[0].folders.sent == "auto"


def test_keyring_takes_the_password_from_the_environment_or_stdin(
        pymap_account, tmp_path: Path, memory_keyring: MemoryKeyring, monkeypatch: pytest.MonkeyPatch,
        capsys) -> None:
    config = tmp_path / "config.yaml"
    monkeypatch.setenv(wizard.PASSWORD_ENV, pymap_account.password)
    assert wizard.main(flags(pymap_account, config, "--keyring", "--account", "home")) == 0
    assert memory_keyring.items == {("mail-followup", "home"): pymap_account.password}
    imap = load_config(config).accounts[0].imap
    assert imap.keyring and not imap.password_command and not imap.password_env
    out = capsys.readouterr().out
    assert "Login works." in out and pymap_account.password not in out + config.read_text()

    monkeypatch.delenv(wizard.PASSWORD_ENV)
    monkeypatch.setattr(sys, "stdin", io.StringIO(pymap_account.password + "\n"))  # a pipe, no terminal
    memory_keyring.items.clear()
    assert wizard.main(flags(pymap_account, config, "--keyring", "--account", "home", "--force")) == 0
    assert memory_keyring.items == {("mail-followup", "home"): pymap_account.password}


def test_keyring_without_a_usable_backend_says_what_to_use_instead(tmp_path: Path, capsys) -> None:
    from keyring.backends import fail

    previous = keyring.get_keyring()
    keyring.set_keyring(fail.Keyring())
    try:
        config = tmp_path / "config.yaml"
        args = ["--config", str(config), "--yes", "--offline", "--address", "me@gmail.com", "--keyring"]
        assert wizard.main(args) == 1
    finally:
        keyring.set_keyring(previous)
    err = capsys.readouterr().err
    assert "no usable keyring" in err and "--password-command" in err and not config.exists()


def test_oauth2_tries_the_token_command_and_never_shows_the_token(tmp_path: Path, capsys) -> None:
    config = tmp_path / "config.yaml"
    args = ["--config", str(config), "--yes", "--offline", "--address", "kari@outlook.com", "--timezone", "UTC",
            "--country", "none", "--language", "sv"]
    assert wizard.main([*args, "--oauth2-token-command", "echo tok-12345; exit 3"]) == 1
    out = capsys.readouterr().out
    assert "The token command failed (exit code 3)" in out and "tok-12345" not in out and not config.exists()

    # No network in tests: the outlook preset is checked without a login (the next test signs in for real).
    assert wizard.main([*args, "--oauth2-token-command", "echo tok-12345", "--no-login-test"]) == 0
    out = capsys.readouterr().out
    assert "from the outlook preset" in out and "tok-12345" not in out
    (account,) = load_config(config).accounts
    assert account.imap.host == "outlook.office365.com" and account.imap.oauth2_token_command == "echo tok-12345"
    assert "provider: outlook" in config.read_text() and account.settings.country is None


def test_declining_to_overwrite_leaves_the_file_alone(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text("# mine\n")
    done = run_wizard("--config", str(config), "--offline", stdin="n\n")
    assert done.returncode == 1 and "Overwrite it" in done.stdout and "nothing written" in done.stderr
    assert config.read_text() == "# mine\n"
    closed = run_wizard("--config", str(config), "--offline", stdin="")  # no answer at all: never a yes
    assert closed.returncode == 2 and "--force" in closed.stderr and config.read_text() == "# mine\n"


# --- render_config ----------------------------------------------------------------------------------------


def answers_for(provider: str) -> Answers:
    preset = PROVIDERS[provider]
    oauth = preset.sign_in == "oauth2"
    return Answers(address=f"kari@{provider}.example", name="Kari Nordmann", account=provider, provider=provider,
                   host=preset.host or "imap.example.org", port=preset.port, security=preset.security,
                   username=f"kari@{provider}.example",
                   secret_source="oauth2_token_command" if oauth else "keyring",
                   secret_ref="oama access kari@outlook.example" if oauth else None,
                   language="de", timezone="Europe/Berlin", country="DE")


@pytest.mark.parametrize("provider", sorted(PROVIDERS))
def test_render_config_parses_for_every_provider(provider: str, tmp_path: Path) -> None:
    text = render_config(answers_for(provider))
    (account,) = parse_config(text, tmp_path / "config.yaml").accounts
    assert account.name == provider and account.addresses == (f"kari@{provider}.example",)
    assert account.imap.host == (PROVIDERS[provider].host or "imap.example.org")
    assert account.settings.country == "DE" and account.settings.language == "de"
    assert ("provider: " + provider in text) == (provider != "generic")
    assert "config.example.yaml" in text and "kari" not in "".join(l for l in text.splitlines() if "password" in l)


def test_render_config_quotes_whatever_it_is_given(tmp_path: Path) -> None:
    tricky = Answers(address="Kari.N+jobs@Example.NO", name='Kari "K" Nordmann: CEO # 1 \\ ø 😀',
                     host="mail.example.no", port=1143, security="starttls", username="kari: #1",
                     secret_source="password_command", secret_ref="pass show 'mail/work' | head -1 # \"x\"",
                     language="nb", timezone="Europe/Oslo", country=None)
    found = FolderMap("Sent\nInjected: true", "Drafts", ("INBOX", "Archive"))
    text = render_config(tricky, found)
    (account,) = parse_config(text, tmp_path / "config.yaml").accounts
    assert account.settings.sender_name == tricky.name and account.imap.password_command == tricky.secret_ref
    assert account.imap.username == "kari: #1" and account.imap.port == 1143 and account.settings.country is None
    assert account.name == "example" and account.addresses == ("kari.n+jobs@example.no",)
    assert "# Found at setup: sent Sent?Injected: true, drafts Drafts;" in text
    assert '# country: "NO"' in text  # the key left out is shown, commented


# --- lookup -----------------------------------------------------------------------------------------------


def test_lookup_offline_gives_the_preset_and_nothing_else() -> None:
    assert lookup("gmail.com", 1, offline=True) == ("imap.gmail.com", 993, "tls")
    assert lookup("GoogleMail.com.", 1, offline=True) == ("imap.gmail.com", 993, "tls")
    assert lookup("example.org", 1, offline=True) is None


AUTOCONFIG = b"""<?xml version="1.0"?>
<clientConfig version="1.1">
  <emailProvider id="example.net">
    <domain>example.net</domain>
    <incomingServer type="pop3"><hostname>pop.example.net</hostname><port>995</port><socketType>SSL</socketType></incomingServer>
    <incomingServer type="imap"><hostname>plain.example.net</hostname><port>143</port><socketType>plain</socketType></incomingServer>
    <incomingServer type="imap"><hostname>starttls.example.net</hostname><port>143</port><socketType>STARTTLS</socketType></incomingServer>
    <incomingServer type="imap"><hostname>mail.%EMAILDOMAIN%</hostname><port>993</port><socketType>SSL</socketType></incomingServer>
  </emailProvider>
</clientConfig>"""


@pytest.fixture
def autoconfig_server(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, list[str]]]:
    """A local HTTP server with an autoconfig file at /v1.1/example.net; 404 elsewhere. Yields (base URL, paths)."""
    monkeypatch.setenv("no_proxy", "*")
    monkeypatch.setenv("NO_PROXY", "*")
    requested: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (the http.server name)
            requested.append(self.path)
            body = AUTOCONFIG if self.path == "/v1.1/example.net" else None
            self.send_response(200 if body else 404)
            self.send_header("Content-Type", "text/xml")
            self.end_headers()
            self.wfile.write(body or b"not here")

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", requested
    server.shutdown()
    server.server_close()


def test_lookup_reads_the_autoconfig_file(autoconfig_server: tuple[str, list[str]]) -> None:
    base, requested = autoconfig_server
    urls = (base + "/mail/{domain}/config-v1.1.xml", base + "/v1.1/{domain}")  # the first one is missing
    assert lookup("example.net", 2, autoconfig_urls=urls, nameserver=None) == ("mail.example.net", 993, "tls")
    assert requested == ["/mail/example.net/config-v1.1.xml", "/v1.1/example.net"]  # the domain only, no address
    assert wizard.find_server("example.net", 2, autoconfig_urls=urls, nameserver=None) == (
        ("mail.example.net", 993, "tls"), base + "/v1.1/example.net")
    requested.clear()
    assert lookup("example.net", 2, offline=True, autoconfig_urls=urls, nameserver=None) is None
    assert lookup("gmail.com", 2, autoconfig_urls=urls, nameserver=None) == ("imap.gmail.com", 993, "tls")
    assert requested == []  # offline, and a preset: no request


def test_autoconfig_prefers_tls_takes_starttls_and_never_plaintext() -> None:
    assert wizard.parse_autoconfig(AUTOCONFIG, "example.net") == ("mail.example.net", 993, "tls")
    without_tls = AUTOCONFIG.replace(b"<socketType>SSL</socketType></incomingServer>\n  </emailProvider>",
                                     b"<socketType>plain</socketType></incomingServer>\n  </emailProvider>")
    assert wizard.parse_autoconfig(without_tls, "example.net") == ("starttls.example.net", 143, "starttls")
    only_plain = b"""<clientConfig><emailProvider><incomingServer type="imap"><hostname>h.example</hostname>
        <port>143</port><socketType>plain</socketType></incomingServer></emailProvider></clientConfig>"""
    assert wizard.parse_autoconfig(only_plain, "example.net") is None


def dns_reply(query: bytes, records: list[tuple[int, int, int, str]] | None) -> bytes:
    """The answer to ``query``: its SRV ``records``, or NXDOMAIN for None. Names point at the question."""
    qid = query[:2]
    end = query.index(b"\0", 12) + 5
    question = query[12:end]
    if records is None:
        return qid + struct.pack("!5H", 0x8183, 1, 0, 0, 0) + question
    answers = b""
    for priority, weight, port, target in records:
        name = b"".join(bytes([len(p)]) + p.encode() for p in target.split(".") if p) + b"\0"
        rdata = struct.pack("!3H", priority, weight, port) + name
        answers += b"\xc0\x0c" + struct.pack("!HHIH", 33, 1, 300, len(rdata)) + rdata
    return qid + struct.pack("!5H", 0x8180, 1, len(records), 0, 0) + question + answers


@pytest.fixture
def fake_resolver() -> Iterator[tuple[str, int]]:
    """A DNS server on 127.0.0.1 that knows a few SRV records (RFC 6186)."""
    zone: dict[str, list[tuple[int, int, int, str]]] = {
        "_imaps._tcp.srv.example": [(10, 0, 993, "imap.srv.example"), (0, 5, 9993, "fast.srv.example")],
        "_imap._tcp.starttls.example": [(0, 0, 143, "mail.starttls.example")],
        "_imaps._tcp.gone.example": [(0, 0, 0, "")],  # "." : no such service here
    }
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(0.2)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                query, peer = sock.recvfrom(512)
            except OSError:
                continue
            pos, labels = 12, []
            while query[pos]:
                labels.append(query[pos + 1:pos + 1 + query[pos]].decode())
                pos += 1 + query[pos]
            assert struct.unpack_from("!H", query, pos + 1)[0] == 33  # SRV
            sock.sendto(dns_reply(query, zone.get(".".join(labels))), peer)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield sock.getsockname()
    stop.set()
    thread.join()
    sock.close()


def test_lookup_asks_the_srv_records(fake_resolver: tuple[str, int]) -> None:
    def srv(domain: str):
        return lookup(domain, 2, autoconfig_urls=(), nameserver=fake_resolver)

    assert srv("srv.example") == ("fast.srv.example", 9993, "tls")  # the lowest priority wins
    assert srv("starttls.example") == ("mail.starttls.example", 143, "starttls")
    assert srv("gone.example") is None and srv("nothing.example") is None
    assert wizard.find_server("srv.example", 2, autoconfig_urls=(), nameserver=fake_resolver)[1] == \
        "the DNS record _imaps._tcp.srv.example (RFC 6186)"  # type: ignore[index]


def test_an_unreachable_resolver_costs_a_timeout_and_finds_nothing() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))  # bound and never answering
        started = time.monotonic()
        assert lookup("srv.example", 0.5, autoconfig_urls=(), nameserver=sock.getsockname()) is None
    assert time.monotonic() - started < 5


# --- the interactive run, on a pseudo-terminal --------------------------------------------------------------

# The child keeps its keyring in a file the test can read: a real one is not there on a test machine.
BOOT = """
import json, os, runpy, sys
import keyring
from keyring.backend import KeyringBackend

class FileRing(KeyringBackend):
    priority = 1
    def get_password(self, service, username):
        return None
    def set_password(self, service, username, password):
        with open(os.environ["MF_TEST_KEYRING"], "w") as fh:
            json.dump([service, username, password], fh)
    def delete_password(self, service, username):
        pass

keyring.set_keyring(FileRing())
sys.argv[0] = "mail-followup init"
runpy.run_module("mail_followup.cli.wizard", run_name="__main__", alter_sys=True)
"""


class Terminal:
    """A child process on a pseudo-terminal: wait for a prompt, type an answer. Never waits forever."""

    def __init__(self, argv: list[str], env: dict[str, str]) -> None:
        pid, fd = pty.fork()
        if pid == 0:  # the child: its controlling terminal is the pty, so getpass uses it
            try:
                os.execve(sys.executable, [sys.executable, *argv], env)
            finally:
                os._exit(127)
        self.pid, self.fd = pid, fd
        self.output = b""
        self.seen = 0
        self.status: int | None = None

    @property
    def text(self) -> str:
        return self.output.decode("utf-8", "replace")

    def _read(self, timeout: float) -> bool:
        """Read what is there; False when the child has closed the terminal."""
        ready, _, _ = select.select([self.fd], [], [], max(timeout, 0))
        if not ready:
            return True
        try:
            chunk = os.read(self.fd, 4096)
        except OSError:  # EIO: the child is gone
            chunk = b""
        self.output += chunk
        return bool(chunk)

    def expect(self, text: str, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        needle = text.encode()
        while needle not in self.output[self.seen:]:
            if time.monotonic() > deadline:
                raise AssertionError(f"no {text!r} within {timeout}s; the terminal shows:\n{self.text}")
            if not self._read(deadline - time.monotonic()):
                raise AssertionError(f"the wizard ended before {text!r}; the terminal shows:\n{self.text}")
        self.seen = self.output.index(needle, self.seen) + len(needle)

    def answer(self, prompt: str, line: str) -> None:
        self.expect(prompt)
        os.write(self.fd, line.encode() + b"\r")

    def wait(self, timeout: float = 60) -> int:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                while self._read(0.1):
                    pass
                self.status = os.waitstatus_to_exitcode(status)
                return self.status
            if not self._read(0.1):
                time.sleep(0.05)
        raise AssertionError(f"the wizard did not end within {timeout}s; the terminal shows:\n{self.text}")

    def close(self) -> None:
        if self.status is None:
            os.kill(self.pid, signal.SIGKILL)
            os.waitpid(self.pid, 0)
        os.close(self.fd)


def test_an_interactive_run_on_a_terminal(pymap_account, tmp_path: Path) -> None:
    config = tmp_path / "mail-followup" / "config.yaml"
    ring = tmp_path / "keyring.json"
    env = child_env(MF_TEST_KEYRING=str(ring), LANG="C.UTF-8", LC_ALL="", LC_MESSAGES="", TERM="dumb")
    term = Terminal(["-c", BOOT, "--config", str(config), "--offline"], env)
    try:
        term.answer("Your e-mail address: ", ME)
        term.answer("Your name, to sign the drafts", "Kari Nordmann")
        term.answer("A short name for this account [example]: ", "")
        term.expect("No settings found for example.org (offline)")
        term.answer("IMAP server [imap.example.org]: ", pymap_account.host)
        term.answer("Security: tls, starttls or none [tls]: ", "plain")  # a wrong answer is asked again
        term.answer("answer tls, starttls or none", "none")
        term.answer("Port [143]: ", str(pymap_account.port))
        term.answer(f"Username [{ME}]: ", pymap_account.username)
        term.answer("Where the password comes from: keyring (stored now), command, env or oauth2 [keyring]: ", "")
        term.answer("Password for demo at 127.0.0.1: ", "a-wrong-password")
        term.answer("Your timezone [", "Europe/Oslo")
        term.answer("Country whose public holidays to avoid (ISO code, or none) [", "no")
        term.answer("Language of a draft when your message does not show one [en]: ", "")
        term.expect("The login failed: account 'example': the server 127.0.0.1 refused the login for demo")
        term.answer("[f]ix the answers, [w]rite the config anyway, or [q]uit [f]: ", "")
        term.answer("IMAP server [127.0.0.1]: ", "")
        term.answer("Security: tls, starttls or none [none]: ", "")
        term.answer(f"Port [{pymap_account.port}]: ", "")
        term.answer("Username [demo]: ", "")
        term.answer("[keyring]: ", "")
        term.answer("Password for demo at 127.0.0.1: ", pymap_account.password)
        term.expect("Login works.")
        term.expect("sent:   Sent (known name)")
        term.expect("answers looked for in: INBOX, Archive")
        term.expect("Stored the password in the keyring for account example.")
        term.expect(f"Wrote {config}")
        assert term.wait() == 0, term.text
    finally:
        term.close()

    assert pymap_account.password not in term.text and "a-wrong-password" not in term.text  # never echoed
    assert json.loads(ring.read_text()) == ["mail-followup", "example", pymap_account.password]
    assert mode(config) == 0o600 and mode(config.parent) == 0o700
    (account,) = load_config(config).accounts
    assert account.imap.keyring and account.imap.port == pymap_account.port and account.imap.security == "none"
    assert account.settings.country == "NO" and account.settings.sender_name == "Kari Nordmann"
    assert pymap_account.password not in config.read_text()


def test_init_signs_in_with_an_oauth2_token_for_real(tmp_path: Path, capsys) -> None:
    """The token helper's token opens a Dovecot that checks tokens at an introspection endpoint."""
    import os

    from imapservers import DovecotServer, TokenIntrospection

    if not DovecotServer.available():
        if os.environ.get("CI") == "true":
            pytest.fail("Dovecot not installed, but CI=true and CI must run the Dovecot tests")
        pytest.skip("Dovecot not installed")
    with TokenIntrospection() as endpoint, DovecotServer(oauth2_introspection_url=endpoint.url) as server:
        user = server.new_account()
        endpoint.grant("tok-valid-98765", user.username)
        config = tmp_path / "config.yaml"
        code = wizard.main(["--config", str(config), "--yes", "--offline", "--address", "kari@example.org",
                            "--host", "127.0.0.1", "--port", str(server.port), "--security", "none",
                            "--username", user.username, "--oauth2-token-command", "echo tok-valid-98765",
                            "--timezone", "UTC", "--country", "none", "--language", "en"])
        out = capsys.readouterr().out
        assert code == 0, out
        assert "Login works." in out and "Folders found:" in out and "tok-valid-98765" not in out
        assert load_config(config).accounts[0].imap.oauth2_token_command == "echo tok-valid-98765"
