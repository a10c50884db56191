"""The header index: what goes into state.sqlite3 comes back the same."""

from __future__ import annotations

import json
import multiprocessing
import sqlite3
from datetime import UTC, datetime, timezone
from pathlib import Path
from typing import Any

from mail_followup.core.headers import Addr, Mail
from mail_followup.state.index import FolderCursor
from mail_followup.state.migrations import MIGRATIONS
from mail_followup.state.store import Store

AWKWARD = [
    Addr('O\'Brien, "Pat" \\ Ø', "pat@example.ie"),
    Addr("Zoë Ångström\u2028\x01", "zoe@example.se"),
    Addr("", "plain@example.com"),
]


def mail(uid: int, **more: object) -> Mail:
    fields: dict[str, object] = dict(
        folder="Sent", uid=uid, message_id=f"<m{uid}@example.org>", in_reply_to=("<a@x>",),
        references=("<r1@x>", "<a@x>"), sender=AWKWARD[uid % 3], to=(AWKWARD[(uid + 1) % 3],),
        cc=tuple(AWKWARD[: uid % 3]), subject='Re: "quotes" \\ and ümlauts', flags=frozenset({"\\Seen"}),
        date=datetime(2026, 12, 1, 10, uid % 60, tzinfo=UTC))
    fields.update(more)
    return Mail(**fields)  # type: ignore[arg-type]


def test_every_field_of_every_message_comes_back(tmp_path: Path) -> None:
    mails = [mail(1), mail(2), mail(3, sender=None), mail(4, bcc=(AWKWARD[0],), content_type="multipart/report; "
                                                                   "delivery-status", failed_recipients=("x@y",)),
             mail(5, thread_hint="gm:123", auto_hint=True), mail(6, thread_hint="gm:123"),
             mail(7, auto_reply=True, bulk=True, followup_for="<m1@example.org>", followup_attempt=2)]
    with Store(tmp_path) as store:
        store.apply_sync("a", "Sent", FolderCursor(1, 8, 7, None), mails, (), False)
        back = sorted(store.mails("a", datetime(2026, 1, 1, tzinfo=UTC)), key=lambda m: m.uid)
        assert back == mails
        # The text is JSON as json.dumps writes it: an older or newer version reads it the same.
        for people, extra in store.db.execute("SELECT recipients, extra FROM messages"):
            assert json.dumps(json.loads(people), ensure_ascii=False) == people
            assert json.dumps(json.loads(extra), ensure_ascii=False) == extra


def _state_before(tmp_path: Path, migration: str) -> sqlite3.Connection:
    """A state as a version before the migration whose name starts with ``migration`` left it."""
    from mail_followup.state.store import DB_NAME

    before = next(i for i, (name, _) in enumerate(MIGRATIONS) if name.startswith(migration))
    db = sqlite3.connect(tmp_path / DB_NAME)
    db.execute("CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, "
               "applied_at TEXT NOT NULL)")
    for version, (name, sql) in enumerate(MIGRATIONS[:before], start=1):
        for statement in filter(str.strip, sql.split(";")):
            db.execute(statement)
        db.execute("INSERT INTO schema_migrations VALUES (?, ?, ?)", (version, name, "2026-11-01T00:00:00+00:00"))
    return db


def test_reports_of_an_older_state_get_their_state_and_moments_on_upgrade(tmp_path: Path) -> None:
    """A state written before the report columns existed is upgraded in place, and a quiet pass reads it right."""
    db = _state_before(tmp_path, "each report's state")
    reports = [{"message_id": f"<t{i}@x>", "state": state, "not_before": moment, "last_sent": sent}
               for i, (state, moment, sent) in enumerate([
                   ("waiting", "2026-12-10T08:30:00+01:00", "2026-12-01T15:00:00+01:00"),
                   ("replied", None, "2026-11-30T10:00:00+01:00"),
                   ("due", None, "2026-12-01T09:00:00+01:00")])]
    db.executemany("INSERT INTO threads VALUES (?,?,?,?)",
                   [("a", r["message_id"], json.dumps(r), "2026-12-01T00:00:00+00:00") for r in reports])
    db.commit()
    db.close()
    with Store(tmp_path) as store:
        assert sorted(m[1:] for m in store.open_moments("a")) == [("due", None), ("waiting", "2026-12-10T08:30:00+01:00")]
        assert store.report_counts("a") == {"waiting": 1, "replied": 1, "due": 1}
        assert [json.loads(t)["message_id"] for t in store.report_texts("a")] == ["<t1@x>", "<t2@x>", "<t0@x>"]
        # Reports saved from now on carry the columns themselves.
        store.save_reports("a", reports[:1], True, None)
        assert [m[1:] for m in store.open_moments("a")] == [("waiting", "2026-12-10T08:30:00+01:00")]


