"""Acting on a thread from the mail client (part 3a): `stop -`, `snooze - --until DATE` and `resume -` read the
message a mail client pipes and act on its thread; and the README's neomutt macro does it in a real neomutt.

Also issue 22's carry-over: a snooze whose moment has passed is not shown as snoozed by `status`.
"""

from __future__ import annotations

import io
import json
import mailbox
import os
import re
import sys
from datetime import date
from email.message import EmailMessage
from email.policy import SMTP
from pathlib import Path

import pytest

from imapservers import ImapAccount
from mail_followup.cli.main import main
from mail_followup.cli.piped import read_head
from mail_followup.core.piped import head_end, piped_message
from mail_followup.state.store import Store
from mails import raw_mail
from mutt import neomutt_keys
from scenario import ME, WEDNESDAY, at, scan_json, seed, write_config

README = Path(__file__).resolve().parent.parent / "README.md"
KIM = "Kim Berg <kim@example.com>"


@pytest.fixture
def tracked(pymap_account: ImapAccount, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
            capsys: pytest.CaptureFixture[str]) -> tuple[ImapAccount, Path]:
    """The standard threads (scenario.py) after a pass on Wednesday: the coffee thread's draft is in Drafts."""
    monkeypatch.setenv("MF_TEST_PASSWORD", pymap_account.password)
    seed(pymap_account)
    config = write_config(tmp_path, pymap_account)
    code, report = scan_json(config, WEDNESDAY, capsys)
    assert code == 0, report["errors"]
    return pymap_account, config


def _pipe(monkeypatch: pytest.MonkeyPatch, raw: bytes, *argv: str) -> int:
    """The command line with ``raw`` on standard input, as a mail client's pipe gives it."""
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(raw)))
    return main(list(argv))


def _kims_answer(**headers: str) -> bytes:
    """Kim's answer to the coffee thread, as it arrives after the last pass: in ISO-8859-1, not yet indexed."""
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = KIM, f"Me Myself <{ME}>", "Re: Coffee next week? – gärna"
    msg["Date"], msg["Message-ID"] = "Thu, 10 Dec 2026 10:00:00 +0100", "<kim-answer@example.com>"
    msg["In-Reply-To"], msg["References"] = "<coffee@example.org>", "<coffee@example.org>"
    for name, value in headers.items():
        del msg[name.replace("_", "-")]
        msg[name.replace("_", "-")] = value
    msg.set_content("Hej,\n\ngärna på torsdag!\n\nKim\n", charset="iso-8859-1")
    return msg.as_bytes(policy=SMTP)


def _stoplist(config: Path) -> dict[str, str]:
    with Store(config.parent / "state") as store:
        return store.stoplist("test")


def _state(config: Path, message_id: str, capsys: pytest.CaptureFixture[str]) -> str:
    assert main(["explain", message_id, "--config", str(config), "--now", WEDNESDAY]) == 0
    found = re.search(r"^state at \S+: (\w+);", capsys.readouterr().out, re.M)
    assert found, "no state line"
    return found.group(1)


# --- the message a mail client pipes: which Message-IDs name its thread, in which order ----------------------------

def test_the_pointers_come_in_order_draft_mark_own_id_in_reply_to_then_references_newest_first() -> None:
    head = (b"From me@example.org Wed Dec  9 09:30:00 2026\r\n"
            b"Message-ID: <draft@example.org>\r\nIn-Reply-To: <last@example.org>\r\n"
            b"References: <first@example.org>\r\n <middle@example.org> <last@example.org>\r\n"
            b"X-Mail-Followup-For: <first@example.org>\r\nSubject: =?utf-8?q?Re=3A_Caf=C3=A9?=\r\n\r\n")
    piped = piped_message(head)
    assert piped.pointers == (("X-Mail-Followup-For", "<first@example.org>"), ("Message-ID", "<draft@example.org>"),
                              ("In-Reply-To", "<last@example.org>"), ("References", "<middle@example.org>"))
    assert piped.subject == "Re: Café" and piped.message_id == "<draft@example.org>"
    assert piped_message(b"Subject: hi\n\n").pointers == () and piped_message(b"Subject: hi\n\n").headers
    assert not piped_message(b"").headers and not piped_message(b"just some text\n").headers


