"""TLS with certificate checks by default, and STARTTLS, against a real Dovecot with its own certificate."""

from __future__ import annotations

from pathlib import Path

import pytest

from imapservers import DovecotServer
from mail_followup.config import Folders, parse_config
from mail_followup.errors import AccountError
from mail_followup.mailbox import Mailbox


def account(tmp_path: Path, port: int, security: str):
    text = (f"accounts:\n  - name: t\n    imap: {{host: 127.0.0.1, port: {port}, security: {security}, "
            f"username: tls-user}}\n    addresses: [a@b.example]\n")
    return parse_config(text, tmp_path / "c.yaml").accounts[0]


@pytest.fixture
def server(dovecot_server: DovecotServer) -> DovecotServer:
    if not dovecot_server.tls_port:
        pytest.skip("openssl is not installed, so the test Dovecot has no certificate")
    return dovecot_server


@pytest.mark.parametrize("security", ["tls", "starttls"])
def test_an_untrusted_certificate_is_refused(server: DovecotServer, tmp_path: Path, security: str) -> None:
    port = server.tls_port if security == "tls" else server.port
    asked = []
    with pytest.raises(AccountError, match="certificate verify failed"):
        Mailbox.connect(account(tmp_path, port, security), lambda a: asked.append(a) or server.password)
    assert asked == []  # no password was handed over before the certificate was checked


@pytest.mark.parametrize("security", ["tls", "starttls"])
def test_a_trusted_certificate_logs_in(server: DovecotServer, tmp_path: Path, security: str,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SSL_CERT_FILE", str(server.cert_path))  # what a user with a private CA does too
    port = server.tls_port if security == "tls" else server.port
    with Mailbox.connect(account(tmp_path, port, security), lambda a: server.password) as mailbox:
        assert "IMAP4REV1" in mailbox.capabilities
        assert mailbox.discover(Folders()).sent == "Sent"
