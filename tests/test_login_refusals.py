"""A refused login pauses the account only when the password is wrong, not when the server cannot check it.

The temporary refusal comes from a scripted server: Dovecot gives it only
while its auth process restarts (the fault campaign met it when it restarted
Dovecot in the middle of a login), which a test cannot time.
"""

from __future__ import annotations

import socket
import threading
from pathlib import Path

import pytest

from mail_followup.config import parse_config
from mail_followup.errors import AccountError, AuthError
from mail_followup.imap.mailbox import Mailbox


def refusing_server(answer: str) -> int:
    """A server that greets, lists its capabilities and answers LOGIN with ``answer``; its port."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(4)

    def serve() -> None:
        while True:
            conn, _ = listener.accept()
            with conn, conn.makefile("rb") as lines:
                conn.sendall(b"* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN] ready\r\n")
                for line in lines:
                    tag, command = (line.decode().strip().split(" ", 2) + [""])[:2]
                    if command.upper() == "CAPABILITY":
                        conn.sendall(f"* CAPABILITY IMAP4rev1 AUTH=PLAIN\r\n{tag} OK done\r\n".encode())
                    elif command.upper() == "LOGIN":
                        conn.sendall(f"{tag} {answer}\r\n".encode())
                    else:
                        conn.sendall(f"* BYE\r\n{tag} OK bye\r\n".encode())
                        break

    threading.Thread(target=serve, daemon=True).start()
    return listener.getsockname()[1]


def account_at(port: int, tmp_path: Path):
    text = (f"accounts:\n  - name: a\n    imap: {{host: 127.0.0.1, port: {port}, security: none, username: u, "
            "password_env: X, timeout_seconds: 5}\n    addresses: [a@b.example]\n")
    return parse_config(text, tmp_path / "c.yaml").accounts[0]


@pytest.mark.parametrize("answer", ["NO [UNAVAILABLE] Temporary authentication failure. [host:2026-11-25]",
                                    "NO [INUSE] Mailbox in use by another session"])
def test_a_temporary_refusal_is_a_network_failure_that_the_next_pass_retries(answer: str, tmp_path: Path) -> None:
    with pytest.raises(AccountError) as info:
        Mailbox.connect(account_at(refusing_server(answer), tmp_path), lambda _a: "pw")
    assert not isinstance(info.value, AuthError) and info.value.kind == "network"
    assert "cannot check logins just now" in str(info.value)


def test_a_wrong_password_on_dovecot_is_an_auth_failure(dovecot_server, tmp_path: Path) -> None:
    account = account_at(dovecot_server.port, tmp_path)
    with pytest.raises(AuthError) as info:
        Mailbox.connect(account, lambda _a: "wrong-password")
    assert info.value.kind == "auth" and "refused the login" in str(info.value)


def test_a_connection_lost_during_login_is_a_network_failure_not_a_refusal(dovecot_server, tmp_path: Path) -> None:
    """imapclient turns any error during LOGIN into LoginError, a dropped connection too; the fault
    campaign found the service would have paused such an account as if the password were wrong."""
    from fault_proxy import Fault, FaultProxy

    # The client sends "TAG CAPABILITY" (18 bytes), then "TAG LOGIN user password": cut inside the LOGIN.
    with FaultProxy(dovecot_server.host, dovecot_server.port, Fault("cut", "up", 25)) as proxy:
        with pytest.raises(AccountError) as info:
            Mailbox.connect(account_at(proxy.port, tmp_path), lambda _a: dovecot_server.password)
        assert proxy.struck
    assert not isinstance(info.value, AuthError) and info.value.kind == "network", str(info.value)
