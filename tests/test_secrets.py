"""Secrets (issue 9, part 6): a known password and its SASL forms never appear in any output, log,
exception text or state file, whatever fails."""

from __future__ import annotations

import base64
import logging
import socket
from pathlib import Path

import pytest

from mail_followup.cli.main import main

SECRET = "Sekr1t-pa55word-4711"


def forms(secret: str, user: str) -> list[str]:
    """The secret, and how SASL mechanisms carry it on the wire (PLAIN, XOAUTH2, OAUTHBEARER)."""
    plain = base64.b64encode(f"\0{user}\0{secret}".encode()).decode()
    xoauth2 = base64.b64encode(f"user={user}\x01auth=Bearer {secret}\x01\x01".encode()).decode()
    bearer = base64.b64encode(f"n,a={user},\x01auth=Bearer {secret}\x01\x01".encode()).decode()
    return [secret, plain, xoauth2, bearer]


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def config_with(tmp_path: Path, imap: str) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(f"state_dir: {tmp_path / 'state'}\ndefaults: {{timezone: Europe/Oslo}}\naccounts:\n"
                    f"  - name: t\n    imap: {{{imap}, timeout_seconds: 5}}\n    addresses: [me@example.org]\n")
    return path


@pytest.fixture
def cases(dovecot_server, tmp_path: Path) -> tuple[str, dict[str, str]]:
    user = dovecot_server.new_account().username
    base = f"host: 127.0.0.1, username: {user}"
    return user, {
        "wrong password": f"{base}, port: {dovecot_server.port}, security: none, password_env: MF_SECRET",
        "unreachable host": f"{base}, port: {closed_port()}, security: none, password_env: MF_SECRET",
        "TLS error": f"{base}, port: {dovecot_server.tls_port or dovecot_server.port}, security: tls, "
                     "password_env: MF_SECRET",
        "a password_command that fails": f"{base}, port: {dovecot_server.port}, security: none, "
                                         f"password_command: 'echo {SECRET} >&2; echo {SECRET}-out; exit 3'",
        "a password_command that prints nothing": f"{base}, port: {dovecot_server.port}, security: none, "
                                                  "password_command: 'true'",
        "a password_command that hangs": f"{base}, port: {dovecot_server.port}, security: none, "
                                         f"password_command: 'echo {SECRET}; sleep 30'",
        "a token command that fails": f"{base}, port: {dovecot_server.port}, security: none, "
                                      f"oauth2_token_command: 'echo {SECRET}; exit 1'",
        "a token command that hangs": f"{base}, port: {dovecot_server.port}, security: none, "
                                      f"oauth2_token_command: 'echo {SECRET}; sleep 30'",
        "a keyring that refuses": f"{base}, port: {dovecot_server.port}, security: none",
    }


def test_no_command_and_no_failure_shows_the_secret(cases, tmp_path: Path, capsys, caplog, monkeypatch) -> None:
    import keyring
    from keyring.backends.fail import Keyring as FailKeyring

    from mail_followup.imap import credentials

    monkeypatch.setenv("MF_SECRET", SECRET)
    monkeypatch.setattr(credentials, "HELPER_TIMEOUT_SECONDS", 1.0)  # a hung helper, without the 60 s wait
    previous = keyring.get_keyring()
    keyring.set_keyring(FailKeyring())
    caplog.set_level(logging.DEBUG)
    seen: list[str] = []
    user, configs = cases
    try:
        for name, imap in configs.items():
            folder = tmp_path / name.replace(" ", "-")
            folder.mkdir()
            config = str(config_with(folder, imap))
            for argv in (["scan", "--now", "2026-12-09T09:30:00+01:00", "--json", "-vv"], ["status", "--json"],
                         ["doctor", "-vv"], ["auth", "test", "t"], ["explain", "<x@y>"], ["calendar"]):
                try:
                    main([*argv, "--config", config])
                except SystemExit:
                    pass
                except Exception as exc:  # an escaping exception is a bug, and its text must be clean too
                    seen.append(f"{name}: {argv[0]} raised {exc!r}")
                out = capsys.readouterr()
                seen += [out.out, out.err]
            for path in (folder / "state").rglob("*"):
                if path.is_file():
                    seen.append(path.read_bytes().decode("latin-1"))
                    assert oct(path.stat().st_mode & 0o777) == "0o600", path
            if (folder / "state").exists():
                assert oct((folder / "state").stat().st_mode & 0o777) == "0o700"
    finally:
        keyring.set_keyring(previous)
    seen += [r.getMessage() for r in caplog.records] + [str(r.exc_info) for r in caplog.records if r.exc_info]
    text = "\n".join(seen)
    for form in forms(SECRET, user):
        assert form not in text
    assert f"{SECRET}-out" not in text and "raised" not in text
    assert "password_command did not finish within 1 seconds" in text
