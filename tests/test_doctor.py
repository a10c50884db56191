"""`doctor`: every problem found at once, each with its fix, against real IMAP servers.

Only what a test machine cannot produce on demand is replaced: the keyring
backend and the answer of timedatectl.
"""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path

import pytest

from imapservers import DovecotServer, ImapAccount
from mail_followup.cli import doctor
from mail_followup.cli.doctor import diagnose
from mail_followup.cli.doctor_account import capability_findings
from mail_followup.cli.doctor_machine import Backend, keyring_findings
from mail_followup.cli.doctor_report import Finding, report
from mail_followup.cli.demo_server import free_port
from scenario import write_config

NOW = datetime.fromisoformat("2026-12-09T09:30:00+01:00")


@pytest.fixture(autouse=True)
def synchronised_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    """The host's clock state is not the test's business, unless a test says otherwise."""
    monkeypatch.setattr(doctor, "ntp_synchronized", lambda: True)


def run(config: Path, **kw) -> tuple[list[Finding], str, int]:
    findings = diagnose(config, now=NOW, **kw)
    text, code = report(findings)
    return findings, text, code


def problems(findings: list[Finding], area: str = "") -> list[Finding]:
    return [f for f in findings if not f.ok and f.area.startswith(area)]


def healthy(account: ImapAccount, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, **extra: str) -> Path:
    monkeypatch.setenv("MF_TEST_PASSWORD", account.password)
    return write_config(tmp_path, account, **extra)


