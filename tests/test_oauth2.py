"""OAuth2 sign-in (SASL OAUTHBEARER and XOAUTH2) with a token from oauth2_token_command, against a real Dovecot.

The Dovecot here checks every token at a token introspection endpoint the
test runs (imapservers.TokenIntrospection), as it would at a provider. The
token helper is a tiny script that prints the next token of a list at each
run, so "expired, then refreshed" and "revoked" are real sequences.
"""

from __future__ import annotations

import base64
import logging
import os
import secrets
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pytest
from imapclient import IMAPClient

from imapservers import DOVECOT, DovecotServer, ImapAccount, TokenIntrospection
from mail_followup.imap import credentials
from mail_followup.cli.main import main
from mail_followup.config import Account, Folders, parse_config
from mail_followup.errors import AccountError, AuthError
from mail_followup.imap.mailbox import Mailbox
from mail_followup.service.scan import scan
from mail_followup.imap.signin import choose_mechanism, initial_response, sign_in

NOW = "2026-12-09T09:30:00+01:00"
HELPER = """\
#!/bin/sh
# A token helper: prints the next line of tokens.txt at each run (the run count is kept in runs).
dir=$(dirname "$0")
n=$(($(cat "$dir/runs" 2>/dev/null || echo 0) + 1))
echo "$n" > "$dir/runs"
sed -n "${n}p" "$dir/tokens.txt"
"""


def never(account: Account) -> str:
    raise AssertionError("an OAuth2 account must not ask for a password")


@dataclass
class TokenHelper:
    """The account's oauth2_token_command: ``token-helper`` in its own directory."""

    dir: Path

    @property
    def command(self) -> str:
        return str(self.dir / "token-helper")

    def hands_out(self, *tokens: str) -> None:
        (self.dir / "tokens.txt").write_text("".join(f"{t}\n" for t in tokens))

    @property
    def runs(self) -> int:
        path = self.dir / "runs"
        return int(path.read_text()) if path.exists() else 0


@pytest.fixture(scope="module")
def introspection() -> Iterator[TokenIntrospection]:
    with TokenIntrospection() as endpoint:
        yield endpoint


@pytest.fixture(scope="module")
def oauth2_server(introspection: TokenIntrospection) -> Iterator[DovecotServer]:
    """A Dovecot whose XOAUTH2 and OAUTHBEARER check tokens at ``introspection``."""
    if not DovecotServer.available():
        reason = f"Dovecot not installed ({DOVECOT} missing; apt-get install dovecot-imapd)"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{reason}, but CI=true and CI must run the Dovecot tests")
        pytest.skip(reason)
    with DovecotServer(oauth2_introspection_url=introspection.url) as server:
        yield server


@pytest.fixture
def user(oauth2_server: DovecotServer) -> ImapAccount:
    return oauth2_server.new_account()


@pytest.fixture
def helper(tmp_path: Path) -> TokenHelper:
    where = tmp_path / "helper"
    where.mkdir()
    script = where / "token-helper"
    script.write_text(HELPER)
    script.chmod(0o755)
    return TokenHelper(where)


def fresh_token() -> str:
    return "ya29." + secrets.token_urlsafe(32)


def config_text(tmp_path: Path, user: ImapAccount, helper: TokenHelper) -> str:
    return (
        f"state_dir: {tmp_path / 'state'}\n"
        "defaults:\n  timezone: Europe/Oslo\n  country: \"NO\"\n"
        "accounts:\n  - name: oauth\n"
        f"    imap: {{host: {user.host}, port: {user.port}, security: none, username: {user.username}, "
        f"oauth2_token_command: '{helper.command}'}}\n"
        "    addresses: [me@example.org]\n"
    )


def account_for(tmp_path: Path, user: ImapAccount, helper: TokenHelper) -> Account:
    return parse_config(config_text(tmp_path, user, helper), tmp_path / "config.yaml").accounts[0]


def traces(token: str, user: ImapAccount) -> list[str]:
    """The token as text, and as it goes over the wire (base64 of each mechanism's first message)."""
    wire = [base64.b64encode(initial_response(m, user.username, token, user.host, user.port)).decode()
            for m in ("OAUTHBEARER", "XOAUTH2")]
    return [token, *wire]


def assert_nowhere(tokens: list[str], user: ImapAccount, *texts: str) -> None:
    for token in tokens:
        for trace in traces(token, user):
            for text in texts:
                assert trace not in text


def assert_not_in_files(tokens: list[str], folder: Path) -> None:
    files = [p for p in folder.rglob("*") if p.is_file()]
    assert files, f"nothing was written under {folder}"
    for path in files:
        data = path.read_bytes()
        for token in tokens:
            assert token.encode() not in data, f"a token is in {path}"


def connect(user: ImapAccount) -> IMAPClient:
    return IMAPClient(user.host, port=user.port, ssl=False, timeout=10)


# --- the helper command -------------------------------------------------------------------------------


