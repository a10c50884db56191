"""Where passwords come from, and that they never leak into an error, a log line or the state."""

from __future__ import annotations

import sqlite3
import stat
from pathlib import Path

import pytest

from conftest import MemoryKeyring
from mail_followup.imap import credentials
from mail_followup.cli.main import main
from mail_followup.config import parse_config
from mail_followup.errors import AccountError
from mail_followup.state.migrations import MIGRATIONS
from scenario import WEDNESDAY

SECRET = "correct-horse-battery-staple"




def account(tmp_path: Path, imap_extra: str):
    text = f"accounts:\n  - name: a\n    imap: {{host: h.example, username: u{imap_extra}}}\n    addresses: [a@b.example]\n"
    return parse_config(text, tmp_path / "c.yaml").accounts[0]


def test_password_command_gives_its_first_line(tmp_path: Path) -> None:
    assert credentials.password(account(tmp_path, f", password_command: 'printf \"{SECRET}\\\\nmore\"'")) == SECRET


def test_a_failing_password_command_never_shows_its_output(tmp_path: Path) -> None:
    with pytest.raises(AccountError) as info:
        credentials.password(account(tmp_path, f", password_command: 'echo {SECRET}; exit 3'"))
    assert "exit code 3" in str(info.value) and SECRET not in str(info.value)


def test_password_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    acct = account(tmp_path, ", password_env: MF_PW")
    monkeypatch.delenv("MF_PW", raising=False)
    with pytest.raises(AccountError, match="MF_PW named by password_env is not set"):
        credentials.password(acct)
    monkeypatch.setenv("MF_PW", SECRET)
    assert credentials.password(acct) == SECRET


def test_keyring_is_the_default(tmp_path: Path, memory_keyring: MemoryKeyring) -> None:
    acct = account(tmp_path, "")
    with pytest.raises(AccountError, match="mail-followup auth set a"):
        credentials.password(acct)
    credentials.store_in_keyring("a", SECRET)
    assert credentials.password(acct) == SECRET
    assert memory_keyring.items == {("mail-followup", "a"): SECRET}


def test_auth_set_then_auth_test_against_a_real_server(
    pymap_account, tmp_path: Path, memory_keyring: MemoryKeyring, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(
        f"state_dir: {tmp_path / 'state'}\naccounts:\n  - name: home\n"
        f"    imap: {{host: 127.0.0.1, port: {pymap_account.port}, security: none, username: {pymap_account.username}}}\n"
        "    addresses: [me@example.org]\n"
    )
    monkeypatch.setattr("getpass.getpass", lambda prompt: pymap_account.password)
    assert main(["auth", "set", "home", "--config", str(config)]) == 0
    assert memory_keyring.items[("mail-followup", "home")] == pymap_account.password
    assert main(["auth", "test", "home", "--config", str(config)]) == 0
    out = capsys.readouterr().out
    assert "login to 127.0.0.1 as demo works" in out and "sent: Sent (known name)" in out
    assert "answers looked for in: INBOX, Archive" in out

    memory_keyring.items[("mail-followup", "home")] = SECRET  # now a wrong password
    assert main(["auth", "test", "home", "--config", str(config)]) == 1
    err = capsys.readouterr().err
    assert "refused the login for demo" in err and SECRET not in err


def test_no_secret_in_logs_or_state_even_at_the_highest_verbosity(configured, tmp_path: Path, capfd) -> None:
    account, config = configured
    assert main(["scan", "-vv", "--config", str(config), "--now", WEDNESDAY]) == 0
    captured = capfd.readouterr()
    assert "LOGIN" in captured.err  # the IMAP conversation was logged...
    assert account.password not in captured.err + captured.out  # ...without the password
    state = tmp_path / "state"
    assert stat.S_IMODE(state.stat().st_mode) == 0o700
    for path in state.iterdir():
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
        assert account.password.encode() not in path.read_bytes()
    db = sqlite3.connect(state / "state.sqlite3")
    assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    assert db.execute("SELECT MAX(version) FROM schema_migrations").fetchone() == (len(MIGRATIONS),)


def running(marker: str) -> list[str]:
    """The command lines of this machine's processes that hold ``marker``."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            line = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if marker in line:
            found.append(line)
    return found


def test_a_hung_helper_is_ended_with_everything_it_started(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue 19: past its time the helper's whole process group goes, not only its shell: before, the `sleep`
    of this pipeline stayed, an orphan, and held the output open."""
    import time

    monkeypatch.setattr(credentials, "HELPER_TIMEOUT_SECONDS", 1.0)
    marker = "301.25"
    hung = account(tmp_path, f", password_command: 'sleep {marker} | cat'")
    start = time.monotonic()
    with pytest.raises(AccountError, match="did not finish within 1 seconds"):
        credentials.password(hung)
    assert time.monotonic() - start < 5
    time.sleep(0.2)
    assert running(f"sleep {marker}") == []
