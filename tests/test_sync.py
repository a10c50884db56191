"""Folder discovery and incremental sync on real servers: what a real mailbox does between passes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from imapservers import ImapAccount
from mail_followup.cli.main import main
from mail_followup.config import Folders, load_config
from mail_followup.errors import AccountError
from mail_followup.imap.mailbox import Mailbox
from mail_followup.cli.demo_server import PymapServer
from mail_followup.state.store import Store
from mails import raw_mail
from scenario import ME, MONDAY, WEDNESDAY, at, by_subject, scan_json, write_config


def connect(account: ImapAccount, config: Path) -> Mailbox:
    return Mailbox.connect(load_config(config).accounts[0], lambda _a: account.password)


def expunge_all(account: ImapAccount, folder: str, header: str | None = None) -> None:
    with account.client() as client:
        client.select_folder(folder)
        uids = client.search(["HEADER", "Message-ID", header] if header else ["ALL"])
        client.delete_messages(uids)
        client.expunge()


def test_folders_are_found_by_special_use_or_by_name(configured) -> None:
    account, config = configured
    with connect(account, config) as mailbox:
        found = mailbox.discover(Folders())
    assert (found.sent, found.drafts, found.replies) == ("Sent", "Drafts", ("INBOX", "Archive"))
    expected = "special-use" if account.kind == "dovecot" else "known name"
    assert (found.how["sent"], found.how["drafts"]) == (expected, expected)
    if account.kind == "dovecot":  # Trash and Junk exist there, and are never searched for answers
        assert (found.how["trash"], found.how["junk"]) == ("special-use", "special-use")


def test_localized_folder_names_are_found_without_special_use(tmp_path: Path) -> None:
    with PymapServer("demo", "pw", ("Gesendete Elemente", "Entwürfe", "Arkiv")) as server:
        account = ImapAccount.for_pymap(server)
        with connect(account, write_config(tmp_path, account)) as mailbox:
            found = mailbox.discover(Folders())
            assert (found.sent, found.drafts, found.replies) == ("Gesendete Elemente", "Entwürfe", ("INBOX", "Arkiv"))
            with account.client() as client:
                for name in ("Papierkorb", "Spam", "Kunden", "Postausgang"):
                    client.create_folder(name)
            assert mailbox.discover(Folders()).replies == ("INBOX", "Arkiv", "Kunden")
            assert mailbox.discover(Folders(exclude=["Kunden"])).replies == ("INBOX", "Arkiv")
            with pytest.raises(AccountError, match="'Sent Stuff' does not exist"):
                mailbox.discover(Folders(sent="Sent Stuff"))


def test_a_deleted_answer_still_counts(configured, capsys) -> None:
    account, config = configured
    account.append("INBOX", raw_mail("kim@example.com", ME, "Re: Coffee next week?", at("2026-12-03T10:00:00+01:00"),
                                     "<kim-answer@example.com>", in_reply_to="<coffee@example.org>"))
    code, report = scan_json(config, MONDAY, capsys)
    assert by_subject(report)["Coffee next week?"]["state"] == "replied"
    expunge_all(account, "INBOX", "<kim-answer@example.com>")
    code, report = scan_json(config, WEDNESDAY.replace("12-09", "12-16"), capsys)
    assert code == 0 and by_subject(report)["Coffee next week?"]["state"] == "replied"
    assert not [m for m in account.messages("Drafts") if b"<coffee@example.org>" in m[2]]


def test_a_folder_that_suddenly_looks_empty_stops_the_pass(configured, capsys) -> None:
    account, config = configured
    code, _ = scan_json(config, MONDAY, capsys)
    assert code == 0
    expunge_all(account, "Sent")
    code = main(["scan", "--config", str(config), "--now", WEDNESDAY.replace("12-09", "12-16")])
    err = capsys.readouterr().err
    assert code == 1 and "'Sent' had 4 message(s) and now looks empty" in err
    assert account.messages("Drafts") == []
    # status still shows the last good pass, and says the latest one failed
    assert main(["status", "--config", str(config)]) == 0
    out = capsys.readouterr().out
    assert "Waiting (2)" in out and "failed" in out


@pytest.mark.parametrize("chunk", [5000, 1], ids=["one-chunk", "a-chunk-a-message"])
def test_a_changed_uidvalidity_rereads_the_folder_and_decides_the_same(dovecot_account: ImapAccount, tmp_path: Path,
                                                                        capsys, monkeypatch, chunk: int) -> None:
    """Read in chunks, the folder's old index is dropped before the first chunk, never after one."""
    from mail_followup.imap import sync
    from scenario import seed

    monkeypatch.setattr(sync, "HEADER_CHUNK", chunk)
    account = dovecot_account
    monkeypatch.setenv("MF_TEST_PASSWORD", account.password)
    seed(account)
    config = write_config(tmp_path, account)
    code, first = scan_json(config, WEDNESDAY, capsys)
    for folder, validity in (("Sent", "4242"), ("INBOX", "4343"), ("Archive", "4444")):
        account.server.doveadm("mailbox", "update", "--uid-validity", validity, "-u", account.username, folder)
    code = main(["scan", "--config", str(config), "--now", WEDNESDAY, "--json"])
    out, err = capsys.readouterr()
    assert code == 0 and "Sent: UIDVALIDITY changed (" in err
    second = json.loads(out)
    assert {t["subject"]: t["state"] for t in second["threads"]} == {t["subject"]: t["state"] for t in first["threads"]}
    assert len(account.messages("Drafts")) == 1
    with Store(tmp_path / "state") as store:
        live = store.db.execute("SELECT folder, COUNT(*) FROM messages GROUP BY folder").fetchall()
        gone = store.db.execute("SELECT folder, COUNT(*) FROM gone GROUP BY folder").fetchall()
    assert dict(live) == {f: len(account.messages(f)) for f in ("Sent", "INBOX", "Archive") if account.messages(f)}
    assert dict(live) == dict(gone)  # every old row kept as gone, every new one live