def test_the_token_is_the_first_line_the_helper_prints(tmp_path: Path) -> None:
    text = ("accounts:\n  - name: a\n    imap: {host: h.example, username: u, "
            "oauth2_token_command: 'printf \" tok.en-1 \\\\nmore\"'}\n    addresses: [a@b.example]\n")
    assert credentials.token(parse_config(text, tmp_path / "c.yaml").accounts[0]) == "tok.en-1"


@pytest.mark.parametrize("command, says", [
    ("echo SECRET-TOKEN; exit 3", "failed with exit code 3"),
    ("true", "printed nothing"),
    ("echo 'SECRET-TOKEN and more words'", "not an access token"),
])
def test_a_helper_that_gives_no_token_pauses_the_account_without_showing_its_output(
        tmp_path: Path, command: str, says: str) -> None:
    text = (f"accounts:\n  - name: a\n    imap: {{host: h.example, username: u, "
            f"oauth2_token_command: \"/usr/bin/env {command}\"}}\n    addresses: [a@b.example]\n")
    with pytest.raises(AuthError) as info:
        credentials.token(parse_config(text, tmp_path / "c.yaml").accounts[0])
    assert info.value.kind == "auth"
    assert says in str(info.value) and "oauth2_token_command (env)" in str(info.value)
    assert "SECRET-TOKEN" not in str(info.value)


def test_a_helper_that_hangs_is_killed_and_the_next_pass_tries_again(tmp_path: Path, monkeypatch) -> None:
    """An AccountError (try again), not an AuthError (pause): a helper waiting for a browser sign-in may finish later."""
    monkeypatch.setattr(credentials, "HELPER_TIMEOUT_SECONDS", 0.5)
    text = ("accounts:\n  - name: a\n    imap: {host: h.example, username: u, "
            "oauth2_token_command: 'echo SECRET-TOKEN; sleep 30'}\n    addresses: [a@b.example]\n")
    with pytest.raises(AccountError) as info:
        credentials.token(parse_config(text, tmp_path / "c.yaml").accounts[0])
    assert not isinstance(info.value, AuthError)
    assert "did not finish within 0.5 seconds" in str(info.value) and "SECRET-TOKEN" not in str(info.value)


def test_the_message_names_the_program_never_its_arguments() -> None:
    assert credentials.command_program("oama access me@example.org") == "oama"
    assert credentials.command_program("PIZAUTH=1 ~/bin/pizauth show --secret xyz work") == "pizauth"
    assert credentials.command_program("'/opt/My Tools/get-token' x") == "get-token"


# --- the mechanism --------------------------------------------------------------------------------------


def test_the_sasl_messages_follow_rfc_7628_and_googles_xoauth2(tmp_path: Path) -> None:
    assert initial_response("OAUTHBEARER", "kim,a=b@example.org", "vF9dft4qmT", "imap.example.org", 993) == (
        b"n,a=kim=2Ca=3Db@example.org,\x01host=imap.example.org\x01port=993\x01auth=Bearer vF9dft4qmT\x01\x01")
    assert initial_response("XOAUTH2", "someuser@example.com", "ya29.vF9dft4qmTc2Nvb3RlckBhdHRhdmlzdGEuY29tCg", "h",
                            993) == b"user=someuser@example.com\x01auth=Bearer ya29.vF9dft4qmTc2Nvb3RlckBhdHRhdmlzdGEuY29tCg\x01\x01"


def test_oauthbearer_is_preferred_then_xoauth2_else_a_clear_error(tmp_path: Path, user: ImapAccount,
                                                                   helper: TokenHelper) -> None:
    account = account_for(tmp_path, user, helper)
    assert choose_mechanism(account, {"IMAP4REV1", "AUTH=XOAUTH2", "AUTH=OAUTHBEARER"}) == "OAUTHBEARER"
    assert choose_mechanism(account, {"IMAP4REV1", "AUTH=PLAIN", "AUTH=XOAUTH2"}) == "XOAUTH2"
    with pytest.raises(AccountError, match=r"offers neither OAUTHBEARER nor XOAUTH2 .*\(it offers: LOGIN, PLAIN\)"):
        choose_mechanism(account, {"IMAP4REV1", "AUTH=PLAIN", "AUTH=LOGIN"})


def test_a_server_without_oauth2_is_told_before_the_helper_runs(tmp_path: Path, dovecot_server: DovecotServer,
                                                                helper: TokenHelper) -> None:
    plain = dovecot_server.new_account()  # the usual test Dovecot: PLAIN and LOGIN only
    helper.hands_out(fresh_token())
    with pytest.raises(AccountError) as info:
        Mailbox.connect(account_for(tmp_path, plain, helper), never)
    assert "offers neither OAUTHBEARER nor XOAUTH2" in str(info.value) and info.value.kind == "account"
    assert helper.runs == 0