def test_a_healthy_config_has_no_problem_and_names_the_folders(
        imap_account: ImapAccount, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    findings, text, code = run(healthy(imap_account, tmp_path, monkeypatch))
    assert problems(findings) == [] and code == 0, text
    assert "PROBLEM" not in text and text.endswith("no problem found\n")
    how = "its SPECIAL-USE flag" if imap_account.special_use else "its usual name"
    assert f"ok       account test: folders: Sent is 'Sent' (found by {how}), Drafts is 'Drafts' (found by {how})" \
        in text
    assert "answers are looked for in 2 folder(s)" in text and "INBOX, Archive" in text
    assert "account test: login: logged in to 127.0.0.1" in text
    assert "password from the environment variable MF_TEST_PASSWORD" in text
    assert "Europe/Oslo: it is Wed 2026-12-09 09:30 (UTC+01:00) there" in text
    assert "synchronised by NTP" in text and "state: " in text and "keyring: " in text
    notes = {f.what.split(":")[0] for f in findings if f.note and f.area == "account test: capabilities"}
    if imap_account.kind == "pymap":  # the fallbacks are notes, not problems
        assert {"no SPECIAL-USE", "no CONDSTORE", "no QRESYNC"} <= notes
    else:
        assert "no SPECIAL-USE" not in notes and "no UIDPLUS" not in notes and "no QRESYNC" not in notes
    assert imap_account.password not in text


def test_a_wrong_password_is_a_login_problem_that_never_shows_the_password(
        imap_account: ImapAccount, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    wrong = "Wr0ng-Secret-4711"
    config = write_config(tmp_path, imap_account)
    monkeypatch.setenv("MF_TEST_PASSWORD", wrong)
    findings, text, code = run(config)
    (login,) = problems(findings, "account test: login")
    assert "refused the login" in login.what
    assert login.fix and "mail-followup auth set test" in login.fix and "MF_TEST_PASSWORD" in login.fix
    assert code == 1 and "PROBLEM  account test: login" in text and "fix: check the username" in text
    assert wrong not in text and imap_account.password not in text
    assert not [f for f in findings if f.area == "account test: folders"]  # nothing to check without a login


def test_a_broken_config_exits_2_naming_file_and_line(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text("accounts:\n  - name: a\n    imap: {host: h, username: u}\n    adresses: [a@b.example]\n")
    findings, text, code = run(config)
    assert code == 2
    assert {f.area for f in findings} == {"config"}  # nothing else can be checked
    assert f"PROBLEM  config: {config}:4: accounts[0].adresses: unknown key" in text
    assert f"{config}:2: accounts[0].addresses: required key is missing" in text
    assert "fix: edit the file at the line named" in text


def test_a_missing_config_exits_2(tmp_path: Path) -> None:
    _, text, code = run(tmp_path / "nope.yaml")
    assert code == 2 and f"PROBLEM  config: {tmp_path / 'nope.yaml'}: the file does not exist" in text
    assert f"fix: copy config.example.yaml to {tmp_path / 'nope.yaml'}" in text


def test_an_open_state_directory_and_database_get_the_chmod_fix(
        pymap_account: ImapAccount, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = healthy(pymap_account, tmp_path, monkeypatch)
    state = tmp_path / "state"
    state.mkdir(mode=0o755)
    os.chmod(state, 0o755)
    (state / "state.sqlite3").write_bytes(b"")
    os.chmod(state / "state.sqlite3", 0o644)
    findings, text, code = run(config)
    assert code == 1
    fixes = {f.fix for f in problems(findings, "state")}
    assert fixes == {f"chmod 700 {state}", f"chmod 600 {state / 'state.sqlite3'}"}
    assert f"{state} has mode 0755, not 0700" in text and f"fix: chmod 700 {state}" in text

    os.chmod(state, 0o700)
    os.chmod(state / "state.sqlite3", 0o600)
    findings, text, code = run(config)
    assert code == 0 and f"ok       state: {state}: yours, 0700; state.sqlite3 0600" in text


def test_an_unreachable_account_is_a_connection_problem_and_the_next_is_still_checked(
        pymap_account: ImapAccount, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = healthy(pymap_account, tmp_path, monkeypatch)
    port = free_port()
    closed = ("  - name: closed\n"
              f"    imap: {{host: 127.0.0.1, port: {port}, security: none, username: u, "
              "password_env: MF_TEST_PASSWORD, timeout_seconds: 2}\n"
              "    addresses: [me@example.org]\n")
    config.write_text(config.read_text().replace("accounts:\n", "accounts:\n" + closed))
    findings, text, code = run(config)
    assert code == 1
    (down,) = problems(findings)
    assert down.area == "account closed: login" and f"cannot connect to 127.0.0.1:{port}" in down.what
    assert down.fix and "check imap.host, imap.port and imap.security" in down.fix
    assert text.index("account closed: login") < text.index("account test: folders: Sent is 'Sent'")
    assert "account closed: timezone" in text  # shown without a server


def test_a_missing_drafts_folder_names_the_setting(
        pymap_account: ImapAccount, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = healthy(pymap_account, tmp_path, monkeypatch, folders="{drafts: Entwürfe}")
    findings, text, code = run(config)
    (missing,) = problems(findings)
    assert missing.area == "account test: folders" and "'Entwürfe' does not exist" in missing.what
    assert missing.fix and "folders.drafts" in missing.fix and code == 1


def test_an_unset_password_variable_is_named_with_its_fix(
        pymap_account: ImapAccount, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = write_config(tmp_path, pymap_account)
    monkeypatch.delenv("MF_TEST_PASSWORD", raising=False)
    findings, _, code = run(config)
    (login,) = problems(findings)
    assert "no password from the environment variable MF_TEST_PASSWORD" in login.what
    assert login.fix and "export it" in login.fix and code == 1


def test_an_untrusted_certificate_points_to_the_configs_own_trust(dovecot_server: DovecotServer, tmp_path: Path) -> None:
    """Issue 19: the advice was to set SSL_CERT_FILE in the service's environment; the config says it itself."""
    if not dovecot_server.tls_port:
        pytest.skip("openssl is not installed, so the test Dovecot has no certificate")
    config = tmp_path / "config.yaml"
    config.write_text(f"state_dir: {tmp_path / 'state'}\naccounts:\n  - name: tls\n"
                      f"    imap: {{host: 127.0.0.1, port: {dovecot_server.tls_port}, security: tls, username: u, "
                      "timeout_seconds: 5}\n    addresses: [me@example.org]\n")
    asked: list[str] = []
    findings, _, code = run(config, secret=lambda a: asked.append(a.name) or "x")
    (tls,) = problems(findings, "account tls")
    assert "certificate verify failed" in tls.what and tls.fix and "SSL_CERT_FILE" not in tls.fix
    assert "imap.tls_ca_file" in tls.fix and "imap.tls_fingerprint" in tls.fix
    assert asked == [] and code == 1  # the password was never asked for


def test_a_keyring_account_without_a_keyring_is_a_problem(
        pymap_account: ImapAccount, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import keyring
    from keyring.backends import fail

    config = write_config(tmp_path, pymap_account)
    config.write_text(config.read_text().replace("password_env: MF_TEST_PASSWORD", "keyring: true"))
    monkeypatch.setattr(keyring, "get_keyring", lambda: fail.Keyring())
    findings, text, code = run(config, secret=lambda a: pymap_account.password)
    (problem,) = problems(findings)
    assert problem.area == "keyring" and "keyring.backends.fail.Keyring" in problem.what
    assert problem.fix and "gnome-keyring" in problem.fix and "password_command" in problem.fix
    assert "password from the keyring" in text and code == 1
    assert pymap_account.password not in text


@pytest.mark.parametrize("synced, label, code", [(False, "PROBLEM", 1), (None, "note", 0), (True, "ok", 0)])
def test_the_clock_synchronisation(pymap_account: ImapAccount, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                   synced: bool | None, label: str, code: int) -> None:
    config = healthy(pymap_account, tmp_path, monkeypatch)
    monkeypatch.setattr(doctor, "ntp_synchronized", lambda: synced)
    findings, text, got = run(config)
    assert got == code and f"{label:<7}  clock: the system clock says" in text
    if synced is False:
        assert "fix: enable time sync: timedatectl set-ntp true" in text


def test_missing_capabilities_are_notes_that_say_the_cost() -> None:
    found = capability_findings("w", {"IMAP4REV1", "IDLE", "QRESYNC"})
    assert all(f.ok for f in found)
    assert found[0].what == "offered: CONDSTORE, QRESYNC, IDLE"  # QRESYNC implies CONDSTORE
    notes = {f.what.split(":")[0]: f.what for f in found if f.note}
    assert set(notes) == {"no SPECIAL-USE", "no UIDPLUS"}
    assert "flagged \\Deleted" in notes["no UIDPLUS"]


def test_an_unused_broken_keyring_is_only_a_note() -> None:
    (finding,) = keyring_findings(Backend("keyring.backends.fail.Keyring", False), [])
    assert finding.ok and finding.note


def test_report_labels_and_exit_codes() -> None:
    text, code = report([Finding("a", True, "fine"), Finding("b", True, "so so", note=True),
                         Finding("c", False, "broken\nacross lines", "do this")])
    assert text.splitlines() == ["ok       a: fine", "note     b: so so", "PROBLEM  c: broken across lines",
                                 "           fix: do this", "1 problem(s) found"]
    assert code == 1
    assert report([Finding("config", False, "x", "y")])[1] == 2
    assert report([Finding("a", True, "fine")]) == ("ok       a: fine\nno problem found\n", 0)
