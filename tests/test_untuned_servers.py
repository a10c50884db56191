"""Servers nobody tuned for (issue 19, part 6): Courier's read-only rule, an account with no Drafts folder.

Courier-IMAP refuses an APPEND to the folder the session has selected with
EXAMINE ("NO Current box is selected READ-ONLY"): Dovecot is put behind a
proxy that answers so, as Courier would. A fresh Cyrus or Courier account
has no Drafts folder: Dovecot is laid out without one.
"""

from __future__ import annotations

import re
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from imapservers import DovecotServer, ImapAccount
from scenario import WEDNESDAY, by_subject, scan_json, seed, write_config
from test_providers import configured as laid_out, dovecot_like

_COMMAND = re.compile(rb"^(\S+) (EXAMINE|SELECT|UNSELECT|CLOSE|APPEND)\b ?\"?([^\"\s]*)", re.IGNORECASE)
_LITERAL = re.compile(rb"\{(\d+)\+?\}\r\n$")


class CourierLike:
    """A proxy to Dovecot that refuses, as Courier does, an APPEND to the folder selected read-only."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(8)
        self.port = self.listener.getsockname()[1]
        self.refused = 0
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            server = socket.create_connection(self.target)
            threading.Thread(target=self._down, args=(server, client), daemon=True).start()
            threading.Thread(target=self._up, args=(client, server), daemon=True).start()

    @staticmethod
    def _down(server: socket.socket, client: socket.socket) -> None:
        try:
            while data := server.recv(65536):
                client.sendall(data)
        except OSError:
            pass
        finally:
            client.close()

    def _up(self, client: socket.socket, server: socket.socket) -> None:
        read_only: bytes | None = None
        try:
            with client.makefile("rb") as lines:
                while line := lines.readline():
                    match = _COMMAND.match(line)
                    verb = match.group(2).upper() if match else b""
                    if verb == b"APPEND" and read_only is not None and match.group(3) == read_only:
                        self.refused += 1
                        client.sendall(match.group(1) + b" NO Current box is selected READ-ONLY\r\n")
                        continue  # the client sends no literal after a tagged NO
                    if verb == b"EXAMINE":
                        read_only = match.group(3)
                    elif verb in (b"SELECT", b"UNSELECT", b"CLOSE"):
                        read_only = None
                    server.sendall(line)
                    if literal := _LITERAL.search(line):
                        server.sendall(lines.read(int(literal.group(1))))
        except OSError:
            pass
        finally:
            server.close()

    def close(self) -> None:
        self.listener.close()


def test_nothing_is_appended_to_the_folder_selected_read_only(dovecot_account: ImapAccount, tmp_path: Path,
                                                              capsys, monkeypatch) -> None:
    """The drafts go to Drafts and the weekly review to INBOX, each searched with EXAMINE just before."""
    seed(dovecot_account)
    courier = CourierLike((dovecot_account.host, dovecot_account.port))
    try:
        monkeypatch.setenv("MF_TEST_PASSWORD", dovecot_account.password)
        config = write_config(tmp_path, dovecot_account)
        config.write_text(config.read_text().replace(f"port: {dovecot_account.port}", f"port: {courier.port}")
                          .replace("defaults:", "defaults:\n  digest: {day: wednesday, time: '09:00'}"))
        code, report = scan_json(config, WEDNESDAY, capsys)
        assert code == 0, report["errors"]
        assert courier.refused == 0
        assert by_subject(report)["Coffee next week?"]["state"] == "drafted"
        assert any(b"X-Mail-Followup-Digest" in raw for _, _, raw in dovecot_account.messages("INBOX"))
    finally:
        courier.close()


@pytest.fixture
def without_drafts() -> Iterator[DovecotServer]:
    yield from dovecot_like(("Sent", "Archive"))


def test_a_missing_drafts_folder_is_created_by_the_first_pass_that_writes(without_drafts, tmp_path, monkeypatch,
                                                                          capsys) -> None:
    from mail_followup.cli.main import main

    account, config = laid_out(without_drafts, tmp_path, monkeypatch)
    seed(account)
    assert main(["doctor", "--config", str(config)]) in (0, 1)  # (the keyring may be missing here)
    assert "the server has no Drafts folder: the first scan creates 'Drafts'" in capsys.readouterr().out
    code, report = scan_json(config, WEDNESDAY, capsys, "--dry-run")  # a dry run writes nothing, a folder neither
    assert code == 0 and by_subject(report)["Coffee next week?"]["state"] == "due", report["errors"]
    assert "Drafts" not in account.folder_names()
    code, report = scan_json(config, WEDNESDAY, capsys)
    assert code == 0 and by_subject(report)["Coffee next week?"]["state"] == "drafted", report["errors"]
    assert "Drafts" in account.folder_names()
    assert sum(b"<coffee@example.org>" in raw for _, _, raw in account.messages("Drafts")) == 1


def test_pymap_without_a_drafts_folder_gets_one_too(pymap_account: ImapAccount, tmp_path: Path, monkeypatch,
                                                    capsys) -> None:
    """pymap has no SPECIAL-USE and no UNSELECT: the folder is found missing by name, and created."""
    seed(pymap_account)
    with pymap_account.client() as client:
        client.delete_folder("Drafts")
    monkeypatch.setenv("MF_TEST_PASSWORD", pymap_account.password)
    code, report = scan_json(write_config(tmp_path, pymap_account), WEDNESDAY, capsys)
    assert code == 0 and by_subject(report)["Coffee next week?"]["state"] == "drafted", report["errors"]
    assert sum(b"<coffee@example.org>" in raw for _, _, raw in pymap_account.messages("Drafts")) == 1
