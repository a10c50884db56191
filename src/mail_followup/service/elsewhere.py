"""Answers outside their thread, for one pass: the inbound index asked, the rule of ``intouch`` applied.

A pass asks for each thread that would wait or be written which message,
if any, ended its wait elsewhere (``first``); after new mail it asks which
standing reports the mail may have put in touch (``marks``), in this
account or any other of the config; and before a draft is written it asks
the server whether a message quotes the user's (``search_quotes``). An
account of the config that no pass has read yet may hold the answer: while
there is one, no draft is written (``unread_accounts``).
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Mapping, Sequence
from dataclasses import replace
from datetime import datetime, timedelta

from mail_followup.config import Account
from mail_followup.core.classify import Verdict
from mail_followup.core.intouch import ContactSide, Inbound, Touch, first_touch, touched_reports
from mail_followup.core.threads import Thread
from mail_followup.imap.mailbox import Mailbox
from mail_followup.state import inbound
from mail_followup.state.store import Store

log = logging.getLogger(__name__)


def inbound_floor(everyone: Sequence[Account], now: datetime) -> datetime:
    """The start the inbound index is kept from: the longest lookback of the config, and a margin."""
    return now - timedelta(days=max(a.settings.lookback_days for a in everyone)) - inbound.MARGIN


class Elsewhere:
    """What the inbound index says of one account's threads during one pass."""

    def __init__(self, store: Store, account: Account, everyone: Sequence[Account],
                 read_now: Collection[str] = ()) -> None:
        """``read_now``: the accounts whose folders this scan has just read (their first pass is under way)."""
        self.store = store
        self.account = account
        self.rules = account.settings.in_touch
        others = [a for a in everyone if a.name != account.name] if self.rules.other_accounts else []
        self.names = [account.name, *(a.name for a in others)]
        self.own = frozenset(address for a in (account, *others) for address in a.addresses)
        self.aliases = account.settings.aliases()
        self.resumed = inbound.resumed(store.db, account.name)
        self.quoting = inbound.quoting(store.db, account.name)
        self.unread_accounts = [a.name for a in others if a.name not in read_now and not store.has_read(a.name)]
        self._their_verdicts: dict[str, dict[str, Verdict]] = {}

    def side(self, thread: Thread) -> ContactSide:
        return ContactSide.of(thread, self.own, self.aliases)

    def first(self, thread: Thread, verdicts: Mapping[str, Verdict]) -> Touch | None:
        """The message that ended the wait of ``thread`` outside it, if one did (``intouch.first_touch``)."""
        side = self.side(thread)
        resumed = self.resumed.get(thread.key)
        after = max(thread.last_user.date, resumed) if resumed else thread.last_user.date
        quoting = self.quoting.get(thread.key, set())
        found = inbound.candidates(self.store.db, self.names, after, side, quoting)
        if not found:
            return None
        touch = first_touch(thread, side, found, self._verdicts(found, verdicts), self.rules, self.account.name,
                            self.own, quoting, resumed)
        if touch is None:
            return None
        # The index keeps no names and subjects: the one message a report names is read from the header index.
        message = touch.message
        mail = self.store.mail_named(message.account, message.folder, message.uid, message.message_id)
        if mail is not None and mail.sender is not None:
            message = replace(message, name=mail.sender.name, subject=mail.subject)
        return replace(touch, message=message)

    def _verdicts(self, found: Sequence[Inbound], verdicts: Mapping[str, Verdict]) -> Mapping[str, Verdict]:
        """The verdicts of the candidates: this pass's own for its account, the state's for the others."""
        theirs = [m for m in found if m.account != self.account.name]
        if not theirs:
            return verdicts
        merged = dict((m.message_id, verdicts[m.message_id]) for m in found if m.message_id in verdicts)
        for message in theirs:
            known = self._their_verdicts.setdefault(message.account, {})
            if message.message_id not in known:
                known.update(self.store.verdicts_of(message.account, [message.message_id]))
            if message.message_id in known:
                merged[message.message_id] = known[message.message_id]
        return merged

    def marks(self, seen: int) -> set[str]:
        """The keys of the standing reports that mail indexed since ``seen`` may have put in touch."""
        arrivals = inbound.arrivals(self.store.db, self.names, seen)
        if not arrivals:
            return set()
        reports = inbound.open_reports(self.store.db, self.account.name)
        calendars: dict[str, list[str]] = {}
        for message in arrivals:
            if message.calendar:
                calendars.setdefault(message.account, []).append(message.message_id)
        verdicts: dict[str, Verdict] = {}
        for name, ids in calendars.items():
            verdicts.update(self.store.verdicts_of(name, ids))
        return touched_reports(reports, arrivals, verdicts, self.own, self.aliases)

    def new_here(self, seen: int) -> bool:
        """Whether mail from someone else reached this account's index since ``seen``."""
        return bool(inbound.arrivals(self.store.db, [self.account.name], seen))

    def hold(self) -> str | None:
        """Why no draft may be written yet, if an account of the config was never read."""
        if not self.unread_accounts:
            return None
        names = ", ".join(self.unread_accounts)
        return (f"your account(s) {names} have not been read yet, and an answer may be there: no draft before "
                f"a pass has read them (or set in_touch.other_accounts: false)")

    def search_quotes(self, mailbox: Mailbox, folders: Sequence[str], thread: Thread,
                      verdicts: Mapping[str, Verdict]) -> list[str]:
        """Ask the server for messages from someone else, since the user's last message in ``thread``, that
        quote the user's message (the runs of its words ``classify.quotable_runs`` chose); remember those
        found, so that ``first`` and ``explain`` see them without asking again. Return their Message-IDs."""
        own = verdicts.get(thread.original.message_id)
        if not self.rules.quotes or own is None or not own.quotable:
            return []
        inside = {m.message_id for m in thread.messages}
        found: list[str] = []
        for folder in folders:
            # Only what people wrote since: usually nothing, and then the server is not asked at all.
            written = inbound.written_in(self.store.db, self.account.name, folder, thread.last_user.date)
            uids = mailbox.search_text(folder, own.quotable, written)
            found += [m.message_id for m in self.store.mails_by_uid(self.account.name, folder, uids)
                      if m.sender is not None and m.sender.address not in self.own
                      and m.date > thread.last_user.date and m.message_id not in inside]
        if found:
            log.info("%s: %s: quoted by %s", self.account.name, thread.key, ", ".join(found))
            with self.store.transaction() as db:
                inbound.record_quotes(db, self.account.name, thread.key, found)
            self.quoting.setdefault(thread.key, set()).update(found)
        return found
