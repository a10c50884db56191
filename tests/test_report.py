"""The JSON documents around stored reports."""

from __future__ import annotations

import io
import json

from mail_followup.service.report import write_json_document


def json_document(head: dict, threads: list[str]) -> str:
    out = io.StringIO()
    write_json_document(out, head, threads)
    return out.getvalue()


def test_stored_reports_are_spliced_in_whole_and_in_order() -> None:
    reports = [{"message_id": "<a@x>", "subject": 'He said "threads": [] and left', "reasons": ["ø"]},
               {"message_id": "<b@x>", "subject": "", "reasons": []}]
    head = {"now": "2026-12-09T09:30:00+01:00", "threads": [],
            "errors": ['account "threads": [] broke'], "accounts": {"threads": {"ok": True}}}
    text = json_document(head, [json.dumps(r, ensure_ascii=False) for r in reports])
    assert json.loads(text) == {**head, "threads": reports}
    assert text.count("\n  {") == 2  # one thread a line
    assert json.loads(json_document(head, [])) == head