def test_a_hostile_or_strange_subject_is_named_safely() -> None:
    piped = piped_message(b"Subject: Re: \x1b[2Jcleared =?iso-8859-1?q?s=E5_klart?=\n\n")
    assert piped.named == "\u201cRe: ?[2Jcleared så klart\u201d (no Message-ID)"
    assert piped_message("Subject: Re: \u202eevil\n\n".encode()).named.startswith("\u201cRe: ?evil\u201d")
    assert piped_message(b"Subject: Re: Caf\xe9 \xe6\xf8\n\n").subject == "Re: Café æø"  # not UTF-8: Latin-1
    assert len(piped_message(b"Subject: " + b"long " * 100 + b"\n\n").named) < 100


def test_only_the_head_of_a_large_message_is_kept_and_the_pipe_is_read_to_its_end() -> None:
    raw = b"From: a@example.com\r\nMessage-ID: <big@example.com>\r\n\r\n" + b"x" * 3_000_000
    stream = io.BytesIO(raw)
    assert read_head(stream) == b"From: a@example.com\r\nMessage-ID: <big@example.com>\r\n\r\n"
    assert stream.read() == b""
    assert head_end(b"Subject: x\n") is None and head_end(b"\nbody") == 1


# --- through the command line, with each kind of message piped -----------------------------------------------------

def test_stop_dash_with_the_draft_this_program_wrote(tracked, monkeypatch, capsys) -> None:
    account, config = tracked
    [(_, _, draft)] = account.messages("Drafts")
    assert b"X-Mail-Followup-For: <coffee@example.org>" in draft
    assert _pipe(monkeypatch, draft, "stop", "-", "--config", str(config)) == 0
    assert capsys.readouterr().out == \
        'account test: never follow up in the thread <coffee@example.org> ("Coffee next week?")\n'
    assert list(_stoplist(config)) == ["<coffee@example.org>"]
    assert _state(config, "coffee@example.org", capsys) == "stopped"


def test_snooze_dash_with_your_own_sent_message_from_an_mbox(tracked, monkeypatch, capsys) -> None:
    account, config = tracked
    [sent] = [raw for _, _, raw in account.messages("Sent") if b"<question@example.org>" in raw]
    mboxed = b"From me@example.org Sun Dec  6 15:00:00 2026\n" + sent.replace(b"\r\n", b"\n")
    assert _pipe(monkeypatch, mboxed, "snooze", "-", "--until", "2030-01-07", "--config", str(config)) == 0
    assert capsys.readouterr().out == \
        'account test: no follow-up in <question@example.org> ("Quick question") before 2030-01-07\n'
    with Store(config.parent / "state") as store:
        assert store.snoozed("test") == {"<question@example.org>": date(2030, 1, 7)}
    assert _state(config, "question@example.org", capsys) == "snoozed"


def test_resume_dash_with_their_answer_and_stop_dash_with_an_answer_the_index_holds(tracked, monkeypatch,
                                                                                      capsys) -> None:
    _, config = tracked
    assert main(["stop", "coffee@example.org", "--config", str(config)]) == 0
    capsys.readouterr()
    # Kim's answer came after the last pass: its In-Reply-To names the thread.
    assert _pipe(monkeypatch, _kims_answer(), "resume", "-", "--config", str(config), "--now", WEDNESDAY) == 0
    assert capsys.readouterr().out.startswith('account test: <coffee@example.org> ("Coffee next week?") goes on')
    assert _stoplist(config) == {}
    # Lena's answer is in the index (Archive) and has no threading headers: its own Message-ID names the thread.
    answer = raw_mail("lena@example.de", ME, "AW: Meeting notes", at("2026-12-03T11:00:00+01:00"),
                      "<notes-reply@example.de>")
    assert _pipe(monkeypatch, answer, "stop", "-", "--config", str(config)) == 0
    assert "never follow up in the thread <notes@example.org>" in capsys.readouterr().out


