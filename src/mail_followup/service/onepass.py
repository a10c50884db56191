"""One pass over one account, in three steps: sync what changed, decide, write.

This is the map of a pass; each step is a module of its own:

1. ``sync.sync``: read what changed in the account's folders into the
   state's index (and, when several accounts are scanned together, wait for
   the others to have read theirs). It answers whether anything may have
   changed at all; when nothing did, the last pass's reports stand.
2. ``decide.decide``: build the threads that may have changed, read the few
   bodies their decisions depend on, and let the pure core decide each one.
3. ``write.write``: act on the decisions: follow the drafts written before
   (withdraw those no longer needed), write the due ones, record the reports.
   Then, once a week, the weekly review.

What one step hands the next is a dataclass (``Synced``, ``Decisions``);
what the pass hands back is the ``AccountResult`` it fills in.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from datetime import datetime

from mail_followup.config import Account
from mail_followup.imap.mailbox import Mailbox
from mail_followup.service.decide import decide
from mail_followup.service.results import AccountResult
from mail_followup.service.standing import hand_on_standing
from mail_followup.service.sync import SyncGate, sync
from mail_followup.service.write import write, write_weekly_review
from mail_followup.state.store import Store


def run_pass(account: Account, mailbox: Mailbox, store: Store, now: datetime, dry_run: bool,
             result: AccountResult, cancel: threading.Event | None = None, everyone: Sequence[Account] = (),
             gate: SyncGate | None = None) -> None:
    """Sync, decide, write; ``result`` holds what the pass did. ``everyone``: the accounts of the config."""
    synced = sync(account, mailbox, store, now, dry_run, tuple(everyone) or (account,), gate)
    result.inbound_seen = synced.inbound_seen
    if synced.quiet:
        hand_on_standing(account, store, result)
    else:
        write(decide(account, mailbox, store, now, dry_run, synced, result), result, dry_run, cancel)
    if not dry_run and result.ok and account.settings.digest.enabled:
        write_weekly_review(account, mailbox, store, result, now)
