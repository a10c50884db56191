"""The standing reports: whether the last pass's decisions still hold, and which threads to decide again.

A pass with nothing new and no thread at its next moment hands on what the
last pass decided instead of deciding again; after new mail, only the
threads it touched are decided again. Both depend on the same question:
what were the standing reports decided from, and has any of it changed?
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Collection
from datetime import datetime, timedelta

from mail_followup.config import Account
from mail_followup.core.policy import lookback_start
from mail_followup.service.results import AccountResult
from mail_followup.service.window import Changes
from mail_followup.state.store import Store

log = logging.getLogger(__name__)


def hand_on_standing(account: Account, store: Store, result: AccountResult) -> None:
    """Nothing new, and no thread reached its next moment: the last pass's reports stand."""
    log.info("%s: nothing new, and no thread reached its next moment", account.name)
    result.unchanged = True  # scan_account hands on the standing reports
    # ... as decided then, from what the index held then: what left its window since is seen next time.
    result.decided_for, _ = store.last_decision(account.name)
    result.generation = store.decided_generation(account.name)


def fingerprint(account: Account) -> str:
    """What decisions depend on besides the mail and the clock: the settings and this program's version."""
    from mail_followup import __version__

    material = json.dumps([account.settings.model_dump(mode="json"), account.addresses,
                           account.folders.model_dump(mode="json"), __version__], sort_keys=True)
    return hashlib.sha256(material.encode()).hexdigest()[:32]

def unchanged(account: Account, store: Store, now: datetime) -> bool:
    """Whether the last pass's reports still hold at ``now`` for a mailbox that did not change.

    They hold when the last pass went well with the same settings, decided
    for an earlier moment, and no thread has reached its next moment since:
    then nothing can have changed but the clock, and the clock changed
    nothing. Only the reports that wait for a moment are read.
    """
    return standing_since(account, store, now) is not None and \
        not any(_moment_came(state, moment, now) for _, state, moment in store.open_moments(account.name))

def standing_since(account: Account, store: Store, now: datetime) -> datetime | None:
    """The moment the standing reports were decided for, if they may still hold at ``now``: a pass that went
    well decided them with these settings, for an earlier moment. None: every thread is decided again."""
    decided_at, last_fingerprint = store.last_decision(account.name)
    if decided_at is None or last_fingerprint != fingerprint(account) or decided_at > now:
        return None
    return decided_at

def _moment_came(state: str, moment: str | None, now: datetime) -> bool:
    """Whether a standing report's decision may be another at ``now``."""
    if state == "due" or (state in ("waiting", "snoozed") and not moment):
        return True
    # A capped thread has a moment only while its unread message might make it another scenario.
    return bool(moment) and datetime.fromisoformat(str(moment)) <= now

def changes_since(account: Account, store: Store, now: datetime, following: Collection[str]
             ) -> tuple[Changes | None, set[str]]:
    """What the standing reports were decided from, and which of them left the lookback since; None (and
    no keys) when every thread must be decided again (the settings changed, a stop or snooze, a failed pass...).

    After new mail, only the conversations it touched, and those whose moment came or whose draft is to be
    followed, are decided again; on a large mailbox that is a few dozen threads, not a hundred thousand.
    """
    decided_at = standing_since(account, store, now)
    generation = store.decided_generation(account.name)
    if decided_at is None or generation is None:
        return None, set()
    settings = account.settings
    marks = [key for key, state, moment in store.open_moments(account.name) if _moment_came(state, moment, now)]
    expired = store.reports_sent_before(account.name, lookback_start(settings, now))  # not sent_in_lookback
    return Changes(generation, decided_at - timedelta(days=settings.history_days), [*marks, *following],
                   store.report_keys(account.name)), expired
