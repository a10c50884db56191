"""Desktop notifications over a real D-Bus session bus: a dbus-daemon of the test's own, and a notification
server in a thread (jeepney) that owns org.freedesktop.Notifications and records every Notify call.

Nothing of jeepney is mocked: the service's module opens its connection to
that bus as it would to a desktop's, and the failure clock is driven with
``now`` given, so no test waits an hour.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from jeepney import MessageType, new_error, new_method_return
from jeepney.bus_messages import message_bus
from jeepney.io.blocking import open_dbus_connection

from mail_followup.config import Config, Settings, load_config
from mail_followup.service import desktop
from mail_followup.service.daemon import AccountState, Service
from mail_followup.service.results import AccountResult
from mails import raw_mail

DBUS_DAEMON = shutil.which("dbus-daemon") or "/usr/bin/dbus-daemon"
NOW = datetime(2026, 12, 9, 9, 0).astimezone()
# The service test is about its passes: no IMAP IDLE watch of the account, where the service has one.
NO_IDLE = {"imap_idle": "false"} if "imap_idle" in Settings.model_fields else {}
BUS_CONFIG = """<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:dir={dir}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
"""


@pytest.fixture
def session_bus(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A session bus of its own (no service files: nothing gets activated); its address is the session's."""
    if not os.path.exists(DBUS_DAEMON):
        if os.environ.get("CI") == "true":
            pytest.fail("dbus-daemon not installed, but CI=true and CI must run the D-Bus tests")
        pytest.skip("dbus-daemon not installed (apt-get install dbus-daemon)")
    folder = tempfile.mkdtemp(prefix="mf-dbus-")  # short: a socket path has at most 107 bytes
    config = Path(folder) / "bus.conf"
    config.write_text(BUS_CONFIG.format(dir=folder))
    proc = subprocess.Popen([DBUS_DAEMON, f"--config-file={config}", "--nofork", "--print-address"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        address = proc.stdout.readline().strip()
        assert address.startswith("unix:"), proc.stderr.read() if proc.stderr else address
        monkeypatch.setenv("DBUS_SESSION_BUS_ADDRESS", address)
        yield address
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()
        shutil.rmtree(folder, ignore_errors=True)


class NotificationServer:
    """org.freedesktop.Notifications, as much of it as a sender needs: GetCapabilities and Notify."""

    def __init__(self, address: str) -> None:
        self.address = address
        self.seen: list[tuple[str, str, str]] = []  # (app_name, summary, body) of each Notify
        self.stop = threading.Event()
        self.ready = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)

    def __enter__(self) -> NotificationServer:
        self.thread.start()
        assert self.ready.wait(5), "the notification server did not get its name"
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(5)

    def _serve(self) -> None:
        with open_dbus_connection(bus=self.address) as bus:
            reply = bus.send_and_get_reply(message_bus.RequestName(desktop.BUS_NAME), timeout=5)
            assert reply.body == (1,), reply.body  # the primary owner
            self.ready.set()
            while not self.stop.is_set():
                try:
                    msg = bus.receive(timeout=0.05)
                except TimeoutError:
                    continue
                if msg.header.message_type != MessageType.method_call:
                    continue
                member = msg.header.fields.get(3)  # HeaderFields.member
                if member == "GetCapabilities":
                    bus.send(new_method_return(msg, "as", (["body", "body-markup"],)))
                elif member == "Notify":
                    app, _replaces, _icon, summary, body, _actions, _hints, _expire = msg.body
                    self.seen.append((app, summary, body))
                    bus.send(new_method_return(msg, "u", (len(self.seen),)))
                else:
                    bus.send(new_error(msg, "org.freedesktop.DBus.Error.UnknownMethod"))


@pytest.fixture
def server(session_bus: str) -> Iterator[NotificationServer]:
    with NotificationServer(session_bus) as running:
        yield running


def config_for(tmp_path: Path, port: int = 143, user: str = "me", **settings: str) -> Config:
    path = tmp_path / "config.yaml"
    lines = [f"state_dir: {tmp_path / 'state'}", "defaults:", "  timezone: Europe/Oslo", "  language: en",
             "accounts:", "  - name: work",
             f"    imap: {{host: 127.0.0.1, port: {port}, security: none, username: {user}, "
             "password_env: MF_DESKTOP_PASSWORD, timeout_seconds: 5}",
             "    addresses: [me@example.org]"]
    lines += [f"    {key}: {value}" for key, value in settings.items()]
    path.write_text("\n".join(lines) + "\n")
    return load_config(path)


def drafted(*people: str) -> AccountResult:
    return AccountResult("work", written=len(people), drafted_for=list(people))


def failed(kind: str = "network") -> AccountResult:
    return AccountResult("work", errors=["account 'work': cannot connect to 127.0.0.1:143: refused\nmore"],
                         failure=kind)


def test_a_pass_that_writes_three_drafts_shows_one_notification_naming_them(
        server: NotificationServer, tmp_path: Path) -> None:
    config = config_for(tmp_path)
    desktop.after_pass(config, "work", AccountState(), drafted("Anna Berg", "Kim Larsen", "Ola Nordmann"), NOW)
    assert server.seen == [("mail-followup", "3 follow-ups ready to review", "Anna Berg, Kim Larsen, Ola Nordmann")]


def test_many_names_are_cut_short_and_markup_is_escaped(server: NotificationServer, tmp_path: Path) -> None:
    config = config_for(tmp_path)
    people = ("Smith & Co", "kim@example.com", "Smith & Co", "Ola\nNordmann", "Per", "Pål")
    desktop.after_pass(config, "work", AccountState(), drafted(*people), NOW)
    # One notice for the pass; five people once each (the same one twice is one), three named.
    assert server.seen == [("mail-followup", "6 follow-ups ready to review",
                            "Smith &amp; Co, kim@example.com, Ola Nordmann and 2 more")]


def test_a_pass_that_writes_nothing_or_fails_briefly_shows_nothing(
        server: NotificationServer, tmp_path: Path) -> None:
    config, state = config_for(tmp_path), AccountState()
    desktop.after_pass(config, "work", state, AccountResult("work", counts={"waiting": 4}), NOW)
    desktop.after_pass(config, "work", state, failed(), NOW + timedelta(minutes=5))
    desktop.after_pass(config, "work", state, AccountResult("work", failure="busy", errors=["busy"]),
                       NOW + timedelta(minutes=30))
    desktop.after_pass(config, "work", state, failed(), NOW + timedelta(minutes=64))  # 59 minutes of failure
    assert server.seen == []


def test_an_account_failing_for_an_hour_notifies_once_until_it_works_again(
        server: NotificationServer, tmp_path: Path) -> None:
    config, state = config_for(tmp_path), AccountState()
    for minutes in (0, 1, 3, 7, 15, 30, 45, 60, 75, 90, 120):  # the service's backoff, then its interval
        desktop.after_pass(config, "work", state, failed("server" if minutes == 7 else "network"),
                           NOW + timedelta(minutes=minutes))
    assert server.seen == [("mail-followup", "mail-followup: account work has failed for an hour",
                            "account 'work': cannot connect to 127.0.0.1:143: refused")]
    # A pass that works ends the failure; the next hour-long one is told again. A refused login pauses the
    # account: the passes it skips still count.
    desktop.after_pass(config, "work", state, AccountResult("work"), NOW + timedelta(minutes=135))
    assert state.failing_since is None
    desktop.after_pass(config, "work", state, failed("auth"), NOW + timedelta(minutes=150))
    for minutes in (165, 180, 195, 210, 225):
        desktop.while_paused(config, "work", state, "the login was refused", NOW + timedelta(minutes=minutes))
    assert len(server.seen) == 2
    assert server.seen[1][1:] == ("mail-followup: account work has failed for an hour", "the login was refused")


def test_the_account_language_picks_the_words(server: NotificationServer, tmp_path: Path) -> None:
    config = config_for(tmp_path, language="de")
    desktop.after_pass(config, "work", AccountState(), drafted("Anna", "Kim", "Ola", "Per", "Eva"), NOW)
    assert server.seen == [("mail-followup", "5 Nachfragen liegen zur Durchsicht bereit",
                            "Anna, Kim, Ola und 2 weitere")]


def test_desktop_notifications_false_shows_nothing(server: NotificationServer, tmp_path: Path) -> None:
    config, state = config_for(tmp_path, desktop_notifications="false"), AccountState()
    desktop.after_pass(config, "work", state, drafted("Anna Berg"), NOW)
    desktop.after_pass(config, "work", state, failed(), NOW + timedelta(minutes=1))
    desktop.after_pass(config, "work", state, failed(), NOW + timedelta(hours=2))
    assert server.seen == []
    assert state.failure_told  # the failure was met: switching them on later does not tell an old one


def test_no_bus_or_no_notification_server_is_silent_and_quick(
        session_bus: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    config = config_for(tmp_path)
    account = config.accounts[0]
    notice = desktop.Notice("1 follow-up ready to review", "Anna Berg")
    caplog.set_level("DEBUG", logger="mail_followup.service.desktop")
    started = time.monotonic()
    assert desktop.show(account, notice) is False  # a bus, but nobody owns the name
    monkeypatch.setenv("DBUS_SESSION_BUS_ADDRESS", f"unix:path={tmp_path / 'no-such-bus'}")
    assert desktop.show(account, notice) is False  # a bus address with nothing behind it
    monkeypatch.delenv("DBUS_SESSION_BUS_ADDRESS")
    assert desktop.show(account, notice) is False  # no session at all
    desktop.after_pass(config, "work", AccountState(), drafted("Anna Berg"), NOW)
    # Quick: nothing waits for the WAIT a hung bus gets (4 x 3 s); the margin is for a loaded machine.
    assert time.monotonic() - started < 2 * desktop.WAIT
    assert all(r.levelname == "DEBUG" for r in caplog.records)
    assert sum("no desktop notification" in r.getMessage() for r in caplog.records) == 4


def test_the_service_pass_notifies_once_for_its_drafts(
        server: NotificationServer, pymap_account, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Through the real path: the pass runs in its child process against a real IMAP server, the names come
    back in its result, and the service tells the desktop once."""
    sent = datetime.now().astimezone() - timedelta(days=3)
    for i, person in enumerate(("Anna Berg <anna@example.com>", "Kim Larsen <kim@example.com>",
                                "ola@example.no")):
        raw = raw_mail("Me <me@example.org>", person, f"Question {i}", sent + timedelta(minutes=i),
                       f"<q{i}@example.org>", "Hello,\n\nCould you send me the file?\n")
        pymap_account.append("Sent", raw, flags=(b"\\Seen",))
    config = config_for(tmp_path, pymap_account.port, pymap_account.username, draft_hours='["00:00-23:59"]',
                        policies="{default: {waits_days: [1]}}", builtin_scenario_rules="false",
                        calendar="{avoid_weekends: false, avoid_mondays: false, avoid_fridays: false, "
                                 "avoid_holidays: false, avoid_days_around_holidays: false, "
                                 "alternate_time_of_day: false, vary_weekday: false}",
                        **NO_IDLE)
    monkeypatch.setenv("MF_DESKTOP_PASSWORD", pymap_account.password)
    monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
    service = Service(config.path, config)
    service.run_pass("work")
    assert len(pymap_account.messages("Drafts")) == 3
    assert service.states["work"].failing_since is None
    assert server.seen == [("mail-followup", "3 follow-ups ready to review", "Anna Berg, Kim Larsen, ola@example.no")]
    service.run_pass("work")  # nothing new: no second notice
    assert len(server.seen) == 1