def test_a_first_sync_cut_between_its_chunks_is_read_again_whole(imap_account: ImapAccount, tmp_path: Path,
                                                                   capsys, monkeypatch) -> None:
    """A large folder's first sync is written a chunk at a time; a pass that dies between two chunks leaves
    no cursor, so the next pass reads the folder from the start: the same decisions, no row twice."""
    from mail_followup.imap import sync
    from scenario import seed

    monkeypatch.setattr(sync, "HEADER_CHUNK", 1)
    monkeypatch.setenv("MF_TEST_PASSWORD", imap_account.password)
    seed(imap_account)
    (tmp_path / "clean").mkdir()
    _, clean = scan_json(write_config(tmp_path / "clean", imap_account), WEDNESDAY, capsys, "--dry-run")
    config = write_config(tmp_path, imap_account)
    real = Store.add_mails
    calls = 0

    def dies_after_three(self: Store, *args: object, **kwargs: object) -> None:
        nonlocal calls
        calls += 1
        if calls > 3:
            raise SystemExit("killed")  # what a SIGKILL leaves: three chunks committed, no cursor
        real(self, *args, **kwargs)

    monkeypatch.setattr(Store, "add_mails", dies_after_three)
    with pytest.raises(SystemExit):
        main(["scan", "--config", str(config), "--now", WEDNESDAY])
    capsys.readouterr()
    with Store(tmp_path / "state") as store:
        assert store.db.execute("SELECT COUNT(*) FROM messages").fetchone()[0] == 3
        assert store.cursor("test", "Sent") is None
    monkeypatch.setattr(Store, "add_mails", real)
    _, again = scan_json(config, WEDNESDAY, capsys, "--dry-run")
    assert again["threads"] == clean["threads"] and again["threads"]
    with Store(tmp_path / "state") as store:
        rows = store.db.execute("SELECT folder, uid FROM messages").fetchall()
    assert len(rows) == len(set(rows)) == sum(len(imap_account.messages(f)) for f in ("Sent", "INBOX", "Archive"))


def test_plaintext_to_a_remote_host_is_refused_before_connecting(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("accounts:\n  - name: a\n    imap: {host: imap.example.invalid, security: none, username: u, "
                    "password_env: NOPE}\n    addresses: [a@b.example]\n")
    asked = []
    with pytest.raises(AccountError, match="refusing to send a password or token unencrypted to imap.example.invalid"):
        Mailbox.connect(load_config(path).accounts[0], lambda a: asked.append(a) or "x")
    assert asked == []  # the password was never even fetched


def test_a_first_sync_reports_its_progress(imap_account, tmp_path, monkeypatch) -> None:
    """A large first sync tells how far it got (a bar on a terminal, the systemd STATUS line in the service)."""
    from mail_followup.imap import sync
    from mail_followup.config import load_config
    from mail_followup.service.scan import scan
    from scenario import WEDNESDAY, at, seed, write_config

    monkeypatch.setattr(sync, "HEADER_CHUNK", 1)  # four sent messages make a "large" folder
    monkeypatch.setenv("MF_TEST_PASSWORD", imap_account.password)
    seed(imap_account)
    seen: list[tuple[str, str, int, int]] = []
    scan(load_config(write_config(tmp_path, imap_account)), at(WEDNESDAY), progress=lambda *a: seen.append(a))
    sent = [s for s in seen if s[1] == "Sent"]
    assert [s[2] for s in sent] == [1, 2, 3, 4] and all(s[0] == "test" and s[3] == 4 for s in sent)
