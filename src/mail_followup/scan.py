"""One pass over one account: sync → threads → decide → compose → write → record.

Plan, then apply: the pure core decides every thread first; then the due
ones are written one by one, the oldest first, each failure recorded without
stopping the rest. Before any APPEND the Drafts folder itself is searched
for the thread's marker, so a lost state or a crash mid-write can never
produce a second draft for the same attempt.
"""

from __future__ import annotations

import contextlib
import functools
import gc
import hashlib
import imaplib
import io
import json
import logging
import socket
import sqlite3
import ssl
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from email.policy import SMTP
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any, TextIO

from imapclient.exceptions import IMAPClientError

from mail_followup import bodies, credentials, inbound
from mail_followup.compose import Quoted, Sender, as_bytes, compose, is_unedited
from mail_followup.config import Account, Config
from mail_followup.digest import HEADER_DIGEST, compose_digest, due_week, marker
from mail_followup.errors import MailFollowupError
from mail_followup.language import choose_language
from mail_followup.templates import Templates, load_templates
from mail_followup.report import write_json_document
from mail_followup.headers import Mail
from mail_followup.mailbox import FolderMap, FoundDraft, Mailbox
from mail_followup.guard import PassStopped, check, watch_store
from mail_followup.passlock import AccountLock, PassRunning
from mail_followup.state_repair import is_damage
from mail_followup.deciding import OUTSTANDING, Calendars, decide_thread, tracking_rules
from mail_followup.policy import Decision, amended, in_lookback, left_for_next_pass, oldest_first, sent_in_lookback
from mail_followup.store import DraftRecord, Store
from mail_followup.classify import Verdict, classify_inbound, classify_sent
from mail_followup.elsewhere import Elsewhere, inbound_floor
from mail_followup.evidence import Needed, account_needs, answers_by_sender, thread_needs
from mail_followup.threads import Thread, build_threads, rebuild
from mail_followup.window import Changes, active_threads

log = logging.getLogger(__name__)

SecretSource = Callable[[Account], str]
Progress = Callable[[str, str, int, int], None]  # (account, folder, headers read, of how many)
RECENT_ANSWERS = timedelta(days=2)  # margin before the last pass: mail arrives with dates a little in the past


