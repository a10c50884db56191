"""The IDLE watch (service/watch.py) against real servers: news wakes the account, a drop and a suspend
reconnect, a stop ends it at once, and a server without IDLE is left to the interval."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest

from conftest import PYMAP_FOLDERS, PYMAP_PASSWORD, PYMAP_USER
from imapservers import DovecotServer, ImapAccount
from mail_followup.cli.demo_server import PymapServer
from mail_followup.config import Account, load_config
from mail_followup.service import watch
from mail_followup.service.watch import Watcher, answers_folder
from mails import raw_mail
from scenario import ME, write_config
from test_providers import gmail_like  # noqa: F401 (a fixture)


class News:
    """What a watch reports, and a way to wait for it."""

    def __init__(self) -> None:
        self.count = 0
        self.changed = threading.Condition()

    def __call__(self, account: str) -> None:
        with self.changed:
            self.count += 1
            self.changed.notify_all()

    def wait_for(self, count: int, timeout: float = 10.0) -> None:
        with self.changed:
            assert self.changed.wait_for(lambda: self.count >= count, timeout), f"{self.count} news, not {count}"


def account_of(server_account: ImapAccount, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Account:
    monkeypatch.setenv("MF_TEST_PASSWORD", server_account.password)
    return load_config(write_config(tmp_path, server_account)).accounts[0]


def answer(to: str = "<coffee@example.org>") -> bytes:
    return raw_mail("Kim <kim@example.com>", ME, "Re: Coffee next week?", datetime.now().astimezone(),
                    f"<answer-{time.monotonic_ns()}@example.com>", "Yes!\n", in_reply_to=to)


@pytest.fixture
def watching(request: pytest.FixtureRequest) -> Iterator[list[Watcher]]:
    """The watches a test starts, each stopped at its end."""
    started: list[Watcher] = []
    yield started
    for watcher in started:
        watcher.stop()


def start(account: Account, news: News, watching: list[Watcher]) -> Watcher:
    watcher = Watcher(account, news)
    watching.append(watcher)
    watcher.start()
    assert watcher.idling.wait(10), "the watch never started to idle"
    return watcher


def test_an_answer_in_inbox_wakes_the_account_at_once(dovecot_account: ImapAccount, tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch,
                                                      watching: list[Watcher]) -> None:
    news = News()
    watcher = start(account_of(dovecot_account, tmp_path, monkeypatch), news, watching)
    assert watcher.how.startswith("IDLE")
    dovecot_account.append("INBOX", answer())
    news.wait_for(1)  # within 10 s, where the interval would take minutes


def test_notify_wakes_it_for_another_folder_but_not_for_drafts(dovecot_account: ImapAccount, tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch,
                                                               watching: list[Watcher]) -> None:
    """Dovecot offers NOTIFY: an answer a filter put in Archive counts, the program's own drafts do not."""
    news = News()
    watcher = start(account_of(dovecot_account, tmp_path, monkeypatch), news, watching)
    assert "NOTIFY" in watcher.how
    dovecot_account.append("Drafts", answer())
    time.sleep(1.5)
    assert news.count == 0
    dovecot_account.append("Archive", answer())
    news.wait_for(1)


def test_a_stop_ends_the_watch_at_once(dovecot_account: ImapAccount, tmp_path: Path,
                                       monkeypatch: pytest.MonkeyPatch, watching: list[Watcher]) -> None:
    watcher = start(account_of(dovecot_account, tmp_path, monkeypatch), News(), watching)
    began = time.monotonic()
    watcher.stop()
    assert not watcher.wanted and time.monotonic() - began < 2  # the service's stop promise


def test_a_server_restart_reconnects_and_counts_as_news(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                        watching: list[Watcher]) -> None:
    monkeypatch.setattr(watch, "MAX_BACKOFF", 1.0)
    with DovecotServer() as server:
        mailbox = server.new_account()
        news = News()
        watcher = start(account_of(mailbox, tmp_path, monkeypatch), news, watching)
        watcher.idling.clear()
        server.restart(down_seconds=1)
        news.wait_for(1, timeout=20)  # mail may have come while it was down: a pass looks
        assert watcher.idling.wait(10)
        mailbox.append("INBOX", answer())
        news.wait_for(2)


def test_a_suspend_reconnects(dovecot_account: ImapAccount, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                              watching: list[Watcher]) -> None:
    """A laptop that slept: the wall clock ran on while the monotonic one stood still. Here a clock that jumps
    an hour stands in for the suspend, which a test cannot cause."""
    monkeypatch.setattr(watch, "LOOK", 0.2)
    jumped = {"by": 0.0}
    real_time = time.time
    monkeypatch.setattr(watch.time, "time", lambda: real_time() + jumped["by"])
    news = News()
    watcher = start(account_of(dovecot_account, tmp_path, monkeypatch), news, watching)
    watcher.idling.clear()
    jumped["by"] = 3600.0
    news.wait_for(1)
    assert watcher.idling.wait(10) and watcher.wanted


def test_a_refused_login_ends_the_watch_without_retrying(dovecot_account: ImapAccount, tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    account = account_of(dovecot_account, tmp_path, monkeypatch)
    monkeypatch.setenv("MF_TEST_PASSWORD", "not-the-password")
    watcher = Watcher(account, News())
    watcher.start()
    watcher._thread.join(15)
    assert not watcher._thread.is_alive() and not watcher.wanted


def test_a_server_without_idle_is_left_to_the_interval(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """pymap offers IDLE; started without it, it stands for the many servers that do not."""
    with PymapServer(PYMAP_USER, PYMAP_PASSWORD, PYMAP_FOLDERS, idle=False) as server:
        watcher = Watcher(account_of(ImapAccount.for_pymap(server), tmp_path, monkeypatch), News())
        watcher.start()
        watcher._thread.join(15)
    assert watcher.how == watch.NO_IDLE
    assert watcher.wanted  # not asked again at every pass


def test_pymap_with_idle_wakes_the_account(pymap_account: ImapAccount, tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch, watching: list[Watcher]) -> None:
    """No NOTIFY there: the one folder where answers arrive is watched."""
    news = News()
    watcher = start(account_of(pymap_account, tmp_path, monkeypatch), news, watching)
    assert watcher.how == "IDLE on INBOX"
    pymap_account.append("INBOX", answer())
    news.wait_for(1)


def test_gmail_is_watched_on_all_mail(gmail_like: DovecotServer, tmp_path: Path,  # noqa: F811
                                      monkeypatch: pytest.MonkeyPatch, watching: list[Watcher]) -> None:
    mailbox = gmail_like.new_account()
    news = News()
    watcher = start(account_of(mailbox, tmp_path, monkeypatch), news, watching)
    assert watcher.how.startswith("IDLE on [Gmail]/All Mail,")
    mailbox.append("[Gmail]/All Mail", answer())
    news.wait_for(1)


def test_the_answers_folder() -> None:
    assert answers_folder(("[Gmail]/All Mail",)) == "[Gmail]/All Mail"
    assert answers_folder(("Archive", "INBOX", "Work")) == "INBOX"
    assert answers_folder(("Work",)) == "Work"
