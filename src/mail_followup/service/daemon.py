"""The service: one APScheduler interval job per account, until SIGTERM.

Built for a laptop that sleeps and loses its network. Each job is one pass
of its account with the real clock; it never overlaps itself and runs
missed during a suspend collapse into one. A network failure brings the
next try closer and then backs off (1, 2, 4 ... minutes, at most the
interval); a refused login pauses the account instead, because retrying
a wrong password ends in a lockout. SIGTERM ends the pass in flight at its
next clean place (a connection it waits on is cut), and after STOP_GRACE
the pass is ended outright, so the service stops within two seconds;
SIGHUP reloads the config and keeps the old one when the new one is broken.
Under systemd it reports READY, a STATUS line and, when the unit asks for
it, WATCHDOG pings (sd_notify, ten lines of code).

Each pass runs in a process of its own. What a pass loads (language
models, holiday tables, date parsers, the mail it read: about 50 MB) is
given back when it ends, so the service waits between passes at the size
of its scheduler, and a pass that crashes or leaks takes nothing with it.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import socket
import threading
import time
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any

from mail_followup.config import Account, Config, load_config
from mail_followup.errors import ConfigError

if TYPE_CHECKING:
    from mail_followup.service.watch import Watcher

log = logging.getLogger(__name__)

MAX_BACKOFF = timedelta(minutes=60)
STOP_GRACE = 1.5  # seconds the passes in flight get to end cleanly after SIGTERM, before they are ended


def notify(message: str) -> bool:
    """Tell systemd (Type=notify) something; a no-op outside systemd. Return whether it was sent."""
    address = os.environ.get("NOTIFY_SOCKET")
    if not address:
        return False
    if address.startswith("@"):  # an abstract socket
        address = "\0" + address[1:]
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
            sock.connect(address)
            sock.sendall(message.encode())
        return True
    except OSError as exc:
        log.debug("cannot notify systemd: %s", exc)
        return False


@dataclass
class AccountState:
    failures: int = 0  # network failures in a row
    summary: str = "starting"
    failing_since: datetime | None = None  # the first pass of a failure that lasts (login, network, server)
    failure_told: bool = False  # the desktop heard of that failure (once per failure: service/desktop.py)


@dataclass
class Service:
    config_path: Path
    config: Config
    stop: threading.Event = field(default_factory=threading.Event)
    wake: threading.Event = field(default_factory=threading.Event)
    reload_requested: bool = False
    states: dict[str, AccountState] = field(default_factory=dict)
    scheduler: Any = None
    lock: threading.RLock = field(default_factory=threading.RLock)  # taken again by _schedule under reload
    passes: dict[str, Any] = field(default_factory=dict)  # account -> the stop Event of its pass in flight
    children: dict[str, Any] = field(default_factory=dict)  # account -> the process of its pass in flight
    watchers: dict[str, Watcher] = field(default_factory=dict)  # account -> its IDLE connection
    running: set[str] = field(default_factory=set)  # accounts whose pass job runs now
    again: set[str] = field(default_factory=set)  # accounts with news during their pass: one more pass after

    def start(self) -> None:
        from apscheduler.schedulers.background import BackgroundScheduler

        self.scheduler = BackgroundScheduler(
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None})
        self._schedule()
        self.scheduler.start()

    def _schedule(self) -> None:
        from mail_followup.state.store import Store

        with Store(self.config.state_dir) as store:
            store.resume()  # a start or a reload is worth one new login attempt per account
        for job in self.scheduler.get_jobs():
            job.remove()
        for account in self.config.accounts:
            minutes = account.settings.scan_interval_minutes
            self.scheduler.add_job(
                self.run_pass, "interval", args=(account.name,), id=account.name, name=f"scan {account.name}",
                minutes=minutes, jitter=min(60, minutes * 6), next_run_time=datetime.now().astimezone(),
            )
            self.states.setdefault(account.name, AccountState())
            log.info("account %s: a pass every %d minute(s)", account.name, minutes)
        for name in set(self.states) - {a.name for a in self.config.accounts}:
            del self.states[name]
        with self.lock:
            self.again |= self.running  # a pass in flight read the old config: the new one's comes after

    def _stop_watching(self) -> None:
        for watcher in self.watchers.values():
            watcher.stop()
        self.watchers = {}

    def _keep_watching(self, account: Account) -> None:
        """After a pass that signed in: watch the account with IDLE, unless a watch runs or its server has no
        IDLE. Started here, not at start, so a refused login is met once, by the pass, which pauses."""
        watcher = self.watchers.get(account.name)
        if not account.settings.imap_idle or self.stop.is_set() or (watcher is not None and watcher.wanted):
            return
        from mail_followup.service.watch import Watcher  # imapclient is loaded only for a watch

        self.watchers[account.name] = Watcher(account, self.run_soon)
        self.watchers[account.name].start()

    def run_soon(self, name: str) -> None:
        """A pass of ``name`` now (news from its watch): after the one in flight, if there is one."""
        with self.lock:
            if name in self.running:
                self.again.add(name)
                return
        job = self.scheduler.get_job(name) if self.scheduler else None
        if job is not None and not self.stop.is_set():
            log.debug("account %s: news, a pass now", name)
            job.modify(next_run_time=datetime.now().astimezone())

    def reload(self) -> None:
        """Read the config again; a broken one leaves the running one in place, and says why."""
        try:
            config = load_config(self.config_path)
        except ConfigError as exc:
            log.error("the new config cannot be used, so the old one stays: %s", exc)
            notify(f"STATUS=config reload failed (old config kept): {exc.problems[0] if exc.problems else exc}")
            return
        self._stop_watching()  # each starts again, with the new config, after the account's next pass
        with self.lock:
            self.config = config
            self._schedule()
        log.info("config reloaded from %s", self.config_path)

    def run_pass(self, name: str) -> None:
        """The account's job: a pass, and one more while news came during it (the scheduler would skip a run
        asked for while this one runs)."""
        with self.lock:
            self.running.add(name)
        try:
            while True:
                self._one_pass(name)
                with self.lock:
                    if name not in self.again or self.stop.is_set():
                        break
                    self.again.discard(name)
        finally:
            with self.lock:
                self.running.discard(name)
                self.again.discard(name)

    def _one_pass(self, name: str) -> None:
        from mail_followup.service import desktop
        from mail_followup.state.store import Store

        if self.stop.is_set():  # a job the scheduler started after the stop request: nothing to do
            return
        with self.lock:
            config = self.config
        state = self.states.setdefault(name, AccountState())
        with Store(config.state_dir) as store:
            paused = store.paused().get(name)
        if paused is not None:
            state.summary = f"paused: {paused[0]}"
            desktop.while_paused(config, name, state, paused[0])
            self._status()
            return
        notify(f"STATUS={name}: scanning")
        try:
            outcome = self._pass_in_child(config, name)
        except Exception:  # a bug in one pass must not end the service; the next pass tries again
            log.exception("account %s: the pass failed unexpectedly", name)
            outcome = None
        if outcome is None:
            state.summary = "the last pass failed (see the log)"
            self._status()
            return
        if outcome.failure == "auth":
            with Store(config.state_dir) as store:
                store.pause(name, outcome.errors[0].split("\n")[0], datetime.now().astimezone())
            log.error("account %s: paused until the sign-in is fixed (the password: mail-followup auth set %s; an "
                      "OAuth2 token: sign in again with the token helper), then a reload; retrying a refused "
                      "login risks a lockout", name, name)
            state.summary = "paused: the login was refused"
        elif outcome.failure == "busy":  # another process runs this account's pass: nothing is wrong
            state.summary = "a pass runs in another process"
            log.info("%s", outcome.errors[0].split("\n")[0])
        elif outcome.failure in ("network", "server"):
            state.failures += 1
            delay = min(timedelta(minutes=2 ** (state.failures - 1)), MAX_BACKOFF,
                        timedelta(minutes=self._interval(name)))
            job = self.scheduler.get_job(name) if self.scheduler else None
            if job is not None:
                job.modify(next_run_time=datetime.now().astimezone() + delay)
            state.summary = f"offline, next try in {int(delay.total_seconds() // 60)} min"
            log.warning("account %s: %s; trying again in %s", name, outcome.failure, delay)
        else:
            state.failures = 0
            states = outcome.counts
            shown = ", ".join(f"{n} {s}" for s, n in sorted(states.items()) if s not in ("replied", "ignored"))
            state.summary = (shown or "nothing waiting") + (f"; {outcome.written} written" if outcome.written else "")
            if outcome.errors:
                state.summary += f"; {len(outcome.errors)} error(s)"
            log.info("account %s: %s", name, state.summary)
            account = config.find(name)
            if account is not None:
                self._keep_watching(account)
        desktop.after_pass(config, name, state, outcome)  # new drafts, or an account failing for an hour
        self._status()

    def _pass_in_child(self, config: Config, name: str) -> Any:
        """Run one account's pass in a fresh process; its AccountResult, or None when it died without one.

        The child hears SIGTERM itself (systemd signals the whole unit) and the
        service tells it too (a SIGTERM to the service alone), so either way
        the write in flight is the last. First-sync progress comes back over
        the pipe, because systemd takes notifications from the main process only.
        """
        context = multiprocessing.get_context("spawn")  # fork would copy the scheduler's threads and locks
        stop = context.Event()
        receive, send = context.Pipe(duplex=False)
        level = logging.getLogger().getEffectiveLevel()
        child = context.Process(target=_child_pass, args=(config, name, stop, send, level),
                                name=f"mail-followup pass {name}", daemon=True)
        with self.lock:
            self.passes[name] = stop
            self.children[name] = child
        if self.stop.is_set():
            stop.set()
        try:
            child.start()
            send.close()
            outcome = None
            while True:
                try:
                    kind, payload = receive.recv()
                except EOFError:  # the child is gone
                    break
                if kind == "progress":
                    _progress_status(*payload)
                else:
                    outcome = payload
            child.join()
        finally:
            with self.lock:
                self.passes.pop(name, None)
                self.children.pop(name, None)
            receive.close()
        if outcome is None:
            log.error("account %s: the pass ended without a result (exit code %s)", name, child.exitcode)
        return outcome

    def end_passes(self, grace: float) -> None:
        """After a stop request: give the passes in flight ``grace`` seconds to end at a clean place, then end
        what is left at once. A pass killed anywhere harms nothing (every write is whole; the Drafts folder is
        searched before any APPEND), so the service never outlives its stop by more than this."""
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline:
            with self.lock:
                alive = [c for c in self.children.values() if c.is_alive()]
            if not alive:
                return
            time.sleep(0.05)
        for child in alive:
            log.warning("the pass in process %s did not end within %.1f s of the stop: ended now", child.pid, grace)
            child.terminate()  # its handler ends the helpers it waits on, if any
        time.sleep(0.2)
        for child in alive:
            if child.is_alive():
                child.kill()

    def _interval(self, name: str) -> int:
        account = self.config.find(name)
        return account.settings.scan_interval_minutes if account is not None else 15

    def _status(self) -> None:
        notify("STATUS=" + "; ".join(f"{n}: {s.summary}" for n, s in sorted(self.states.items())))

    def wait(self) -> None:
        """The main thread sleeps here; it wakes for signals and, under a watchdog, to ping it."""
        usec = os.environ.get("WATCHDOG_USEC")
        interval = int(usec) / 2e6 if usec and usec.isdigit() and os.environ.get("WATCHDOG_PID") in (
            None, str(os.getpid())) else None
        while not self.stop.is_set():
            self.wake.wait(timeout=interval)
            self.wake.clear()
            if interval is not None:
                notify("WATCHDOG=1")
            if self.reload_requested and not self.stop.is_set():
                self.reload_requested = False
                notify("RELOADING=1")
                self.reload()
                notify("READY=1")

    def on_signal(self, signum: int, _frame: FrameType | None) -> None:
        if signum == signal.SIGHUP:
            log.info("received SIGHUP: reloading the config")
            self.reload_requested = True
        else:
            log.info("received %s: finishing the write in flight, then stopping", signal.Signals(signum).name)
            self.stop.set()
            for stop in list(self.passes.values()):
                stop.set()
        self.wake.set()


def _child_pass(config: Config, name: str, stop: Any, send: Any, level: int) -> None:
    """The pass, in its own process: the result (or nothing, if it crashed) goes back over ``send``."""
    from mail_followup.logs import setup_logging
    from mail_followup.service.scan import scan

    def finish(_signum: int, _frame: FrameType | None) -> None:
        stop.set()
        from mail_followup.imap.credentials import end_helpers

        end_helpers()  # a password or token helper it waits on would otherwise outlive it

    signal.signal(signal.SIGTERM, finish)
    signal.signal(signal.SIGINT, finish)  # Ctrl-C in a terminal reaches the whole process group
    signal.signal(signal.SIGHUP, signal.SIG_IGN)  # a reload is the service's business
    setup_logging(2 if level <= logging.DEBUG else 0, daemon=True)
    try:
        # A pass of this account already running (a `scan` typed meanwhile) makes this one step aside at once.
        result = scan(config, datetime.now().astimezone(), account=name, cancel=stop,
                      progress=lambda *progress: send.send(("progress", progress)), reports=False, lock_wait=0)
        # The service needs the counts, not 100,000 reports pickled over the pipe.
        send.send(("result", replace(result.accounts[0], threads=[])))
    except Exception:
        log.exception("account %s: the pass failed unexpectedly", name)
    finally:
        send.close()


def _progress_status(account: str, folder: str, done: int, total: int) -> None:
    notify(f"STATUS={account}: first sync of {folder}: {done:,} of {total:,} headers")


def run(config: Config) -> int:
    """Run until SIGTERM or SIGINT; return the exit code."""
    service = Service(config.path, config)
    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(signum, service.on_signal)
    service.start()
    notify("READY=1")
    service._status()
    try:
        service.wait()
    finally:
        notify("STOPPING=1")
        service._stop_watching()
        service.end_passes(STOP_GRACE)
        service.scheduler.shutdown(wait=True)
    log.info("stopped")
    return 0
