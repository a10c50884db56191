"""The mailboxes people really have (issue 8): presets, a Gmail layout, an Exchange layout, on real Dovecot."""

from __future__ import annotations

import base64
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from imapservers import DovecotServer, ImapAccount
from mail_followup.config import parse_config
from mail_followup.errors import ConfigError
from mail_followup.core.headers import parse_header_block, thread_index_root
from mail_followup.imap.responses import parse_fetch
from mails import raw_mail
from scenario import ME, WEDNESDAY, at, by_subject, scan_json, write_config


class LaidOutDovecot(DovecotServer):
    """Dovecot with "/" as separator and the given folders, none flagged with SPECIAL-USE, as many
    servers are (Gmail's own labels, an Exchange in German)."""

    def __init__(self, folders: tuple[str, ...]) -> None:
        super().__init__()
        self.folders = folders

    def _config(self) -> str:
        text = super()._config()
        start = text.index("namespace inbox {")
        end = text.index("}\n\nprotocol imap")
        boxes = "".join(f'  mailbox "{name}" {{\n    auto = subscribe\n  }}\n' for name in self.folders)
        return text[:start] + "namespace inbox {\n  inbox = yes\n  separator = /\n" + boxes + text[end:]


def dovecot_like(folders: tuple[str, ...]) -> Iterator[DovecotServer]:
    if not DovecotServer.available():
        if os.environ.get("CI") == "true":
            pytest.fail("Dovecot not installed, but CI=true and CI must run the Dovecot tests")
        pytest.skip("Dovecot not installed")
    with LaidOutDovecot(folders) as server:
        yield server


@pytest.fixture
def gmail_like() -> Iterator[DovecotServer]:
    yield from dovecot_like(("[Gmail]/All Mail", "[Gmail]/Sent Mail", "[Gmail]/Drafts", "[Gmail]/Trash",
                             "[Gmail]/Spam", "Work"))


@pytest.fixture
def exchange_like() -> Iterator[DovecotServer]:
    yield from dovecot_like(("Gesendete Elemente", "Entwürfe", "Gelöschte Elemente", "Junk-E-Mail", "Archiv"))