@dataclass
class AccountResult:
    account: str
    threads: list[dict[str, Any]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    written: int = 0
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


PARALLEL_ACCOUNTS = 8  # passes at once; each holds one IMAP connection and, briefly, the state's write lock
LOCK_WAIT = 600.0  # seconds a `scan` waits while another pass of an account runs (the service's first sync...)


def scan(
    config: Config,
    now: datetime,
    account: str | None = None,
    dry_run: bool = False,
    secret: SecretSource = credentials.password,
    cancel: threading.Event | None = None,
    progress: Progress | None = None,
    reports: bool = True,
    lock_wait: float = LOCK_WAIT,
) -> ScanResult:
    """Scan every account (or the one named); a failing account never stops the others.

    ``cancel`` set (the service got SIGTERM) ends a pass after the write in flight; ``progress``
    hears how a first sync of a large folder advances. ``reports=False``: an account with nothing
    new hands on only its counts, not its standing reports (the service needs no more).
    ``lock_wait``: how long a pass waits while another pass of its account runs in another process.
    """
    result = _scan(config, now, account, dry_run, secret, cancel, progress, reports, lock_wait)
    if any(a.failure == "damaged" for a in result.accounts):
        # A page of the state was found damaged in the middle of a pass: it is put aside, and the passes run
        # again on a new state, from the mailbox (the drafts written are found in Drafts, never written twice).
        with Store(config.state_dir) as store:
            store.begin_again()
        result = _scan(config, now, account, dry_run, secret, cancel, progress, reports, lock_wait)
    return result


def _scan(config: Config, now: datetime, account: str | None, dry_run: bool, secret: SecretSource,
          cancel: threading.Event | None, progress: Progress | None, reports: bool, lock_wait: float) -> ScanResult:
    accounts = [config.account(account)] if account else list(config.accounts)
    with Store(config.state_dir) as store:  # opened here first: a new state is created and migrated once
        if len(accounts) == 1:
            return ScanResult(now, [scan_account(accounts[0], store, now, dry_run, secret, cancel, progress,
                                                 reports, config.accounts, lock_wait=lock_wait)])
    # An answer may have come to another account: each one reads its folders before any of them decides.
    gate = SyncGate([a.name for a in accounts])

    def one(acct: Account) -> AccountResult:
        with Store(config.state_dir) as own:  # a connection per thread; WAL lets them write in turn
            return scan_account(acct, own, now, dry_run, secret, cancel, progress, reports, config.accounts, gate,
                                lock_wait)

    # Side by side, so that a slow or unreachable server costs its own account its timeout, not the others.
    with ThreadPoolExecutor(max_workers=min(PARALLEL_ACCOUNTS, len(accounts)), thread_name_prefix="pass") as pool:
        return ScanResult(now, list(pool.map(one, accounts)))


class SyncGate:
    """The accounts of one scan read their folders before any of them decides, so that an answer that came
    to another account is in the index when a thread is decided (DOMAIN.md R2; issue 18)."""

    WAIT = 600.0  # seconds an account waits for the others' reading: a stuck server may not hold it longer

    def __init__(self, names: Collection[str]) -> None:
        self._read = {name: threading.Event() for name in names}
        self._failed: set[str] = set()

    def read(self, name: str, failed: bool = False) -> None:
        """``name`` has read its folders, or will not (``failed``): the others need not wait for it."""
        if failed and not self._read[name].is_set():
            self._failed.add(name)
        self._read[name].set()

    @property
    def names(self) -> list[str]:
        return list(self._read)

    def has_read(self, name: str) -> bool:
        return self._read.get(name) is not None and self._read[name].is_set() and name not in self._failed

    def wait_for(self, names: Collection[str], check: Callable[[], None]) -> None:
        """Wait for these accounts to have read their folders (at most ``WAIT`` seconds in all); ``check``
        raises when the pass is asked to stop meanwhile."""
        deadline = time.monotonic() + self.WAIT
        for name in names:
            while name in self._read and not self._read[name].wait(min(0.1, max(0.0, deadline - time.monotonic()))):
                check()
                if time.monotonic() >= deadline:
                    return


def scan_account(account: Account, store: Store, now: datetime, dry_run: bool, secret: SecretSource,
                 cancel: threading.Event | None = None, progress: Progress | None = None,
                 reports: bool = True, everyone: Sequence[Account] = (), gate: SyncGate | None = None,
                 lock_wait: float = 0.0) -> AccountResult:
    """One account's pass; ``everyone`` the accounts of the config (an answer may be in any of them), ``gate``
    what it waits for before deciding when several accounts are scanned together.

    Only one pass of an account runs at a time, in any process (``passlock``): this one waits up to
    ``lock_wait`` seconds for another to end, and otherwise does nothing but say which process runs it.
    """
    result = AccountResult(account.name)
    lock = AccountLock(store.path.parent, account.name)
    try:
        check(cancel, account.name)
        lock.acquire(lock_wait, cancel, lambda text: log.warning("%s", text))
    except (PassRunning, PassStopped) as exc:
        if gate is not None:
            gate.read(account.name, failed=True)
        result.errors.append(str(exc))
        result.failure = exc.kind
        log.warning("%s", exc)
        return _handed_on(result, store, reports, from_state=True)
    with lock:
        watch_store(store.db, cancel)  # a stop request ends the statement in flight
        try:
            _run(account, store, now, dry_run, secret, result, cancel, progress, everyone, gate)
        finally:
            watch_store(store.db, None)
        # A pass stopped on request records nothing: what it wrote stands (each write is whole), and the
        # standing reports stay as they were until a pass that ends decides again.
        stopped = result.failure == "stopped"
        from_state = result.unchanged or stopped  # the reports to hand on are those in the state
        if not dry_run and not stopped:
            from_state = _record(account, store, now, result) or from_state
    return _handed_on(result, store, reports, from_state)


def _run(account: Account, store: Store, now: datetime, dry_run: bool, secret: SecretSource, result: AccountResult,
         cancel: threading.Event | None, progress: Progress | None, everyone: Sequence[Account],
         gate: SyncGate | None) -> None:
    """The pass itself, with every failure it can meet turned into one line of ``result.errors``."""
    try:
        with Mailbox.connect(account, secret, cancel) as mailbox, _without_cycle_collection():
            if progress is not None:
                mailbox.progress = functools.partial(progress, account.name)
            _pass(account, mailbox, store, now, dry_run, result, cancel, tuple(everyone) or (account,), gate)
            if not dry_run and result.ok and account.settings.digest.enabled:
                _weekly_digest(account, mailbox, store, result, now)
    except MailFollowupError as exc:
        result.errors.append(str(exc))
        result.failure = getattr(exc, "kind", "account")
        (log.warning if result.failure == "stopped" else log.error)("%s", exc)
    except (OSError, imaplib.IMAP4.abort, IMAPClientError, sqlite3.Error) as exc:
        if cancel is None or not cancel.is_set():
            _failed(account, store, exc, result)
        else:  # what the stop broke (a statement interrupted, a connection cut) is the stop itself
            stopped = PassStopped(account.name, f"stopped on request ({exc})",
                                  "nothing was half-written; the next pass goes on from here")
            result.errors.append(str(stopped))
            result.failure = stopped.kind
            log.warning("%s", stopped)
    finally:
        if gate is not None:
            gate.read(account.name, failed=True)  # no-op after its reading; else the others wait no more


def _failed(account: Account, store: Store, exc: BaseException, result: AccountResult) -> None:
    """One line of ``result.errors`` for a failure of the network, the server or this machine."""
    if isinstance(exc, (OSError, imaplib.IMAP4.abort)):
        if isinstance(exc, (imaplib.IMAP4.abort, ConnectionError, TimeoutError, socket.gaierror, ssl.SSLError)):
            message = f"account {account.name!r}: the connection to {account.imap.host} broke: {exc}"
            result.failure = "network"
        else:  # a full disk, a missing file: this machine's trouble, not the server's
            message = f"account {account.name!r}: a local error stopped the pass: {exc}"
            result.failure = "local"
    elif isinstance(exc, IMAPClientError):
        message = f"account {account.name!r}: the server {account.imap.host} answered with an error: {exc}"
        result.failure = "server"
    elif is_damage(exc):  # the file itself: scan() puts it aside and reads the mailbox again
        message = f"account {account.name!r}: the state database {store.path} is damaged ({exc})"
        result.failure = "damaged"
    else:  # sqlite3.Error: a full disk, a read-only state directory: this machine's trouble
        message = (f"account {account.name!r}: the state database in {store.path.parent} cannot be written: {exc}; "
                   "nothing was lost (the next pass redoes what this one could not record)")
        result.failure = "local"
    result.errors.append(message)
    log.error("%s", message)


def _record(account: Account, store: Store, now: datetime, result: AccountResult) -> bool:
    """Record the pass and its reports; return whether the reports to hand on are now those in the state."""
    error = "; ".join(result.errors) or None
    keep = result.unchanged or not result.threads and not result.ok  # the last reports still stand
    try:
        store.save_reports(account.name, None if keep else result.threads, result.ok, error,
                           result.decided_for or now,
                           None if result.decide_all_next else fingerprint(account), result.generation,
                           None if keep else result.replaced, result.based_on, result.inbound_seen)
    except sqlite3.Error as exc:
        if result.failure != "local":
            result.errors.append(f"account {account.name!r}: the state database cannot be written: {exc}")
            result.failure = "local"
        log.error("account %s: the decisions of this pass could not be recorded: %s", account.name, exc)
        return False
    if result.replaced is not None and not keep:  # the new reports merged with those that stand
        result.threads = []
        return True
    return False


def _handed_on(result: AccountResult, store: Store, reports: bool, from_state: bool) -> AccountResult:
    """``result`` with its counts, and its reports as the state holds them where they come from there."""
    if from_state:
        result.counts = store.report_counts(result.account)
        if reports:
            result.stored = store.report_texts(result.account)
    else:
        for t in result.threads:
            result.counts[t["state"]] = result.counts.get(t["state"], 0) + 1
    return result


@contextlib.contextmanager
def _without_cycle_collection() -> Iterator[None]:
    """Pause Python's cycle collector during a pass.

    A first pass builds hundreds of thousands of small objects that live
    until its end, and the collector would walk all of them again and again
    (a sixth of a 75,000-message first scan). A pass makes next to no cycles;
    whatever it made is collected once the collector runs again.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def fingerprint(account: Account) -> str:
    """What decisions depend on besides the mail and the clock: the settings and this program's version."""
    from mail_followup import __version__

    material = json.dumps([account.settings.model_dump(mode="json"), account.addresses,
                           account.folders.model_dump(mode="json"), __version__], sort_keys=True)
    return hashlib.sha256(material.encode()).hexdigest()[:32]


def _unchanged(account: Account, store: Store, now: datetime) -> bool:
    """Whether the last pass's reports still hold at ``now`` for a mailbox that did not change.

    They hold when the last pass went well with the same settings, decided
    for an earlier moment, and no thread has reached its next moment since:
    then nothing can have changed but the clock, and the clock changed
    nothing. Only the reports that wait for a moment are read.
    """
    return _standing_since(account, store, now) is not None and \
        not any(_moment_came(state, moment, now) for _, state, moment in store.open_moments(account.name))


def _standing_since(account: Account, store: Store, now: datetime) -> datetime | None:
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


def _changes(account: Account, store: Store, now: datetime, following: Collection[str]
             ) -> tuple[Changes | None, set[str]]:
    """What the standing reports were decided from, and which of them left the lookback since; None (and
    no keys) when every thread must be decided again (the settings changed, a stop or snooze, a failed pass...).

    After new mail, only the conversations it touched, and those whose moment came or whose draft is to be
    followed, are decided again; on a large mailbox that is a few dozen threads, not a hundred thousand.
    """
    decided_at = _standing_since(account, store, now)
    generation = store.decided_generation(account.name)
    if decided_at is None or generation is None:
        return None, set()
    settings = account.settings
    marks = [key for key, state, moment in store.open_moments(account.name) if _moment_came(state, moment, now)]
    standing = store.report_keys(account.name)
    expired = {key for key, last_sent in standing
               if not last_sent or not sent_in_lookback(datetime.fromisoformat(last_sent), settings, now)}
    return Changes(generation, decided_at - timedelta(days=settings.history_days), [*marks, *following],
                   [key for key, _ in standing]), expired


def _weekly_digest(account: Account, mailbox: Mailbox, store: Store, result: AccountResult, now: datetime) -> None:
    """Put this week's review into INBOX, unread, once (R18): INBOX is searched first, so a lost state
    never writes a second one."""
    week = due_week(account.settings, now)
    if week is None or store.digest_written(account.name, week):
        return
    # A pass with nothing new has its reports in the state only, one that decided only what changed some
    # of them: read them now that they are needed.
    reports = result.threads
    if result.unchanged or result.replaced is not None:
        replaced = {str(r["message_id"]) for r in result.threads} | (result.replaced or set())
        reports = sorted([r for r in store.reports(account.name) if r["message_id"] not in replaced] + reports,
                         key=report_order)
    msg = compose_digest(account.name, account.addresses[0], account.settings.sender_name, reports,
                         account.settings, now, week)
    if not mailbox.has_header("INBOX", HEADER_DIGEST, marker(account.name, week)):
        mailbox.append_unread("INBOX", msg.as_bytes(policy=SMTP), now)
        log.info("%s: wrote the weekly review for %s into INBOX", account.name, week)
    store.record_digest(account.name, week, str(msg["Message-ID"]))


def _sync(account: Account, mailbox: Mailbox, store: Store, folders: FolderMap, since: datetime,
          gate: SyncGate | None) -> bool:
    """Read what changed in the scanned folders into the index; return whether anything did. With ``gate``,
    wait then for the other accounts of the scan to have read theirs."""
    changed = False
    for folder in folders.scanned():
        mailbox.check()
        cursor = store.cursor(account.name, folder)
        synced = mailbox.sync(folder, cursor, functools.partial(store.known_uids, account.name, folder), since.date(),
                              functools.partial(store.add_mails, account.name, folder))
        changed |= synced.changed or cursor is None
        if synced.changed or synced.cursor != cursor:
            store.apply_sync(account.name, folder, synced.cursor, synced.new, synced.vanished, synced.reset,
                             synced.flags)
        log.info("%s: %s: %d new, %d gone", account.name, folder, len(synced.new) + synced.written,
                 len(synced.vanished))
        del synced
    if gate is not None:
        gate.read(account.name)
        # An account never read before may hold the answer: wait for it. One read before has its index,
        # and a stuck server costs only its own account its time.
        gate.wait_for([name for name in gate.names if name != account.name and not store.has_read(name)],
                      mailbox.check)
    return changed


def _pass(account: Account, mailbox: Mailbox, store: Store, now: datetime, dry_run: bool, result: AccountResult,
          cancel: threading.Event | None = None, everyone: Sequence[Account] = (), gate: SyncGate | None = None
          ) -> None:
    settings = account.settings
    everyone = tuple(everyone) or (account,)
    folders = mailbox.discover(account.folders)
    log.info("%s: folders %s", account.name, folders.how)
    if folders.drafts_missing and not dry_run:  # a fresh Cyrus or Courier account: the folder is made once
        mailbox.create_drafts(folders.drafts)
    since = now - timedelta(days=settings.history_days)
    floor = inbound_floor(everyone, now)
    for acct in everyone:  # an answer may come to any account: each one's inbound index is kept from here
        inbound.prepare(store, acct.name, acct.addresses, floor)
    changed = _sync(account, mailbox, store, folders, since, gate)
    if not changed and not dry_run:
        # A draft deleted, edited or sent changes the Drafts folder only, which is not scanned: look at it.
        outstanding = [r for records in store.all_drafts(account.name).values() for r in records.values()
                       if r.state in OUTSTANDING]
        changed = any(r.state == "missing" for r in outstanding) or bool(outstanding) and (
            mailbox.folder_status(folders.drafts) != store.drafts_folder_status(account.name))
    elsewhere = Elsewhere(store, account, everyone, [n for n in gate.names if gate.has_read(n)] if gate else ())
    result.inbound_seen = inbound.latest(store.db)
    # Mail indexed since the standing reports, in this account or another, may have put their contacts in
    # touch: those threads are decided again (asked only while the reports may stand at all).
    seen = store.decided_inbound(account.name)
    touched = elsewhere.marks(seen) if not dry_run and _standing_since(account, store, now) else set()
    if not changed and not dry_run and not touched and _unchanged(account, store, now):
        log.info("%s: nothing new, and no thread reached its next moment", account.name)
        result.unchanged = True  # scan_account hands on the standing reports
        # ... as decided then, from what the index held then: what left its window since is seen next time.
        result.decided_for, _ = store.last_decision(account.name)
        result.generation = store.decided_generation(account.name)
        return
    result.generation = store.generation(account.name)  # every row decided from is stamped with it or before

    rules = tracking_rules(settings)
    verdicts = store.verdicts(account.name)
    lookback = now - timedelta(days=settings.lookback_days)
    ledger = store.all_drafts(account.name)
    following = {key for key, records in ledger.items() if any(r.state in OUTSTANDING for r in records.values())}
    # Only the conversations active within lookback_days, and only their messages, are read back; after new
    # mail, only those of them it touched (a dry run, which records nothing, decides them all).
    changes, expired = (None, set()) if dry_run else _changes(account, store, now, following | touched)
    threads, mails, replaced = active_threads(store, account.name, account.addresses, since, lookback, verdicts,
                                              rules, changes)
    # Answers are read for a stop request once they arrive after a pass; on the first pass only the
    # threads about to be written read theirs (below), so a first pass stays cheap on a large mailbox.
    decided_at, _ = store.last_decision(account.name)
    answers_since = max(decided_at - RECENT_ANSWERS, lookback) if decided_at else None
    needed = account_needs(threads, mails, verdicts, answers_since, lookback) + _calendars_unread(
        account, store, verdicts, lookback)
    stops_at_start = len(store.stoplist(account.name))
    if needed:
        learned = _read_bodies(account, mailbox, store, needed)
        verdicts |= learned
        if changes is not None and len(store.stoplist(account.name)) > stops_at_start:
            # Someone asked to stop: their threads in other conversations change too, so this once all are
            # decided again.
            changes, expired = None, set()
            threads, mails, replaced = active_threads(store, account.name, account.addresses, since, lookback,
                                                      verdicts, rules)
        elif any(v.refers_to or v.failed for v in learned.values()):  # a bounce may join conversations: read again
            threads, mails, replaced = active_threads(store, account.name, account.addresses, since, lookback,
                                                      verdicts, rules, changes)
        else:  # only the conversations holding what was read can have changed
            threads = rebuild(threads, learned.keys(), account.addresses, verdicts, rules, active_since=lookback)
    del mails, needed  # from here the threads hold the messages they need, and no others
    if changes is not None:
        log.info("%s: %d of %d threads to decide again", account.name, len(threads), len(changes.standing))
    stoplist = store.stoplist(account.name)
    stops = len(stoplist)
    calendars = Calendars(settings, account.addresses)
    snoozed = store.snoozed(account.name)

    def decision_for(thread: Thread) -> Decision:
        return decide_thread(thread, account, calendars, now, ledger, stoplist, snoozed, elsewhere, verdicts)

    # A settled thread (nothing to write, no draft of it to follow) is reported at once and let go with its
    # messages: a first pass over a large mailbox never holds every thread, decision and report together.
    decided: dict[str, tuple[Thread, Decision]] = {}
    settled: list[dict[str, Any]] = []
    threads.reverse()
    while threads:
        if len(threads) % 1000 == 0:  # a first pass decides 100,000 threads: long enough to be asked to stop
            mailbox.check()
        thread = threads.pop()
        if in_lookback(thread, settings, now):
            decision = decision_for(thread)
            if decision.state == "due" or thread.key in following:
                decided[thread.key] = (thread, decision)
            else:
                settled.append(report(account, thread, decision, None))

    def unless_quoted(keys: Iterable[str]) -> None:
        """Ask the server whether a message quotes the user's in these threads; decide those found again."""
        for key in keys:
            thread = decided[key][0]
            if elsewhere.search_quotes(mailbox, folders.replies, thread, verdicts):
                decided[key] = (thread, decision_for(thread))

    if not dry_run and following and elsewhere.new_here(seen):  # a draft waits, and new mail came
        unless_quoted(k for k in following & decided.keys() if decided[k][1].state == "drafted")
    if not dry_run and following:
        notes = _follow_drafts(account, mailbox, store, folders, decided, ledger, now)
        if notes:  # what happened to the drafts changes those threads' decisions
            ledger = store.all_drafts(account.name)
            for key, lines in notes.items():
                thread = decided[key][0]
                decision = decision_for(thread)
                decided[key] = (thread, replace(decision, reasons=decision.reasons + tuple(lines)))
    queue = oldest_first([(d, t.last_user.date) for t, d in decided.values()])
    # The earlier answers of the people the due-looking threads were written to, and no one else's
    # (a few MB less at a first pass's peak than an index of every answer in the mailbox).
    contacts = {a.address for d in queue for a in decided[d.thread_key][0].original.everyone_written_to}
    replies = answers_by_sender(store.replies_from(account.name, since, contacts), contacts)

    def read_for(batch: list[Decision]) -> list[Decision]:
        """The batch's decisions once the bodies they depend on are read: stage 1 for all, stage 2 for
        those still due (see ``thread_needs``)."""
        nonlocal verdicts, stoplist
        for stage in (1, 2):
            needed = [n for d in batch if d.state == "due"
                      for n in thread_needs(decided[d.thread_key][0], replies, verdicts, account.addresses, stage)]
            if not needed:
                continue
            verdicts |= _read_bodies(account, mailbox, store, needed)
            stoplist = store.stoplist(account.name)
            again = []
            for decision in batch:
                if decision.state != "due":
                    again.append(decision)
                    continue
                thread = decided[decision.thread_key][0]
                rebuilt = {t.key: t for t in build_threads(thread.messages, account.addresses, verdicts, rules)}
                if thread.key in rebuilt:
                    thread = rebuilt[thread.key]
                    decision = decision_for(thread)
                else:  # never write from a picture the bodies just contradicted
                    decision = amended(decision, "waiting", "what the bodies said changed the thread: next pass")
                decided[thread.key] = (thread, decision)
                again.append(decision)
            batch = again
        return batch

    limit, written, size = settings.max_drafts_per_pass, 0, 0
    while queue and written < limit:
        mailbox.check()
        # Read ahead of the places left, more each round: on a first pass most due-looking threads turn out
        # to wait once their own message is read, and a round trip per 25 of them would cost minutes.
        size = min(max(limit - written, size * 4), READ_AHEAD)
        batch, queue = read_for(queue[:size]), queue[size:]
        due = [d for d in batch if d.state == "due"]
        places = limit - written
        queue = due[places:] + queue  # read already; still in order, ahead of the rest
        unless_quoted([d.thread_key for d in due[:places]])  # right before writing
        ready = [decided[d.thread_key] for d in due[:places] if decided[d.thread_key][1].state == "due"]
        before = result.written
        for thread, decision in _write_batch(account, mailbox, store, folders, ready, now, dry_run, result, cancel):
            decided[thread.key] = (thread, decision)
            # A draft found already in Drafts costs nothing; a write, a dry-run "due" or a failure counts.
            written += decision.state == "due"
        written += result.written - before
    for decision in queue:
        decided[decision.thread_key] = (decided[decision.thread_key][0], left_for_next_pass(decision, limit))
    if not dry_run and (result.written or following):  # another pass may have written the same drafts
        for key, lines in _deduplicate(account, mailbox, store, folders).items():
            if key in decided:
                thread, decision = decided[key]
                decided[key] = (thread, replace(decision, reasons=decision.reasons + tuple(lines)))
    ledger = store.all_drafts(account.name)
    for thread, decision in decided.values():
        settled.append(report(account, thread, decision, ledger.get(thread.key, {}).get(decision.next_attempt)))
    settled.sort(key=report_order)
    result.threads = settled  # only now: a pass cut short keeps the last pass's reports (scan_account)
    if changes is not None:
        result.replaced, result.based_on = replaced | expired, changes.generation
    # A stop request read while writing came after the settled threads were decided: the next pass decides
    # them all again, with it.
    result.decide_all_next = len(store.stoplist(account.name)) > stops
    if not dry_run and any(r.state in OUTSTANDING for records in ledger.values() for r in records.values()):
        store.save_drafts_folder_status(account.name, mailbox.folder_status(folders.drafts))


READ_AHEAD = 2000  # at most so many due-looking threads have their bodies read in one round


def _follow_drafts(account: Account, mailbox: Mailbox, store: Store, folders: FolderMap,
                   decided: dict[str, tuple[Thread, Decision]], ledger: dict[str, dict[int, DraftRecord]],
                   now: datetime) -> dict[str, list[str]]:
    """What became of the drafts written earlier, and what follows (issue 5's lifecycle).

    - The thread got an answer, a stop request or a bounce: the draft, if
      nobody edited it (``is_unedited``), is withdrawn (DOMAIN.md R12).
    - The draft is gone and the follow-up was not sent: the user deleted it,
      and it is ``dismissed`` from this pass on (``on_dismiss`` says what that
      means), so no pass reports a draft that is not there or writes it
      again. Should the sent copy arrive later after all (a client files it
      a moment after removing the draft), it counts as the attempt made, and
      the next one waits its turn: the dismissal concerned an attempt that
      the thread has then left behind.
    - A draft a state from before this rule left ``missing`` is dismissed
      when it is still gone, and ``written`` again when it is back.

    Return the notes to add to each thread whose drafts changed.
    """
    found = mailbox.drafts_by_thread(folders.drafts)
    notes: dict[str, list[str]] = {}
    for key, records in ledger.items():
        if key not in decided:
            continue
        thread, decision = decided[key]
        for attempt, record in sorted(records.items()):
            if record.state not in OUTSTANDING or attempt <= thread.followups_sent:
                continue  # sent (it is in the thread now), or settled earlier
            copies = found.get((key, attempt), [])
            if decision.state in ("replied", "stopped", "bounced"):
                notes[key] = notes.get(key, []) + _withdraw(account, mailbox, store, folders, record, copies, now)
            elif not copies:
                store.mark_draft(account.name, key, attempt, "dismissed", now)
                notes.setdefault(key, []).append(
                    f"the draft for follow-up {attempt} is no longer in {folders.drafts} and was not sent: "
                    f"deleted without sending (if you sent it after all, the sent copy counts once it is filed)")
                log.info("%s: %s: the draft for follow-up %d was deleted unsent", account.name, key, attempt)
            elif record.state == "missing":
                store.mark_draft(account.name, key, attempt, "written", now)
                notes.setdefault(key, []).append(f"the draft for follow-up {attempt} is back in {folders.drafts}")
    return notes


def _deduplicate(account: Account, mailbox: Mailbox, store: Store, folders: FolderMap) -> dict[str, list[str]]:
    """Withdraw the extra copies of a draft that two passes wrote at once (issue 19): passes on two states
    (a second laptop, a backup restored) each found no draft and wrote one.

    Of the unedited copies of one attempt the one with the lowest UID stays,
    so that every pass that looks keeps the same one, and the ledger points
    at it; when the user edited a copy, every unedited one goes, and the
    edited ones are never touched. Return the notes for each thread.
    """
    doubled = {k: [c for c in copies if not c.deleted]
               for k, copies in mailbox.drafts_by_thread(folders.drafts).items()}
    doubled = {k: copies for k, copies in doubled.items() if len(copies) > 1}
    if not doubled:
        return {}
    raws = mailbox.fetch_bodies(folders.drafts, sorted(c.uid for copies in doubled.values() for c in copies),
                                limit=None)
    notes: dict[str, list[str]] = {}
    for (key, attempt), copies in sorted(doubled.items()):
        ours = sorted((c for c in copies if c.uid in raws and is_unedited(raws[c.uid])), key=lambda c: c.uid)
        edited = [c for c in copies if c.uid in raws and not is_unedited(raws[c.uid])]
        extras = ours if edited else ours[1:]
        for copy in extras:
            mailbox.withdraw_draft(folders.drafts, copy.uid)
        if ours and not edited:
            store.record_draft(account.name, DraftRecord(key, attempt, ours[0].message_id, folders.drafts,
                                                         ours[0].uid))
        if extras:
            line = (f"found {len(copies)} copies of the draft for follow-up {attempt} in {folders.drafts} (passes "
                    f"that ran at once): withdrew {len(extras)} unedited extra(s)"
                    + (", kept the one you edited" if edited else ""))
            notes.setdefault(key, []).append(line)
            log.warning("%s: %s: %s", account.name, key, line)
    return notes


def _withdraw(account: Account, mailbox: Mailbox, store: Store, folders: FolderMap, record: DraftRecord,
              copies: list[FoundDraft], now: datetime) -> list[str]:
    """Withdraw the unedited draft of a thread that no longer needs it; never touch an edited one."""
    attempt = record.attempt
    if not copies:
        store.mark_draft(account.name, record.thread, attempt, "withdrawn", now)
        return [f"the draft for follow-up {attempt} is no longer needed, and it is gone already"]
    raws = mailbox.fetch_bodies(folders.drafts, [c.uid for c in copies], limit=None)
    notes, edited = [], 0
    for copy in copies:
        raw = raws.get(copy.uid)
        if raw is None:
            continue  # gone meanwhile
        if copy.message_id != record.message_id or not is_unedited(raw):
            edited += 1
            notes.append(f"the draft for follow-up {attempt} (UID {copy.uid}) was edited: it stays for you to decide")
            continue
        gone = mailbox.withdraw_draft(folders.drafts, copy.uid)
        log.info("%s: withdrew the draft for follow-up %d of %s from %s", account.name, attempt, record.thread,
                 folders.drafts)
        notes.append(f"withdrew the unedited draft for follow-up {attempt} from {folders.drafts}"
                     + ("" if gone else " (flagged deleted: the server cannot expunge one message alone)"))
    if not edited:
        store.mark_draft(account.name, record.thread, attempt, "withdrawn", now)
    return notes


def _calendars_unread(account: Account, store: Store, verdicts: Mapping[str, Verdict], since: datetime
                      ) -> list[Needed]:
    """The account's recent messages that may carry a calendar invitation or answer, not read yet: an
    invitation from a calendar service names its organiser only inside (issue 18)."""
    by_folder: dict[str, list[int]] = {}
    for folder, uid, message_id in inbound.unread_calendar(store.db, account.name, since):
        if message_id not in verdicts:
            by_folder.setdefault(folder, []).append(uid)
    return [Needed(mail, False, "is there a calendar invitation or answer inside?")
            for folder, uids in by_folder.items() for mail in store.mails_by_uid(account.name, folder, uids)]


def _read_bodies(account: Account, mailbox: Mailbox, store: Store, needed: list[Needed]) -> dict[str, Verdict]:
    """Fetch and classify the bodies a decision depends on; record the verdicts and any stop request."""
    by_folder: dict[str, list[Needed]] = {}
    for item in needed:
        by_folder.setdefault(item.mail.folder, []).append(item)
    found: dict[str, Verdict] = {}
    for folder, items in by_folder.items():
        bodies = mailbox.fetch_bodies(folder, sorted(i.mail.uid for i in items))
        for item in items:
            raw = bodies.get(item.mail.uid)
            if raw is None:
                continue  # expunged meanwhile: the next pass decides without it
            verdict = classify_sent(raw) if item.own else classify_inbound(item.mail, raw)
            found[item.mail.message_id] = verdict
            log.info("%s: %s UID %d: %s (%s)", account.name, folder, item.mail.uid, verdict.kind, verdict.reason)
            if verdict.kind == "stop" and item.mail.sender is not None:
                store.add_to_stoplist(account.name, item.mail.sender.address,
                                      f"asked to stop on {item.mail.date.date().isoformat()} ({verdict.reason})",
                                      item.mail.message_id)
    store.save_verdicts(account.name, found)
    if any(v.calendar_method for v in found.values()):  # news for the other accounts' standing reports too
        with store.transaction() as db:
            inbound.restamp(db, account.name, [m for m, v in found.items() if v.calendar_method])
    return found


def _write_batch(
    account: Account, mailbox: Mailbox, store: Store, folders: FolderMap, ready: list[tuple[Thread, Decision]],
    now: datetime, dry_run: bool, result: AccountResult, cancel: threading.Event | None = None,
) -> list[tuple[Thread, Decision]]:
    """Write the drafts of due threads; return each thread's decision as it stands afterwards.

    The Drafts folder itself is searched for this product's marker right
    before the APPENDs, so a lost state or a crash mid-write never gives a
    thread a second draft for one attempt (isync's way after a crash).
    """
    if not ready:
        return []
    try:
        # (A dry run does not create a missing Drafts folder: there is nothing in it to find.)
        existing = {} if folders.drafts_missing and dry_run else mailbox.drafts_by_thread(folders.drafts)
        missing = [t for t, d in ready if (t.key, d.next_attempt) not in existing]
        quoted = _quoted_bodies(mailbox, missing) if not dry_run else {}
    except IMAPClientError as exc:
        if isinstance(exc, imaplib.IMAP4.abort):
            raise
        message = f"account {account.name!r}: cannot prepare the drafts: {exc}"
        result.errors.append(message)
        log.error("%s", message)
        return [(t, amended(d, "due", "writing the draft failed; the next pass tries again")) for t, d in ready]
    templates = load_templates(account.settings.templates_dir)  # read and checked once per batch, not per draft
    done = []
    full: OverQuota | None = None
    for thread, decision in ready:
        if cancel is not None and cancel.is_set():  # the service is stopping: the write in flight was the last
            done.append((thread, amended(decision, "due", "the service stopped before writing it; the next pass does")))
            continue
        if full is None:
            try:
                done.append((thread, _write(account, mailbox, store, folders, thread, decision, now, dry_run, result,
                                            next(iter(existing.get((thread.key, decision.next_attempt), [])), None),
                                            quoted, templates)))
                continue
            except OverQuota as exc:
                full = exc
        done.append((thread, amended(decision, "due", "the mailbox is over its quota on the server; "
                                                      "the next pass tries again")))
    if full is not None:
        # One message for the whole batch: the cause is the account's, not any one thread's.
        waiting = sum(1 for _t, d in done if d.state == "due")
        message = (f"account {account.name!r}: the server refused the draft because the mailbox is over its "
                   f"quota ({full}); {waiting} draft(s) wait. Free some space (empty Trash, delete large "
                   f"mail): the next pass writes them.")
        result.errors.append(message)
        log.error("%s", message)
    return done


class OverQuota(Exception):
    """The server refused an APPEND for the mailbox's quota (RFC 5530 [OVERQUOTA]).

    Every other draft of the batch would be refused too, so the batch stops
    at the first one and the user gets one message instead of one per thread.
    """


def _over_quota(exc: IMAPClientError) -> bool:
    return "quota" in str(exc).lower()  # RFC 5530's [OVERQUOTA], and servers that only say it in words


def _quoted_bodies(mailbox: Mailbox, threads: list[Thread]) -> dict[tuple[str, int], Quoted]:
    """The text (and HTML) of every message the drafts quote, fetched one command per folder."""
    wanted: dict[str, set[int]] = {}
    for thread in threads:
        for mail in (thread.last_user, thread.original):
            wanted.setdefault(mail.folder, set()).add(mail.uid)
    found = {}
    for folder, uids in wanted.items():
        for uid, raw in mailbox.fetch_bodies(folder, sorted(uids), limit=None).items():
            found[(folder, uid)] = Quoted(*bodies.read_body(raw, f"{mailbox.account}: {folder} UID {uid}"))
    return found


def _write(
    account: Account, mailbox: Mailbox, store: Store, folders: FolderMap, thread: Thread, decision: Decision,
    now: datetime, dry_run: bool, result: AccountResult, existing: FoundDraft | None,
    quoted: dict[tuple[str, int], Quoted], templates: Templates,
) -> Decision:
    """Carry out one due decision; return the decision as it stands afterwards."""
    attempt = decision.next_attempt
    try:
        if existing is not None:
            if not dry_run:
                store.record_draft(account.name, DraftRecord(thread.key, attempt, existing.message_id,
                                                             folders.drafts, existing.uid))
            return amended(decision, "drafted", f"the draft for follow-up {attempt} is already in {folders.drafts}")
        if dry_run:
            return amended(decision, "due", "dry run: nothing written")
        msg = compose(
            thread, decision, account.addresses, now.astimezone(account.settings.tz),
            latest=_text_of(quoted, thread.last_user),
            original=(_text_of(quoted, thread.original)
                      if thread.original.message_id != thread.last_user.message_id else None),
            sender=Sender(account.settings.sender_name, account.settings.signature),
            language=choose_language(thread.language, account.settings.language),
            templates=templates,
        )
        uid = mailbox.append_draft(folders.drafts, as_bytes(msg), now)
        store.record_draft(account.name, DraftRecord(thread.key, attempt, str(msg["Message-ID"]), folders.drafts, uid))
        result.written += 1
        log.info("%s: wrote follow-up %d for %s into %s", account.name, attempt, thread.key, folders.drafts)
        return amended(decision, "drafted", f"wrote the draft for follow-up {attempt} into {folders.drafts}")
    except (MailFollowupError, ValueError) as exc:
        message = f"account {account.name!r}: thread {thread.key}: cannot write the draft: {exc}"
    except IMAPClientError as exc:  # a refusal of one draft must not stop the others
        if isinstance(exc, imaplib.IMAP4.abort):
            raise  # the connection is gone: the account's pass ends here
        if _over_quota(exc):
            raise OverQuota(str(exc).removeprefix("append failed: ")) from None
        message = f"account {account.name!r}: thread {thread.key}: the server refused the draft: {exc}"
    result.errors.append(message)
    log.error("%s", message)
    return amended(decision, "due", "writing the draft failed; the next pass tries again")


def _text_of(quoted: dict[tuple[str, int], Quoted], mail: Mail) -> Quoted:
    text = quoted.get((mail.folder, mail.uid))
    if text is None:
        raise ValueError(f"message UID {mail.uid} in {mail.folder!r} vanished before it could be quoted")
    return text


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

