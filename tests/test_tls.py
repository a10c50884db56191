"""TLS with certificate checks by default, and STARTTLS, against a real Dovecot with its own certificate."""

from __future__ import annotations

from pathlib import Path

import pytest

from imapservers import DovecotServer
from mail_followup.config import Folders, parse_config
from mail_followup.errors import AccountError
from mail_followup.imap.mailbox import Mailbox


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


def pinned(tmp_path: Path, port: int, security: str, extra: str):
    text = (f"accounts:\n  - name: t\n    imap: {{host: 127.0.0.1, port: {port}, security: {security}, "
            f"username: tls-user, {extra}}}\n    addresses: [a@b.example]\n")
    return parse_config(text, tmp_path / "c.yaml").accounts[0]


def fingerprint_of(server: DovecotServer) -> str:
    import hashlib
    import ssl

    return hashlib.sha256(ssl.PEM_cert_to_DER_cert(server.cert_path.read_text())).hexdigest()


def test_the_refusal_says_how_to_trust_the_server(server: DovecotServer, tmp_path: Path) -> None:
    with pytest.raises(AccountError) as info:
        Mailbox.connect(account(tmp_path, server.tls_port, "tls"), lambda a: server.password)
    advice = str(info.value)
    assert "imap.tls_ca_file" in advice and f"imap.tls_fingerprint: {fingerprint_of(server)}" in advice


@pytest.mark.parametrize("security", ["tls", "starttls"])
def test_a_ca_file_or_a_pinned_fingerprint_trusts_the_server(server: DovecotServer, tmp_path: Path,
                                                             security: str) -> None:
    port = server.tls_port if security == "tls" else server.port
    for extra in (f"tls_ca_file: {server.cert_path}", f"tls_fingerprint: '{fingerprint_of(server)}'"):
        with Mailbox.connect(pinned(tmp_path, port, security, extra), lambda a: server.password) as mailbox:
            assert "IMAP4REV1" in mailbox.capabilities
    asked: list[object] = []
    with pytest.raises(AccountError, match="is not the pinned one"):
        Mailbox.connect(pinned(tmp_path, port, security, "tls_fingerprint: '" + "ab" * 32 + "'"),
                        lambda a: asked.append(a) or server.password)
    assert asked == []


def test_no_login_crosses_the_wire_before_tls(server: DovecotServer, pymap_account, tmp_path: Path) -> None:
    """STARTTLS asked of a server without it (pymap) is refused, never a plaintext fallback; and against
    Dovecot with an untrusted certificate nothing of LOGIN or AUTHENTICATE leaves in clear."""
    from fault_proxy import Fault, FaultProxy

    def recording(host: str, port: int) -> FaultProxy:
        return FaultProxy(host, port, Fault("none"))  # a proxy that only keeps what the client sent

    with recording(pymap_account.host, pymap_account.port) as proxy:
        with pytest.raises(AccountError):
            Mailbox.connect(account(tmp_path, proxy.port, "starttls"), lambda a: pymap_account.password)
        assert b"STARTTLS" in proxy.sent.upper() or b"CAPABILITY" in proxy.sent.upper()
        assert b"LOGIN" not in proxy.sent.upper() and b"AUTHENTICATE" not in proxy.sent.upper()
    with recording(server.host, server.port) as proxy:
        with pytest.raises(AccountError, match="certificate verify failed"):
            Mailbox.connect(account(tmp_path, proxy.port, "starttls"), lambda a: server.password)
        assert b"STARTTLS" in proxy.sent.upper()
        assert b"LOGIN" not in proxy.sent.upper() and server.password.encode() not in proxy.sent
