"""A damaged or unusable state (issue 19, part 3): one clear line, never a traceback, and no draft twice.

The state is a cache of the server. A database that is garbage, cut in
half or has a corrupted page is moved aside (kept, and said where), a new
one is begun with what the user said copied over as far as it reads, and
the pass reads the mailbox again: the drafts already in Drafts are found by
their marker, never written again.
"""

from __future__ import annotations

import os
import pwd
import sqlite3
import stat
from pathlib import Path

import pytest

from mail_followup.cli.main import main
from scenario import WEDNESDAY, by_subject, scan_json

THURSDAY = "2026-12-10T09:30:00+01:00"


def database(config: Path) -> Path:
    return config.parent / "state" / "state.sqlite3"


def coffee_drafts(account) -> int:
    return sum(b"<coffee@example.org>" in raw for _, flags, raw in account.messages("Drafts")
               if b"\\Deleted" not in flags)


def settle(db: Path) -> None:
    """Fold the WAL into the file, as a clean shutdown leaves it, so that the damage below hits real pages."""
    connection = sqlite3.connect(db)
    connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    connection.close()
    for suffix in ("-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)


def page_of(db: Path, table: str) -> tuple[int, int]:
    """(offset, size) of the root page of ``table`` in the database file."""
    connection = sqlite3.connect(db)
    size = connection.execute("PRAGMA page_size").fetchone()[0]
    root = connection.execute("SELECT rootpage FROM sqlite_master WHERE name=?", (table,)).fetchone()[0]
    connection.close()
    return (root - 1) * size, size


@pytest.mark.parametrize("damage", ["garbage", "half", "page"])
def test_a_damaged_state_is_put_aside_and_the_pass_goes_on_without_a_second_draft(configured, capsys, damage) -> None:
    account, config = configured
    assert scan_json(config, WEDNESDAY, capsys)[0] == 0 and coffee_drafts(account) == 1
    assert main(["stop", "sam@example.net", "--config", str(config)]) == 0  # what only the user said
    capsys.readouterr()
    db = database(config)
    settle(db)
    if damage == "garbage":
        db.write_bytes(os.urandom(db.stat().st_size))
    elif damage == "half":
        with open(db, "r+b") as out:
            out.truncate(db.stat().st_size // 2)
    else:  # a page of the header index is overwritten: found only when a pass reads it
        offset, size = page_of(db, "messages")
        with open(db, "r+b") as out:
            out.seek(offset)
            out.write(os.urandom(size))
    assert main(["doctor", "--config", str(config)]) != 0
    assert "is damaged" in capsys.readouterr().out
    code, report = scan_json(config, THURSDAY, capsys)
    err = capsys.readouterr().err
    assert code == 0, report["errors"]
    assert "Traceback" not in err
    kept = list(db.parent.glob("state.sqlite3.damaged-*"))
    assert len([p for p in kept if p.name.endswith(("Z",))]) == 1  # kept, and said where (in the log)
    threads = by_subject(report)
    assert threads["Coffee next week?"]["state"] == "drafted" and coffee_drafts(account) == 1
    if damage == "page":  # the stop list was still readable: the user's stop holds in the new state
        assert threads["Quick question"]["state"] == "stopped"
    assert sqlite3.connect(db).execute("PRAGMA integrity_check").fetchone() == ("ok",)


def test_status_on_a_damaged_state_says_so_in_one_line(configured, capsys) -> None:
    account, config = configured
    scan_json(config, WEDNESDAY, capsys)
    db = database(config)
    settle(db)
    offset, size = page_of(db, "threads")
    with open(db, "r+b") as out:
        out.seek(offset)
        out.write(os.urandom(size))
    assert main(["status", "--config", str(config)]) == 1
    err = capsys.readouterr().err
    assert "the state database was damaged; it is kept as " in err and "Traceback" not in err
    assert err.strip().endswith("mail-followup: run `mail-followup scan` to read the mailbox into the new state")
    assert main(["status", "--config", str(config)]) == 0  # a new state: nothing tracked until the next scan
    assert "No threads tracked yet" in capsys.readouterr().out


def test_a_state_directory_of_another_user_is_one_clear_line(configured, capsys) -> None:
    account, config = configured
    state = config.parent / "state"
    state.mkdir(mode=0o700)
    if os.geteuid() == 0:  # root could write there all the same: the owner is what the product checks
        os.chown(state, pwd.getpwnam("nobody").pw_uid, -1)
        expected = "belongs to another user"
    else:
        state.chmod(stat.S_IRUSR | stat.S_IXUSR)
        expected = "cannot be written"
    try:
        assert main(["scan", "--config", str(config), "--now", WEDNESDAY]) == 1
        err = capsys.readouterr().err
        assert expected in err and "Traceback" not in err and len(err.strip().splitlines()) <= 2
        assert main(["doctor", "--config", str(config)]) != 0
    finally:
        if os.geteuid() == 0:
            os.chown(state, 0, -1)
        state.chmod(0o700)