def configured(server: DovecotServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[ImapAccount, Path]:
    account = server.new_account()
    monkeypatch.setenv("MF_TEST_PASSWORD", account.password)
    return account, write_config(tmp_path, account)


def test_a_gmail_layout_reads_all_mail_once_and_drafts_into_its_drafts(gmail_like, tmp_path, monkeypatch,
                                                                       capsys) -> None:
    account, config = configured(gmail_like, tmp_path, monkeypatch)
    coffee = raw_mail(f"Me <{ME}>", "Kim <kim@example.com>", "Coffee next week?", at("2026-12-01T15:00:00+01:00"),
                      "<coffee@example.org>", "Would you have time for a coffee?\n")
    offer = raw_mail(f"Me <{ME}>", "ola@example.no", "Your offer", at("2026-12-01T15:00:00+01:00"),
                     "<offer@example.org>", "What do you think of the offer?\n")
    answer = raw_mail("ola@example.no", ME, "Re: Your offer", at("2026-12-02T10:00:00+01:00"), "<answer@example.no>",
                      "Sounds good.\n", in_reply_to="<offer@example.org>")
    # Gmail keeps one message under every label it has: the sent mail in Sent Mail and All Mail, the
    # answer in INBOX, All Mail and the user's label "Work".
    for folder, raw in (("[Gmail]/Sent Mail", coffee), ("[Gmail]/All Mail", coffee), ("[Gmail]/Sent Mail", offer),
                        ("[Gmail]/All Mail", offer), ("INBOX", answer), ("[Gmail]/All Mail", answer),
                        ("Work", answer)):
        account.append(folder, raw, flags=(b"\\Seen",))
    code, report = scan_json(config, WEDNESDAY, capsys)
    assert code == 0, report["errors"]
    threads = by_subject(report)
    assert len(report["threads"]) == 2  # nothing counted twice
    assert threads["Your offer"]["state"] == "replied" and threads["Coffee next week?"]["state"] == "drafted"
    assert len(account.messages("[Gmail]/Drafts")) == 1
    assert account.messages("INBOX") and not [m for m in account.messages("Work") if b"Drafts" in m[2]]


def test_an_exchange_layout_with_german_names_and_thread_index(exchange_like, tmp_path, monkeypatch,
                                                               capsys) -> None:
    account, config = configured(exchange_like, tmp_path, monkeypatch)
    index = base64.b64encode(bytes(range(22)) + b"\x01\x02\x03\x04\x05").decode()
    reply_index = base64.b64encode(bytes(range(22)) + b"\x01\x02\x03\x04\x05" + b"\x09\x08\x07\x06\x05").decode()
    sent = raw_mail(f"Me <{ME}>", "lena@firma.example.de", "Angebot", at("2026-12-01T15:00:00+01:00"),
                    "<angebot@example.org>", "Wie gefällt Ihnen das Angebot?\n", extra={"Thread-Index": index})
    # Outlook's answer without References or In-Reply-To, under another subject: only Thread-Index joins it.
    answer = raw_mail("lena@firma.example.de", ME, "Unser Gespräch", at("2026-12-02T10:00:00+01:00"),
                      "<antwort@firma.example.de>", "Gern, passt gut.\n",
                      extra={"Thread-Index": reply_index, "Thread-Topic": "Angebot"})
    away = raw_mail(f"Me <{ME}>", "jan@kanzlei-muster.de", "Termin", at("2026-12-01T15:00:00+01:00"),
                    "<termin@example.org>", "Passt Ihnen der Dienstag?\n")
    oof = raw_mail("jan@kanzlei-muster.de", ME, "Termin", at("2026-12-01T15:05:00+01:00"), "<oof@kanzlei-muster.de>",
                   "Ich bin bis zum 14. Dezember nicht im Büro und lese meine E-Mails danach.\n",
                   in_reply_to="<termin@example.org>", extra={"X-Auto-Response-Suppress": "All"})
    for folder, raw in (("Gesendete Elemente", sent), ("INBOX", answer), ("Gesendete Elemente", away),
                        ("INBOX", oof)):
        account.append(folder, raw, flags=(b"\\Seen",))
    code, report = scan_json(config, WEDNESDAY, capsys)
    assert code == 0, report["errors"]
    threads = by_subject(report)
    assert threads["Angebot"]["state"] == "replied"
    # The out-of-office said so only in its text: waiting past the 14th, not answered.
    termin = threads["Termin"]
    assert termin["state"] == "waiting" and termin["not_before"] >= "2026-12-15"
    assert any("X-Auto-Response-Suppress" in r or "back on 2026-12-14" in r for r in termin["reasons"])
    assert account.messages("Entwürfe") == []  # nothing due, and the folder was found without SPECIAL-USE


def test_thread_index_names_the_conversation() -> None:
    root = bytes(range(22))
    first = base64.b64encode(root + b"\x00" * 5).decode()
    later = base64.b64encode(root + b"\x00" * 5 + b"\x11" * 5).decode()
    assert thread_index_root(first) == thread_index_root(later) == "ti:" + root.hex()
    assert thread_index_root("not base64 at all, no") is None and thread_index_root("") is None
    mail = parse_header_block("INBOX", 1, f"Message-ID: <a@b>\r\nThread-Index: {first}\r\n\r\n".encode())
    assert mail.thread_hint == "ti:" + root.hex()
    # A server's own thread id (Gmail) wins over Thread-Index.
    assert parse_header_block("INBOX", 1, f"Thread-Index: {first}\r\n\r\n".encode(), thread_hint="gm:7").thread_hint \
        == "gm:7"


def test_gmail_ids_are_read_from_the_fetch_response() -> None:
    line = (b'7 (UID 42 X-GM-THRID 1278455344230334865 X-GM-MSGID 1278455344230334866 FLAGS (\\Seen) '
            b'BODY[HEADER.FIELDS (SUBJECT)] {14}', b"Subject: Hi\r\n\r\n")
    parsed = parse_fetch([line, b")"])
    assert parsed[42][b"X-GM-THRID"] == 1278455344230334865 and parsed[42][b"X-GM-MSGID"] == 1278455344230334866
    mail = parse_header_block("[Gmail]/All Mail", 42, b"Subject: Hi\r\n\r\n", server_id="gm-1278455344230334866")
    assert mail.message_id == "<gm-1278455344230334866@server-id.mail-followup.invalid>"


@pytest.mark.parametrize(("provider", "host"), [("gmail", "imap.gmail.com"), ("fastmail", "imap.fastmail.com"),
                                                ("icloud", "imap.mail.me.com"), ("yahoo", "imap.mail.yahoo.com")])
def test_a_provider_fills_the_server_and_the_users_keys_win(provider: str, host: str, tmp_path: Path) -> None:
    text = (f"accounts:\n  - name: a\n    provider: {provider}\n    addresses: [kari@example.com]\n"
            f"  - name: b\n    provider: {provider}\n    addresses: [kari@example.com]\n"
            f"    imap: {{host: imap.example.net, port: 1993, username: kari}}\n")
    first, second = parse_config(text, tmp_path / "c.yaml").accounts
    assert (first.imap.host, first.imap.effective_port, first.imap.security, first.imap.username) == \
        (host, 993, "tls", "kari@example.com")
    assert (second.imap.host, second.imap.effective_port, second.imap.username) == ("imap.example.net", 1993, "kari")


def test_microsoft_365_needs_a_token_command(tmp_path: Path) -> None:
    text = "accounts:\n  - name: work\n    provider: outlook\n    addresses: [kari@firma.no]\n"
    with pytest.raises(ConfigError) as info:
        parse_config(text, tmp_path / "c.yaml")
    assert "accepts only OAuth2" in str(info.value) and "c.yaml:2: accounts[0]" in str(info.value)
    ok = parse_config(text + "    imap: {oauth2_token_command: oama access kari@firma.no}\n", tmp_path / "c.yaml")
    assert ok.accounts[0].imap.host == "outlook.office365.com"