@pytest.mark.parametrize("offered, used", [
    (None, "OAUTHBEARER"),  # what this Dovecot offers: both
    ({"IMAP4REV1", "AUTH=PLAIN", "AUTH=XOAUTH2"}, "XOAUTH2"),  # as at a server that knows only XOAUTH2
])
def test_a_valid_token_signs_in(tmp_path: Path, user: ImapAccount, helper: TokenHelper,
                                introspection: TokenIntrospection, offered: set[str] | None, used: str) -> None:
    token = fresh_token()
    introspection.grant(token, user.username)
    helper.hands_out(token)
    client = connect(user)
    try:
        if offered is not None:
            client.capabilities = lambda: tuple(c.encode() for c in offered)  # type: ignore[method-assign]
        assert sign_in(client, account_for(tmp_path, user, helper), never, credentials.token) == used
        vars(client).pop("capabilities", None)
        assert client.select_folder("INBOX", readonly=True)[b"EXISTS"] == 0
    finally:
        client.shutdown()
    assert helper.runs == 1
    assert f"user=<{user.username}>, method={used}" in user.server.log_path.read_text()  # type: ignore[attr-defined]


def test_the_mailbox_connects_with_the_token(tmp_path: Path, user: ImapAccount, helper: TokenHelper,
                                             introspection: TokenIntrospection) -> None:
    token = fresh_token()
    introspection.grant(token, user.username)
    helper.hands_out(token)
    with Mailbox.connect(account_for(tmp_path, user, helper), never) as mailbox:
        assert mailbox.discover(Folders()).sent == "Sent"


def test_a_token_for_another_user_is_rejected(tmp_path: Path, user: ImapAccount, helper: TokenHelper,
                                              introspection: TokenIntrospection) -> None:
    token = fresh_token()
    introspection.grant(token, "someone-else")
    helper.hands_out(token, token)
    with pytest.raises(AuthError):
        Mailbox.connect(account_for(tmp_path, user, helper), never)


# --- expiry and revocation --------------------------------------------------------------------------------


def test_an_expired_token_is_refreshed_once(tmp_path: Path, user: ImapAccount, helper: TokenHelper,
                                            introspection: TokenIntrospection,
                                            caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="imapclient")
    expired, refreshed = fresh_token(), fresh_token()
    introspection.grant(refreshed, user.username)
    helper.hands_out(expired, refreshed)
    asked = introspection.asked
    with Mailbox.connect(account_for(tmp_path, user, helper), never) as mailbox:
        assert mailbox.discover(Folders()).drafts == "Drafts"
    assert helper.runs == 2 and introspection.asked == asked + 2
    assert "rejected the access token (server said: invalid_token); asking token-helper for a fresh one" \
        in caplog.text
    assert "AUTHENTICATE" in caplog.text  # imapclient's conversation was logged, and...
    assert_nowhere([expired, refreshed], user, caplog.text)  # ...without the tokens


def test_a_revoked_token_pauses_the_account_after_one_retry(tmp_path: Path, user: ImapAccount, helper: TokenHelper,
                                                            caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="imapclient")
    tokens = [fresh_token(), fresh_token(), fresh_token()]
    helper.hands_out(*tokens)  # none is valid
    with pytest.raises(AuthError) as info:
        Mailbox.connect(account_for(tmp_path, user, helper), never)
    error = info.value
    assert helper.runs == 2  # the first token, one fresh one, and no more
    assert error.kind == "auth"
    assert f"rejected the OAuth2 access token from oauth2_token_command (token-helper) for {user.username}" \
        in error.message
    assert "refresh token may be revoked" in (error.advice or "") and "oama" in (error.advice or "")
    assert helper.command not in str(error)  # the program's name, not the command line
    assert_nowhere(tokens, user, str(error), repr(error), caplog.text)


def test_a_scan_of_a_revoked_account_fails_with_auth_and_keeps_no_token(
        tmp_path: Path, user: ImapAccount, helper: TokenHelper, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="imapclient")
    tokens = [fresh_token(), fresh_token()]
    helper.hands_out(*tokens)
    config = parse_config(config_text(tmp_path, user, helper), tmp_path / "config.yaml")
    result = scan(config, datetime.fromisoformat(NOW), secret=never)
    [outcome] = result.accounts
    assert outcome.failure == "auth" and not result.ok
    assert "token-helper" in outcome.errors[0]
    assert_nowhere(tokens, user, caplog.text, *outcome.errors)
    assert_not_in_files(tokens, config.state_dir)


def test_a_scan_at_the_most_verbose_leaks_no_token(tmp_path: Path, user: ImapAccount, helper: TokenHelper,
                                                   introspection: TokenIntrospection,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    expired, refreshed = fresh_token(), fresh_token()
    introspection.grant(refreshed, user.username)
    helper.hands_out(expired, refreshed)
    path = tmp_path / "config.yaml"
    path.write_text(config_text(tmp_path, user, helper))
    logger = logging.getLogger("imapclient")
    level = logger.level
    try:
        code = main(["scan", "--config", str(path), "--now", NOW, "--json", "-vv"])
    finally:
        logger.setLevel(level)
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "AUTHENTICATE" in err and "asking token-helper for a fresh one" in err
    assert_nowhere([expired, refreshed], user, out, err)
    state = tmp_path / "state"
    assert_not_in_files([expired, refreshed], state)
    assert stat.S_IMODE(state.stat().st_mode) == 0o700
