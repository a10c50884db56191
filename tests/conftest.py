"""Fixtures giving tests a real IMAP account on Dovecot and/or pymap.

`imap_account` runs a test once per server (ids "dovecot" and "pymap").
Dovecot tests are skipped where Dovecot is not installed, except in CI
(CI=true), which must cover Dovecot and so fails instead.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import keyring
import pytest
from keyring.backend import KeyringBackend

# Import the helper module by path so it works with any --import-mode and
# whether or not tests/ is a package.
sys.path.insert(0, str(Path(__file__).resolve().parent))

from imapservers import DOVECOT, DovecotServer, ImapAccount  # noqa: E402

from mail_followup.cli.demo_server import PymapServer  # noqa: E402

# The default `language:` follows the locale (the review's and a draft's fallback): the suite expects the
# English one whatever the machine it runs on says. Tests of the locale pass an environment of their own.
for _name in ("LC_ALL", "LC_MESSAGES"):
    os.environ.pop(_name, None)
os.environ["LANG"] = "C.UTF-8"


def pytest_xdist_auto_num_workers(config: pytest.Config) -> int:
    """``-n auto`` starts two workers per core: most of a test's time is spent waiting on an IMAP server, a
    subprocess or a timeout, not computing (on 2 cores: 135 s with 4 workers, 203 s with 2)."""
    return 2 * (os.cpu_count() or 1)


@pytest.fixture(autouse=True, scope="session")
def _private_cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Config notes (confignote.py) go to a temp dir, never the cache of whoever runs the tests;
    subprocesses inherit it."""
    previous = os.environ.get("XDG_CACHE_HOME")
    os.environ["XDG_CACHE_HOME"] = str(tmp_path_factory.mktemp("xdg-cache"))
    yield
    if previous is None:
        os.environ.pop("XDG_CACHE_HOME", None)
    else:
        os.environ["XDG_CACHE_HOME"] = previous


@pytest.fixture(autouse=True)
def _root_logging_restored() -> Iterator[None]:
    """The CLI's setup_logging() points the root logger at the sys.stderr of the moment, which under
    capsys is a stream closed after the test; later records would hit it ("--- Logging error ---")."""
    import logging

    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


PYMAP_USER = "demo"
PYMAP_PASSWORD = "demo-password"
PYMAP_FOLDERS = ("Sent", "Drafts", "Archive")


class MemoryKeyring(KeyringBackend):
    """A keyring in memory: the code under test stores and reads through the real keyring API."""

    priority = 1  # type: ignore[assignment]

    def __init__(self) -> None:
        self.items: dict[tuple[str, str], str] = {}

    def get_password(self, service: str, username: str) -> str | None:
        return self.items.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self.items[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        del self.items[(service, username)]


@pytest.fixture
def neomutt_installed() -> str:
    """The neomutt the mail-client tests drive; required in CI (.ci/run installs it)."""
    from mutt import NEOMUTT

    if NEOMUTT is None:
        reason = "neomutt not installed (apt-get install neomutt)"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{reason}, but CI=true and CI must run the neomutt tests")
        pytest.skip(reason)
    return NEOMUTT


@pytest.fixture
def memory_keyring() -> Iterator[MemoryKeyring]:
    previous = keyring.get_keyring()
    ring = MemoryKeyring()
    keyring.set_keyring(ring)
    yield ring
    keyring.set_keyring(previous)


@pytest.fixture(scope="session")
def dovecot_server() -> Iterator[DovecotServer]:
    """One Dovecot for the whole session; accounts on it are per test."""
    if not DovecotServer.available():
        reason = f"Dovecot not installed ({DOVECOT} missing; apt-get install dovecot-imapd)"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{reason}, but CI=true and CI must run the Dovecot tests")
        pytest.skip(reason)
    with DovecotServer() as server:
        yield server


@pytest.fixture
def dovecot_account(dovecot_server: DovecotServer) -> ImapAccount:
    """A fresh user (so an empty mailbox) with INBOX and \\Sent, \\Drafts,
    \\Archive, \\Trash, \\Junk folders flagged via SPECIAL-USE."""
    return dovecot_server.new_account()


@pytest.fixture
def pymap_account() -> Iterator[ImapAccount]:
    """A fresh in-memory pymap server with INBOX, Sent, Drafts, Archive."""
    with PymapServer(PYMAP_USER, PYMAP_PASSWORD, PYMAP_FOLDERS) as server:
        yield ImapAccount.for_pymap(server)


@pytest.fixture(params=["dovecot", "pymap"])
def imap_account(request: pytest.FixtureRequest) -> ImapAccount:
    """The test runs once against each server."""
    account: ImapAccount = request.getfixturevalue(f"{request.param}_account")
    return account


@pytest.fixture
def configured(imap_account: ImapAccount, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[ImapAccount, Path]:
    """The standard four threads on each server, and a config for them (see scenario.py)."""
    from scenario import seed, write_config

    monkeypatch.setenv("MF_TEST_PASSWORD", imap_account.password)
    seed(imap_account)
    return imap_account, write_config(tmp_path, imap_account)
