"""The standard scenario of the integration tests: four threads on a real server, and how to scan it."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import pytest

from imapservers import ImapAccount
from mail_followup.cli.main import main
from mails import raw_mail

ME = "me@example.org"
WEDNESDAY = "2026-12-09T09:30:00+01:00"
MONDAY = "2026-12-14T09:30:00+01:00"


def at(text: str) -> datetime:
    return datetime.fromisoformat(text)


def write_config(tmp_path: Path, account: ImapAccount, **extra: str) -> Path:
    lines = [
        f"state_dir: {tmp_path / 'state'}",
        "defaults:",
        "  timezone: Europe/Oslo",
        '  country: "NO"',
        "accounts:",
        "  - name: test",
        f"    imap: {{host: {account.host}, port: {account.port}, security: none, "
        f"username: {account.username}, password_env: MF_TEST_PASSWORD}}",
        f"    addresses: [{ME}]",
    ]
    lines += [f"    {k}: {v}" for k, v in extra.items()]
    path = tmp_path / "config.yaml"
    path.write_text("\n".join(lines) + "\n")
    return path


def seed(account: ImapAccount) -> None:
    """Four threads: unanswered (8 days), answered, answered without threading headers, 3 days old.

    The unanswered ones went out in an afternoon, so their follow-ups come in a morning (R8).
    """
    me = f"Me Myself <{ME}>"
    msgs = [
        ("Sent", raw_mail(me, "Kim Berg <kim@example.com>", "Coffee next week?", at("2026-12-01T15:00:00+01:00"),
                          "<coffee@example.org>", "Hi Kim,\n\nWould you have time for a coffee next week?\n")),
        ("Sent", raw_mail(me, "ola@example.no", "Your offer", at("2026-12-01T10:00:00+01:00"), "<offer@example.org>")),
        ("INBOX", raw_mail("ola@example.no", me, "Re: Your offer", at("2026-12-02T10:00:00+01:00"),
                           "<offer-reply@example.no>", in_reply_to="<offer@example.org>")),
        ("Sent", raw_mail(me, "Lena <lena@example.de>", "Meeting notes", at("2026-12-01T11:00:00+01:00"),
                          "<notes@example.org>")),
        ("Archive", raw_mail("lena@example.de", me, "AW: Meeting notes", at("2026-12-03T11:00:00+01:00"),
                             "<notes-reply@example.de>")),
        ("Sent", raw_mail(me, "sam@example.net", "Quick question", at("2026-12-06T15:00:00+01:00"),
                          "<question@example.org>")),
    ]
    for folder, raw in msgs:
        account.append(folder, raw, flags=(b"\\Seen",), when=at("2026-12-06T12:00:00+01:00"))


def scan_json(config: Path, now: str, capsys: pytest.CaptureFixture[str], *more: str) -> tuple[int, dict]:
    code = main(["scan", "--config", str(config), "--now", now, "--json", *more])
    out = capsys.readouterr().out
    return code, json.loads(out)


def by_subject(report: dict) -> dict[str, dict]:
    return {t["subject"]: t for t in report["threads"]}
