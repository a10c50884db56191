"""Desktop notifications from the service: the drafts a pass wrote, and an account failing for an hour.

One notice per pass, never one per draft: "3 follow-ups ready to review"
with the people they go to. An account whose login is refused or whose
server cannot be reached for an hour gets one notice, and gets another
only after a pass of it worked again and a new hour of failure passed.

A notice is one org.freedesktop.Notifications.Notify call over the D-Bus
session bus (jeepney, pure Python), on a connection opened for it and
closed at once, so the idle service holds nothing. No session bus, nobody
owning the name, a bus that does not answer: a line in the debug log and
nothing else. A notice never costs a pass more than ``WAIT`` seconds.
"""

from __future__ import annotations

import html
import logging
import os
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Protocol

from mail_followup.core.language import texts

if TYPE_CHECKING:
    from mail_followup.config import Account, Config
    from mail_followup.service.results import AccountResult

log = logging.getLogger(__name__)

FAILING_FOR = timedelta(hours=1)  # an account failing this long is worth a notice
FAILURES = ("auth", "network", "server")  # the failures that count: the account cannot be reached at all
NAMES = 3  # at most so many names in a notice; "and 2 more" for the rest
WAIT = 3.0  # seconds a notice may take, connecting included
APP = "mail-followup"
BUS_NAME = "org.freedesktop.Notifications"
OBJECT_PATH = "/org/freedesktop/Notifications"


class Watched(Protocol):
    """What the service remembers of an account between passes (the daemon's AccountState)."""

    failing_since: datetime | None
    failure_told: bool


@dataclass(frozen=True)
class Notice:
    summary: str
    body: str
    icon: str = "mail-message-new"


def after_pass(config: Config, name: str, state: Watched, outcome: AccountResult,
               now: datetime | None = None) -> None:
    """Tell the desktop what one pass of ``name`` means for the user, if anything."""
    account = config.find(name)
    if account is None:
        return
    now = now or datetime.now().astimezone()
    if outcome.failure in FAILURES:
        reason = outcome.errors[0] if outcome.errors else outcome.failure or ""
        while_failing(account, state, reason, now)
    elif outcome.failure is None:  # the account works (a draft refused here or there is no account failure)
        state.failing_since, state.failure_told = None, False
        notice = drafts_notice(account, outcome.written, outcome.drafted_for)
        if notice is not None:
            show(account, notice)


def while_paused(config: Config, name: str, state: Watched, reason: str, now: datetime | None = None) -> None:
    """A pass skipped because the account is paused (its login was refused): it still fails."""
    account = config.find(name)
    if account is not None:
        while_failing(account, state, reason, now or datetime.now().astimezone())


def while_failing(account: Account, state: Watched, reason: str, now: datetime) -> None:
    """Count the failure; the first time it has lasted ``FAILING_FOR``, one notice."""
    if state.failing_since is None:
        state.failing_since = now
    if not state.failure_told and now - state.failing_since >= FAILING_FOR:
        state.failure_told = True  # once, whether or not a desktop heard it
        show(account, failure_notice(account, reason))


def drafts_notice(account: Account, written: int, people: list[str]) -> Notice | None:
    """'3 follow-ups ready to review' and who they go to; None when nothing was written."""
    if written <= 0:
        return None
    words = texts(account.settings.language).notify
    summary = words["drafts"]["one" if written == 1 else "other"].format(count=written)
    names = list(dict.fromkeys(" ".join(p.split()) for p in people if p.strip()))
    body = ", ".join(names[:NAMES])
    if len(names) > NAMES:
        body = words["more"].format(names=body, count=len(names) - NAMES)
    return Notice(summary, body)


def failure_notice(account: Account, reason: str) -> Notice:
    words = texts(account.settings.language).notify
    first = reason.strip().split("\n")[0] if reason.strip() else ""
    return Notice(words["failing"].format(account=account.name), first, icon="dialog-warning")


def show(account: Account, notice: Notice) -> bool:
    """Send ``notice`` unless the account says no; whether a notification server took it."""
    if not account.settings.desktop_notifications:
        return False
    if not os.environ.get("DBUS_SESSION_BUS_ADDRESS"):
        log.debug("no desktop notification (no D-Bus session bus): %s", notice.summary)
        return False
    sent: list[int] = []
    # A bus that takes the connection and then never answers must not hold the pass: the call runs in a
    # thread of its own, and the pass waits for it at most WAIT seconds.
    worker = threading.Thread(target=_send, args=(notice, sent), name="desktop notification", daemon=True)
    worker.start()
    worker.join(WAIT)
    if sent:
        log.debug("account %s: desktop notification %d: %s", account.name, sent[0], notice.summary)
    return bool(sent)


def _send(notice: Notice, sent: list[int]) -> None:
    try:
        from jeepney import DBusAddress, new_method_call
        from jeepney.io.blocking import open_dbus_connection
        from jeepney.wrappers import unwrap_msg

        target = DBusAddress(OBJECT_PATH, bus_name=BUS_NAME, interface=BUS_NAME)
        with open_dbus_connection(bus="SESSION", auth_timeout=WAIT) as bus:
            # A server that reads markup in the body would take "<" and "&" in a name for markup.
            capabilities = unwrap_msg(bus.send_and_get_reply(new_method_call(target, "GetCapabilities"),
                                                             timeout=WAIT))[0]
            body = html.escape(notice.body, quote=False) if "body-markup" in capabilities else notice.body
            call = new_method_call(target, "Notify", "susssasa{sv}i",
                                   (APP, 0, notice.icon, notice.summary, body, [], {}, -1))
            sent.append(unwrap_msg(bus.send_and_get_reply(call, timeout=WAIT))[0])
    except Exception as exc:  # whatever a desktop does wrong, the pass goes on
        log.debug("no desktop notification (%s: %s): %s", type(exc).__name__, exc, notice.summary)
