"""Scanning the accounts of a config (or one of them), side by side, each in a pass of its own.

A failing account never stops the others: every failure a pass can meet
becomes one line of its result. Only one pass of an account runs at a time,
in any process (``passlock``). The pass itself is ``onepass.run_pass``:
sync what changed, decide, write.
"""

from __future__ import annotations

import contextlib
import functools
import gc
import imaplib
import logging
import socket
import sqlite3
import ssl
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime

from imapclient.exceptions import IMAPClientError

from mail_followup.config import Account, Config
from mail_followup.errors import MailFollowupError
from mail_followup.imap import credentials
from mail_followup.imap.guard import PassStopped, check, watch_store
from mail_followup.imap.mailbox import Mailbox
from mail_followup.service.onepass import run_pass
from mail_followup.service.results import AccountResult, ScanResult
from mail_followup.service.standing import fingerprint
from mail_followup.service.sync import SyncGate
from mail_followup.state.passlock import AccountLock, PassRunning
from mail_followup.state.repair import is_damage
from mail_followup.state.store import Store

log = logging.getLogger(__name__)

SecretSource = Callable[[Account], str]
Progress = Callable[[str, str, int, int], None]  # (account, folder, headers read, of how many)
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
    if not dry_run and not any(a.failure == "damaged" for a in result.accounts):
        _tend(config, cancel)
    if any(a.failure == "damaged" for a in result.accounts):
        # A page of the state was found damaged in the middle of a pass: it is put aside, and the passes run
        # again on a new state, from the mailbox (the drafts written are found in Drafts, never written twice).
        with Store(config.state_dir) as store:
            store.begin_again()
        result = _scan(config, now, account, dry_run, secret, cancel, progress, reports, lock_wait)
    return result


def _tend(config: Config, cancel: threading.Event | None) -> None:
    """The state's weekly VACUUM and daily ANALYZE, after the passes (upkeep.py); a failure costs only itself."""
    try:
        with Store(config.state_dir) as store:
            watch_store(store.db, cancel)
            store.tend()
    except sqlite3.Error as exc:  # busy (a `status` reading), interrupted by a stop: the next pass tries again
        log.warning("state upkeep not done: %s", exc)


def _scan(config: Config, now: datetime, account: str | None, dry_run: bool, secret: SecretSource,
          cancel: threading.Event | None, progress: Progress | None, reports: bool, lock_wait: float) -> ScanResult:
    accounts = [config.account(account)] if account else list(config.accounts)
    with Store(config.state_dir) as store:  # opened here first: a new state is created and migrated once
        if len(accounts) == 1:
            return ScanResult(now, [scan_account(accounts[0], store, now, dry_run, secret, cancel, progress,
                                                 reports, config.accounts, lock_wait=lock_wait)])
        # Each account waits for those never read to have read their folders (SyncGate): while any is
        # unread, all run at once, or the first eight would wait out the gate for those queued behind them.
        unread = any(not store.has_read(a.name) for a in accounts)
    # An answer may have come to another account: each one reads its folders before any of them decides.
    gate = SyncGate([a.name for a in accounts])

    def one(acct: Account) -> AccountResult:
        with Store(config.state_dir) as own:  # a connection per thread; WAL lets them write in turn
            return scan_account(acct, own, now, dry_run, secret, cancel, progress, reports, config.accounts, gate,
                                lock_wait)

    # Side by side, so that a slow or unreachable server costs its own account its timeout, not the others.
    workers = len(accounts) if unread else min(PARALLEL_ACCOUNTS, len(accounts))
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="pass") as pool:
        return ScanResult(now, list(pool.map(one, accounts)))


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
            run_pass(account, mailbox, store, now, dry_run, result, cancel, everyone, gate)
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