def test_a_message_no_thread_holds_is_refused_naming_its_subject_and_message_id(tracked, monkeypatch,
                                                                                  capsys) -> None:
    _, config = tracked
    lunch = raw_mail(KIM, ME, "Lunch?", at("2026-12-09T12:00:00+01:00"), "<lunch@example.com>",
                     in_reply_to="<elsewhere@example.com>")
    assert _pipe(monkeypatch, lunch, "stop", "-", "--config", str(config)) == 1
    err = capsys.readouterr().err
    assert err == ("mail-followup: no thread this program follows contains \u201cLunch?\u201d <lunch@example.com> "
                   "(looked up by its Message-ID and In-Reply-To in the local state); run "
                   "`mail-followup scan` first if it is new\n")
    # Without a single Message-ID in it (a mail client that decoded and weeded the headers).
    assert _pipe(monkeypatch, b"From: Kim <kim@example.com>\nSubject: Re: Coffee\n\nhi\n",
                 "snooze", "-", "--until", "2030-01-07", "--config", str(config)) == 1
    err = capsys.readouterr().err
    assert err.startswith("mail-followup: \u201cRe: Coffee\u201d (no Message-ID) has no Message-ID, In-Reply-To or "
                          "References to find its thread by") and err.count("\n") == 1
    # Nothing on standard input at all is a usage error.
    assert _pipe(monkeypatch, b"", "resume", "-", "--config", str(config)) == 2
    assert "reads one message on standard input" in capsys.readouterr().err
    assert _stoplist(config) == {}
    with Store(config.parent / "state") as store:
        assert store.snoozed("test") == {}


def test_a_message_pointing_at_two_threads_is_refused(tracked, monkeypatch, capsys) -> None:
    _, config = tracked
    both = _kims_answer(In_Reply_To="<question@example.org>",
                        References="<coffee@example.org> <question@example.org>")
    assert _pipe(monkeypatch, both, "stop", "-", "--config", str(config)) == 1
    err = capsys.readouterr().err
    assert err == ("mail-followup: \u201cRe: Coffee next week? – gärna\u201d <kim-answer@example.com> points at 2 "
                   "threads: <question@example.org> (\u201cQuick question\u201d, by its In-Reply-To) and "
                   "<coffee@example.org> (\u201cCoffee next week?\u201d, by its References); nothing done: give the "
                   "Message-ID of the one you mean instead of -\n")
    assert _stoplist(config) == {}
    # The Message-ID and address forms work as before.
    assert main(["stop", "<question@example.org>", "--config", str(config)]) == 0
    assert main(["stop", "Kim@Example.com", "--config", str(config)]) == 0
    assert set(_stoplist(config)) == {"<question@example.org>", "kim@example.com"}


# --- issue 22: a snooze whose moment has passed -----------------------------------------------------------------

def test_status_never_shows_a_snooze_whose_moment_has_passed(tracked, capsys) -> None:
    _, config = tracked
    assert main(["snooze", "question@example.org", "--until", "2026-12-21", "--config", str(config)]) == 0
    capsys.readouterr()
    code, _ = scan_json(config, "2026-12-15T09:00:00+01:00", capsys)
    assert code == 0

    def status(now: str, *more: str) -> str:
        assert main(["status", "--config", str(config), "--now", now, *more]) == 0
        return capsys.readouterr().out

    before = status("2026-12-15T10:00:00+01:00")
    assert "Snoozed (1)" in before and "2026-12-22 08:30" in before
    after = status("2026-12-23T10:00:00+01:00")  # no pass since the snooze ended
    assert "Snoozed" not in after
    assert re.search(r"Due now \(not yet written\) \(\d\)\n(.*\n)*?  sam@example\.net +Quick question", after)
    question = next(t for t in json.loads(status("2026-12-23T10:00:00+01:00", "--json"))["threads"]
                    if t["subject"] == "Quick question")
    assert question["state"] == "due" and question["not_before"] == "2026-12-22T08:30:00+01:00"
    assert question["reasons"][-1].startswith("the snooze ended at 2026-12-22T08:30:00+01:00")
    # Nothing a later pass needs is lost: the snooze is still there for it to read.
    with Store(config.parent / "state") as store:
        assert store.snoozed("test") == {"<question@example.org>": date(2026, 12, 21)}


