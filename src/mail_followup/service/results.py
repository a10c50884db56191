"""What a pass hands back: one account's result, a scan's, and each thread's report in the JSON contract.

The command line prints these, the service records them; both read them
here, beside the one function that turns a thread and its decision into
the report of DESIGN.md.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TextIO

from mail_followup.config import Account
from mail_followup.core.language import choose_language
from mail_followup.core.policy import Decision
from mail_followup.core.threads import Thread
from mail_followup.service.report import write_json_document
from mail_followup.state.ledger import DraftRecord


@dataclass
class AccountResult:
    account: str
    threads: list[dict[str, Any]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    written: int = 0
    drafted_for: list[str] = field(default_factory=list)  # whom the drafts written went to (for the desktop)
    unchanged: bool = False  # nothing new: the last pass's decisions stand
    failure: str | None = None  # what kind of failure ended the pass: network, auth, server, local, account...
    stored: list[str] = field(default_factory=list)  # unchanged: the standing reports, as stored JSON, if asked for
    counts: dict[str, int] = field(default_factory=dict)  # threads by state
    generation: int | None = None  # the index generation the reports were decided from
    decided_for: datetime | None = None  # unchanged: the moment the standing reports were decided for
    # A pass that decided only what changed: the keys of the standing reports its own take the place of
    # (the rest stand), and the generation those were decided from.
    replaced: set[str] | None = None
    based_on: int | None = None
    decide_all_next: bool = False  # something this pass learned changes threads it did not decide again
    inbound_seen: int | None = None  # the latest write of the inbound index the reports were decided with

    @property
    def ok(self) -> bool:
        return not self.errors

    def reports(self) -> list[dict[str, Any]]:
        """The thread reports, decoded; those of a pass with nothing new come from the state as stored."""
        return self.threads or [json.loads(text) for text in self.stored]

    def report_texts(self) -> Iterator[str]:
        """The reports as JSON texts: as stored, else encoded one at a time (never all at once)."""
        if self.stored:
            yield from self.stored
        else:
            for t in self.threads:
                yield json.dumps(t, ensure_ascii=False)

@dataclass
class ScanResult:
    now: datetime
    accounts: list[AccountResult]

    @property
    def ok(self) -> bool:
        return all(a.ok for a in self.accounts)

    def as_json(self) -> dict[str, Any]:
        return {
            "now": self.now.isoformat(timespec="seconds"),
            "threads": [t for a in self.accounts for t in a.reports()],
            "errors": [e for a in self.accounts for e in a.errors],
        }

    def json_text(self) -> str:
        out = io.StringIO()
        self.write_json(out)
        return out.getvalue()

    def write_json(self, out: TextIO) -> None:
        """``as_json()`` as text, one thread per line; the reports of an unchanged account go out as they were
        stored, so a quiet pass over a large mailbox neither decodes nor encodes them again."""
        write_json_document(out, {"now": self.now.isoformat(timespec="seconds"), "threads": [],
                                  "errors": [e for a in self.accounts for e in a.errors]},
                            (text for a in self.accounts for text in a.report_texts()))

def report_order(report: dict[str, Any]) -> tuple[str, str]:
    """Reports in the order the user wrote: by their last message, then by key."""
    return str(report["last_sent"]), str(report["message_id"])

def report(account: Account, thread: Thread, decision: Decision, draft: DraftRecord | None) -> dict[str, Any]:
    """One thread in the JSON contract of DESIGN.md (``scan --json`` and ``status --json``)."""
    tz = account.settings.tz
    return {
        "account": account.name,
        "message_id": thread.key,
        "subject": thread.subject,
        "to": [a.address for a in thread.original.recipients if a.address not in account.addresses],
        "policy": decision.scenario,
        "language": choose_language(thread.language, account.settings.language),
        "state": decision.state,
        "followups_sent": thread.followups_sent,
        "next_attempt": decision.next_attempt,
        "not_before": decision.not_before.astimezone(tz).isoformat(timespec="seconds") if decision.not_before else None,
        "draft_message_id": draft.message_id if draft and decision.state == "drafted" else None,
        "last_sent": thread.last_user.date.astimezone(tz).isoformat(timespec="seconds"),
        "reasons": list(decision.reasons),
        # Which message outside the thread ended the wait, where one did (an extension of the contract).
        **({"in_touch": decision.touch.as_report(tz)} if decision.touch is not None else {}),
    }