def test_dates_written_as_text_by_an_older_version_come_back_the_same(tmp_path: Path) -> None:
    """The upgrade that stores dates as seconds rewrites both tables: every message, live or gone, keeps its
    date (before 1970 too), its row and its indexes, and new rows are written the new way."""
    db = _state_before(tmp_path, "dates of the header index")
    old = [("Sent", 1, "2026-12-01T10:05:00+00:00"), ("Sent", 2, "1969-07-20T20:17:40+00:00"),
           ("INBOX", 3, "2026-12-01T23:59:59.250000+00:00")]
    for table, (folder, uid, date) in [("messages", old[0]), ("messages", old[1]), ("gone", old[2])]:
        db.execute(f"INSERT INTO {table} VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                   ("a", folder, uid, f"<m{uid}@x>", "", "", '["Pat", "pat@example.org"]', "[[], []]", "Hello",
                    date, "\\Seen", 0, 0, None, None, "{}", 0, None, None))
    both = "SELECT message_id, rowid FROM messages UNION ALL SELECT message_id, rowid FROM gone"
    rowids = db.execute(both).fetchall()
    db.commit()
    db.close()
    with Store(tmp_path) as store:
        back = {m.message_id: (m.date, m.gone) for m in store.mails("a", datetime(1900, 1, 1, tzinfo=UTC))}
        assert back == {
            "<m1@x>": (datetime(2026, 12, 1, 10, 5, tzinfo=UTC), False),
            "<m2@x>": (datetime(1969, 7, 20, 20, 17, 40, tzinfo=UTC), False),
            "<m3@x>": (datetime(2026, 12, 1, 23, 59, 59, tzinfo=UTC), True)}
        assert store.db.execute(both).fetchall() == rowids
        assert {r[0] for r in store.db.execute("SELECT DISTINCT typeof(date) FROM messages UNION "
                                               "SELECT typeof(date) FROM gone")} == {"integer"}
        indexes = {r[0] for r in store.db.execute("SELECT name FROM sqlite_master WHERE type='index' AND "
                                                  "tbl_name IN ('messages', 'gone') AND sql IS NOT NULL")}
        assert indexes == {"messages_by_date", "messages_by_node", "messages_by_subject", "gone_by_id",
                           "gone_by_date", "gone_by_node", "gone_by_subject"}
        store.apply_sync("a", "Sent", FolderCursor(1, 9, 3, None), [mail(8)], (), False)
        assert store.db.execute("SELECT date FROM messages WHERE uid=8").fetchone()[0] == 1796119680
        assert [m.uid for m in store.mails("a", datetime(2026, 12, 1, 10, 6, tzinfo=UTC))] == [8, 3]


def _open_when_all_are_ready(state_dir: str, ready: Any) -> None:
    ready.wait()
    with Store(Path(state_dir)) as store:  # an error here ends the process with exit code 1
        store.passes()


def test_processes_opening_a_new_state_together_all_succeed(tmp_path: Path) -> None:
    """The service and a `status` run at its start both create the state: a lost race once killed the service.

    Both the switch to WAL (which SQLite refuses at once, without waiting, while another process has the
    file open) and the migrations (read as done, then applied twice) failed here about once in three rounds.
    """
    context = multiprocessing.get_context("fork")
    for round_ in range(12):
        ready = context.Barrier(4)
        workers = [context.Process(target=_open_when_all_are_ready, args=(str(tmp_path / str(round_)), ready))
                   for _ in range(4)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join(timeout=60)
        assert [w.exitcode for w in workers] == [0] * 4, f"round {round_}: see the traceback above"
    with Store(tmp_path / "0") as store:
        assert store.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert store._migrated() == len(MIGRATIONS)


def test_reports_that_left_the_lookback_are_those_sent_in_lookback_says(tmp_path: Path) -> None:
    """SQLite answers for every report at once what ``sent_in_lookback`` answers for one, at the boundary,
    with the user's own offset, and for a report with no moment."""
    from datetime import timedelta

    from mail_followup.config.settings import Settings
    from mail_followup.core.policy import sent_in_lookback

    now = datetime(2026, 12, 4, 9, 0, 0, 500_000, tzinfo=UTC)
    settings = Settings()
    cutoff = now - timedelta(days=settings.lookback_days)
    moments = [cutoff - timedelta(seconds=1), cutoff.replace(microsecond=0), cutoff + timedelta(seconds=1),
               cutoff + timedelta(days=3)]
    texts = [m.astimezone(timezone(timedelta(hours=h))).isoformat(timespec="seconds")
             for m in moments for h in (0, 1, -5)]
    reports = [{"message_id": f"<t{i}@x>", "state": "waiting", "not_before": None, "last_sent": text}
               for i, text in enumerate([*texts, None])]
    with Store(tmp_path) as store:
        store.save_reports("a", reports, True, None)
        expired = store.reports_sent_before("a", cutoff)
        assert expired == {r["message_id"] for r in reports if r["last_sent"] is None or not sent_in_lookback(
            datetime.fromisoformat(str(r["last_sent"])), settings, now)}
        assert len(expired) == 7
        keys = store.report_keys("a")
        assert "<t0@x>" in keys and "<t99@x>" not in keys and len(keys) == len(reports) == len(set(keys))


def test_known_uids_answer_as_the_set_of_the_folder_did(tmp_path: Path) -> None:
    """Asked one at a time, then (past a few hundred questions) read whole: the same answers either way."""
    with Store(tmp_path) as store:
        store.apply_sync("a", "Sent", FolderCursor(1, 600, 3, None), [mail(uid) for uid in range(1, 600, 2)],
                         (), False)
        assert not store.known_uids("a", "INBOX") and list(store.known_uids("a", "INBOX")) == []
        known = store.known_uids("a", "Sent")
        assert known and 3 in known and 4 not in known and "3" not in known
        assert all((uid in known) == (uid % 2 == 1 and uid < 600) for uid in range(700))  # past the switch to one read
        assert len(known) == 300 and set(known) == set(range(1, 600, 2))
        assert known - {1, 3} == set(range(5, 600, 2)) and {2, 3, 5} & known == {3, 5}
        store.apply_sync("a", "Sent", FolderCursor(1, 602, 301, None), [mail(600)], (), False)
        assert 600 in store.known_uids("a", "Sent")  # a new question, a new answer