# --- the README's macros in a real neomutt ---------------------------------------------------------------------

def _readme_macros() -> dict[str, list[str]]:
    """The neomutt/mutt macro lines of the README, by key."""
    found: dict[str, list[str]] = {}
    for line in README.read_text(encoding="utf-8").splitlines():
        if line.startswith("macro index,pager "):
            found.setdefault(line.split()[2], []).append(line)
    return found


def test_the_readme_neomutt_macros_act_on_the_thread_of_the_message_under_the_cursor(tracked, neomutt_installed,
                                                                                      tmp_path, capsys) -> None:
    account, config = tracked
    macros = _readme_macros()
    assert set(macros) == {",s", ",z", ",r"} and len(macros[",s"]) == 2  # the plain one, and one for pipe_decode
    xdg = tmp_path / "xdg"  # the macros name no config: the default path is used
    (xdg / "mail-followup").mkdir(parents=True)
    (xdg / "mail-followup" / "config.yaml").write_text(config.read_text())
    env = {"PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '/usr/bin:/bin')}",
           "XDG_CONFIG_HOME": str(xdg), "XDG_CACHE_HOME": os.environ.get("XDG_CACHE_HOME", str(tmp_path / "cache")),
           "MF_TEST_PASSWORD": account.password}

    def neomutt(name: str, message: bytes, lines: list[str]) -> str:
        """Open an mbox holding ``message`` with ``lines`` after the quiet settings; the screen it left."""
        home = tmp_path / name
        home.mkdir()
        box = mailbox.mbox(home / "mbox")
        box.add(mailbox.mboxMessage(message))
        box.close()
        return neomutt_keys(home / "mbox", lines, home, env)

    # Kim's answer, in the mbox of a user who keeps the default pipe_decode: ,s stops the coffee thread.
    screen = neomutt("stop", _kims_answer(), [macros[",s"][0], "push ,s"])
    assert 'never follow up in the thread <coffee@example.org> ("Coffee next week?")' in screen  # what you see
    assert _stoplist(config) == {"<coffee@example.org>": f"you said stop on {date.today().isoformat()} "
                                 "(mail-followup stop)"}, screen
    assert _state(config, "coffee@example.org", capsys) == "stopped"
    # Your own sent message: ,z leaves the prompt open for the date.
    [sent] = [raw for _, _, raw in account.messages("Sent") if b"<question@example.org>" in raw]
    screen = neomutt("snooze", sent, [macros[",z"][0], "push ,z2030-01-07<enter>"])
    with Store(config.parent / "state") as store:
        assert store.snoozed("test") == {"<question@example.org>": date(2030, 1, 7)}, screen
    # With pipe_decode set and the headers weeded, the README's other ,s still pipes them; ,r then resumes.
    answer = [raw for _, _, raw in account.messages("INBOX") if b"<offer-reply@example.no>" in raw][0]
    decoding = ["set pipe_decode=yes weed=yes", "ignore *", "unignore from: subject to cc date"]
    screen = neomutt("weeded", answer, [*decoding, macros[",s"][0], "push ,s"])  # what the README warns of
    assert "(no Message-ID) has no Message-ID, In-Reply-To or References" in screen, screen
    assert "<offer@example.org>" not in _stoplist(config)
    neomutt("decoding", answer, [*decoding, macros[",s"][1], "push ,s"])
    assert "<offer@example.org>" in _stoplist(config)
    neomutt("resume", answer, [macros[",r"][0], "push ,r"])
    assert "<offer@example.org>" not in _stoplist(config)


@pytest.mark.parametrize("command", ["stop", "snooze", "resume"])
def test_the_help_says_that_dash_reads_a_message_and_shows_the_pipe(command: str, capsys) -> None:
    with pytest.raises(SystemExit):
        main([command, "--help"])
    out = capsys.readouterr().out
    assert "- reads a message on standard input" in " ".join(out.split())
    assert f'"<pipe-message>mail-followup {command} -' in out and f":pipe -m mail-followup {command} -" in out
