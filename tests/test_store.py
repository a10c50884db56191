"""The header index: what goes into state.sqlite3 comes back the same."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

from mail_followup.headers import Addr, Mail
from mail_followup.store import FolderCursor, Store

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
        date=datetime(2026, 12, 1, 10, uid % 60, tzinfo=timezone.utc))
    fields.update(more)
    return Mail(**fields)  # type: ignore[arg-type]


def test_every_field_of_every_message_comes_back(tmp_path: Path) -> None:
    mails = [mail(1), mail(2), mail(3, sender=None), mail(4, bcc=(AWKWARD[0],), content_type="multipart/report; "
                                                                   "delivery-status", failed_recipients=("x@y",)),
             mail(5, thread_hint="gm:123", auto_hint=True), mail(6, thread_hint="gm:123"),
             mail(7, auto_reply=True, bulk=True, followup_for="<m1@example.org>", followup_attempt=2)]
    with Store(tmp_path) as store:
        store.apply_sync("a", "Sent", FolderCursor(1, 8, 7, None), mails, (), False)
        back = sorted(store.mails("a", datetime(2026, 1, 1, tzinfo=timezone.utc)), key=lambda m: m.uid)
        assert back == mails
        # The text is JSON as json.dumps writes it: an older or newer version reads it the same.
        for people, extra in store.db.execute("SELECT recipients, extra FROM messages"):
            assert json.dumps(json.loads(people), ensure_ascii=False) == people
            assert json.dumps(json.loads(extra), ensure_ascii=False) == extra
