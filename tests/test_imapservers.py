"""The test IMAP servers work, and behave the way the application relies on.

Where the two servers differ (SPECIAL-USE, CONDSTORE, keywords, first UID),
the tests pin the difference down, so a server upgrade that changes it shows
up here rather than as a puzzling failure elsewhere.
"""

from __future__ import annotations

from datetime import UTC, datetime

from imapclient.imapclient import DRAFTS, SENT
from imapservers import ImapAccount

RAW = (
    b"From: Alice <alice@example.org>\r\n"
    b"To: Bob <bob@example.org>\r\n"
    b"Subject: Quarterly numbers\r\n"
    b"Date: Mon, 01 Jan 2024 10:00:00 +0000\r\n"
    b"Message-ID: <draft-1@example.org>\r\n"
    b"X-Mail-Followup-For: <id@x>\r\n"
    b"\r\n"
    b"Did you have a chance to look at them?\r\n"
)


def test_login_and_folders(imap_account: ImapAccount) -> None:
    assert {"INBOX", "Sent", "Drafts", "Archive"} <= set(imap_account.folder_names())


def test_dovecot_flags_special_use_folders(dovecot_account: ImapAccount) -> None:
    with dovecot_account.client() as client:
        flags = {name: set(f) for f, _delim, name in client.list_folders()}
        assert client.find_special_folder(SENT) == "Sent"
        assert client.find_special_folder(DRAFTS) == "Drafts"
    assert b"\\Sent" in flags["Sent"]
    assert b"\\Drafts" in flags["Drafts"]
    assert b"\\Archive" in flags["Archive"]
    assert {"Trash", "Junk"} <= set(flags)


def test_pymap_folders_are_plain(pymap_account: ImapAccount) -> None:
    special = {b"\\Sent", b"\\Drafts", b"\\Archive", b"\\Trash", b"\\Junk", b"\\All"}
    with pymap_account.client() as client:
        listed = client.list_folders()
    assert {name for _f, _d, name in listed} == {"INBOX", "Sent", "Drafts", "Archive"}
    assert not any(special & set(flags) for flags, _d, _n in listed)


def test_capabilities(imap_account: ImapAccount) -> None:
    with imap_account.client() as client:
        caps = set(client.capabilities())
    assert {b"UIDPLUS", b"MOVE"} <= caps
    modern = {b"CONDSTORE", b"QRESYNC", b"SPECIAL-USE"}
    if imap_account.kind == "dovecot":
        assert modern <= caps
    else:
        assert not modern & caps


def test_append_round_trip(imap_account: ImapAccount) -> None:
    when = datetime(2024, 1, 1, 10, 0, 5, tzinfo=UTC)
    uid = imap_account.append("Drafts", RAW, flags=(b"\\Draft", b"\\Seen"), when=when)
    assert uid == (1 if imap_account.kind == "dovecot" else 101)
    assert imap_account.messages("Drafts") == [(uid, (b"\\Draft", b"\\Seen"), RAW)]
    with imap_account.client() as client:
        client.normalise_times = False  # keep the server's zone: aware datetimes
        client.select_folder("Drafts", readonly=True)
        fetched = client.fetch([uid], ["INTERNALDATE"])
    assert fetched[uid][b"INTERNALDATE"] == when


def test_search_header(imap_account: ImapAccount) -> None:
    wanted = imap_account.append("Drafts", RAW)
    imap_account.append("Drafts", RAW.replace(b"<id@x>", b"<other@x>"))
    with imap_account.client() as client:
        client.select_folder("Drafts", readonly=True)
        assert client.search(["HEADER", "X-Mail-Followup-For", "<id@x>"]) == [wanted]
        assert client.search(["HEADER", "X-Mail-Followup-For", "<nobody@x>"]) == []


def test_keywords(imap_account: ImapAccount) -> None:
    """Keywords survive APPEND on both; STORE keeps them only on Dovecot."""
    uid = imap_account.append("Drafts", RAW, flags=(b"\\Draft", b"$Followup"))
    assert imap_account.messages("Drafts")[0][1] == (b"$Followup", b"\\Draft")
    with imap_account.client() as client:
        client.select_folder("Drafts")
        client.add_flags([uid], [b"$Done"])
        flags = set(client.get_flags([uid])[uid])
    assert (b"$Done" in flags) == (imap_account.kind == "dovecot")


def test_dovecot_accounts_are_separate(dovecot_account: ImapAccount) -> None:
    dovecot_account.append("INBOX", RAW)
    other = dovecot_account.server.new_account()  # type: ignore[attr-defined]
    assert other.messages("INBOX") == []
    assert len(dovecot_account.messages("INBOX")) == 1


def test_doveadm_changes_uidvalidity(dovecot_account: ImapAccount) -> None:
    dovecot_account.append("Sent", RAW)
    with dovecot_account.client() as client:
        before = client.folder_status("Sent", [b"UIDVALIDITY"])[b"UIDVALIDITY"]
    new = before + 1000
    dovecot_account.server.doveadm(  # type: ignore[attr-defined]
        "mailbox", "update", "--uid-validity", str(new), "-u", dovecot_account.username, "Sent"
    )
    with dovecot_account.client() as client:
        assert client.folder_status("Sent", [b"UIDVALIDITY"])[b"UIDVALIDITY"] == new
    assert len(dovecot_account.messages("Sent")) == 1
