"""What the user says about one thread, and why it is where it is: explain, stop, snooze, resume.

Each works on the local state alone (``status`` and ``explain`` never need
the network); ``stop``, ``snooze`` and ``resume`` make the next pass decide
every thread again.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, datetime, timedelta
from typing import TypeAlias

from mail_followup.config import Account, Config
from mail_followup.core.classify import Verdict
from mail_followup.core.policy import Decision, amended, held_by, in_lookback
from mail_followup.core.threads import Thread
from mail_followup.service.deciding import Calendars, decide_thread, tracking_rules
from mail_followup.service.elsewhere import Elsewhere, inbound_floor
from mail_followup.service.window import conversation_threads
from mail_followup.state import inbound
from mail_followup.state.store import Store

Found: TypeAlias = tuple[Account, Thread, Decision]  # a thread, its account, and its decision now


def explain(config: Config, message_id: str, now: datetime) -> Found | None:
    """Decide again, from the local state alone, the thread that holds ``message_id`` (any of its messages).

    Uses what the last passes learned (headers, verdicts, stop list, drafts
    ledger); reads no mailbox. None when no account's index has the message.
    """
    wanted = message_id if message_id.startswith("<") else f"<{message_id}>"
    found = holding(config, [wanted], now, first=True)
    return found[0][1] if found else None


def holding(config: Config, message_ids: Sequence[str], now: datetime, first: bool = False) -> list[tuple[str, Found]]:
    """The threads of the local state that hold any of ``message_ids`` (their first message, or any
    other), each decided again as ``explain`` does: (the Message-ID, its thread), for every account that
    holds it, by account and then in the order of ``message_ids``.

    The conversations holding them are read in one go per account. With ``first``, the accounts after
    the first that holds one are not read.
    """
    found: list[tuple[str, Found]] = []
    with Store(config.state_dir) as store:
        for account in config.accounts:  # the inbound index as of ``now``, from the local header index alone
            inbound.prepare(store, account.name, account.addresses, inbound_floor(config.accounts, now))
        for account in config.accounts:
            settings = account.settings
            verdicts = store.verdicts(account.name)
            threads = conversation_threads(store, account.name, account.addresses,
                                           now - timedelta(days=settings.history_days), message_ids,
                                           verdicts, tracking_rules(settings))
            by_id = {m.message_id: thread for thread in threads for m in thread.messages}
            decided: dict[str, Decision] = {}
            for wanted in message_ids:
                thread = by_id.get(wanted)
                if thread is None:
                    continue
                if thread.key not in decided:
                    decided[thread.key] = _decided(config, store, account, thread, verdicts, now)
                found.append((wanted, (account, thread, decided[thread.key])))
            if found and first:
                break
    return found


def _decided(config: Config, store: Store, account: Account, thread: Thread, verdicts: Mapping[str, Verdict],
             now: datetime) -> Decision:
    settings = account.settings
    decision = decide_thread(thread, account, Calendars(settings, account.addresses), now,
                             store.all_drafts(account.name), store.stoplist(account.name),
                             store.snoozed(account.name), Elsewhere(store, account, config.accounts), verdicts)
    if not in_lookback(thread, settings, now):
        decision = amended(decision, "ignored", f"your last message is older than lookback_days "
                           f"({settings.lookback_days}): it is not followed up")
    return decision


def stop(config: Config, target: str, now: datetime) -> list[str]:
    """Never follow up in the thread holding a Message-ID, or with an address; return what was stopped.

    A Message-ID (with or without angle brackets) that the local index
    holds names its thread, in the account that holds it; anything else
    with an @ is an address, stopped in every account. The next pass
    decides every thread again.
    """
    reason = _stop_reason(now)
    found = explain(config, target.strip(), now)
    if found is not None:
        return [stop_thread(config, found, now)]
    with Store(config.state_dir) as store:
        address = target.strip().lower()
        if address.startswith("<") or "@" not in address or any(c.isspace() for c in address):
            return []
        for account in config.accounts:
            store.add_to_stoplist(account.name, address, reason, None)
            store.forget_decisions(account.name)
        return [f"account {account.name}: never follow up with {address}" for account in config.accounts]


def stop_thread(config: Config, found: Found, now: datetime) -> str:
    """Never follow up in the thread ``found`` (from ``explain``); say so."""
    account, thread, _ = found
    with Store(config.state_dir) as store:
        store.add_to_stoplist(account.name, thread.key, _stop_reason(now), thread.key)
        store.forget_decisions(account.name)
    return f"account {account.name}: never follow up in the thread {thread.key} (\"{thread.subject}\")"


def _stop_reason(now: datetime) -> str:
    return f"you said stop on {now.date().isoformat()} (mail-followup stop)"


def snooze(config: Config, message_id: str, until: date, now: datetime) -> str | None:
    """No follow-up in the thread holding ``message_id`` before ``until``; None when no thread holds it."""
    found = explain(config, message_id.strip(), now)
    return None if found is None else snooze_thread(config, found, until, now)


def snooze_thread(config: Config, found: Found, until: date, now: datetime) -> str:
    """No follow-up in the thread ``found`` (from ``explain``) before ``until``; say so."""
    account, thread, _ = found
    with Store(config.state_dir) as store:
        store.snooze(account.name, thread.key, until, [m.message_id for m in thread.messages])  # keywords' too
        store.forget_decisions(account.name)
    if until <= now.astimezone(account.settings.tz).date():
        return f"account {account.name}: {thread.key} (\"{thread.subject}\") is no longer snoozed"
    return (f"account {account.name}: no follow-up in {thread.key} (\"{thread.subject}\") "
            f"before {until.isoformat()}")


def resume(config: Config, message_id: str, now: datetime) -> list[str] | None:
    """Let the thread holding ``message_id`` go on with its follow-ups; None when no thread holds it.

    What it sets aside: mail outside the thread up to ``now`` that counted
    as an answer (issue 18), your own ``stop`` of the thread, and a draft of
    it you deleted. What it cannot: an answer in the thread itself (write
    to them again to start a new round), their request to stop, a bounce.
    Return what it did and what still holds, a line each.
    """
    found = explain(config, message_id.strip(), now)
    return None if found is None else resume_thread(config, found, now)


def resume_thread(config: Config, found: Found, now: datetime) -> list[str]:
    """``resume`` for the thread ``found`` (from ``explain``)."""
    account, thread, decision = found
    with Store(config.state_dir) as store:
        stoplist = store.stoplist(account.name)
        store.resume_thread(account.name, thread.key, now)
        kept = held_by(thread, store.stoplist(account.name))  # a keyword on a message: only taking it off lifts it
    lines = [f"account {account.name}: {thread.key} (\"{thread.subject}\") goes on: mail outside the thread up "
             f"to now no longer counts as an answer; the next pass decides it again"]
    if decision.touch is not None:
        lines.append(f"  set aside: {decision.touch.message.sender} on "
                     f"{decision.touch.message.date.astimezone(account.settings.tz):%Y-%m-%d}, "
                     f"\u201c{decision.touch.message.subject}\u201d")
    if thread.answer is not None and thread.stop is None:
        who = thread.answer.sender.formatted() if thread.answer.sender else "someone"
        lines.append(f"  still answered in the thread itself by {who}: write to them again to start a new round")
    if thread.stop is not None:
        lines.append("  they asked not to be followed up: that still holds")
    lines += [f"  {a.address} is on the stop list ({stoplist[a.address]}): that still holds"
              for a in thread.original.everyone_written_to if a.address in stoplist]
    lines += [f"  {why}: that still holds" for why in kept]
    if decision.state == "bounced":
        lines.append("  the mail bounced: that still holds")
    return lines
