"""A pass reads bodies ahead of the places it has, and still writes no more than max_drafts_per_pass.

Issue 10: on a first pass over a large mailbox, thousands of threads look due
until their own message is read (most are closing notes or wait longer), and a
round trip per 25 of them cost minutes. A pass now reads the thread's own
messages first, for more threads each round, and a contact's earlier answers
(a stop request among them?) only for the threads still due. The cap per
pass, the second-worst failure's guard, must hold through all of it.
"""

from __future__ import annotations

from email import message_from_bytes, policy
from pathlib import Path

import pytest

from imapservers import ImapAccount
from mail_followup.imap.mailbox import Mailbox
from mails import raw_mail
from scenario import ME, WEDNESDAY, at, by_subject, scan_json, write_config

THREADS = 16  # even: a closing note; odd: a question that waits for an answer
LIMIT = 4


def contact(i: int) -> str:
    return f"person{i}@example.com"


def seed(account: ImapAccount) -> None:
    me = f"Me Myself <{ME}>"
    for i in range(THREADS):
        closing = i % 2 == 0
        body = "Thanks for the chat today, talk soon.\n" if closing else f"Could you send me the figures for {i}?\n"
        account.append("Sent", raw_mail(me, contact(i), f"Project {i}", at(f"2026-11-24T14:{i:02d}:00+01:00"),
                                        f"<p{i}@example.org>", body), flags=(b"\\Seen",))
        # Two earlier threads with this contact, answered: the answers are its stop history. A closing
        # note's contact has them in INBOX, a question's in Archive, so the reads tell whose were read.
        for j in range(2):
            sent = at(f"2026-10-{5 + j:02d}T10:{i:02d}:00+02:00")
            account.append("Sent", raw_mail(me, contact(i), f"Earlier {i}.{j}", sent, f"<e{i}.{j}@example.org>"),
                           flags=(b"\\Seen",))
            account.append("INBOX" if closing else "Archive",
                           raw_mail(contact(i), me, f"Re: Earlier {i}.{j}", sent.replace(hour=16),
                                    f"<a{i}.{j}@example.com>", "Sure, here it is.\n",
                                    in_reply_to=f"<e{i}.{j}@example.org>"), flags=(b"\\Seen",))


@pytest.fixture
def reads(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, int]]:
    """Every (folder, UID) whose body a pass fetched: a spy on the real method, the server stays real."""
    seen: list[tuple[str, int]] = []
    real = Mailbox.fetch_bodies

    def spy(self: Mailbox, folder: str, uids: list[int], limit: int | None = 65536) -> dict[int, bytes]:
        seen.extend((folder, uid) for uid in uids)
        return real(self, folder, uids, limit)

    monkeypatch.setattr(Mailbox, "fetch_bodies", spy)
    return seen


def test_bodies_are_read_ahead_in_stages_and_the_cap_holds(imap_account: ImapAccount, tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch, capsys,
                                                          reads: list[tuple[str, int]]) -> None:
    monkeypatch.setenv("MF_TEST_PASSWORD", imap_account.password)
    seed(imap_account)
    config = write_config(tmp_path, imap_account, max_drafts_per_pass=str(LIMIT))

    def drafted_for() -> list[str]:
        return sorted(str(message_from_bytes(raw, policy=policy.default)["In-Reply-To"])
                      for _uid, _flags, raw in imap_account.messages("Drafts"))

    code, report = scan_json(config, WEDNESDAY, capsys)
    assert code == 0, report["errors"]
    threads = by_subject(report)
    # The four oldest questions, and not one draft more.
    assert drafted_for() == [f"<p{i}@example.org>" for i in (1, 3, 5, 7)]
    assert {i for i in range(1, THREADS, 2) if threads[f"Project {i}"]["state"] == "drafted"} == {1, 3, 5, 7}
    for i in range(9, THREADS, 2):
        assert threads[f"Project {i}"]["state"] == "due"
        assert f"at most {LIMIT} draft(s) per pass" in threads[f"Project {i}"]["reasons"][-1]
    for i in range(0, THREADS, 2):
        assert threads[f"Project {i}"]["state"] not in ("due", "drafted"), threads[f"Project {i}"]
    # Every closing note was read (stage 1) ...
    sent_read = {uid for folder, uid in reads if folder == "Sent"}
    assert len(sent_read) >= THREADS // 2 + LIMIT
    # ... but never its contact's earlier answers (stage 2): the thread stopped being due at stage 1.
    assert [r for r in reads if r[0] == "INBOX"] == []
    assert any(folder == "Archive" for folder, _ in reads)
    # No body was fetched twice in one pass except to quote it into a draft.
    classified = [r for r in reads if r[0] != "Sent"]
    assert len(classified) == len(set(classified))

    # The next passes write the next four, then nothing: no duplicate, no flood.
    reads.clear()
    code, report = scan_json(config, WEDNESDAY, capsys)
    assert code == 0, report["errors"]
    assert drafted_for() == sorted(f"<p{i}@example.org>" for i in range(1, THREADS, 2))
    code, report = scan_json(config, WEDNESDAY, capsys)
    assert code == 0 and drafted_for() == sorted(f"<p{i}@example.org>" for i in range(1, THREADS, 2))
    assert [r for r in reads if r[0] == "INBOX"] == []
