"""Incremental sync: what each later pass asks the server, and what it learns."""

from __future__ import annotations

from collections import Counter
from datetime import date
from pathlib import Path

import pytest

from imapservers import ImapAccount
from mail_followup.config import load_config
from mail_followup.imap.mailbox import Mailbox
from mail_followup.state.store import Store
from mails import raw_mail
from scenario import ME, at, write_config

SINCE = date(2026, 1, 1)


class Counting:
    """Counts the IMAP commands a mailbox sends, by name."""

    def __init__(self, mailbox: Mailbox) -> None:
        self.names: Counter[str] = Counter()
        imap = mailbox.client._imap
        original = imap._command

        def command(name: str, *args: object) -> object:
            self.names[name if name != "UID" else f"UID {args[0]}"] += 1
            return original(name, *args)

        imap._command = command  # type: ignore[method-assign]

    def reset(self) -> Counter[str]:
        names, self.names = self.names, Counter()
        return names


def sync_all(mailbox: Mailbox, store: Store, folders: tuple[str, ...]) -> dict[str, object]:
    results = {}
    for folder in folders:
        cursor = store.cursor("t", folder)
        synced = mailbox.sync(folder, cursor, lambda: store.known_uids("t", folder), SINCE)
        store.apply_sync("t", folder, synced.cursor, synced.new, synced.vanished, synced.reset, synced.flags)
        results[folder] = synced
    return results


@pytest.fixture
def setup(imap_account: ImapAccount, tmp_path: Path):
    for i in range(5):
        imap_account.append("Sent", raw_mail(ME, f"p{i}@example.com", f"Hello {i}", at("2026-12-01T09:00:00+01:00"),
                                             f"<s{i}@example.org>"), when=at("2026-12-01T09:00:00+01:00"))
    account = load_config(write_config(tmp_path, imap_account)).accounts[0]
    mailbox = Mailbox.connect(account, lambda _a: imap_account.password)
    store = Store(tmp_path / "state")
    yield imap_account, mailbox, store
    mailbox.close()
    store.close()


def test_a_pass_with_nothing_new_sends_one_command_per_folder(setup) -> None:
    account, mailbox, store = setup
    folders = ("Sent", "INBOX", "Archive")
    sync_all(mailbox, store, folders)
    counting = Counting(mailbox)
    results = sync_all(mailbox, store, folders)
    assert counting.reset() == Counter({"EXAMINE": 3})
    assert all(not r.new and not r.vanished for r in results.values())


def test_new_mail_and_expunges_are_found_in_at_most_three_commands(setup) -> None:
    account, mailbox, store = setup
    sync_all(mailbox, store, ("Sent",))
    counting = Counting(mailbox)
    account.append("Sent", raw_mail(ME, "new@example.com", "New", at("2026-12-02T09:00:00+01:00"), "<new@example.org>"))
    with account.client() as client:
        client.select_folder("Sent")
        client.delete_messages(client.search(["HEADER", "Message-ID", "<s2@example.org>"]))
        client.expunge()
    result = sync_all(mailbox, store, ("Sent",))["Sent"]
    names = counting.reset()
    assert [m.message_id for m in result.new] == ["<new@example.org>"]
    assert len(result.vanished) == 1
    assert sum(names.values()) <= 3, names
    ids = {m.message_id for m in store.mails("t", at("2026-01-01T00:00:00+00:00")) if not m.gone}
    assert "<s2@example.org>" not in ids and "<new@example.org>" in ids


def test_a_keyword_set_later_is_seen_through_condstore(dovecot_account: ImapAccount, tmp_path: Path) -> None:
    account = dovecot_account
    account.append("Sent", raw_mail(ME, "p@example.com", "Hello", at("2026-12-01T09:00:00+01:00"), "<k@example.org>"))
    config = load_config(write_config(tmp_path, account)).accounts[0]
    with Mailbox.connect(config, lambda _a: account.password) as mailbox, Store(tmp_path / "state") as store:
        assert {"CONDSTORE", "QRESYNC"} <= mailbox.enabled
        sync_all(mailbox, store, ("Sent",))
        with account.client() as client:
            client.select_folder("Sent")
            client.add_flags(client.search(["ALL"]), [b"$NoFollowUp"])
        counting = Counting(mailbox)
        result = sync_all(mailbox, store, ("Sent",))["Sent"]
        assert sum(counting.reset().values()) <= 3
        assert any("$NoFollowUp" in f for f in result.flags.values())
        (mail,) = store.mails("t", at("2026-01-01T00:00:00+00:00"))
        assert "$NoFollowUp" in mail.flags


def test_the_text_of_a_new_answer_is_read_while_its_folder_is_open(dovecot_account: ImapAccount, tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue 23: a pass after an answer came opens INBOX once, not once to sync and again for the text that
    decides the thread; and what it decides from that text is the same."""
    import imaplib
    from datetime import datetime

    from mail_followup.service.scan import scan

    monkeypatch.setenv("MF_TEST_PASSWORD", dovecot_account.password)
    dovecot_account.append("Sent", raw_mail(f"Me <{ME}>", "kim@example.com", "Coffee next week?",
                                            at("2026-12-01T15:00:00+01:00"), "<coffee@example.org>", "Coffee?\n"))
    config = load_config(write_config(tmp_path, dovecot_account))
    assert scan(config, datetime.fromisoformat("2026-12-02T09:00:00+01:00"), reports=False).ok
    dovecot_account.append("INBOX", raw_mail("kim@example.com", ME, "Re: Coffee next week?",
                                             at("2026-12-02T10:00:00+01:00"), "<answer@example.com>",
                                             "Please remove me from your list.\n", in_reply_to="<coffee@example.org>"))
    opened: Counter[str] = Counter()
    original = imaplib.IMAP4._command

    def command(imap: imaplib.IMAP4, name: str, *args: object) -> object:
        if name in ("SELECT", "EXAMINE"):
            folder = args[0].decode() if isinstance(args[0], bytes) else str(args[0])
            opened[folder.strip('"')] += 1
        return original(imap, name, *args)

    monkeypatch.setattr(imaplib.IMAP4, "_command", command)
    assert scan(config, datetime.fromisoformat("2026-12-02T11:00:00+01:00"), reports=False).ok
    assert opened["INBOX"] == 1, opened
    with Store(tmp_path / "state") as store:
        assert store.verdicts("test")["<answer@example.com>"].kind == "stop"
        assert "kim@example.com" in store.stoplist("test")
